"""Key hygiene, pure: (desired, live, secret facts, now) -> one finding per live key.

:func:`audit_keys` lists every live key with its workspace, owner, age, last use and
expiry, and flags what needs a person (:class:`Flag`). Days are whole UTC calendar days
from the injected ``now``, and every rule but rotation is "more than N days", so a key is
flagged on day N + 1, never on day N:

- ``unused``: last used more than ``keys.unused_after_days`` ago; a key never used counts
  from its creation;
- ``old``: created more than ``keys.max_age_days`` ago;
- ``rotation-due``: created at least its rotation period ago (the key's
  ``rotation_period_days``, else the organisation's ``keys.rotation_period_days``): on
  day 90 of a 90-day period, the day the plan rotates it
  (:func:`reconciler.model.rotation_due`); never an expired key (its expiry, or the one
  the desired state declares, has passed), which the plan does not rotate;
- ``expiring``: expires within ``keys.expiry_warning_days`` (today counts: 0 days left);
- ``expired``: its expiry date has passed;
- ``unmanaged``: the desired state does not declare it (the plan says which keys those
  are, see :func:`reconciler.plan.make_plan`; without that, a key whose name no desired
  key has);
- ``secret-missing`` and ``secret-mismatch``: a managed key whose store holds no entry
  at its path, or an entry written for another key id (only when the caller read the
  store: :class:`SecretFact`); ``secret-unreadable``: its entry could not be read (a
  corrupt entry, a store that refused or failed to answer);
- ``retiring``: the old key of a rotation, live until its grace ends (``retiring_until``;
  the first apply after that deletes it); never ``rotation-due``, nor flagged for its
  secret, which its successor's replaced (its secret shows as the ``previous version``).

The ownership ledger will refine the last three: ``ownership`` maps a key id to what it
records (:class:`KeyOwnership`), which then decides whether the key is managed, and an
adopted key whose secret reconciler never had is "secret unknown" rather than missing.

Attributions (who changed a key outside reconciler, from the platform's audit log) are
carried beside the finding; :func:`latest_outside` picks, per address, the last change
when someone other than reconciler made it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter
from typing import NamedTuple

from reconciler.model import (
    ApiKey,
    Attribution,
    DesiredState,
    LiveState,
    Organization,
    rotation_due_from,
)


class Flag(StrEnum):
    """What makes a key worth a look; the values are what ``--fail-on`` takes."""

    UNUSED = "unused"
    OLD = "old"
    ROTATION_DUE = "rotation-due"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    UNMANAGED = "unmanaged"
    SECRET_MISSING = "secret-missing"
    SECRET_MISMATCH = "secret-mismatch"
    SECRET_UNREADABLE = "secret-unreadable"
    RETIRING = "retiring"


class SecretState(StrEnum):
    """What the store says about a managed key's secret."""

    STORED = "stored"  # an entry written for this key id
    MISSING = "missing"  # no entry at the key's path
    MISMATCHED = "mismatched"  # an entry written for another key id
    UNVERIFIED = "unverified"  # an entry that names no key id (a GitHub secret, a foreign one)
    UNREADABLE = "unreadable"  # the store failed to answer
    UNKNOWN = "unknown"  # adopted without its secret (the ownership ledger says so)
    PREVIOUS = "previous version"  # a retiring key: its successor's entry keeps it as previous


class SecretFact(NamedTuple):
    """One managed key's secret: where it should be and what is there (a named tuple: a
    plan makes one per managed key)."""

    state: SecretState
    where: str = ""  # "<store description>: <path>"
    stored_key_id: str | None = None  # MISMATCHED: the key id the entry names
    error: str | None = None  # UNREADABLE: the store's message


SecretReader = Callable[[ApiKey], SecretFact | None]
"""A live key's :class:`SecretFact`, made as the audit reaches the key (None: nothing was
read for it); a plan's: :meth:`reconciler.vault.facts.StoredSecrets.fact`."""


