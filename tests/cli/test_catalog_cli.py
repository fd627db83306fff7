"""``reconciler catalog``: list the shipped catalog, refresh it from GET /v1/models."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

REPO = Path(__file__).resolve().parents[2]


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd, env={"NO_COLOR": "1", **(env or {})})


def test_list_shows_aliases_and_prices(tmp_path: Path) -> None:
    result = cli("catalog", "list", cwd=tmp_path)
    assert result.returncode == 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("mistral-small-2506"))
    assert "mistral-small-latest" in line
    assert "$0.15 in / $0.6 out per 1M tokens" in line


def test_refresh_writes_a_catalog_that_validate_then_uses(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    out = tmp_path / "models.json"
    result = cli("catalog", "refresh", "--sandbox", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "models from sandbox" in result.stderr
    catalog = json.loads(out.read_text())
    ids = {m["id"] for m in catalog["models"]}
    assert "mistral-small-2506" in ids
    small = next(m for m in catalog["models"] if m["id"] == "mistral-small-2506")
    assert small["input_price"] == 0.15  # prices carried over: the API publishes none

    # a catalog without codestral makes the example invalid, through RECONCILER_CATALOG
    catalog["models"] = [m for m in catalog["models"] if not m["id"].startswith("codestral")]
    out.write_text(json.dumps(catalog))
    checked = cli("validate", cwd=tmp_path, env={"RECONCILER_CATALOG": str(out)})
    assert checked.returncode == 1
    assert "codestral-latest" in checked.stderr
    assert "desired-state/workspaces/dev.yaml:" in checked.stderr


def test_missing_catalog_file_is_a_clear_error(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    result = cli("validate", cwd=tmp_path, env={"RECONCILER_CATALOG": str(tmp_path / "nope")})
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"Error: model catalog {tmp_path / 'nope'}: No such file or directory"
    )
    assert "Traceback" not in result.stderr
