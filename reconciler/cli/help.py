"""Help that reads as words: ``reconciler policy check [OPTIONS] ROLE MODEL TOKENS`` and
``--format FORMAT``, never a type such as ``<str>`` or a brace such as ``{role}``.

Typer makes each placeholder from the parameter's Python type. :class:`WordsCommand`
writes the usage line and the Arguments and Options lists with :func:`placeholder`
instead: an explicit ``metavar`` (``FILE``, ``DIR``, ``N``), else the parameter's name.
:func:`use_words` gives every command of an app that class; ``reconciler.cli.main``
calls it once.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

# Parameters are told apart by click's ``param_type_name``, so this works whether typer
# uses click itself or its own copy of it.


def _is_argument(param: Any) -> bool:
    return bool(param.param_type_name == "argument")


def placeholder(param: Any) -> str:
    """The parameter's ``metavar``, else its name in capitals: ``ROLE``, ``FORMAT``."""
    if param.metavar:
        return str(param.metavar)
    return str(param.name or "value").upper()


def _record(param: Any, ctx: Any) -> tuple[str, str] | None:
    record = param.get_help_record(ctx)
    if record is None:
        return None
    if _is_argument(param):
        return placeholder(param), record[1]
    if not (getattr(param, "is_flag", False) or getattr(param, "count", False)):
        return f"{', '.join(param.opts)} {placeholder(param)}", record[1]
    return (record[0], record[1])


class WordsCommand(TyperCommand):
    """A command whose help shows :func:`placeholder` words."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if _is_argument(param):
                word = placeholder(param) + ("..." if param.nargs != 1 else "")
                pieces.append(word if param.required else f"[{word}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = _record(param, ctx)
            if record is not None:
                sections["Arguments" if _is_argument(param) else "Options"].append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def use_words(app: typer.Typer, command: type[WordsCommand] = WordsCommand) -> None:
    """Give every command of ``app`` and of its sub-apps :class:`WordsCommand` help (as
    the class ``command``, a subclass of it)."""
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:  # not a class chosen on purpose
            info.cls = command
    for group in app.registered_groups:
        sub: Any = group.typer_instance
        if isinstance(sub, typer.Typer):
            use_words(sub, command)
