"""What an import writes: the live organisation as desired-state entries, and what it cannot.

Pure: a :class:`~reconciler.model.LiveState` and the provider's
:class:`~reconciler.providers.ProviderSpec` in, an :class:`Imported` out. Each workspace
becomes a :class:`WorkspaceEntry` with its admin, members (with roles) and keys (owner,
expiry, the secret path ``<workspace>/<name>``, or the location its secret is already
stored at when the ownership record names another), each value checked against the
desired-state schema (:mod:`reconciler.desired.schema`) so that what is written loads
again as the same thing. What the YAML cannot express is listed in :attr:`Imported.notes`
instead of being written wrong:

- a workspace or key whose name is no valid desired-state name, or a workspace without
  an admin (its file needs one), and the keys of a workspace not imported;
- two live keys sharing a name (key names are unique in the desired state);
- a key that has expired, or whose owner's email is not a valid one;
- a key whose owner the platform does not name: the workspace admin is written instead,
  which plans accept (an owner the platform does not name is never a difference);
- member roles the provider does not know (the plan will remove them);
- workspace spend limits, which only the console sets (written as a comment);
- a workspace rate limit of a type the provider's ``rate_limits:`` cannot name (the rest
  are written, so the plan keeps them);
- an organisation spend limit the schema cannot hold (not whole units).

Live names in notes pass through :func:`~reconciler.textsafe.for_terminal`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from reconciler.desired.schema import Email, Name, Text
from reconciler.diff.people import group_grants
from reconciler.env import VAULT_ADDR
from reconciler.model import ApiKey, LiveState, Member, SecretTarget, SpendLimit, Workspace
from reconciler.providers import ProviderSpec
from reconciler.textsafe import for_terminal

NAME: TypeAdapter[str] = TypeAdapter(Name)
EMAIL: TypeAdapter[str] = TypeAdapter(Email)
TEXT: TypeAdapter[str] = TypeAdapter(Text)


def quoted(name: str) -> str:
    """A live name for a note: quoted, control and invisible characters escaped."""
    return f"'{for_terminal(name)}'"


def valid(adapter: TypeAdapter[str], value: str | None) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class MemberEntry:
    email: str
    roles: tuple[str, ...]  # () : written without roles (the provider's default)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    name: str
    owner: str
    expires: dt.date | None
    secret: SecretTarget  # where its secret is: the default path, or the one in use
    owner_comment: str | None = None  # why the owner is a stand-in
    # the live status (None: the platform has none); written when it is not ``usual``, the
    # provider's first, so an inactive key stays inactive and is never re-activated
    status: str | None = None
    usual_status: str | None = None

    @property
    def written_status(self) -> str | None:
        return None if self.status == self.usual_status else self.status


@dataclass(frozen=True, slots=True)
class WorkspaceEntry:
    name: str
    description: str
    admin: str
    members: tuple[MemberEntry, ...]
    keys: tuple[KeyEntry, ...]
    spend_limit_comment: str | None = None  # the console's limit, for the reader
    # the live rate-limit overrides the schema can hold; None: unknown live (not managed)
    rate_limits: dict[str, dict[str, int]] | None = None


@dataclass(frozen=True, slots=True)
class OrganizationEntry:
    name: str
    id: str | None  # the live organisation's, so plans refuse another one's credentials
    provider: str
    spend_limit: dict[str, Any] | None  # as organization.yaml writes it; None: not managed
    vault_comment: str


@dataclass(frozen=True, slots=True)
class Imported:
    organization: OrganizationEntry
    workspaces: tuple[WorkspaceEntry, ...]
    # live workspace and key names that are not imported, whatever the reason: a file
    # already declaring one is left as it is, never pruned
    skipped_workspaces: frozenset[str]
    skipped_keys: frozenset[str]
    notes: tuple[str, ...]


def spend_limit_doc(limit: SpendLimit | None) -> dict[str, Any] | None:
    """``{amount, currency}`` or ``{no_monthly_limit: true, currency}``; None if the schema
    cannot hold it (not whole units)."""
    if limit is None:
        return None
    if limit.amount is None:
        return {"no_monthly_limit": True, "currency": limit.currency}
    if limit.amount != limit.amount.to_integral_value() or limit.amount < 0:
        return None
    return {"amount": int(limit.amount), "currency": limit.currency}


def _vault_comment(spec: ProviderSpec) -> str:
    return (
        f"Secrets: the default store, HashiCorp Vault at ${VAULT_ADDR} (KV v2 mount "
        f"'secret', paths under '{spec.vault_path_prefix}/'). Set vault: here before the "
        "first apply that creates or rotates a key; imported keys' secrets are unknown "
        "until then."
    )


def imported(
    live: LiveState,
    spec: ProviderSpec,
    *,
    name: str,
    today: dt.date,
    secrets: Mapping[str, SecretTarget] | None = None,
) -> Imported:
    """The desired-state entries for ``live`` (see the module docstring); ``secrets``: by
    key id, where a key's secret already is when that is not its default path."""
    notes: list[str] = []
    limit = spend_limit_doc(live.organization.spend_limit)
    if live.organization.spend_limit is not None and limit is None:
        notes.append(
            f"organization: spend limit {live.organization.spend_limit.describe()} is not in "
            "whole units: not written (not managed)"
        )
    organization = OrganizationEntry(
        name=name,
        id=live.organization.id,
        provider=spec.name,
        spend_limit=limit,
        vault_comment=_vault_comment(spec),
    )
    members: dict[str, list[Member]] = defaultdict(list)
    for member in live.members:
        members[member.workspace].append(member)
    joining = {m.email.lower() for m in live.people}
    for invite in live.invitations:  # they join these workspaces once they accept
        if not invite.expired and invite.email.lower() not in joining:
            for ws_name in invite.workspaces:
                joins = Member(workspace=ws_name, email=invite.email, roles=spec.member_roles)
                members[ws_name].append(joins)
    granted = group_grants(live.groups)
    keys = _importable_keys(live.keys, notes, today)
    workspaces = []
    skipped_ws: set[str] = set()
    for ws in sorted(live.workspaces, key=lambda w: w.name):
        ws_keys = keys.pop(ws.name, [])
        entry = _workspace(ws, members[ws.name], granted, ws_keys, spec, notes, secrets or {})
        if entry is None:
            skipped_ws.add(ws.name)
            if ws_keys:
                notes.append(
                    f"workspace {quoted(ws.name)}: its {len(ws_keys)} key(s) are not imported "
                    f"with it ({', '.join(quoted(k.name) for k in ws_keys)})"
                )
        else:
            workspaces.append(entry)
    for ws_name, left in sorted(keys.items()):  # keys of a workspace the listing lacks
        notes.append(
            f"workspace {quoted(ws_name)} is not listed: its key(s) "
            f"{', '.join(quoted(k.name) for k in left)} are not imported"
        )
    written = {k.name for w in workspaces for k in w.keys}
    return Imported(
        organization=organization,
        workspaces=tuple(workspaces),
        skipped_workspaces=frozenset(skipped_ws),
        skipped_keys=frozenset(k.name for k in live.keys if k.name not in written),
        notes=tuple(notes),
    )


