"""The whole session: the date it runs at (``RECONCILER_TEST_DATE``, see
:mod:`tests.time_travel`), the waits between retries (none), Hypothesis's settings under
load, and the order tests start in (``slow`` ones first).

Waits between retries: ``RECONCILER_RETRY_DELAY_SCALE=0`` for this process and every CLI
it starts (:func:`tests.e2e.conftest.clean_env` passes it on), so a retried request goes
again at once; what is logged and shown stays the real schedule. Set it in the shell
(``1``) to run the suite with the real waits. The schedule itself is tested with an
injected sleeper (tests/platform/test_retry_waits.py).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from reconciler.env import RECONCILER_RETRY_DELAY_SCALE
from tests import time_travel

# On a loaded machine drawing examples can take seconds: the properties still run every
# example, with no deadline and no "too slow" verdict. (A test that lists health checks of
# its own to suppress replaces this list, so it names too_slow as well.)
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

_STARTED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault(RECONCILER_RETRY_DELAY_SCALE, "0")
    when = time_travel.start()
    if when is not None:
        _STARTED.append(when.isoformat())


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"clock moved to {_STARTED[0]} ({time_travel.ENV})" if _STARTED else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` start first, in their collected order, the rest after them.

    pytest-xdist hands tests out in this order: a long test met last keeps one worker busy
    alone at the end, while started first it runs beside the short ones on the other worker.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
