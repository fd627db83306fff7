"""Seed files: what a fresh sandbox organisation contains (YAML or JSON).

A seed describes people, workspaces (members, roles, description, the console-only spend
limit), API keys with ages relative to the moment the state is created, the organisation
spend limit and per-workspace token usage. Every problem is reported at once, with the
file, line and field. The format::

    version: 1
    organization: {name: Acme, spend_limit: 3000, max_key_expiry_days: null,
                   requests_per_second: 20}
    users:
      - {email: alice@acme.example, first_name: Alice, last_name: Martin,
         role: organization_admin, created_days_ago: 400, seats: [CHAT, MISTRAL_CODE]}
    invites:
      - {email: new@acme.example, role: member, workspaces: [dev], seats: [CHAT]}
    workspaces:
      - name: dev
        description: Developers
        spend_limit: 50            # null: no monthly limit
        is_default: false
        archived: false
        members: {alice@acme.example: workspace_admin, bob@acme.example: [user, dev]}
    keys:
      - {name: dev-alice, workspace: dev, owner: alice@acme.example, created_days_ago: 20,
         last_used_days_ago: 1, expires_in_days: 70}    # or expiration: 2027-01-31
    usage:
      - {workspace: dev, model: mistral-small-latest, input_tokens: 1000000,
         output_tokens: 200000, months_ago: 0}
    audit: [...]               # console changes for the audit log: see seed_audit
    groups: [...]              # user groups: see seed_people
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import ConfigError
from reconciler.platform.sandbox.catalog import load_catalog
from reconciler.platform.sandbox.records import (
    InviteRecord,
    KeyRecord,
    OrganizationRecord,
    State,
    UsageRecord,
    UserRecord,
    WorkspaceRecord,
    hide,
    iso_datetime,
    secret_digest,
)
from reconciler.platform.sandbox.roles import WORKSPACE_ROLE_NAMES, OrgRoleName, Seat
from reconciler.platform.sandbox.seed_audit import SeedAudit, build_audit, check_audit
from reconciler.platform.sandbox.seed_people import SeedGroup, build_groups, check_groups
from reconciler.platform.sandbox.seed_text import Loc, located, read_document, syntax_error
from reconciler.platform.vocabulary import DEFAULT_ORGANIZATION_ROLE

DEMO_SEED = Path(__file__).with_name("demo-seed.yaml")
ID_NAMESPACE = uuid.UUID("6f1c2a52-3b8e-4d6a-9c1e-5a7b0d2e4f10")
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 32


def stable_id(kind: str, name: str) -> str:
    """A UUID derived from a seed object's identity, so a reset reproduces the same ids."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{name}"))


def new_secret() -> str:
    """A fresh key secret: 32 letters and digits, like the platform's."""
    chars: list[str] = []
    limit = 256 - 256 % len(SECRET_ALPHABET)  # rejection sampling: no modulo bias
    while len(chars) < SECRET_LENGTH:
        chars.extend(
            SECRET_ALPHABET[b % len(SECRET_ALPHABET)] for b in secrets.token_bytes(48) if b < limit
        )
    return "".join(chars[:SECRET_LENGTH])


