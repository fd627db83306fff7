"""The YAML loader: values, marks and problems, the same with libyaml and pure Python."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reconciler.desired import check_desired_state
from reconciler.desired.yaml_loader import has_libyaml, load_text

PARSERS = [
    pytest.param(False, id="libyaml", marks=pytest.mark.skipif(not has_libyaml(), reason="no C")),
    pytest.param(True, id="pure-python"),
]

SAMPLE = """\
version: 1
flags: [yes, no, on, true, False]
numbers: {a: 1_000, b: 0x1f, c: -5, d: 1.5, e: ~}
when: 2027-06-30
quoted: '2027-06-30'
base: &base {rpm: 60, budget: 50}
team:
  <<: *base
  rpm: 90
items:
  - name: first
  - name: second
"""


@pytest.mark.parametrize("pure", PARSERS)
def test_values_follow_yaml_1_2(pure: bool) -> None:
    doc = load_text(SAMPLE, pure=pure)
    assert doc.problems == []
    data = doc.data
    assert data["flags"] == ["yes", "no", "on", True, False]
    assert data["numbers"] == {"a": 1000, "b": 31, "c": -5, "d": 1.5, "e": None}
    assert data["when"] == dt.date(2027, 6, 30)
    assert data["quoted"] == "2027-06-30"
    assert data["team"] == {"rpm": 90, "budget": 50}


@pytest.mark.parametrize("pure", PARSERS)
def test_marks_of_keys_and_items(pure: bool) -> None:
    doc = load_text(SAMPLE, pure=pure)
    assert doc.marks[("version",)] == (1, 1)
    assert doc.marks[("numbers", "b")] == (3, 21)
    assert doc.marks[("items", 1)] == (12, 5)
    assert doc.marks[("items", 1, "name")] == (12, 5)
    assert doc.marks[("team", "budget")] == (8, 3)  # merged: points at the '<<' key
    # an unknown path falls back to its deepest known ancestor
    assert doc.mark(("items", 1, "missing")) == (12, 5)


@pytest.mark.parametrize("pure", PARSERS)
@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first defined on line 1)"),
        ("a: &x [*x]\n", 1, 4, "recursive alias"),  # at the anchored node
        ("a: !secret x\n", 1, 4, "unsupported YAML tag !secret"),
        ("? [k]\n: v\n", 1, 3, "mapping keys must be plain strings"),
        ("a: 1\n---\nb: 2\n", 2, 1, "expected a single YAML document"),
        ("a: [1, 2\nb: 3\n", 2, 2, "invalid YAML"),
        ("a: *missing\n", 1, 4, "invalid YAML"),
        # a control character pasted into a value: where it is, and how to write one
        ("a: 1\nb: x\x1by\n", 2, 5, "a control character (U+001B) here"),
        # lines end in CR alone (old Mac files): still the second line
        ("a: 1\rb: x\x1by\r", 2, 5, "a control character (U+001B) here"),
        # a character past the BMP before it counts as one column, whichever parser
        ("a: \U0001f600\nb: x\x7fy\n", 2, 5, "a control character (U+007F) here"),
        ("a: \U0001f600 \x02\n", 1, 6, "a control character (U+0002) here"),
        # past 0xFF the escape is \u (YAML's \x takes two hex digits)
        ("a: x\ufffey\n", 1, 5, '("\\ufffe")'),
    ],
)
def test_problems_carry_the_position(
    pure: bool, text: str, line: int, column: int, fragment: str
) -> None:
    problems = load_text(text, pure=pure).problems
    assert [(p.line, p.column) for p in problems] == [(line, column)]
    assert fragment in problems[0].message
    assert "\n" not in problems[0].message  # one line, as every other problem


ORDINARY = """\
version: 1
workspace:
  name: team-a
  members:
    - {email: a@example.com, roles: [user]}
  api_keys:
    - name: ci
      expires: 2027-06-30
      rotate: yes
      "<<": quoted, so not a merge key
