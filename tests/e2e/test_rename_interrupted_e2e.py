"""A key rename interrupted at any point keeps the old key for its grace, as a finished
rename does.

The platform cannot rename a key: the renamed key is created, its secret stored, and the
old key (with its secret) kept for the rotation grace before a later apply deletes it. The
apply is killed after each journal record; the next apply runs on this machine (its
journal at hand) or on another (only the ownership record in the vault).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.platform.sandbox import SandboxStore
from tests.e2e.apply_support import (
    actionable,
    file_vault_entries,
    plan_document,
    write_small_desired,
)
from tests.e2e.kill_rounds import KillRounds
from tests.e2e.test_apply_crash import STATE, VAULT, platform

BOB = "    - name: dev-bob\n"
RENAMED = "    - name: dev-robert\n      previous_names: [dev-bob]\n"


class RenameRounds(KillRounds):
    """A converged organisation about to rename dev-bob, copied fresh for each round."""

    def __init__(self, base: Path) -> None:
        self.base = base
        template = base / "template"
        desired = write_small_desired(template)
        (template / ".sandbox").mkdir()
        SandboxStore.open(template / STATE).close()
        assert self.cli(template, "apply", "--auto-approve").returncode == 0
        self.old_bob = file_vault_entries(template / VAULT)["dev/dev-bob"].metadata["key_id"]
        dev = desired / "workspaces" / "dev.yaml"
        assert BOB in dev.read_text()
        dev.write_text(dev.read_text().replace(BOB, RENAMED))
        self.template = template

    def round_of(self, n: int, *, elsewhere: bool) -> bool:
        """Kill the rename's apply after record ``n``, then apply again (``elsewhere``:
        without this machine's journal); False when the apply was never killed."""

        def moved(root: Path) -> None:
            if elsewhere:
                shutil.rmtree(root / ".reconciler", ignore_errors=True)

        return self.round(
            n,
            name="-elsewhere" if elsewhere else "-here",
            note=" (resumed elsewhere)" if elsewhere else "",
            before_resume=moved,
        )

    def check(self, root: Path, where: str) -> None:
        final = self.cli(root, "plan", "--detailed-exitcode", "--format", "json")
        assert actionable(plan_document(final)) == [], f"{where}: {final.stdout}"
        entry = file_vault_entries(root / VAULT)["dev/dev-robert"]
        live, _, works = platform(root / STATE, [entry.secret])
        assert works == [True], f"{where}: the stored secret is refused"
        kept = sorted(k["name"] for k in live if k["name"] in ("dev-bob", "dev-robert"))
        ids = {k["key_id"] for k in live}
        # the old key lives on through its grace (24 hours), as after a finished rename
        assert kept == ["dev-bob", "dev-robert"], f"{where}: {kept}"
        assert self.old_bob in ids, f"{where}: the old key was deleted before its grace ended"


@pytest.mark.slow
@pytest.mark.parametrize("elsewhere", [False, True], ids=["here", "elsewhere"])
def test_a_rename_killed_at_each_step_keeps_the_old_key_for_its_grace(
    tmp_path: Path, elsewhere: bool
) -> None:
    rounds = RenameRounds(tmp_path)
    killed: dict[int, bool] = {}
    while all(killed.values()):
        killed[len(killed) + 1] = rounds.round_of(len(killed) + 1, elsewhere=elsewhere)
    assert sum(killed.values()) >= 4  # the rename's records, each killed after
