"""Hostile names, and what a terminal or a pull-request comment must never show of them.

Live names come from the platform and are arbitrary text. :data:`NAMES` are the ones that
did harm before they were escaped: one closes the ``diff`` fence and the ``<details>`` fold
of a PR comment and adds a heading and a link; the others clear the terminal, set its
title, reverse what follows, or overwrite a line. The checks read output as a terminal or
GitHub would: :func:`assert_terminal_safe` looks for any control or direction character,
:func:`assert_markdown_safe` parses the Markdown (CommonMark, as GitHub does) and checks
what is outside code. :func:`hostile_plan` is a plan with a name in every live string.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal

from markdown_it import MarkdownIt
from markdown_it.token import Token

from reconciler.model import ApiKey, Member, SpendLimit, Workspace
from reconciler.plan import Plan, make_plan
from tests.core.states import CREATED, desired, live_drifted

INJECTION = "x\n```\n</details>\n## Injected\n[click](javascript:alert(1))"
NAMES = (
    INJECTION,
    "clear\x1b[2J\x1b[Hscreen",
    "title\x1b]0;owned\x07bell",
    "rtl\u202eexe.txt\u202c\u2066iso\u2069",
    "de\u200bv zero\u200dwidth\u2060joined\xadsoft\U000e0041tag\u180evowel",
    "c1\x9b31m\x85nel\x7fdel",
    "over\rApply complete!",
    "ticks ```` and ` and ``",
    "<img src=x onerror=alert(1)> & <b>bold</b> | pipe",
    "<details><summary>opened by a name</summary>",
    "*emph* [link](https://evil.example) ![img](x)",
)


def hostile_plan(name: str) -> Plan:
    """A plan in which ``name`` is every live string: an unmanaged workspace and key, a live
    description (a manual change's message), a departing member, a key owner, the ids of a
    conflict, a plan warning and the target itself."""
    base = live_drifted()
    live = base.model_copy(
        update={
            "target": f"sandbox {name}",
            "workspaces": (
                *base.workspaces,
                Workspace(name=name, description=name, id="ws-evil"),
                Workspace(name="ml", id="ws-ml", spend_limit=SpendLimit(amount=Decimal(9))),
            ),
            "members": (
                *base.members,
                Member(workspace="dev", email=f"{name}@x", roles=("user",), user_id=name),
            ),
            "keys": (
                *base.keys,
                ApiKey(name=name, workspace="dev", owner=name, id=name, created_at=CREATED),
                *(
                    ApiKey(name="ml-bot", workspace="ml", owner=name, id=f"k{n}{name}")
                    for n in range(2)
                ),
            ),
        }
    )
    want = desired()
    want = want.model_copy(
        update={
            "workspaces": (
                *want.workspaces,
                Workspace(name="ml", description=name, spend_limit=SpendLimit(amount=Decimal(5))),
            ),
            "keys": (*want.keys, ApiKey(name="ml-bot", workspace="ml", owner="a@acme.example")),
        }
    )
    return make_plan(
        want,
        live,
        provider="mistral",
        desired_path=name,
        warnings=(name,),
        now=dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC),
    )


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def unsafe_characters(text: str) -> list[str]:
    """Every character a terminal would act on or hide, other than a line feed: controls,
    line separators and the invisible format characters (bidi controls, zero-width spaces
    and joiners, soft hyphens, tags)."""
    return [
        f"U+{ord(c):04X}"
        for c in text
        if c != "\n" and (unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp"))
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
    r"|<details><summary>\d+ unmanaged objects?: not in the desired state, left alone</summary>"
)


def assert_markdown_safe(
    markdown: str, *, fences: int | None = None, links: tuple[str, ...] = ()
) -> None:
    """Parse ``markdown`` as GitHub would and check that no live name shaped it.

    - every fence is closed by a fence line of its own (no name ended it early or left it
      open), and there are ``fences`` of them when given;
    - the only HTML is this tool's own (markers and the fold), so ``<details>`` is balanced;
    - no image, no link but to ``links``, and no heading holding the injected one (its
      text may appear, as code or as escaped prose).
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
    assert not [t for t in tokens if t.type == "image"], "a name made an image"
    hrefs = [t.attrGet("href") for t in tokens if t.type == "link_open"]
    assert set(hrefs) <= set(links), f"a name made a link: {hrefs}"
    for index, token in enumerate(tokens):
        if token.type == "heading_open":  # our headings may hold a name, but only as code
            words = [c.content for c in tokens[index + 1].children or [] if c.type == "text"]
            assert "Injected" not in "".join(words), "a name made a heading"
