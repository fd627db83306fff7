"""Escaping live text for terminals and Markdown: what a terminal or GitHub then shows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from reconciler.textsafe import fence, for_terminal, html_text, inline_code, md_text
from tests.hostile import INJECTION, NAMES, assert_markdown_safe, hostile_plan, unsafe_characters

MD = MarkdownIt("commonmark")


def test_terminal_escapes_are_visible() -> None:
    assert for_terminal("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert for_terminal("t\x1b]0;owned\x07") == "t\\x1b]0;owned\\x07"
    assert for_terminal("\u202eexe\u2066") == "\\u202eexe\\u2066"
    assert for_terminal("c1\x9b del\x7f") == "c1\\x9b del\\x7f"
    assert for_terminal("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert for_terminal("a\nb\rc", keep_newlines=True) == "a\nb\\rc"


def test_a_lone_surrogate_is_shown_escaped_and_can_be_printed() -> None:
    """JSON may carry half a surrogate pair (``"\\ud800"``): left raw, writing it out as
    UTF-8 fails, and with it the plan, the audit or the comment that names it."""
    shown = for_terminal("de\ud800v\udfffx")
    assert shown == "de\\ud800v\\udfffx"
    assert shown.encode("utf-8") == b"de\\ud800v\\udfffx"


def test_invisible_characters_are_visible() -> None:
    """A zero-width character makes ``de\u200bv`` print as ``dev``: a reviewer reads a name
    that is not the one there."""
    assert for_terminal("de\u200bv") == "de\\u200bv"
    assert for_terminal("a\u200c\u200d\u2060\ufeffb") == "a\\u200c\\u200d\\u2060\\ufeffb"
    assert for_terminal("soft\xadhyphen\u180e") == "soft\\xadhyphen\\u180e"
    assert for_terminal("tag\U000e0041\U000e007f") == "tag\\U000e0041\\U000e007f"


def test_a_word_mixing_look_alike_scripts_shows_its_foreign_letters_escaped() -> None:
    """``dеv`` with a Cyrillic ``е`` reads ``dev``: beside the real one in a plan, a
    reviewer sees two of the same name."""
    assert for_terminal("d\u0435v") == "d\\u0435v"
    assert for_terminal("pay\u03bfut team") == "pay\\u03bfut team"  # a Greek omicron
    assert for_terminal("\u0430\u03b2") == "\\u0430\\u03b2"  # Cyrillic and Greek: both
    # a word of one script, or of scripts that do not pass for one another, is as it is
    for text in ("\u0434\u0435\u0432 dev", "caf\u00e9", "\u6771\u4eac\u30bf\u30ef\u30fc"):
        assert for_terminal(text) == text


def test_a_name_written_wholly_in_look_alike_letters_shows_them_escaped() -> None:
    """``рау`` is three Cyrillic letters, each drawn as a Latin one: it mixes no script,
    yet reads ``pay``. Beside the real ``pay`` a reviewer sees two of the same name."""
    assert for_terminal("\u0440\u0430\u0443") == "\\u0440\\u0430\\u0443"  # Cyrillic
    assert for_terminal("\u0391\u03a1\u0399") == "\\u0391\\u03a1\\u0399"  # Greek "API"
    assert for_terminal("\u0585\u057d") == "\\u0585\\u057d"  # Armenian "ou"
    assert for_terminal("team \u0441\u043e\u0440") == "team \\u0441\\u043e\\u0440"
    # one letter is a word too: "а" (Cyrillic) alone reads "a"
    assert for_terminal("\u0430") == "\\u0430"
    # words of those scripts with a letter no Latin one passes for are as they are
    for text in ("\u043f\u0440\u0438\u0432\u0435\u0442", "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1"):
        assert for_terminal(text) == text


def test_a_name_mixing_scripts_across_a_hyphen_shows_its_foreign_letters_escaped() -> None:
    """A name's parts joined by ``-``, ``_`` or ``.`` are one name: ``а-team`` with a
    Cyrillic ``а`` reads ``a-team``, and ``dev-сор`` reads ``dev-cop``."""
    assert for_terminal("\u0430-team") == "\\u0430-team"
    assert for_terminal("dev-\u0441\u043e\u0440") == "dev-\\u0441\\u043e\\u0440"
    assert for_terminal("dev_\u0434\u0435\u0432") == "dev_\\u0434\\u0435\\u0432"
    assert for_terminal("ops.\u0434\u0435\u0432") == "ops.\\u0434\\u0435\\u0432"
    # one script across the hyphen, or words apart, is as it is
    dev, prod = "\u0434\u0435\u0432", "\u043f\u0440\u043e\u0434"
    for text in ("M\u00fcller-L\u00fcdenscheid", f"{dev}-{prod}", f"{dev} dev"):
        assert for_terminal(text) == text


def test_a_plan_shows_a_wholly_look_alike_workspace_beside_the_real_one_escaped() -> None:
    plan = hostile_plan("\u0440\u0430\u0443")  # a live workspace whose name reads "pay"
    for shown in (render_text(plan), render_markdown(plan)):
        assert "\\u0440\\u0430\\u0443" in shown and "\u0440" not in shown


def test_a_plan_shows_a_look_alike_workspace_beside_the_real_one_escaped() -> None:
    plan = hostile_plan("d\u0435v")  # a live workspace whose name reads "dev"
    for shown in (render_text(plan), render_markdown(plan)):
        assert "d\\u0435v" in shown and "\u0435" not in shown


def test_ordinary_text_is_unchanged() -> None:
    for text in ("dev-alice", "Équipe données 🚀", "C:\\path\\x1b", "a'b\"c", "اختبار"):
        assert for_terminal(text) == text


@given(st.text())
def test_terminal_text_has_no_control_character(text: str) -> None:
    escaped = for_terminal(text)
    assert unsafe_characters(escaped) == [] and "\n" not in escaped
    assert for_terminal(escaped) == escaped  # escaping twice changes nothing


def _only_code_span(markdown: str) -> str:
    """The code span's text when ``markdown`` is "see " and exactly one code span."""
    tokens = MD.parse(markdown)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = tokens[1].children or []
    assert [(c.type, c.content) for c in children[:1]] == [("text", "see ")]
    assert [c.type for c in children[1:]] == ["code_inline"], markdown
    return children[1].content