@dataclass(frozen=True, slots=True)
class KeyOwnership:
    """What an ownership record says of one live key (the ledger's, once it exists)."""

    managed: bool
    secret_known: bool = True  # False: adopted; the first rotation stores its secret


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The organisation's key hygiene settings, in days."""

    max_age_days: int
    unused_after_days: int
    expiry_warning_days: int
    rotation_period_days: int

    @classmethod
    def of(cls, org: Organization) -> Thresholds:
        return cls(
            max_age_days=org.key_max_age_days,
            unused_after_days=org.key_unused_after_days,
            expiry_warning_days=org.key_expiry_warning_days,
            rotation_period_days=org.rotation_period_days,
        )

    def describe(self, flag: Flag) -> str:
        """What ``flag`` means here, after "N keys": "unused for more than 30 days"."""
        return {
            Flag.UNUSED: f"unused for more than {self.unused_after_days} days",
            Flag.OLD: f"older than {self.max_age_days} days",
            Flag.ROTATION_DUE: "due for rotation",
            Flag.EXPIRING: f"expiring within {self.expiry_warning_days} days",
            Flag.EXPIRED: "expired",
            Flag.UNMANAGED: "not in the desired state",
            Flag.SECRET_MISSING: "with no secret in the store",
            Flag.SECRET_MISMATCH: "whose stored secret is another key's",
            Flag.SECRET_UNREADABLE: "whose secret could not be read",
            Flag.RETIRING: "retiring after a rotation",
        }[flag]


class KeyFinding(NamedTuple):
    """One live key as the audit sees it (a named tuple: an audit makes one per key, and
    a plan of 20,000 keys a finding for nearly each)."""

    address: str
    name: str
    workspace: str
    owner: str | None
    key_id: str | None
    created: dt.date | None
    age_days: int | None
    last_used: dt.date | None
    idle_days: int | None  # since last use, or since creation for a key never used
    expires: dt.date | None
    expires_in_days: int | None  # negative once expired
    rotation_period_days: int
    managed: bool
    secret: SecretFact | None  # None: not read (a plan, or an unmanaged key)
    flags: tuple[Flag, ...]
    attribution: Attribution | None = None  # the last change outside reconciler
    retiring_until: dt.datetime | None = None  # a rotation's old key: deleted after this


@dataclass(frozen=True, slots=True)
class KeyAudit:
    """Every live key's finding, in workspace and name order, and what produced them."""

    at: dt.datetime
    thresholds: Thresholds
    keys: tuple[KeyFinding, ...]
    secrets_read: bool  # the secret flags were checked

    @property
    def flagged(self) -> tuple[KeyFinding, ...]:
        return tuple(k for k in self.keys if k.flags)

    def counts(self) -> dict[Flag, int]:
        """How many keys carry each flag (every flag, in :class:`Flag` order)."""
        return count_flags(self.keys)

    def present(self, wanted: Iterable[Flag]) -> list[Flag]:
        """Those of ``wanted`` that some key carries (for ``--fail-on``)."""
        counts = self.counts()
        return [flag for flag in Flag if flag in set(wanted) and counts[flag]]


def count_flags(keys: Iterable[KeyFinding]) -> dict[Flag, int]:
    """How many of ``keys`` carry each flag (every flag, in :class:`Flag` order)."""
    counts = dict.fromkeys(Flag, 0)
    for key in keys:
        for flag in key.flags:
            counts[flag] += 1
    return counts


@dataclass(frozen=True, slots=True)
class AuditReport:
    """A key audit with what it was made from, as ``reconciler audit`` shows it."""

    target: str
    provider: str
    desired_path: str
    audit: KeyAudit
    warnings: tuple[str, ...] = ()
    requests: int = 0  # how many requests reading the platform took


