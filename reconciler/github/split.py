"""Split a Markdown body into parts that each fit in one GitHub comment. Pure.

GitHub refuses a comment over 65,536 characters. Atlantis's answer, followed here:

- cut at a line boundary (preferring a blank line in the last half of a part, so a plan's
  resource block stays whole); a single line longer than a whole part is cut inside the
  line as a last resort (that piece is then treated as plain text);
- a part that ends inside a code fence or a ``<details>`` closes them, and the next part
  reopens them (same fence and info string, same ``<details>`` tag and ``<summary>``);
  a tag inside a code span (a name in a plan) is text, and is never reopened;
- every part but the last ends with "Continued in next comment", every part but the
  first starts with "Continued from previous comment";
- the ``Plan:`` summary stays in the first part: when the cut would push it out, the
  first part starts with a copy of it.

Each :class:`Part` keeps the verbatim slice of the body it carries (``content``) apart
from what was added around it, so ``"".join(p.content for p in parts) == body``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMENT_CHARS = 65_536
CONTINUED = "_Continued in next comment._"
CONTINUED_FROM = "_Continued from previous comment._"

_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*$")
_DETAILS = re.compile(
    r"<details\b[^>]*>(?:\s*<summary\b[^>]*>.*?</summary>)?|</details\s*>", re.IGNORECASE
)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")  # a tag in code is text, not a tag
_SUMMARY = re.compile(r"^\**(?:Plan: \d+ to add, \d+ to change, \d+ to destroy\.|No changes\b)")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


@dataclass(frozen=True, slots=True)
class _State:
    """What is open after a line: a code fence (its opening line) and ``<details>`` tags."""

    fence: str | None = None  # the fence characters, e.g. "```"
    fence_line: str | None = None  # the opening line, reopened verbatim (without indent)
    details: tuple[str, ...] = ()  # opening tags, outermost first

    def after(self, line: str) -> _State:
        text = line.rstrip("\r\n")
        if self.fence is not None:
            closing = _FENCE_CLOSE.match(text)
            if (
                closing
                and closing["fence"][0] == self.fence[0]
                and len(closing["fence"]) >= len(self.fence)
            ):
                return _State(details=self.details)
            return self
        opening = _FENCE_OPEN.match(text)
        if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
            return _State(opening["fence"], text.lstrip(" "), self.details)
        details = list(self.details)
        for match in _DETAILS.finditer(_CODE_SPAN.sub("", text)):
            tag = match.group(0)
            if tag.startswith("</"):
                if details:
                    details.pop()
            else:
                details.append(tag)
        return _State(details=tuple(details)) if details != list(self.details) else self

    def closers(self) -> str:
        """Lines that close everything open, innermost first."""
        out = ""
        if self.fence is not None:
            out += self.fence + "\n"
        for _ in self.details:
            out += "\n</details>\n"
        return out

    def openers(self) -> str:
        """Lines that reopen everything open, outermost first."""
        out = "".join(f"{tag}\n\n" for tag in self.details)
        if self.fence_line is not None:
            out += self.fence_line + "\n"
        return out


@dataclass(frozen=True, slots=True)
class Part:
    """One comment's worth: ``prefix`` and ``suffix`` were added; ``content`` is verbatim."""

    prefix: str
    content: str
    suffix: str

    @property
    def text(self) -> str:
        glue = "\n" if self.content and not self.content.endswith("\n") and self.suffix else ""
        return self.prefix + self.content + glue + self.suffix


def summary_line(body: str) -> str | None:
    """The plan's summary line (``Plan: …``, ``No changes.`` or ``No changes to apply …``),
    bold as found, or None."""
    for line in body.splitlines():
        if _SUMMARY.match(line.strip()):
            return line.strip()
    return None


def _suffix(state: _State) -> str:
    return state.closers() + "\n" + CONTINUED + "\n"


def _prefix(state: _State) -> str:
    return CONTINUED_FROM + "\n\n" + state.openers()


def split_markdown(body: str, limit: int = MAX_COMMENT_CHARS) -> list[Part]:
    """Cut ``body`` into parts whose ``text`` is at most ``limit`` characters each."""
    parts = _split(body, limit, first_prefix="")
    summary = summary_line(body)
    if len(parts) > 1 and summary is not None and summary not in parts[0].content:
        parts = _split(body, limit, first_prefix=summary + "\n\n")
    return parts


def _split(body: str, limit: int, *, first_prefix: str) -> list[Part]:
    lines = _LINE.findall(body)
    if len("".join(lines)) != len(body):  # pragma: no cover - the pattern covers any text
        raise AssertionError("line split lost text")
    parts: list[Part] = []
    prefix = first_prefix
    state = _State()  # state at the start of the current part
    chunk: list[str] = []  # the current part's lines
    states: list[_State] = []  # state after each of them
    plains: list[bool] = []  # whether each is a piece of a cut line (plain text)
    queue: list[tuple[str, bool]] = [(line, False) for line in reversed(lines)]  # (text, plain)

    size = 0  # of the chunk

    def fits(extra: str, after: _State) -> bool:
        return len(prefix) + size + len(extra) + 1 + len(_suffix(after)) <= limit

    while queue:
        if not chunk:
            rest = "".join(text for text, _ in reversed(queue))
            if len(prefix) + len(rest) <= limit:  # the rest fits: the last part
                return [*parts, Part(prefix, rest, "")]
        line, plain = queue.pop()
        current = states[-1] if states else state
        after = current if plain else current.after(line)
        if fits(line, after):
            chunk.append(line)
            states.append(after)
            plains.append(plain)
            size += len(line)
            continue
        if not chunk:
            # One line longer than a part can hold: cut inside it, as plain text.
            before = state
            room = limit - len(prefix) - 1 - len(_suffix(before))
            if room < 1:
                raise ValueError(f"a comment limit of {limit} characters is too small")
            chunk.append(line[:room])
            states.append(before)
            plains.append(True)
            queue.append((line[room:], True))
        else:
            queue.append((line, plain))
            cut = _blank_cut(chunk)
            if cut is not None:
                queue.extend(reversed(list(zip(chunk[cut:], plains[cut:], strict=True))))
                del chunk[cut:]
                del states[cut:]
                del plains[cut:]
        end = states[-1]
        parts.append(Part(prefix, "".join(chunk), _suffix(end)))
        prefix = _prefix(end)
        state = end
        chunk, states, plains, size = [], [], [], 0
        if len(prefix) + 1 + len(_suffix(state)) >= limit:
            raise ValueError(f"a comment limit of {limit} characters is too small")
    parts.append(Part(prefix, "".join(chunk), ""))
    return parts


def _blank_cut(chunk: list[str]) -> int | None:
    """Where to cut ``chunk`` so a part ends after a blank line in its second half."""
    total = sum(map(len, chunk))
    kept = total
    for index in range(len(chunk), 0, -1):
        if index < len(chunk):
            kept -= len(chunk[index])
        if kept < total // 2:
            return None
        if not chunk[index - 1].strip():
            return index
    return None
