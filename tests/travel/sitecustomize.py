"""Run by Python at start-up in a test's subprocess while ``RECONCILER_TEST_DATE`` is set
(this folder is then on its ``PYTHONPATH``): its wall clock moves to that date, as the
test session's did. See ``tests/time_travel.py``."""

from tests.time_travel import start

start()
