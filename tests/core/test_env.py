"""The environment variables reconciler reads are named in reconciler/env.py and nowhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import reconciler
from reconciler import env

PACKAGE = Path(reconciler.__file__).parent
# What a variable name looks like; GitHub's reserved secret prefix "GITHUB_" alone is not one.
VARIABLE = re.compile(
    r"(MISTRAL|ANTHROPIC|RECONCILER|VAULT|GITHUB|ACTIONS)_[A-Z0-9_]+|NO_COLOR|HOME"
)
NAMES = {name: value for name, value in vars(env).items() if name.isupper()}


def test_each_constant_is_the_variable_it_names() -> None:
    assert NAMES
    assert all(name == value for name, value in NAMES.items())


def test_each_variable_is_in_the_module_table() -> None:
    table = env.__doc__ or ""
    assert [n for n in NAMES if not re.search(rf"\b{n}\b", table)] == []


def test_no_other_module_spells_a_variable_name_as_a_string() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "env.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and VARIABLE.fullmatch(node.value)
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}")
    assert found == []