@given(st.text())
def test_inline_code_is_one_span_holding_the_text(text: str) -> None:
    shown = _only_code_span("see " + inline_code(text))
    assert shown == (for_terminal(text) or " ")


def _see(markdown: str) -> str:
    tokens = MD.parse(markdown)
    return "".join(c.content for c in tokens[1].children or [] if c.type in ("code_inline", "text"))


def test_inline_code_with_backticks() -> None:
    assert inline_code("a`b") == "``a`b``"
    assert inline_code("```") == "```` ``` ````"
    assert inline_code(" x ") == "`  x  `"
    assert _see("see " + inline_code("`")) == "see `"


@given(st.text(), st.sampled_from(["", "diff", "json"]))
def test_fence_holds_the_text_whatever_it_contains(text: str, lang: str) -> None:
    block = fence(text, lang)
    tokens = MD.parse(block)
    assert [t.type for t in tokens] == ["fence"]
    assert tokens[0].info == lang
    body = for_terminal(text, keep_newlines=True)
    assert tokens[0].content == (body if not body or body.endswith("\n") else body + "\n")


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert fence("plain\n", "diff") == "```diff\nplain\n```\n"
    assert fence("a\n`````\nb", "diff").startswith("``````diff\n")
    assert_markdown_safe(fence(INJECTION, "diff"), fences=1)


@given(st.text())
def test_prose_renders_literally(text: str) -> None:
    tokens = MD.parse("Note: " + md_text(text))
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = tokens[1].children or []
    kinds = {c.type for c in children}
    assert kinds <= {"text", "em_open", "em_close", "strong_open", "strong_close"}, kinds


def test_prose_escapes_markup_but_not_ordinary_text() -> None:
    message = "In the admin console, set the spend limit of workspace 'dev' to 50 USD."
    assert md_text(message) == message
    assert md_text("<b>&[x](y)`z`*|\\") == "&lt;b&gt;&amp;\\[x\\](y)\\`z\\`\\*\\|\\\\"
    assert html_text("<summary>a & b</summary>\n") == "&lt;summary&gt;a &amp; b&lt;/summary&gt;\\n"
    for name in NAMES:
        assert_markdown_safe(f"- {inline_code(name)}: {md_text(name)}\n")


def test_prose_pings_nobody_and_links_no_issue() -> None:
    """GitHub turns ``@name`` into a mention (a notification to that person or team) and
    ``#123`` into a link to issue 123 (and a note in its timeline), anywhere outside code.
    A live name or an actor from the audit log must do neither in a comment or an issue;
    an e-mail address (the ``@`` inside a word) is no mention and stays as it is."""
    shown = md_text("by @acme/admins and @everyone, see #123 and GH-7; bob@acme.example")
    assert "@acme/admins" not in shown and "@everyone" not in shown and "#123" not in shown
    assert "bob@acme.example" in shown
    text = _see("Note: " + shown).replace("\u200b", "")
    assert text == "Note: by @acme/admins and @everyone, see #123 and GH-7; bob@acme.example"
    for sign in ("\\@", "`@", "é@", "(@"):
        assert "@&#8203;a" in md_text(f"{sign}a")


def test_prose_links_no_issue_of_another_repository() -> None:
    """``owner/repo#12`` links that repository's issue 12 and notes the link in its
    timeline, for everyone watching it to see."""
    text = "see acme/app#12 and acme#3"
    shown = md_text(text)
    assert "app#12" not in shown and "acme#3" not in shown
    assert _see("Note: " + shown).replace("\u200b", "") == "Note: " + text
