"""The whole session: the date it runs at (``RECONCILER_TEST_DATE``, see
:mod:`tests.time_travel`)."""

from __future__ import annotations

import pytest

from tests import time_travel

_STARTED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    when = time_travel.start()
    if when is not None:
        _STARTED.append(when.isoformat())


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"clock moved to {_STARTED[0]} ({time_travel.ENV})" if _STARTED else None
