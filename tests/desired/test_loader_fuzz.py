"""The YAML loader under hostile and random input: always a model or a file:line problem.

Two kinds of test. Inputs that once killed or stalled the process (40,000 levels of
nesting crashed libyaml's composer with SIGSEGV; exponential aliases) run in a child
process under memory and CPU-time limits, so a regression fails this test instead of
taking the test run down. Hypothesis then feeds the loader arbitrary bytes, YAML-like
noise, nesting around the limit and random well-formed documents (which must load as
they were written: the depth scan must not refuse real files). No test measures wall
time: the inputs are bounded and hypothesis runs without deadlines.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.desired.yaml_guard import MAX_DEPTH
from reconciler.desired.yaml_loader import Document, load_bytes, load_text

ROOT = Path(__file__).resolve().parents[2]
DEPTH = f"nested more than {MAX_DEPTH} levels deep here; refusing the file"

# Run in a child under RLIMIT_AS and RLIMIT_CPU (CPU seconds, not wall time); prints one
# JSON line per case: [name, pure, problems as [line, column, message], loaded or not].
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    from reconciler.desired.yaml_loader import load_bytes
    n = 40_000
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)
    ]
    cases = {
        "flow": "a: " + "[" * n + "]" * n,
        "flow-mappings": "{a: " * n + "}" * n,
        "compact-sequences": "- " * n + "x",
        "explicit-keys": "? " * n + "x",
        "indentation": "\\n".join(" " * i + "a:" for i in range(1_400)),
        "indentation-cr": "\\r".join(" " * i + "a:" for i in range(1_400)),
        "closers-in-quotes": "a: " + '["]]]", ' * 5_000 + "]" * 5_000,
        "billion-laughs": "\\n".join(laughs),
        "huge-scalar": "a: " + "x" * 1_000_000,
        "many-keys": "".join(f"k{i}: {i}\\n" for i in range(10_000)),
    }
    for name, text in cases.items():
        for pure in (False, True):
            doc = load_bytes(text.encode(), pure=pure)
            problems = [[p.line, p.column, p.message] for p in doc.problems]
            print(json.dumps([name, pure, problems, doc.data is not None]), flush=True)
    """
)


@pytest.fixture(scope="module")
def hostile_results() -> dict[tuple[str, bool], tuple[list[list[Any]], bool]]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a backstop for a hung child, not a measurement
        check=False,
    )
    assert result.returncode == 0, f"the loader died ({result.returncode}): {result.stderr}"
    out = {}
    for line in result.stdout.splitlines():
        name, pure, problems, loaded = json.loads(line)
        out[(name, pure)] = (problems, loaded)
    return out


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize(
    ("name", "line", "column", "message"),
    [
        ("flow", 1, 67, DEPTH),
        ("flow-mappings", 1, 4 * 64 - 3, DEPTH),
        ("compact-sequences", 1, 2 * 64 + 1, DEPTH),
        ("explicit-keys", 1, 2 * 64 + 1, DEPTH),
        ("indentation", 65, 65, DEPTH),
        ("indentation-cr", 65, 65, DEPTH),
        ("closers-in-quotes", 1, 8 * 63 + 4, DEPTH),
        ("billion-laughs", 4, 5, "aliases expand to more than 100,000 values; refusing the file"),
    ],
)
def test_hostile_input_is_refused_at_its_line(
    hostile_results: dict[tuple[str, bool], tuple[list[list[Any]], bool]],
    name: str,
    pure: bool,
    line: int,
    column: int,
    message: str,
) -> None:
    problems, loaded = hostile_results[(name, pure)]
    assert (problems, loaded) == ([[line, column, message]], False)


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("name", ["huge-scalar", "many-keys"])
def test_large_but_flat_input_loads(
    hostile_results: dict[tuple[str, bool], tuple[list[list[Any]], bool]], name: str, pure: bool
) -> None:
    assert hostile_results[(name, pure)] == ([], True)


def assert_located(doc: Document) -> None:
    """Problems, if any, each point at a line and column (and nothing was raised)."""
    for problem in doc.problems:
        assert problem.line >= 1 and problem.column >= 1, problem
        assert problem.message


YAML_NOISE = st.text(alphabet="[]{}-?:,'\"#&*!|>%@` \t\n\r\ufeffab1.~<=", max_size=300)