def parse_flags(text: str) -> tuple[Flag, ...]:
    """``"unused,expired"`` as flags; ``ValueError`` naming the known ones otherwise."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    known = {flag.value: flag for flag in Flag}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(
            f"unknown flag {', '.join(unknown) or '(none given)'}; "
            f"use one or more of: {', '.join(known)}"
        )
    return tuple(dict.fromkeys(known[name] for name in names))


def latest_outside(attributions: Iterable[Attribution]) -> dict[str, Attribution]:
    """Per address, the last change, when it was made outside reconciler.

    A change reconciler made after someone else's supersedes it: that address gets none.
    """
    latest: dict[str, Attribution] = {}
    for item in attributions:
        known = latest.get(item.address)
        if known is None or item.at > known.at:
            latest[item.address] = item
    return {address: item for address, item in latest.items() if item.outside}


class _Rules:
    """The hygiene rules at one day, as dates to compare each key's with: a key's flags
    are plain comparisons (its age, idleness and days left are counted only for a key
    the audit keeps)."""

    def __init__(self, today: dt.date, limits: Thresholds) -> None:
        self.today = today
        self.limits = limits
        self.unused_before = _days_before(today, limits.unused_after_days)
        self.old_before = _days_before(today, limits.max_age_days)
        self.warn_until = _days_after(today, limits.expiry_warning_days)
        self._due_by: dict[int, dt.date | None] = {}  # rotation period -> rotation_due_from

    def _due(self, created: dt.date, period: int) -> bool:
        """:func:`~reconciler.model.rotation_due` of a key created on ``created``."""
        if period not in self._due_by:
            self._due_by[period] = rotation_due_from(self.today, period)
        due_from = self._due_by[period]
        return due_from is not None and created < due_from

    def finding(
        self,
        key: ApiKey,
        want: ApiKey | None,
        managed: bool,
        secret: SecretFact | None,
        attribution: Attribution | None,
        retiring_until: dt.datetime | None,
        only_flagged: bool,
    ) -> KeyFinding | None:
        """``key``'s finding; None for a key without flags when ``only_flagged``."""
        created_at, last_used, expires = key.created_at, key.last_used, key.expires
        created: dt.date | None = None  # its UTC day; a naive time is UTC, as in the diff
        if created_at is not None:
            utc = created_at.astimezone(dt.UTC) if created_at.tzinfo else created_at
            created = utc.date()
        period = (want.rotation_period_days if want else None) or self.limits.rotation_period_days
        flags: list[Flag] = []  # in Flag's order
        since = last_used if last_used is not None else created
        if since is not None and self.unused_before is not None and since < self.unused_before:
            flags.append(Flag.UNUSED)
        if created is not None and self.old_before is not None and created < self.old_before:
            flags.append(Flag.OLD)
        # a rotation's old key: replaced already, its path holds its successor's secret; an
        # expired key is not rotated (its successor would have expired too), as in the diff
        if (
            retiring_until is None
            and created is not None
            and self._due(created, period)
            and not _expired(key, want, self.today)
        ):
            flags.append(Flag.ROTATION_DUE)
        if expires is not None and self.today <= expires and _not_after(expires, self.warn_until):
            flags.append(Flag.EXPIRING)
        if expires is not None and expires < self.today:
            flags.append(Flag.EXPIRED)
        if not managed:
            flags.append(Flag.UNMANAGED)
        if retiring_until is not None:
            flags.append(Flag.RETIRING)
            if secret is not None and secret.state is not SecretState.UNREADABLE:
                secret = SecretFact(SecretState.PREVIOUS, where=secret.where)
        elif secret is not None and secret.state is SecretState.MISSING:
            flags.append(Flag.SECRET_MISSING)
        elif secret is not None and secret.state is SecretState.MISMATCHED:
            flags.append(Flag.SECRET_MISMATCH)
        elif secret is not None and secret.state is SecretState.UNREADABLE:
            flags.append(Flag.SECRET_UNREADABLE)
        if only_flagged and not flags:
            return None
        today = self.today
        age = (today - created).days if created is not None else None
        return KeyFinding(
            key.address,
            key.name,
            key.workspace,
            key.owner or key.created_by,
            key.id,
            created,
            age,
            last_used,
            (today - last_used).days if last_used is not None else age,
            expires,
            (expires - today).days if expires is not None else None,
            period,
            managed,
            secret,
            tuple(flags),
            attribution,
            retiring_until,
        )


def _expired(key: ApiKey, want: ApiKey | None, today: dt.date) -> bool:
    """Whether the key has expired, or its declared expiry has passed."""
    ends = (key.expires, want.expires if want is not None else None)
    return any(day is not None and day < today for day in ends)


