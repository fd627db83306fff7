"""Hostile names, and what a terminal or a pull-request comment must never show of them.

Live names come from the platform and are arbitrary text. :data:`NAMES` are the ones that
did harm before they were escaped: one closes the ``diff`` fence and the ``<details>`` fold
of a PR comment and adds a heading and a link; the others clear the terminal, set its
title, reverse what follows, or overwrite a line. The checks read output as a terminal or
GitHub would: :func:`assert_terminal_safe` looks for any control or direction character,
:func:`assert_markdown_safe` parses the Markdown (CommonMark, as GitHub does) and checks
what is outside code.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it import MarkdownIt
from markdown_it.token import Token

INJECTION = "x\n```\n</details>\n## Injected\n[click](javascript:alert(1))"
NAMES = (
    INJECTION,
    "clear\x1b[2J\x1b[Hscreen",
    "title\x1b]0;owned\x07bell",
    "rtl\u202eexe.txt\u202c\u2066iso\u2069",
    "c1\x9b31m\x85nel\x7fdel",
    "over\rApply complete!",
    "ticks ```` and ` and ``",
    "<img src=x onerror=alert(1)> & <b>bold</b> | pipe",
    "*emph* [link](https://evil.example) ![img](x)",
)
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def unsafe_characters(text: str) -> list[str]:
    """Every character a terminal would act on or hide, other than a line feed."""
    return [
        f"U+{ord(c):04X}"
        for c in text
        if c != "\n"
        and (
            unicodedata.category(c) in ("Cc", "Zl", "Zp")
            or unicodedata.bidirectional(c)
            in ("LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI")
        )
    ]


def assert_terminal_safe(text: str, *, colour: bool = False) -> None:
    """No control character but line feeds; with ``colour``, the renderer's own SGR codes."""
    if colour:
        text = _SGR.sub("", text)
    found = unsafe_characters(text)
    assert not found, f"raw control characters {found} in: {text[:300]!r}"


def _walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        out.extend(_walk(token.children or []))
    return out


_OWN_HTML = re.compile(
    r"<!-- reconciler [a-z]+(?::[^>]*)? -->|<details><summary>Show Output</summary>|</details>"
)


def assert_markdown_safe(markdown: str, *, fences: int | None = None) -> None:
    """Parse ``markdown`` as GitHub would and check that no live name shaped it.

    - every fence is closed by a fence line of its own (no name ended it early or left it
      open), and there are ``fences`` of them when given;
    - the only HTML is this tool's own (markers and the fold), so ``<details>`` is balanced;
    - no link or image at all, and no heading holding the injected one (its text may
      appear, as code or as escaped prose).
    """
    tokens = _walk(MarkdownIt("commonmark").enable("table").parse(markdown))
    lines = markdown.split("\n")
    found_fences = [t for t in tokens if t.type == "fence"]
    for token in found_fences:
        assert token.map is not None
        closing = lines[token.map[1] - 1].strip()
        assert closing and set(closing) == {token.markup[0]}, (
            f"fence opened on line {token.map[0] + 1} is not closed by its own fence line"
        )
        assert len(closing) >= len(token.markup)
    if fences is not None:
        assert len(found_fences) == fences
    html = [t.content.strip() for t in tokens if t.type in ("html_block", "html_inline")]
    for block in html:
        assert _OWN_HTML.fullmatch(block), f"HTML from a name reached the Markdown: {block!r}"
    assert sum(b.startswith("<details>") for b in html) == html.count("</details>")
    kinds = {t.type for t in tokens}
    assert not kinds & {"link_open", "image"}, "a name made a link or an image"
    for index, token in enumerate(tokens):
        if token.type == "heading_open":  # our headings may hold a name, but only as code
            words = [c.content for c in tokens[index + 1].children or [] if c.type == "text"]
            assert "Injected" not in "".join(words), "a name made a heading"
