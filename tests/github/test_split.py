"""Splitting a Markdown plan into comments: limits, fences, <details>, summary, content."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from reconciler.github.split import (
    CONTINUED,
    CONTINUED_FROM,
    MAX_COMMENT_CHARS,
    Part,
    split_markdown,
    summary_line,
)

SUMMARY = "**Plan: 3 to add, 1 to change, 2 to destroy.**"


def resource(n: int, width: int = 40) -> str:
    return (
        f"  # api_key.key-{n:04} will be created\n"
        f'+ + api_key "key-{n:04}" {{\n'
        f'+     + owner = "{"x" * width}@acme.example"\n'
        "+     + secret = (sensitive value)\n"
        "    }\n"
        "\n"
    )


def plan_markdown(resources: int) -> str:
    return (
        "<!-- reconciler plan -->\n### Plan for `sandbox`\n\n"
        f"{SUMMARY}\n\n"
        "<details><summary>Show Output</summary>\n\n```diff\n"
        + "".join(resource(n) for n in range(resources))
        + "Plan: 3 to add, 1 to change, 2 to destroy.\n```\n\n</details>\n\n"
        "Plan: 3 to add, 1 to change, 2 to destroy.\n"
    )


def content_of(parts: list[Part]) -> str:
    return "".join(p.content for p in parts)


# --- an independent check of each part: CommonMark, as GitHub parses it -----------------

_MD = MarkdownIt("commonmark")


def assert_renders_closed(text: str) -> None:
    """Every fence and <details> the part opens, it closes: checked with a Markdown parser."""
    tokens = _MD.parse(text)
    opened = closed = 0
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            opened += token.content.count("<details")
            closed += token.content.count("</details")
        for child in token.children or []:
            if child.type == "html_inline":
                opened += child.content.count("<details")
                closed += child.content.count("</details")
    assert opened == closed, f"unbalanced <details> in:\n{text}"
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    if last == CONTINUED:
        # An unclosed fence would swallow the note into a code block.
        inline = [t.content for t in tokens if t.type == "inline"]
        assert CONTINUED in inline, f"the note is inside a code block in:\n{text}"


# --- examples ----------------------------------------------------------------------------


def test_a_short_plan_is_one_part_unchanged() -> None:
    body = plan_markdown(3)
    parts = split_markdown(body)
    assert len(parts) == 1
    assert parts[0].text == body


def test_a_long_plan_is_cut_with_fences_and_details_closed_and_reopened() -> None:
    body = plan_markdown(40)
    limit = 2000
    parts = split_markdown(body, limit)
    assert len(parts) >= 4
    assert content_of(parts) == body
    for index, part in enumerate(parts):
        text = part.text
        assert len(text) <= limit
        assert_renders_closed(text)
        if index < len(parts) - 1:
            assert text.endswith("```\n\n</details>\n\n" + CONTINUED + "\n")
        if index > 0:
            assert text.startswith(
                CONTINUED_FROM + "\n\n<details><summary>Show Output</summary>\n\n```diff\n"
            )
    assert SUMMARY in parts[0].text
    assert parts[-1].text.endswith("Plan: 3 to add, 1 to change, 2 to destroy.\n")


def test_parts_end_between_resources_not_inside_one() -> None:
    parts = split_markdown(plan_markdown(40), 2000)
    for part in parts[:-1]:
        assert part.content.endswith("    }\n\n"), part.content[-80:]


def test_the_summary_is_copied_into_the_first_part_when_the_cut_would_drop_it() -> None:
    preamble = "".join(f"> note {n}: " + "y" * 60 + "\n" for n in range(40))
    body = preamble + "\n" + SUMMARY + "\n\n" + "text\n" * 10
    parts = split_markdown(body, 1500)
    assert len(parts) > 1
    assert SUMMARY not in parts[0].content
    assert parts[0].text.startswith(SUMMARY + "\n\n")
    assert len(parts[0].text) <= 1500
    assert content_of(parts) == body


@pytest.mark.parametrize("where", ["outside", "inside a fence"])
def test_a_line_longer_than_a_comment_is_cut_inside_the_line(where: str) -> None:
    long_line = "z" * 5000 + "\n"
    body = long_line if where == "outside" else "```text\n" + long_line + "```\n"
    parts = split_markdown(body, 1000)
    assert len(parts) >= 5
    assert content_of(parts) == body
    for part in parts:
        assert len(part.text) <= 1000
        assert_renders_closed(part.text)


@pytest.mark.parametrize(
    ("opening", "inner", "closing"),
    [
        ("~~~yaml", "```\n", "~~~"),  # a backtick line cannot close a tilde fence
        ("````text", "```\n", "````"),  # nor a shorter backtick line a longer fence
        ("```", "<details>\n", "```"),  # tags inside a fence are text, not structure
    ],
)
def test_fences_are_reopened_verbatim_and_only_real_closers_close_them(
    opening: str, inner: str, closing: str
) -> None:
    body = opening + "\n" + ("line of text\n" + inner) * 150 + closing + "\n"
    parts = split_markdown(body, 600)
    assert len(parts) > 2
    assert content_of(parts) == body
    for part in parts[1:]:
        assert part.prefix == CONTINUED_FROM + "\n\n" + opening + "\n"
    for part in parts[:-1]:
        assert part.suffix.startswith(closing + "\n")
        assert "</details>" not in part.suffix
        assert_renders_closed(part.text)


def test_nested_details_are_closed_innermost_first_and_reopened_outermost_first() -> None:
    body = (
        "<details open><summary>Outer</summary>\n\n<details><summary>Inner</summary>\n\n"
        + "row\n" * 400
        + "\n</details>\n\n</details>\n"
    )
    parts = split_markdown(body, 700)
    assert len(parts) > 2
    middle = parts[1]
    assert middle.prefix == (
        CONTINUED_FROM
        + "\n\n<details open><summary>Outer</summary>\n\n<details><summary>Inner</summary>\n\n"
    )
    assert middle.suffix == "\n</details>\n\n</details>\n\n" + CONTINUED + "\n"
    assert content_of(parts) == body


def test_a_limit_too_small_for_the_notes_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_markdown(plan_markdown(10), 60)


def test_the_default_limit_is_githubs() -> None:
    assert MAX_COMMENT_CHARS == 65_536
    body = plan_markdown(1200)  # about 210,000 characters
    parts = split_markdown(body)
    assert len(parts) == -(-len(body) // MAX_COMMENT_CHARS)
    assert all(len(p.text) <= MAX_COMMENT_CHARS for p in parts)
    assert all(len(p.text) > MAX_COMMENT_CHARS * 0.9 for p in parts[:-1])  # well filled
    assert content_of(parts) == body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("x\n**Plan: 1 to add, 0 to change, 0 to destroy.**\n", SUMMARY.replace("3", "1")),
        ("No changes. Your infrastructure matches the configuration.\n", None),
        ("No changes to apply through the Admin API.\n", None),
        ("nothing here\n", None),
    ],
)
def test_summary_line(body: str, expected: str | None) -> None:
    found = summary_line(body)
    if body.startswith("No changes"):
        assert found == body.strip()
    elif expected is None:
        assert found is None
    else:
        assert found == "**Plan: 1 to add, 0 to change, 0 to destroy.**"


# --- properties --------------------------------------------------------------------------

_PLAIN = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="`~<>"),
    max_size=90,
)
_FENCES = ["```", "```diff", "~~~", "````text", "~~~~ yaml"]


def _lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _fence(opening: str, lines: list[str]) -> str:
    closing = opening.split(" ")[0].rstrip("abcdefghijklmnopqrstuvwxyz")
    return opening + "\n" + _lines(lines) + closing + "\n"


_LINE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="`~<>"),
    min_size=20,
    max_size=90,
)
_fence_content = st.lists(
    st.one_of(_LINE, _PLAIN, st.sampled_from(["<details>", "</details>", "```x", "~~~x"])),
    min_size=10,
    max_size=120,
)
_leaf = st.one_of(
    st.lists(st.one_of(_LINE, _PLAIN), min_size=1, max_size=30).map(_lines),
    st.builds(_fence, st.sampled_from(_FENCES), _fence_content),
    st.integers(600, 3000).map(lambda n: "w" * n + "\n"),  # longer than some limits
)
_document = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map("\n".join),
        inner.map(lambda b: "<details><summary>More</summary>\n\n" + b + "\n</details>\n"),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_document, limit=st.integers(500, 2500))
def test_every_part_fits_is_balanced_and_the_content_survives(body: str, limit: int) -> None:
    parts = split_markdown(body, limit)
    assert content_of(parts) == body
    for index, part in enumerate(parts):
        assert len(part.text) <= limit
        assert part.content in part.text
        assert part.content, "every part carries some of the body"
        if index < len(parts) - 1:
            assert part.text.endswith(CONTINUED + "\n")
            assert_renders_closed(part.text)
        if index:
            assert part.text.startswith(CONTINUED_FROM)


@settings(max_examples=100, deadline=None)
@given(body=_document)
def test_a_body_under_the_limit_is_never_touched(body: str) -> None:
    parts = split_markdown(body, len(body) + 1)
    assert [p.text for p in parts] == [body]