def _days_before(day: dt.date, days: int) -> dt.date | None:
    """``days`` days before ``day``; None before the calendar's first day (nothing is)."""
    try:
        return day - dt.timedelta(days=days)
    except OverflowError:
        return None if days > 0 else dt.date.max


def _days_after(day: dt.date, days: int) -> dt.date | None:
    """``days`` days after ``day``; None past the calendar's last day (everything is before)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return None if days > 0 else dt.date.min


def _not_after(day: dt.date, until: dt.date | None) -> bool:
    return until is None or day <= until


_PLACE = itemgetter(2, 1, 4)  # a finding's workspace, name and key id, at C speed
_KEY_ID = itemgetter(4)


def audit_keys(
    desired: DesiredState,
    live: LiveState,
    *,
    now: dt.datetime,
    unmanaged: Collection[str] | None = None,
    secrets: Mapping[str, SecretFact] | SecretReader | None = None,
    attributions: Mapping[str, Attribution] | None = None,
    ownership: Mapping[str, KeyOwnership] | None = None,
    only_flagged: bool = False,
    retiring: Mapping[str, dt.datetime] | None = None,
) -> KeyAudit:
    """Every live key of ``live`` against the desired state's hygiene rules at ``now``.

    ``unmanaged``: the ids of the live keys the desired state does not declare (as the
    diff decided; None: a key is managed when a desired key has its name). ``secrets``:
    what the store holds for managed keys, by key id, or as each key is reached
    (:data:`SecretReader`; None: not read, no secret flags).
    ``attributions``: the last change outside reconciler, by address
    (:func:`latest_outside`). ``ownership``: the ownership record, by key id; where it
    speaks, it decides whether a key is managed and whether its secret is known.
    ``only_flagged``: the audit holds the flagged keys alone (what a plan shows).
    ``retiring``: the old keys of rotations still in their grace, by key id, to when it
    ends: flagged ``retiring``, never ``rotation-due`` nor for their secret (the path holds
    their successor's).
    """
    limits = Thresholds.of(desired.organization)
    rules = _Rules(now.astimezone(dt.UTC).date(), limits)
    wanted = desired.keys_by_name()
    fact_of = _fact_of(secrets)
    attributions = attributions or {}
    retiring = retiring or {}
    findings = []
    for key in live.keys:
        owned = ownership.get(key.id or "") if ownership is not None else None
        if owned is not None:
            managed = owned.managed
        elif unmanaged is not None:
            managed = key.id not in unmanaged
        else:
            managed = key.name in wanted
        secret = None
        if managed and fact_of is not None:
            secret = fact_of(key)
            if owned is not None and not owned.secret_known:
                secret = SecretFact(SecretState.UNKNOWN, where=secret.where if secret else "")
        finding = rules.finding(
            key,
            wanted.get(key.name) if managed else None,
            managed,
            secret,
            attributions.get(key.address) if attributions else None,
            retiring.get(key.id or "") if retiring else None,
            only_flagged,
        )
        if finding is not None:
            findings.append(finding)
    if None in map(_KEY_ID, findings):  # a key without an id sorts first
        findings.sort(key=lambda f: (f.workspace, f.name, f.key_id or ""))
    else:  # by workspace, name and key id, without a Python call per key
        findings.sort(key=_PLACE)
    return KeyAudit(
        at=now, thresholds=limits, keys=tuple(findings), secrets_read=secrets is not None
    )


def _fact_of(secrets: Mapping[str, SecretFact] | SecretReader | None) -> SecretReader | None:
    """How the audit finds a managed key's secret fact in ``secrets``."""
    if secrets is None or callable(secrets):
        return secrets
    by_id = secrets.get
    return lambda key: by_id(key.id or "")


def unreadable_secrets(facts: Mapping[str, SecretFact]) -> list[str]:
    """A warning when some store failed to answer, naming the first failure."""
    failed = [fact for fact in facts.values() if fact.state is SecretState.UNREADABLE]
    if not failed:
        return []
    return [f"{len(failed)} secret(s) could not be read ({failed[0].where}: {failed[0].error})"]
