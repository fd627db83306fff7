"""The package's public names: sorted, and each one importable."""

from __future__ import annotations

import reconciler.vault as vault


def test_all_is_sorted_and_importable() -> None:
    assert vault.__all__ == sorted(vault.__all__)
    for name in vault.__all__:
        assert getattr(vault, name) is not None