def _importable_keys(
    keys: Sequence[ApiKey], notes: list[str], today: dt.date
) -> dict[str, list[ApiKey]]:
    """Live keys by workspace, without those no desired state can declare (noted)."""
    by_name: dict[str, list[ApiKey]] = defaultdict(list)
    for key in keys:
        by_name[key.name].append(key)
    out: dict[str, list[ApiKey]] = defaultdict(list)
    for name, same in sorted(by_name.items()):
        where = ", ".join(quoted(k.workspace) for k in same)
        if not valid(NAME, name):
            notes.append(
                f"key {quoted(name)} (workspace {where}): not a valid desired-state name "
                "(letters, digits, '.', '_' and '-', starting with a letter or digit); rename "
                "it in the console to manage it"
            )
        elif len(same) > 1:
            notes.append(
                f"key {quoted(name)}: {len(same)} live keys share this name (workspaces "
                f"{where}) and key names are unique in the desired state; rename or delete all "
                "but one in the console, then import again"
            )
        elif same[0].expires is not None and same[0].expires < today:
            notes.append(
                f"key {quoted(name)} (workspace {where}): expired on "
                f"{same[0].expires.isoformat()}; not imported (delete it, or leave it alone)"
            )
        else:
            out[same[0].workspace].append(same[0])
    return out


def _workspace(
    ws: Workspace,
    live_members: Sequence[Member],
    granted: Mapping[tuple[str, str], frozenset[str]],
    keys: Sequence[ApiKey],
    spec: ProviderSpec,
    notes: list[str],
    secrets: Mapping[str, SecretTarget],
) -> WorkspaceEntry | None:
    """The workspace's entry, or None (noted) when its file could not declare it."""
    what = f"workspace {quoted(ws.name)}"
    if not valid(NAME, ws.name):
        notes.append(
            f"{what}{' (the default workspace)' if ws.is_default else ''}: not a valid "
            "desired-state name; not imported, left alone as unmanaged"
        )
        return None
    if ws.admin is None or not valid(EMAIL, ws.admin):
        notes.append(
            f"{what}: no workspace admin with a valid email; not imported (make someone its "
            f"{spec.admin_role or 'admin'} in the console, then import again)"
        )
        return None
    if not valid(TEXT, ws.description):
        notes.append(f"{what}: its description is over 255 characters; not imported")
        return None
    comment = None
    if ws.spend_limit is not None:
        comment = (
            f"spend limit in the console: {ws.spend_limit.describe()} (only the console sets "
            "it; policy.monthly_budget_usd makes plans check it)"
        )
        if not ws.spend_limit.no_monthly_limit:  # else nothing to carry over
            notes.append(
                f"{what}: its spend limit ({ws.spend_limit.describe()}) can be set only in "
                "the console: written as a comment"
            )
    return WorkspaceEntry(
        name=ws.name,
        description=ws.description,
        admin=ws.admin,
        members=_members(ws, live_members, granted, spec, notes),
        keys=tuple(
            _key(ws, k, spec, notes, secrets)
            for k in sorted(keys, key=_by_name)
            if _owned(k, notes)
        ),
        spend_limit_comment=comment,
        rate_limits=_rate_limits(ws, spec, notes),
    )