class SeedError(ConfigError):
    """A seed file that failed validation; ``problems`` lists each as ``file:line: msg``."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid sandbox seed {path}: {len(self.problems)} problem(s)\n{lines}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SeedOrganization(_Strict):
    name: str = "Sandbox Organization"
    currency: str = "USD"
    spend_limit: int | None = Field(default=None, ge=0)
    max_key_expiry_days: int | None = Field(default=None, ge=1)
    requests_per_second: int = Field(default=20, ge=1)
    tokens_per_minute: int = Field(default=2_000_000, ge=1)
    tokens_per_month: int = Field(default=10_000_000_000, ge=1)


class SeedUser(_Strict):
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    first_name: str = ""
    last_name: str = ""
    role: OrgRoleName = DEFAULT_ORGANIZATION_ROLE
    created_days_ago: int = Field(default=365, ge=0)
    seats: list[Seat] = Field(default_factory=list)


class SeedInvite(_Strict):
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    role: OrgRoleName = DEFAULT_ORGANIZATION_ROLE
    created_days_ago: int = Field(default=2, ge=0)
    expired: bool = False
    workspaces: list[str] = Field(default_factory=list)
    seats: list[Seat] = Field(default_factory=list)


class SeedWorkspace(_Strict):
    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=255)
    icon: str = Field(default="", max_length=2)
    is_default: bool = False
    archived: bool = False
    spend_limit: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    created_days_ago: int = Field(default=300, ge=0)
    members: dict[str, str | list[str]] = Field(default_factory=dict)


class SeedKey(_Strict):
    name: str | None = Field(max_length=255)
    workspace: str
    owner: str
    created_days_ago: int = Field(default=30, ge=0)
    last_used_days_ago: int | None = Field(default=None, ge=0)
    expires_in_days: int | None = None
    expiration: dt.date | None = None
    secret: str | None = Field(default=None, min_length=8, repr=False)
    product: Literal["API", "Mistral Code", "Vibe"] = "API"


class SeedUsage(_Strict):
    workspace: str
    model: str
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    months_ago: int = Field(default=0, ge=0)


class Seed(_Strict):
    """A whole seed document."""

    version: Literal[1] = 1
    organization: SeedOrganization = Field(default_factory=SeedOrganization)
    users: list[SeedUser] = Field(default_factory=list)
    invites: list[SeedInvite] = Field(default_factory=list)
    workspaces: list[SeedWorkspace] = Field(default_factory=list)
    keys: list[SeedKey] = Field(default_factory=list)
    usage: list[SeedUsage] = Field(default_factory=list)
    audit: list[SeedAudit] = Field(default_factory=list)
    groups: list[SeedGroup] = Field(default_factory=list)


def check(seed: Seed) -> list[tuple[Loc, str]]:
    """Cross-references a schema cannot express: (location, message) per problem."""
    problems: list[tuple[Loc, str]] = []
    emails: set[str] = set()
    for i, user in enumerate(seed.users):
        if user.email.lower() in emails:
            problems.append((("users", i, "email"), f"duplicate user {user.email!r}"))
        emails.add(user.email.lower())
    active: dict[str, SeedWorkspace] = {}
    defaults = 0
    for i, ws in enumerate(seed.workspaces):
        defaults += ws.is_default
        if ws.is_default and defaults > 1:
            problems.append((("workspaces", i, "is_default"), "more than one default workspace"))
        if ws.is_default and ws.archived:
            problems.append((("workspaces", i, "archived"), "the default workspace is active"))
        if not ws.archived:
            if ws.name.lower() in active:
                problems.append((("workspaces", i, "name"), f"duplicate workspace {ws.name!r}"))
            active[ws.name.lower()] = ws
        for email, roles in ws.members.items():
            loc: Loc = ("workspaces", i, "members", email)
            if email.lower() not in emails:
                problems.append((loc, f"{email!r} is not a user of the organization"))
            for role in [roles] if isinstance(roles, str) else roles:
                if role not in WORKSPACE_ROLE_NAMES:
                    allowed = ", ".join(WORKSPACE_ROLE_NAMES)
                    problems.append((loc, f"unknown workspace role {role!r} (one of {allowed})"))
            if not roles:
                problems.append((loc, "a member needs at least one role"))
    for i, invite in enumerate(seed.invites):
        for j, name in enumerate(invite.workspaces):
            if name.lower() not in active:
                problems.append((("invites", i, "workspaces", j), f"no workspace {name!r}"))
    by_name: dict[str, SeedWorkspace] = {}
    member_emails: dict[str, set[str]] = {}
    for ws in seed.workspaces:
        if not ws.archived or ws.name not in by_name:
            by_name[ws.name] = ws
            member_emails[ws.name] = {e.lower() for e in ws.members}
    for i, key in enumerate(seed.keys):
        if key.workspace not in by_name:
            problems.append((("keys", i, "workspace"), f"no workspace {key.workspace!r}"))
        elif key.owner.lower() not in member_emails[key.workspace]:
            problems.append(
                (("keys", i, "owner"), f"{key.owner!r} is not a member of {key.workspace!r}")
            )
        if key.owner.lower() not in emails:
            problems.append((("keys", i, "owner"), f"{key.owner!r} is not a user"))
        if key.last_used_days_ago is not None and key.last_used_days_ago > key.created_days_ago:
            problems.append(
                (("keys", i, "last_used_days_ago"), "a key cannot be used before it was created")
            )
        if key.expires_in_days is not None and key.expiration is not None:
            problems.append(
                (("keys", i, "expiration"), "give expires_in_days or expiration, not both")
            )
    catalog = load_catalog()
    names = {w.name.lower() for w in seed.workspaces}
    for i, usage in enumerate(seed.usage):
        if usage.workspace.lower() not in names:
            problems.append((("usage", i, "workspace"), f"no workspace {usage.workspace!r}"))
        if catalog.resolve(usage.model) is None:
            problems.append((("usage", i, "model"), f"unknown model {usage.model!r}"))
    keys = {(k.workspace.lower(), k.name or "") for k in seed.keys}
    return [
        *problems,
        *check_audit(seed.audit, emails, names, keys),
        *check_groups(seed.groups, emails, {n.lower() for n in active}),
    ]


def load_seed(path: Path) -> Seed:
    """Read and validate a seed file; raise :class:`SeedError` listing every problem."""
    from ruamel.yaml.error import YAMLError

    try:
        raw = read_document(path, lines=False)
    except OSError as exc:
        raise SeedError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except (ValueError, YAMLError) as exc:  # JSON and YAML syntax errors
        detail = " ".join(str(syntax_error(path, exc)).split())
        raise SeedError(str(path), [f"{path}: not valid YAML/JSON: {detail}"]) from None
    if raw is None:
        raw = {}
    try:
        seed = Seed.model_validate(raw)
    except ValidationError as exc:
        shown = read_document(path, lines=True)
        problems = [
            located(path, shown, tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)
        ]
        raise SeedError(str(path), problems) from None
    cross = check(seed)
    if cross:
        shown = read_document(path, lines=True)
        raise SeedError(str(path), [located(path, shown, loc, msg) for loc, msg in cross])
    return seed


def build_state(seed: Seed, now: dt.datetime) -> State:
    """The state a seed describes, with ages turned into timestamps relative to ``now``."""
    users = [
        UserRecord(
            uuid=stable_id("user", u.email.lower()),
            email=u.email,
            first_name=u.first_name,
            last_name=u.last_name,
            role=u.role,
            created_at=_ago(now, u.created_days_ago),
            seats=list(u.seats),
        )
        for u in seed.users
    ]
    by_email = {u.email.lower(): u.uuid for u in users}
    workspaces, ws_id = _workspaces(seed, by_email, now)
    invites = [
        InviteRecord(
            uuid=stable_id("invite", inv.email.lower()),
            email=inv.email,
            role=inv.role,
            created_at=_ago(now, inv.created_days_ago),
            expired=inv.expired,
            workspace_uuids=[ws_id[n] for n in inv.workspaces],
            seats=list(inv.seats),
        )
        for inv in seed.invites
    ]
    keys = [_key(i, k, ws_id, by_email, now) for i, k in enumerate(seed.keys)]
    state = State(
        created_at=iso_datetime(now),
        organization=_organization(seed.organization),
        users={u.uuid: u for u in users},
        invites={i.uuid: i for i in invites},
        workspaces=workspaces,
        keys={k.key_id: k for k in keys},
        usage=_usage(seed, ws_id, now.date()),
        groups=build_groups(
            seed.groups,
            ids={g.name.lower(): stable_id("group", g.name.lower()) for g in seed.groups},
            user_ids=by_email,
            ws_ids={name.lower(): ws for name, ws in ws_id.items()},
            now=now,
        ),
    )
    state.audit = build_audit(seed.audit, state, now)
    return state


def _ago(now: dt.datetime, days: int) -> str:
    return iso_datetime(now - dt.timedelta(days=days))


def _organization(org: SeedOrganization) -> OrganizationRecord:
    """The organisation, its uuid derived from its name (so a reset keeps it)."""
    limits = {
        m.id: {"tokens_per_minute": org.tokens_per_minute, "tokens_per_month": org.tokens_per_month}
        for m in load_catalog().models
        if not m.deprecated
    }
    return OrganizationRecord(
        name=org.name,
        currency=org.currency,
        spend_limit=org.spend_limit,
        no_monthly_limit=org.spend_limit is None,
        max_key_expiry_days=org.max_key_expiry_days,
        requests_per_second=org.requests_per_second,
        tokens_limits_by_model=limits,
        uuid=stable_id("organization", org.name),
    )


def _workspaces(
    seed: Seed, by_email: dict[str, str], now: dt.datetime
) -> tuple[dict[str, WorkspaceRecord], dict[str, str]]:
    """The workspaces by uuid, and each name's uuid (the active one when names repeat).

    A workspace's uuid derives from its organisation's name and its own, so two seeded
    organisations never share one (the default workspace's is an organisation's identity).
    """
    workspaces: dict[str, WorkspaceRecord] = {}
    ws_id: dict[str, str] = {}
    for i, w in enumerate(seed.workspaces):
        identity = w.name if not w.archived else f"{w.name}#archived-{i}"
        identity = f"{seed.organization.name}/{identity}"
        record = WorkspaceRecord(
            uuid=stable_id("workspace", identity),
            name=w.name,
            description=w.description,
            icon=w.icon,
            is_default=w.is_default,
            archived=w.archived,
            created_at=_ago(now, w.created_days_ago),
            spend_limit=w.spend_limit,
            members={
                by_email[email.lower()]: [roles] if isinstance(roles, str) else list(roles)
                for email, roles in w.members.items()
            },
        )
        workspaces[record.uuid] = record
        if not w.archived or w.name not in ws_id:
            ws_id[w.name] = record.uuid
    return workspaces, ws_id


def _key(
    index: int, k: SeedKey, ws_id: dict[str, str], by_email: dict[str, str], now: dt.datetime
) -> KeyRecord:
    today = now.date()
    secret = k.secret or new_secret()
    if k.expiration is not None:
        expiration: str | None = k.expiration.isoformat()
    elif k.expires_in_days is not None:
        expiration = (today + dt.timedelta(days=k.expires_in_days)).isoformat()
    else:
        expiration = None
    last_used = (
        None
        if k.last_used_days_ago is None
        else (today - dt.timedelta(days=k.last_used_days_ago)).isoformat()
    )
    return KeyRecord(
        key_id=stable_id("key", f"{index}:{k.workspace}:{k.name}"),
        name=k.name,
        workspace_id=ws_id[k.workspace],
        user_id=by_email[k.owner.lower()],
        created_at=_ago(now, k.created_days_ago),
        expiration_date=expiration,
        last_used=last_used,
        secret_sha256=secret_digest(secret),
        hidden_key=hide(secret),
        product=k.product,
    )


def _usage(seed: Seed, ws_id: dict[str, str], today: dt.date) -> list[UsageRecord]:
    catalog = load_catalog()
    lower_ids = {name.lower(): uid for name, uid in ws_id.items()}
    usage = []
    for entry in seed.usage:
        year, month = today.year, today.month - entry.months_ago
        while month < 1:
            year, month = year - 1, month + 12
        model = catalog.resolve(entry.model)
        assert model is not None  # checked by check()
        usage.append(
            UsageRecord(
                workspace_id=lower_ids[entry.workspace.lower()],
                year=year,
                month=month,
                model=model.id,
                input_tokens=entry.input_tokens,
                output_tokens=entry.output_tokens,
            )
        )
    return usage
