"""The package's public names."""

from __future__ import annotations

import pytest

import reconciler.policy as policy


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert policy.__all__ == sorted(policy.__all__)
    for name in policy.__all__:
        assert getattr(policy, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        policy.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
