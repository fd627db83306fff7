"""The sandbox's demo seed, read and checked once per test process.

Reading it (YAML with line numbers, validated, cross-checked) takes about 25 ms, and
hundreds of tests start a sandbox store from it. Each caller gets a deep copy of its
own, so no test can change the organisation another starts from.
"""

from __future__ import annotations

import functools

from reconciler.platform.sandbox import DEMO_SEED
from reconciler.platform.sandbox.seed import Seed, load_seed


@functools.cache
def _demo() -> Seed:
    return load_seed(DEMO_SEED)


def demo_seed() -> Seed:
    """The demo seed (``reconciler/platform/sandbox/demo-seed.yaml``), parsed."""
    return _demo().model_copy(deep=True)
