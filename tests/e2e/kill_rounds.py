"""Kill an apply after journal record N, resume it, check the result: the rounds of the
end-to-end tests that show an interrupted operation converges (a rotation, a rename).

A subclass makes ``template`` (a converged organisation with the change pending in its
desired state) and says in :meth:`KillRounds.check` what must hold once the apply has
resumed, or ran to its end unkilled. Each round works on a fresh copy of the template.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.env import RECONCILER_CRASH_AFTER_RECORD as CRASH_ENV
from tests.e2e.conftest import clean_env, fork_server
from tests.e2e.test_apply_crash import embedded_args


class KillRounds:
    """Rounds over copies of ``template``, under ``base``."""

    base: Path
    template: Path

    def cli(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
        return fork_server().run(embedded_args(*args), cwd=cwd, env=clean_env(env))

    def round(
        self,
        n: int,
        *,
        name: str = "",
        note: str = "",
        before_resume: Callable[[Path], None] = lambda root: None,
    ) -> bool:
        """Kill the apply after record ``n``, run ``before_resume`` on the copy, apply again
        and :meth:`check`; False when the apply ran to its end without being killed.
        ``name`` tells copies of one ``n`` apart; ``note`` is added to failure messages."""
        root = self.base / f"kill-{n}{name}"
        shutil.copytree(self.template, root)
        killed = self.cli(root, "apply", "--auto-approve", env={CRASH_ENV: str(n)})
        where = f"killed after record {n}{note}"
        if killed.returncode == 0:
            self.check(root, where)
            return False
        assert killed.returncode == -signal.SIGKILL, f"{where}: {killed.stderr}"
        before_resume(root)
        again = self.cli(root, "apply", "--auto-approve")
        assert again.returncode == 0, f"{where}: {again.stderr}"
        self.check(root, where + "\n" + again.stdout[-1500:] + again.stderr[-800:])
        return True

    def check(self, root: Path, where: str) -> None:
        raise NotImplementedError
