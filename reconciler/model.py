"""Provider-neutral value objects: both sides of every diff are made of these.

The desired state (loaded from YAML) and the live state (fetched from a provider and
normalised) are expressed with the *same* types, so the diff is a lookup by address and a
field-by-field comparison. Nothing here knows a wire format; provider-specific identity
(UUIDs and the like) sits in ``id`` fields that the diff never compares.

Addresses are stable, shell-friendly strings:

- ``organization``                      the organisation's settings (spend limit)
- ``workspace.<name>``                  a workspace
- ``member.<workspace>/<email>``        one person's membership of a workspace
- ``api_key.<name>``                    an API key (names are unique in the organisation)
- ``person.<email>``                    one person's organisation membership (role, seats)
- ``invitation.<email>``                an invitation to join the organisation
- ``group.<name>``                      a user group (members, nested groups, grants)
- ``workspace_spend_limit.<name>``      a workspace's spend limit (set in the console only)

An :class:`Attribution` says who last changed an object at an address outside reconciler,
and when, as the platform's audit log tells it; the plan and the audit show it beside the
object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Literal, TypeVar, get_args

from pydantic import ConfigDict, Field

from reconciler.compact import Compact

UNLIMITED = "*"


class Frozen(Compact):
    """Immutable, keyword-only value object that rejects unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SpendLimit(Frozen):
    """A monthly spend limit; ``amount is None`` means no monthly limit."""

    amount: Decimal | None = None
    currency: str = "USD"

    @property
    def no_monthly_limit(self) -> bool:
        return self.amount is None

    def describe(self) -> str:
        if self.amount is None:
            return "no monthly limit"
        return f"{self.amount.normalize():f} {self.currency}/month"


class SecretBackend(StrEnum):
    """Where a new key's secret is written."""

    VAULT = "vault"  # HashiCorp Vault KV v2
    FILE = "file"  # local file vault (sandbox, Quickstart, rehearsals)
    GITHUB = "github"  # a GitHub Actions repository or environment secret


VaultAuthMethod = Literal["token", "approle", "jwt"]
VAULT_AUTH_METHODS: tuple[VaultAuthMethod, ...] = get_args(VaultAuthMethod)


#: Bounds on the numbers the desired state takes, where later steps count dates and times
#: with them (a bigger one overflowed Python's dates) or store them in 64-bit integers.
MAX_DAYS = 36_500  # a hundred years
MAX_GRACE_HOURS = 8_784  # a (leap) year
MAX_COUNT = 10**15  # requests or tokens
MAX_MONEY = 10**12  # whole units of a currency


class VaultSettings(Frozen):
    """The organisation's default secret store."""

    backend: SecretBackend = SecretBackend.VAULT
    address: str | None = None  # Vault URL; may come from VAULT_ADDR instead
    namespace: str | None = None
    mount: str = "secret"
    path_prefix: str = ""  # "" : the mount's root; the desired state sets the provider's
    auth: VaultAuthMethod = "token"
    role: str | None = None  # AppRole role_id env name or JWT role


class SecretTarget(Frozen):
    """Where one key's secret goes. ``path`` is relative to the vault's path prefix."""

    backend: SecretBackend | None = None  # None: the organisation's default
    path: str
    repository: str | None = None  # github backend: owner/name
    environment: str | None = None  # github backend: an environment secret


class Limits(Frozen):
    """Usage limits applications enforce (``reconciler.policy``); None: no limit.

    The same fields at three levels: a workspace's limits count all its keys together; a
    role's and a key's count each key on its own. Every level's limit holds: the tightest
    one binds.
    """

    rpm: int | None = None  # requests per rolling minute
    max_tokens_per_request: int | None = None  # prompt + completion of one request
    daily_token_budget: int | None = None  # tokens per rolling 24 hours
    hourly_budget_usd: Decimal | None = None  # USD per rolling hour
    daily_budget_usd: Decimal | None = None  # USD per rolling 24 hours
    monthly_budget_usd: Decimal | None = None  # USD per calendar month (UTC)


class Role(Limits):
    """Application-side policy for a class of caller (enforced by ``reconciler.policy``)."""

    name: str
    description: str = ""
    allowed_models: tuple[str, ...] = (UNLIMITED,)

    def allows_any_model(self) -> bool:
        return UNLIMITED in self.allowed_models


class WorkspacePolicy(Limits):
    """Application-side policy for a workspace: the platform cannot hold these."""

    allowed_models: tuple[str, ...] = (UNLIMITED,)

    def allows_any_model(self) -> bool:
        return UNLIMITED in self.allowed_models


class KeyPolicy(Limits):
    """Application-side policy of one key, on top of its role's and workspace's."""

    allowed_models: tuple[str, ...] | None = None  # None: what the role and workspace allow


