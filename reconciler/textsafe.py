"""Live text made safe to print: in a terminal, in Markdown, in HTML. Pure, no I/O.

Names that come from the platform (workspaces, keys, descriptions, people, its error
messages) are arbitrary text. Printed raw, an escape sequence clears a terminal or sets its
title, a bidi override makes a reviewer read something other than what is there, and a
backtick run or an HTML tag closes the code block or the ``<details>`` fold of a
pull-request comment. Everything that prints live text passes it through one of these:

- :func:`for_terminal`: control characters (C0, DEL, C1), line separators and invisible
  format characters (direction controls, zero-width spaces and joiners) as visible escapes
  (``\\x1b``, ``\\n``, ``\\u202e``, ``\\u200b``), and the look-alike letters of a name
  that mixes Latin, Cyrillic, Greek or Armenian (``d\\u0435v``: a Cyrillic ``e`` in a
  name that reads ``dev``) or is written in them alone (``\\u0440\\u0430\\u0443``, which
  reads ``pay``);
- :func:`inline_code`: a Markdown code span that nothing inside can close;
- :func:`fence`: a fenced code block that no line inside can close;
- :func:`md_text`: Markdown prose with no HTML, link, code span, line break, mention or
  issue reference of its own;
- :func:`html_text`: text inside an HTML element (a ``<summary>``, a table cell).

Printable text, accented letters and emoji included, is left exactly as it is (the
joiners inside an emoji sequence are shown escaped: one looks like none); so is the
backslash, so an ordinary name renders as before, and :func:`for_terminal` changes nothing
in text it already escaped.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["fence", "for_terminal", "html_text", "inline_code", "md_text"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class _Escapes(dict[int, str]):
    """A :meth:`str.translate` table: each character met is looked up once, then cached.

    Escaped: the controls (C0, DEL, C1), the line and paragraph separators, half a
    surrogate pair (JSON's ``"\\ud800"``: no encoding can write it out), and every
    invisible format character (Unicode category ``Cf``): the bidi embeddings, overrides,
    isolates and marks (Trojan Source), zero-width spaces and joiners (``de\u200bv``
    prints as ``dev``), soft hyphens, the byte-order mark, tag characters. Judged by the
    running Python's Unicode tables, so a format character added later is escaped too.
    """

    def __init__(self, *, keep_newlines: bool) -> None:
        super().__init__()
        self._keep_newlines = keep_newlines

    def __missing__(self, code: int) -> str:
        char = chr(code)
        hidden = unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")
        text = _escape(code) if hidden and not (self._keep_newlines and char == "\n") else char
        self[code] = text
        return text


_TABLE = _Escapes(keep_newlines=False)
_TABLE_LINES = _Escapes(keep_newlines=True)
_BACKTICKS = re.compile(r"`+")
_MD_PUNCTUATION = {ord(c): "\\" + c for c in "\\`*[]|"}
#: What GitHub links outside code: a mention (``@name``, a notification), an issue
#: reference (``#123``, ``GH-123``, another repository's ``owner/repo#123``); ``@`` after a
#: letter or digit (an e-mail address) mentions nobody.
_GITHUB_LINKS = re.compile(r"(?<![A-Za-z0-9_])(?:@(?=[A-Za-z0-9])|GH-(?=[0-9]))|#(?=[0-9])")
#: A zero-width space, as an entity, after the sign: it renders as written, linking nothing.
_UNLINK = "&#8203;"


#: A name, the unit in which scripts are compared: letters and digits, joined by ``-``,
#: ``_`` or ``.`` (``a-team`` is one name, as a domain's label is in a browser).
_NAME = re.compile(r"[^\W_](?:[\w.-]*[^\W_])?")
#: The scripts whose letters pass for one another's (Cyrillic U+0430 and ``a``, Greek
#: U+03BF and ``o``):
#: one name mixing two of them is written to be misread. Others mix legitimately (a
#: Japanese word's kanji and kana).
_LOOK_ALIKE = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})
#: The letters of those scripts drawn as a Latin one in common fonts (after Unicode's
#: confusables, UTS #39): a name of these alone (``\u0440\u0430\u0443``) reads as a
#: Latin one (``pay``) though it mixes nothing. A name of the same script with one other
#: letter (``\u043f\u0440\u0438\u0432\u0435\u0442``) cannot pass for Latin.
_PASS_FOR_LATIN = frozenset(
    # Cyrillic
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0455\u0456\u0458\u04bb\u0501\u051b\u051d\u04cf\u04af\u0475"
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425\u0405\u0406\u0408\u051a\u051c"
    "\u04ae\u04c0"
    # Greek
    "\u03b1\u03b3\u03b9\u03bd\u03bf\u03c1\u03c5\u03f2\u03f3"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7\u03f9\u037f"
    # Armenian
    "\u0585\u057d\u0581\u0570\u0578\u0566\u054d\u0555\u053c"
    # Cherokee
    "\u13a0\u13a1\u13a2\u13a9\u13aa\u13ab\u13ac\u13b3\u13b7\u13bb\u13c0\u13c2\u13c3\u13cf\u13d2"
    "\u13d9\u13da\u13de\u13df\u13e2\u13e6\u13f4"
    # Coptic
    "\u2c9e\u2c9f\u2ca2\u2ca3\u2ca4\u2ca5"
)


def _script(char: str) -> str:
    """The script of a letter, as its Unicode name begins (``CYRILLIC SMALL LETTER IE``)."""
    return unicodedata.name(char, "").partition(" ")[0]


def _misleading(name: str) -> bool:
    """Whether ``name`` (not plain ASCII) is written to be misread: it mixes look-alike
    scripts, or is written wholly in letters that pass for Latin ones."""
    letters = [c for c in name if c.isalpha()]
    scripts = {_script(c) for c in letters} & _LOOK_ALIKE
    if len(scripts) > 1:
        return True
    return scripts != {"LATIN"} and bool(scripts) and all(c in _PASS_FOR_LATIN for c in letters)


def _unmixed(found: re.Match[str]) -> str:
    """A name as it is, or, when it is written to be misread (:func:`_misleading`), with
    every character that is not plain ASCII escaped: ``dev`` spelled with a Cyrillic ``e``
    shows as ``d\\u0435v``."""
    name = found[0]
    if name.isascii() or not _misleading(name):
        return name
    return "".join(c if c.isascii() else _escape(ord(c)) for c in name)


def for_terminal(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control and invisible direction character as a visible escape,
    and the look-alike letters of a word that mixes scripts (see the module's docstring).

    A line feed is escaped too (``\\n``), so a name cannot start a line of its own, unless
    ``keep_newlines`` (for a multi-line message this tool wrote around live values that
    are already escaped).
    """
    shown = text.translate(_TABLE_LINES if keep_newlines else _TABLE)
    return shown if shown.isascii() else _NAME.sub(_unmixed, shown)


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def inline_code(text: str) -> str:
    """``text`` as one Markdown code span, on one line, that no backtick inside can close.

    The delimiter is one backtick longer than the longest run inside; the content is padded
    with a space on each side when it starts or ends with a backtick (or with a space that
    Markdown would otherwise strip).
    """
    text = for_terminal(text)
    ticks = "`" * (_longest_backticks(text) + 1)
    pad = text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and text.strip())
    if not text:
        return "` `"
    return f"{ticks} {text} {ticks}" if pad else f"{ticks}{text}{ticks}"


def fence(text: str, lang: str = "") -> str:
    """``text`` as a fenced code block whose fence is longer than any backtick run inside.

    Control characters other than line feeds are escaped (a carriage return would end a
    line for Markdown), and the block ends with a line feed.
    """
    body = for_terminal(text, keep_newlines=True)
    if body and not body.endswith("\n"):
        body += "\n"
    ticks = "`" * max(3, _longest_backticks(body) + 1)
    return f"{ticks}{for_terminal(lang)}\n{body}{ticks}\n"


def html_text(text: str) -> str:
    """``text`` for the inside of an HTML element: ``& < >`` as entities, on one line."""
    return html.escape(for_terminal(text), quote=False)


def md_text(text: str) -> str:
    """``text`` as Markdown prose that renders literally: on one line, no HTML, no code
    span, no link or image, no emphasis by asterisks, no table cell break, and on GitHub
    no mention that notifies anyone and no reference to an issue."""
    escaped = html_text(text.translate(_MD_PUNCTUATION))
    return _GITHUB_LINKS.sub(lambda m: m[0] + _UNLINK, escaped)