def _rate_limits(
    ws: Workspace, spec: ProviderSpec, notes: list[str]
) -> dict[str, dict[str, int]] | None:
    """The workspace's live overrides that ``rate_limits:`` can name (the others noted)."""
    if ws.rate_limits is None or not spec.rate_limit_types:
        return None
    out: dict[str, dict[str, int]] = {}
    for limit, kinds in sorted(ws.rate_limits.items()):
        for kind, value in sorted(kinds.items()):
            if kind in spec.rate_limit_types and value > 0 and valid(TEXT, limit):
                out.setdefault(limit, {})[kind] = value
            else:
                notes.append(
                    f"workspace {quoted(ws.name)}: rate limit {quoted(limit)} {quoted(kind)} = "
                    f"{value} cannot be written in rate_limits:; not imported"
                )
    return out


def _members(
    ws: Workspace,
    live_members: Sequence[Member],
    granted: Mapping[tuple[str, str], frozenset[str]],
    spec: ProviderSpec,
    notes: list[str],
) -> tuple[MemberEntry, ...]:
    """The workspace's direct members; those whose roles all come from groups stay group
    grants (written in ``groups.yaml``, never here)."""
    out = []
    for member in sorted(live_members, key=lambda m: m.email):
        who = f"member {quoted(member.email)} of workspace {quoted(ws.name)}"
        if not valid(EMAIL, member.email):
            notes.append(f"{who}: not a valid email; not imported (the plan will remove them)")
            continue
        via_groups = granted.get((ws.name, member.email.lower()))
        if via_groups is not None:
            direct = sorted(set(member.roles) - via_groups)
            if direct:
                notes.append(
                    f"{who}: holds {', '.join(quoted(r) for r in direct)} beyond what their "
                    "groups grant; not written, as one person is never both a direct member "
                    "and a group's (the plan will remove the direct membership)"
                )
            continue
        roles = set(member.roles)
        unknown = sorted(roles - set(spec.workspace_roles))
        if unknown:
            notes.append(
                f"{who}: roles {', '.join(quoted(r) for r in unknown)} are not "
                f"{spec.display_name}'s workspace roles; not written (the plan will remove them)"
            )
        roles -= set(unknown)
        if member.email == ws.admin and spec.admin_role is not None:
            roles.discard(spec.admin_role)
            if not roles:
                continue  # the admin: declared by `admin:`
        if not roles:
            notes.append(f"{who}: no role the desired state can name; written with the default")
        out.append(MemberEntry(email=member.email, roles=tuple(sorted(roles))))
    return tuple(out)


def _by_name(key: ApiKey) -> str:
    return key.name


def _owned(key: ApiKey, notes: list[str]) -> bool:
    """Whether the key's owner can be written (none is fine: the admin stands in)."""
    if key.owner is None or valid(EMAIL, key.owner):
        return True
    notes.append(f"key {quoted(key.name)}: owner {quoted(key.owner)} is no valid email; skipped")
    return False


def _key(
    ws: Workspace,
    key: ApiKey,
    spec: ProviderSpec,
    notes: list[str],
    secrets: Mapping[str, SecretTarget],
) -> KeyEntry:
    owner, comment = key.owner, None
    if owner is None:
        assert ws.admin is not None  # checked before any key
        owner = ws.admin
        comment = "the platform names no owner: the workspace admin stands in"
        notes.append(
            f"key {quoted(key.name)}: the platform names no owner (created by "
            f"{quoted(key.created_by or 'unknown')}); written with the workspace admin as owner"
        )
    return KeyEntry(
        name=key.name,
        owner=owner,
        expires=key.expires,
        secret=secrets.get(key.id or "") or SecretTarget(path=f"{ws.name}/{key.name}"),
        owner_comment=comment,
        status=key.status,
        usual_status=spec.key_statuses[0] if spec.key_statuses else None,
    )
