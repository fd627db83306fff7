"""What a plan knows of live keys beyond the live state: the ledger and the secret checks.

Part of :mod:`reconciler.ownership`; pure. The session gathers these facts (it reads the
ledger and each managed key's secret metadata from the stores); the diff consumes them:

- :class:`KeyFacts`: the ledger, the live keys whose secret was found where it belongs
  under their own key id (``verified``), and the :class:`SecretProblem` of each checked
  key whose secret was not (``problems``);
- :func:`secret_problem`: what one check found, from the key id the store names at the
  key's secret location.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from reconciler.model import CLOCK_SKEW, LiveState
from reconciler.ownership.claims import Claim, Ownership, classify
from reconciler.ownership.ledger import Ledger, SecretLocation, SecretState


class SecretFinding(StrEnum):
    """What a check of a managed key's secret found, when it was not the key's secret."""

    MISSING = "missing"  # nothing at the recorded path
    OTHER_KEY = "other-key"  # the store names another key id there


@dataclass(frozen=True, slots=True)
class SecretProblem:
    """A managed key's secret is not where the ledger says it is."""

    finding: SecretFinding
    store: str  # the store's description
    path: str

    def reason(self) -> str:
        """Why the key is replaced, as a plan says it."""
        if self.finding is SecretFinding.MISSING:
            return f"secret missing from {self.store}: {self.path}"
        return f"the secret at {self.path} belongs to another key"


def secret_problem(
    location: SecretLocation, key_id: str, stored: str | None, *, present: bool
) -> SecretProblem | None:
    """What a check found at ``location`` for the live key ``key_id``: ``present`` is
    whether the store holds anything there, ``stored`` the key id its metadata names.
    None: the key's own secret is there."""
    if not present:
        return SecretProblem(SecretFinding.MISSING, location.store, location.path)
    if stored != key_id:
        return SecretProblem(SecretFinding.OTHER_KEY, location.store, location.path)
    return None


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """The ownership facts a plan is made with (see the module docstring).

    ``problems`` should hold checks of keys whose ledger entry says their secret is
    stored; the diff replaces such a key only when its entry says so, so a check of an
    adopted key (secret unknown) never replaces it.
    """

    ledger: Ledger
    verified: frozenset[str] = frozenset()
    problems: Mapping[str, SecretProblem] = field(default_factory=dict)
    clock_skew: dt.timedelta = CLOCK_SKEW
    # the claims of the last live state asked about: a plan asks several times of one
    _claimed: list[tuple[LiveState, Mapping[str, Claim]]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    def claims(self, live: LiveState) -> Mapping[str, Claim]:
        """Every live key's claim (keys made by an unresolved create whose secret was
        verified are unrecorded, not abandoned); classified once per live state."""
        if self._claimed and self._claimed[0][0] is live:
            return self._claimed[0][1]
        found = classify(
            self.ledger, live, confirmed_stored=self.verified, clock_skew=self.clock_skew
        )
        self._claimed[:] = [(live, MappingProxyType(found))]
        return self._claimed[0][1]

    def problem(self, claim: Claim | None, key_id: str) -> SecretProblem | None:
        """The problem that makes the key ``key_id`` a replacement: its entry says its
        secret is stored, and the check found it missing or another key's."""
        if claim is None or claim.ownership is not Ownership.OWNED or claim.entry is None:
            return None
        if claim.entry.secret.state is not SecretState.STORED:
            return None  # adopted, its secret never given to reconciler: audit says so
        return self.problems.get(key_id)
