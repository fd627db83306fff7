"""What a plan knows of live keys beyond the live state: the ledger and the secret checks.

Part of :mod:`reconciler.ownership`; pure. The session gathers these facts (it reads the
ledger and each managed key's secret metadata from the stores); the diff consumes them:

- :class:`KeyFacts`: the ledger, the live keys whose secret was found where it belongs
  under their own key id (``verified``), and the :class:`SecretProblem` of each checked
  key whose secret was not (``problems``);
- :func:`secret_problem`: what one check found, from the key id the store names at the
  key's secret location;
- :func:`secret_move`: a managed key whose secret the desired state now sends elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.model import CLOCK_SKEW, LiveState, SecretBackend
from reconciler.ownership.claims import Claim, Claims, Ownership, classify
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
class SecretMove:
    """A managed key's secret, recorded in one place, that the desired state sends to
    another: the key is replaced, its new secret written there (a secret is never copied)."""

    before: SecretLocation
    after: SecretLocation

    def reason(self) -> str:
        """Why the key is replaced, as a plan says it: both places, whole."""
        before, after = _place(self.before), _place(self.after)
        if self.before.store == self.after.store and not _github(self.before):
            return f"its secret moves from {self.before.path} to {self.after.path} in {after[0]}"
        return f"its secret moves from {before[0]}: {before[1]} to {after[0]}: {after[1]}"


def _github(location: SecretLocation) -> bool:
    return location.backend is SecretBackend.GITHUB


def _place(location: SecretLocation) -> tuple[str, str]:
    """The store and the path of ``location``, for a person: a GitHub secret by its
    repository (and environment), the store a vault's description."""
    if not _github(location):
        return location.store, location.path
    where = f"GitHub repository {location.repository or '?'}"
    if location.environment:
        where += f", environment {location.environment}"
    return where, location.path


def secret_move(recorded: SecretLocation, wanted: SecretLocation) -> SecretMove | None:
    """The move of a secret recorded at ``recorded`` that the desired state routes to
    ``wanted``; None when they are one place. Compared: what a key's ``secret`` decides, its
    path, whether it is a GitHub secret and whose (repository, environment); not which
    vault holds the others (another address, another kind: a migration of the store, whose
    secrets a plan checks where they were written)."""
    if _github(recorded) != _github(wanted):
        return SecretMove(recorded, wanted)
    same = (recorded.path, recorded.repository, recorded.environment) == (
        wanted.path,
        wanted.repository,
        wanted.environment,
    )
    return None if same else SecretMove(recorded, wanted)


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
    moves: Mapping[str, SecretMove] = field(default_factory=dict)
    clock_skew: dt.timedelta = CLOCK_SKEW
    # the claims of the last live state asked about: a plan asks several times of one
    _claimed: list[tuple[LiveState, Claims]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    def claims(self, live: LiveState) -> Claims:
        """Every live key's claim (keys made by an unresolved create whose secret was
        verified are unrecorded, not abandoned); classified once per live state."""
        if self._claimed and self._claimed[0][0] is live:
            return self._claimed[0][1]
        found = classify(
            self.ledger, live, confirmed_stored=self.verified, clock_skew=self.clock_skew
        )
        self._claimed[:] = [(live, found)]
        return found

    def problem(self, claim: Claim | None, key_id: str) -> SecretProblem | None:
        """The problem that makes the key ``key_id`` a replacement: its entry says its
        secret is stored, and the check found it missing or another key's."""
        return self.problems.get(key_id) if _stored(claim) else None

    def move(self, claim: Claim | None, key_id: str) -> SecretMove | None:
        """The move that makes the key ``key_id`` a replacement: its entry says its secret
        is stored, and the desired state sends it elsewhere."""
        return self.moves.get(key_id) if _stored(claim) else None


def _stored(claim: Claim | None) -> bool:
    """Whether ``claim`` is an owned key whose secret reconciler stored (not an adopted
    one, whose secret it never had: audit says so)."""
    if claim is None or claim.ownership is not Ownership.OWNED or claim.entry is None:
        return False
    return claim.entry.secret.state is SecretState.STORED