@settings(deadline=None, max_examples=200)
@given(data=st.binary(max_size=2_000), pure=st.booleans())
def test_arbitrary_bytes(data: bytes, pure: bool) -> None:
    assert_located(load_bytes(data, pure=pure))


@settings(deadline=None, max_examples=300)
@given(text=YAML_NOISE, pure=st.booleans(), bom=st.booleans())
def test_yaml_like_noise(text: str, pure: bool, bom: bool) -> None:
    data = ("\ufeff" if bom else "").encode() + text.encode("utf-8", "surrogatepass")
    assert_located(load_bytes(data, pure=pure))


def nested(depth: int, style: str) -> str:
    if style == "flow":
        return "a: " + "[" * depth + "]" * depth + "\n"
    if style == "compact":
        return "- " * depth + "x\n"
    return "".join(" " * i + "a:\n" for i in range(depth - 1)) + " " * (depth - 1) + "a: 1\n"


@settings(deadline=None)
@given(
    depth=st.integers(1, 3_000),
    style=st.sampled_from(["flow", "compact", "block"]),
    pure=st.booleans(),
)
# at the limit, an item's scalar after its "- " is no level of its own
@example(depth=MAX_DEPTH, style="compact", pure=True)
@example(depth=MAX_DEPTH + 1, style="compact", pure=True)
def test_nesting_is_refused_exactly_past_the_limit(depth: int, style: str, pure: bool) -> None:
    doc = load_text(nested(depth, style), pure=pure)
    refused = [p for p in doc.problems if p.message == DEPTH]
    # each style spends one level on the document's top collection but "flow"
    levels = depth + (1 if style == "flow" else 0)
    assert bool(refused) == (levels > MAX_DEPTH), doc.problems
    if not refused:
        assert doc.problems == [] and doc.data is not None


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.text(
        # no brackets: the scan may count them in strings
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="[]{}\ufeff"),
        max_size=20,
    ),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text("abcdefgh_-", min_size=1, max_size=6), children, max_size=4),
    ),
    max_leaves=30,
)


WRITERS: dict[bool | None, YAML] = {}
for style in (False, True, None):
    WRITERS[style] = YAML(typ="safe")  # libyaml's emitter, when installed
    WRITERS[style].default_flow_style = style
    WRITERS[style].width = 60  # long flow collections wrap onto indented lines


@settings(deadline=None, max_examples=150)
@given(
    value=st.dictionaries(st.text("abc", min_size=1, max_size=3), DOCUMENTS, max_size=4),
    flow=st.sampled_from([False, True, None]),
    pure=st.booleans(),
)
def test_real_documents_load_as_written(
    value: dict[str, Any], flow: bool | None, pure: bool
) -> None:
    """What a YAML writer emits, in block, flow or mixed style, loads back unchanged."""
    out = io.StringIO()
    WRITERS[flow].dump(value, out)
    doc = load_text(out.getvalue(), pure=pure)
    assert doc.problems == []
    assert doc.data == value


@settings(deadline=None, max_examples=150)
@given(
    value=st.dictionaries(st.text("abc", min_size=1, max_size=3), DOCUMENTS, max_size=4),
    flow=st.sampled_from([False, True, None]),
)
def test_marks_read_from_events_are_the_composed_marks(
    value: dict[str, Any], flow: bool | None
) -> None:
    """A file read the fast way finds its marks without composing it, and finds the same
    line and column for every key and item as composing it would, and for a place the
    file does not have, the same ancestor's."""
    out = io.StringIO()
    WRITERS[flow].dump(value, out)
    fast = load_text(out.getvalue())
    assert fast.text is not None  # read the fast way: marks not yet read
    composed = load_text(out.getvalue(), pure=True)
    assert_same_marks(fast, composed)
    assert fast.text is not None  # and never composed


def assert_same_marks(fast: Document, composed: Document) -> None:
    for loc in composed.marks:
        for asked in (loc, (*loc, "absent"), (*loc, 99)):
            assert fast.mark(asked) == composed.mark(asked), asked


@pytest.mark.parametrize(
    "path", sorted((ROOT / "desired-state").rglob("*.yaml")), ids=lambda p: p.name
)
def test_the_example_files_marks_are_the_composed_marks(path: Path) -> None:
    text = path.read_text("utf-8")
    fast, composed = load_text(text), load_text(text, pure=True)
    assert fast.text is not None
    assert len(composed.marks) > 1  # every file has keys
    assert_same_marks(fast, composed)
