"""A secret path in the desired state: the one-match check of an ordinary path accepts
exactly what the full rule accepts, and refuses with the full rule's reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from reconciler.desired.schema import RelativePath, path_reason

PATH = TypeAdapter(RelativePath)
# letters that matter to the rule, so that near misses are common
pieces = st.sampled_from(
    ["a", "Z", "0", "_", ".", "-", "/", "\\", " ", "..", "_locks", "_Reconciler", "é"]
)


@given(st.lists(pieces, max_size=12).map("".join) | st.text(max_size=20))
def test_a_path_is_accepted_exactly_when_the_rule_gives_no_reason(value: str) -> None:
    reason = path_reason(value)
    if reason is None:
        assert PATH.validate_python(value) == value
    else:
        with pytest.raises(ValidationError, match="invalid path") as refused:
            PATH.validate_python(value)
        assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("dev/alice", True),
        ("_team/key_1.v2", True),
        ("_locks", False),
        ("_locks/x", False),
        ("a/_locks", True),
        ("_LOCKS/x", False),  # the stores refuse their folders in any letter case
        ("_reconciler/ledger/org-1", False),  # the ownership record's folder: apply refused it
        ("_Reconciler", False),
        ("a/_reconciler", True),
        ("a//b", False),
        ("a/./b", False),
        ("a/", False),
        ("a\nb", False),
        ("a\n", False),
    ],
)
def test_paths(value: str, accepted: bool) -> None:
    assert (path_reason(value) is None) is accepted
    if accepted:
        assert PATH.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            PATH.validate_python(value)


def test_the_reserved_folders_are_named_in_the_refusal() -> None:
    assert path_reason("_reconciler/ledger/x") == (
        "'_reconciler/' is reserved for reconciler's own documents (the ownership record)"
    )
    assert path_reason("_Locks/x") == "'_locks/' is reserved for apply locks"


def test_validate_reserves_the_folders_the_stores_reserve() -> None:
    from reconciler.desired.schema import RESERVED_FOLDERS
    from reconciler.vault.base import RESERVED_DIRS

    assert set(RESERVED_FOLDERS) == set(RESERVED_DIRS)