class Organization(Frozen):
    """Organisation-wide settings. ``spend_limit is None`` in desired state: not managed.

    ``id`` identifies the organisation on its platform (each provider says what it is; La
    Plateforme's is its default workspace's uuid). Desired: the organisation this desired
    state is for (None: not pinned); live: the one the credentials reach.
    """

    name: str = ""
    id: str | None = None
    # desired: former names, most recent first, whose ownership record is this one's
    previous_names: tuple[str, ...] = ()
    spend_limit: SpendLimit | None = None
    key_max_age_days: int = 90
    key_unused_after_days: int = 30
    key_expiry_warning_days: int = 14
    rotation_period_days: int = 90
    rotation_grace_hours: int = 24  # a rotated key's predecessor lives on this long
    # the platform's key expiry policy: it clamps a later or missing expiry to this many
    # days after creation; None: no policy known (a clamped expiry looks like drift)
    key_platform_max_expiry_days: int | None = None
    vault: VaultSettings = Field(default_factory=VaultSettings)
    max_delete_fraction: float = 0.30
    max_delete_min_keys: int = 10
    # people: remove organisation members the desired state does not list (offboarding)
    prune_people: bool = False


class Workspace(Frozen):
    """A workspace. ``spend_limit`` is observed on the platform (console-only setting)."""

    name: str
    description: str = ""
    admin: str | None = None  # email of the workspace admin
    spend_limit: SpendLimit | None = None
    # desired-only settings (never compared with the platform)
    policy: WorkspacePolicy = Field(default_factory=WorkspacePolicy)
    previous_names: tuple[str, ...] = ()  # former names: a live one is this one, renamed
    prune_unmanaged_keys: bool = False
    protected: bool = False
    archived: bool = False  # desired: archive this workspace (the file stays as a record)
    # the workspace's own rate limits, by the platform's limit name (Anthropic: a model
    # group's display name, or the group type) then limit type (requests_per_minute, ...).
    # Desired: exactly these overrides (None: not managed); live: None where unknown
    rate_limits: dict[str, dict[str, int]] | None = None
    # live-only
    id: str | None = None
    is_default: bool = False

    @property
    def address(self) -> str:
        return f"workspace.{self.name}"


class Member(Frozen):
    """One person's membership of one workspace, with platform role names."""

    workspace: str
    email: str
    roles: tuple[str, ...] = ()
    # live-only
    user_id: str | None = None

    @property
    def address(self) -> str:
        return f"member.{self.workspace}/{self.email}"


# How far a platform's clock may be from this machine's, when a live key is matched to the
# create request that may have made it (its ``created_at`` against when the request went).
CLOCK_SKEW = dt.timedelta(minutes=5)


def created_within(
    created_at: dt.datetime | None,
    sent: dt.datetime,
    answered: dt.datetime | None = None,
    *,
    skew: dt.timedelta = CLOCK_SKEW,
) -> bool:
    """Could an object the platform says was created at ``created_at`` have been made by a
    request sent at ``sent`` (and answered at ``answered``, when it was), give or take
    ``skew``? An unknown creation time never matches; a naive one is taken as UTC."""
    if created_at is None:
        return False
    when = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC)
    if when < sent - skew:
        return False
    return answered is None or when <= answered + skew


class ApiKey(Frozen):
    """An API key. The secret itself is never part of this object."""

    name: str
    workspace: str
    owner: str | None = None  # email of the user the key is created for
    expires: dt.date | None = None
    # desired-only
    description: str = ""
    role: str | None = None
    rotation_period_days: int | None = None
    rotation_grace_hours: int | None = None  # None: the organisation's
    secret: SecretTarget | None = None
    previous_names: tuple[str, ...] = ()  # former names: a live one is this one, renamed
    policy: KeyPolicy | None = None  # application-side limits of this key alone
    # the key's status in the platform's words (Anthropic: active, inactive). Desired: the
    # status to hold (None: whatever it is); live: None where the platform has none
    status: str | None = None
    # desired: end the key for good (the provider's final status, Anthropic's archived);
    # planned as its destroy, and nothing to create once it is gone
    archived: bool = False
    # live-only
    id: str | None = None
    created_at: dt.datetime | None = None
    last_used: dt.date | None = None
    hidden_key: str | None = None
    created_by: str | None = None

    @property
    def address(self) -> str:
        return f"api_key.{self.name}"


