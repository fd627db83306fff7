"""What a desired-state file must pass before a YAML parser sees it: encoding and depth.

Pure functions of the file's bytes or text, each returning the problem at its line and
column, or None:

- :func:`decode`: UTF-8 text (a UTF-8 byte-order mark is dropped). Anything else is
  refused at the line and column of the first bad byte, never with a byte offset, and a
  UTF-16 or UTF-32 file is named as such.
- :func:`too_deep`: a cheap scan that refuses a file nesting deeper than
  :data:`MAX_DEPTH`, at the line where it got too deep. libyaml's composer recurses once
  per level and kills the process (SIGSEGV) some ten thousand levels down, and no desired
  state needs more than a dozen. The scan follows flow brackets (``[`` ``{``) and block
  levels (indentation, and the compact ``- - -`` / ``? `` / ``: `` indicators that open a
  level on the same line); a flow collection ends, for the scan, at the first line not
  indented past the one that opened it. It ignores quoting, so a string full of
  unbalanced brackets could make it over-count (never in a real file), and one full of
  closing brackets could make it under-count: so the loader also checks the exact depth
  of any text long enough to be dangerous (:data:`SAFE_LENGTH`) before composing it.
"""

from __future__ import annotations

import codecs
import re

from reconciler.desired.problems import RawProblem

MAX_DEPTH = 64
#: Every level of nesting takes at least one character, so a text this short cannot nest
#: deep enough to hurt the composer; a longer one gets the exact check as well.
SAFE_LENGTH = 10_000

# YAML's line breaks, as libyaml and ruamel read them (splitting on anything else could
# make a line look less indented than the parser sees it).
LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_INDICATOR = re.compile(r"[-?:](?:[ \t]+|$)")
_KEY = re.compile(r"[-?:](?:[ \t]|$)")  # what may open a level after an item's indicator
_BRACKET = re.compile(r"[\[\]{}]")
_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def decode(data: bytes) -> str | RawProblem:
    """The file's text, or where it stops being UTF-8."""
    for bom, name in _WIDE_BOMS.items():  # UTF-32 first: its LE mark starts like UTF-16's
        if data.startswith(bom):
            return RawProblem((), 1, 1, f"{name} text: save the file as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8", errors="replace")) + 1
        byte = data[exc.start]
        return RawProblem(
            (), line, column, f"not UTF-8 text (byte 0x{byte:02x}: {exc.reason}); save it as UTF-8"
        )
    return text.removeprefix("\ufeff")


def depth_problem(line: int, column: int, limit: int = MAX_DEPTH) -> RawProblem:
    """The one message for a file that nests too deep, wherever it was found."""
    return RawProblem(
        (), line, column, f"nested more than {limit} levels deep here; refusing the file"
    )


def too_deep(text: str, limit: int = MAX_DEPTH) -> RawProblem | None:
    """Where ``text`` first nests deeper than ``limit`` levels, by a scan of its lines."""
    columns: list[int] = []  # the columns of the block levels open at this line
    flow = 0  # open flow brackets
    flow_indent = 0  # the indentation of the line that opened the outermost of them
    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        content = line.lstrip(" ")
        if not content or content[0] == "#":
            continue  # blank or comment lines neither open nor close anything
        pos = len(line) - len(content)
        if flow and pos <= flow_indent:
            flow = 0  # a flow collection goes on only on lines indented further
        while columns and columns[-1] > pos:
            columns.pop()
        after_indicator = False
        while True:
            if after_indicator and not _KEY.search(line, pos):
                break  # an item's scalar or flow collection (counted below), not a level
            if not columns or columns[-1] < pos:
                columns.append(pos)
                if len(columns) + flow > limit:
                    return depth_problem(number, pos + 1, limit)
            indicator = _INDICATOR.match(line, pos)
            if indicator is None:
                break
            pos = indicator.end()
            after_indicator = pos < len(line)
        for bracket in _BRACKET.finditer(line, pos):
            at = bracket.start()
            if bracket.group() in "]}":
                flow = max(0, flow - 1)
            elif flow or at == pos or line[at - 1] in " \t":  # in block context only a
                if not flow:  # bracket where a value may start opens a collection
                    flow_indent = len(line) - len(content)
                flow += 1
                if len(columns) + flow > limit:
                    return depth_problem(number, at + 1, limit)
    return None
