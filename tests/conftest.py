"""The whole session: the date it runs at (``RECONCILER_TEST_DATE``, see
:mod:`tests.time_travel`), and the order tests start in (``slow`` ones first)."""

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` start first, in their collected order, the rest after them.

    pytest-xdist hands tests out in this order: a long test met last keeps one worker busy
    alone at the end, while started first it runs beside the short ones on the other worker.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