def age_in_days(created_at: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole UTC calendar days from ``created_at``'s date to ``now``'s (None: unknown)."""
    if created_at is None:
        return None
    when = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC)
    return (now.astimezone(dt.UTC).date() - when.astimezone(dt.UTC).date()).days


def rotation_due(age_days: int | None, period_days: int) -> bool:
    """Whether a key ``age_days`` old is due for rotation: on the day its period is over
    (a 90-day period: not on day 89, on day 90), for plan and audit alike."""
    return age_days is not None and age_days >= period_days


def rotation_due_from(today: dt.date, period_days: int) -> dt.date | None:
    """:func:`rotation_due` as one day to compare creation days with, for many keys: on
    ``today``, a key created (UTC calendar day) before the day returned is due. None: no
    key is, the period reaching past the calendar's first day."""
    try:
        return today - dt.timedelta(days=period_days - 1)
    except OverflowError:
        return None if period_days > 0 else dt.date.max


def minute_text(when: dt.datetime) -> str:
    """``when`` to the minute in UTC, rounded up (``2026-12-03 10:00 UTC``): a grace said
    to end at that minute has ended by then."""
    utc = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    if utc.second or utc.microsecond:
        utc = utc.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return utc.strftime("%Y-%m-%d %H:%M UTC")


class OrgMember(Frozen):
    """One person in the organisation: their organisation role and product seats.

    Emails are lower-case on both sides; ``role`` and ``seats`` are the provider's names.
    """

    email: str
    role: str | None = None
    seats: tuple[str, ...] = ()
    # live-only
    id: str | None = None

    @property
    def address(self) -> str:
        return f"person.{self.email}"


class Invitation(Frozen):
    """An invitation to join the organisation, with the workspaces the person will join."""

    email: str
    role: str | None = None
    workspaces: tuple[str, ...] = ()
    seats: tuple[str, ...] = ()
    # live-only
    id: str | None = None
    created_at: dt.datetime | None = None
    expired: bool = False

    @property
    def address(self) -> str:
        return f"invitation.{self.email}"


class Group(Frozen):
    """A user group: its members (emails), the groups nested directly inside it (names), an
    organisation role, and the workspaces its members (and the nested groups' members)
    reach, with the workspace roles the group grants there."""

    name: str
    description: str = ""
    members: tuple[str, ...] = ()
    nested: tuple[str, ...] = ()
    org_role: str | None = None
    workspace_grants: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # live-only
    id: str | None = None

    @property
    def address(self) -> str:
        return f"group.{self.name}"


class People(Frozen):
    """The organisation's people as the desired state declares them (``people.yaml``)."""

    members: tuple[OrgMember, ...] = ()
    # offboarding: None deletes a removed person's keys; an email takes them over
    transfer_keys_to: str | None = None
    run_as: str | None = None  # the admin whose Admin API key reconciler uses


class Attribution(Frozen):
    """Who changed the object at ``address``, when, and how (the platform's event name).

    ``outside`` is False for a change reconciler itself made (through the credentials it
    runs with): only the others are drift someone else caused.
    """

    address: str
    actor: str  # an email, or a description such as "admin API key ci-bot"
    at: dt.datetime
    event: str  # e.g. "api_key.create", "workspace.member.add"
    outside: bool = True

    def describe(self) -> str:
        """``changed outside reconciler by dan@acme.example on 2026-11-19``."""
        action = self.event.rpartition(".")[2]
        verb = _VERBS.get(action, "changed")
        who = "outside reconciler " if self.outside else ""
        return f"{verb} {who}by {self.actor} on {self.at.astimezone(dt.UTC).date().isoformat()}"


_VERBS = {"create": "created", "delete": "deleted", "add": "added", "remove": "removed"}


class DesiredState(Frozen):
    """Everything the YAML under ``desired-state/`` declares, validated and normalised."""

    version: int = 1
    # the platform, by its registered name (reconciler.providers); None: not named, which
    # means the registry's default (the loader always names it)
    provider: str | None = None
    organization: Organization = Field(default_factory=Organization)
    roles: tuple[Role, ...] = ()
    workspaces: tuple[Workspace, ...] = ()
    members: tuple[Member, ...] = ()
    keys: tuple[ApiKey, ...] = ()
    people: People | None = None  # None: no people.yaml, people are not managed
    groups: tuple[Group, ...] | None = None  # None: no groups.yaml, groups are not managed

    def role(self, name: str) -> Role | None:
        return _first_by_name(self, "roles", self.roles).get(name)

    def workspace(self, name: str) -> Workspace | None:
        return _first_by_name(self, "workspaces", self.workspaces).get(name)

    def keys_by_name(self) -> Mapping[str, ApiKey]:
        """Every key by its name (names are unique: the loader refuses a second one),
        indexed once for the many lookups of a plan."""
        return _first_by_name(self, "keys", self.keys)


_Named = TypeVar("_Named", Role, Workspace, ApiKey)


def _first_by_name(state: DesiredState, field: str, items: tuple[_Named, ...]) -> dict[str, _Named]:
    """``items`` by name (the first of a name wins), built once per tuple: a lookup per key
    of an organisation of 100,000 keys must not scan 5,000 workspaces.

    Kept in the instance's ``__dict__`` beside the fields, which pydantic's equality and
    serialisers ignore, with the tuple it indexes: a copy with other items rebuilds it.
    """
    slot = f"_index_{field}"
    cached = state.__dict__.get(slot)
    if cached is None or cached[0] is not items:
        index = {item.name: item for item in reversed(items)}  # the first of a name last
        cached = (items, index)
        state.__dict__[slot] = cached
    found: dict[str, _Named] = cached[1]
    return found


class LiveState(Frozen):
    """What a provider reports, normalised into the same types as the desired state.

    ``keys`` may hold several keys with one name: the diff reports that as a conflict.
    """

    target: str = ""
    organization: Organization = Field(default_factory=Organization)
    workspaces: tuple[Workspace, ...] = ()
    members: tuple[Member, ...] = ()
    keys: tuple[ApiKey, ...] = ()
    people: tuple[OrgMember, ...] = ()
    invitations: tuple[Invitation, ...] = ()
    groups: tuple[Group, ...] = ()
    requests: int = 0  # how many requests fetching this took (for progress and benchmarks)