"""

SAME_EITHER_WAY = [
    ORDINARY,
    SAMPLE,
    "",
    "---\n",
    "just text\n",
    "%YAML 1.2\n---\na: 1\n",
    "b: ~\nc: 1_0\nd: -.inf\ne: 0o17\nf: 2027-02-30\ng: 2027-06-30 10:00:00\nh: '1'\n",
    "a: 1\nb: 2\na: 3\n",
    "a: !!str 1\n",
    "? [k]\n: v\n",
    "a: 1\n---\nb: 2\n",
    "a: [1, 2\nb: 3\n",
    "a: <<\n",
    "a: 0x\n",
    "a: " + "[" * 64 + "]" * 64 + "\n",
    "a: " + "[" * 65 + "]" * 65 + "\n",
]


@pytest.mark.skipif(not has_libyaml(), reason="no C")
@pytest.mark.parametrize("text", SAME_EITHER_WAY)
def test_libyaml_reads_like_the_composer(text: str) -> None:
    """Ordinary files are read from libyaml's events, the rest composed: the same result."""
    fast, careful = load_text(text), load_text(text, pure=True)
    assert fast.data == careful.data
    assert [(p.loc, p.line) for p in fast.problems] == [(p.loc, p.line) for p in careful.problems]
    assert {loc: fast.mark(loc) for loc in careful.marks} == careful.marks


def test_marks_of_an_ordinary_file_are_read_when_asked() -> None:
    doc = load_text(ORDINARY)
    assert doc.data["workspace"]["api_keys"][0]["<<"] == "quoted, so not a merge key"
    assert doc.mark(("workspace", "api_keys", 0, "expires")) == (8, 7)
    assert doc.mark(("workspace", "members", 0, "roles", 0)) == (5, 38)
    # a place the file does not have: its deepest ancestor that it has
    assert doc.mark(("workspace", "api_keys", 0, "policy", "rpm")) == (7, 7)
    assert doc.mark(("workspace", "api_keys", 7, "name")) == (6, 3)
    assert doc.mark(("workspace", "members", 0, "email", 2)) == (5, 8)
    assert doc.text is not None  # read from events, never composed


def test_both_parsers_load_the_example_identically() -> None:
    example = Path(__file__).resolve().parents[2] / "desired-state"
    fast = check_desired_state(example, today=dt.date(2026, 11, 27))
    slow = check_desired_state(example, today=dt.date(2026, 11, 27), pure_python_yaml=True)
    assert fast.state == slow.state
    assert fast.state is not None


def test_aliases_are_built_once() -> None:
    text = "a: &a [1, 2]\nb: [*a, *a, *a]\n"
    doc = load_text(text)
    assert doc.data["b"] == [[1, 2]] * 3
    assert doc.data["b"][0] is doc.data["a"]


def test_empty_document_is_none_without_problems() -> None:
    doc = load_text("# just a comment\n")
    assert (doc.data, doc.problems) == (None, [])


@pytest.mark.parametrize("pure", PARSERS)
def test_exponential_aliases_are_refused(pure: bool) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    doc = load_text("\n".join(lines) + "\n", pure=pure)
    assert doc.data is None
    assert [p.message for p in doc.problems] == [
        "aliases expand to more than 100,000 values; refusing the file"
    ]


@pytest.mark.parametrize("pure", PARSERS)
def test_absurd_nesting_is_refused_where_it_gets_too_deep(pure: bool) -> None:
    text = "a:\n  b: " + "[" * 5000 + "]" * 5000 + "\n"
    doc = load_text(text, pure=pure)
    assert doc.data is None
    assert [(p.line, p.column, p.message) for p in doc.problems] == [
        (2, 6 + 62, "nested more than 64 levels deep here; refusing the file")
    ]


@pytest.mark.parametrize("pure", PARSERS)
def test_brackets_in_text_do_not_count_as_nesting(pure: bool) -> None:
    block = (
        "a{n}: '[[[[ not a list'\n"
        'b{n}: "{{{{{{{{ nor a mapping"\n'
        "c{n}: WIP [x and [[[[ plain text\n"
        "d{n}: |\n  [[[[[[[[\n  - - - - - -\n"
        "# [[[[[[[[[[[[[[[[[[[[[[\n"
    )
    text = "".join(block.format(n=n) for n in range(30))
    doc = load_text(text, pure=pure)
    assert doc.problems == []
    assert doc.data["c29"] == "WIP [x and [[[[ plain text"
