"""Rules that need more than one field: the provider's roles and catalog, dates, files.

Runs on the documents that passed :mod:`reconciler.desired.schema`, or that
:mod:`reconciler.desired.salvage` could repair after their shape errors were reported (a
file it could not repair is skipped here), so one bad file never hides the problems of
another, nor one bad field the other problems of its file. Every problem points at the
field to fix; a duplicate points at the second declaration and names the first one's
``file:line``. Names and secret destinations unique across files are checked in
:mod:`reconciler.desired.unique_checks`, previous names in
:mod:`reconciler.desired.previous_names`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from reconciler.desired.catalog import Catalog
from reconciler.desired.limit_checks import check_key_limits, check_limits
from reconciler.desired.messages import describe_value
from reconciler.desired.previous_names import check_previous_names
from reconciler.desired.problems import Loc, Severity
from reconciler.desired.schema import (
    ApiKeyDoc,
    OrganizationFile,
    RolesFile,
    WorkspaceDoc,
    WorkspaceFile,
)
from reconciler.desired.sources import Reporter, Source
from reconciler.desired.unique_checks import check_unique, github_secret_name
from reconciler.model import UNLIMITED
from reconciler.providers import ProviderSpec

WARNING = Severity.WARNING


@dataclass
class Checker:
    """Holds what every rule needs; one per validation run."""

    reporter: Reporter
    # None: organization.yaml names a provider nobody registered (reported already), so
    # role names and models are not checked
    provider: ProviderSpec | None
    catalog: Catalog | None
    today: dt.date
    organization: OrganizationFile | None
    organization_source: Source | None
    roles: RolesFile | None  # None: roles.yaml is missing or broken (reported already)
    # role_problem's finding per (workspace document, role name): thousands of keys share one
    _role_problems: dict[tuple[int, str], str | None] = field(default_factory=dict, repr=False)

    # --- models -------------------------------------------------------------------------

    def models(self, source: Source, loc: Loc, models: Sequence[str]) -> None:
        """Every name in an allow-list exists; ``*`` stands alone; warn on deprecated."""
        seen: dict[str, int] = {}
        for index, name in enumerate(models):
            at = (*loc, index)
            if name == UNLIMITED:
                if len(models) > 1:
                    self.reporter.add(source, at, "'*' allows every model: list it alone")
                continue
            if self.catalog is None:
                continue
            info = self.catalog.get(name)
            if info is None:
                hint = self.catalog.suggest(name)
                text = f"unknown model '{name}'"
                text += f" (did you mean '{hint}'?)" if hint else " (not in the model catalog)"
                self.reporter.add(source, at, text)
                continue
            if info.deprecated:
                text = f"model '{name}' is deprecated"
                if info.deprecation_date:
                    text += f" (retired on {info.deprecation_date})"
                if info.replacement:
                    text += f"; use '{info.replacement}' instead"
                self.reporter.add(source, at, text, WARNING)
            if info.id in seen:
                self.reporter.add(
                    source,
                    at,
                    f"'{name}' is the same model as item [{seen[info.id]}] ({info.id})",
                    WARNING,
                )
            seen.setdefault(info.id, index)

    # --- files --------------------------------------------------------------------------

    def roles_file(self, source: Source, doc: RolesFile) -> None:
        for name, role in doc.roles.items():
            self.models(source, ("roles", name, "allowed_models"), role.allowed_models)
            check_limits(self.reporter, source, ("roles", name), role)

    def workspace_file(self, source: Source, doc: WorkspaceFile) -> None:
        ws = doc.workspace
        if source.stem != ws.name:
            self.reporter.add(
                source,
                ("workspace", "name"),
                f"workspace '{ws.name}' is declared in {source.stem}.yaml; "
                f"name the file {ws.name}.yaml so reviewers find it",
                WARNING,
            )
        self.models(source, ("workspace", "policy", "allowed_models"), ws.policy.allowed_models)
        check_limits(self.reporter, source, ("workspace", "policy"), ws.policy)
        self.members(source, ws)
        if ws.archived and ws.api_keys:
            self.reporter.add(
                source,
                ("workspace", "api_keys"),
                f"workspace '{ws.name}' is archived: it cannot hold API keys (remove them, or "
                "set archived: false)",
            )
        if ws.rate_limits is not None:
            self.rate_limits(source, ws.rate_limits)
        members = {ws.admin.lower()} | {m.email.lower() for m in ws.members}
        for index, key in enumerate(ws.api_keys):
            self.key(source, ("workspace", "api_keys", index), ws, key, members)

    def rate_limits(self, source: Source, limits: dict[str, dict[str, int]]) -> None:
        """Each limit type is one the provider's workspaces take."""
        if self.provider is None:
            return
        known = self.provider.rate_limit_types
        loc = ("workspace", "rate_limits")
        if not known:
            text = f"{self.provider.display_name} workspaces have no rate limits the API can set"
            self.reporter.add(source, loc, text)
            return
        for group, kinds in limits.items():
            for kind in kinds:
                if kind not in known:
                    self.reporter.add(
                        source,
                        (*loc, group, kind),
                        f"{describe_value(kind)} is not allowed here; expected one of: "
                        f"{', '.join(known)}",
                    )

    def members(self, source: Source, ws: WorkspaceDoc) -> None:
        first: dict[str, int] = {}
        for index, member in enumerate(ws.members):
            email = member.email.lower()
            loc: Loc = ("workspace", "members", index)
            self.member_roles(source, (*loc, "roles"), member.roles or ())
            if email in first:
                other = ("workspace", "members", first[email])
                self.reporter.add(
                    source,
                    (*loc, "email"),
                    f"'{member.email}' is listed twice (first at line "
                    f"{source.doc.mark(other)[0]}); give one entry all its roles",
                )
                continue
            first[email] = index

    def member_roles(self, source: Source, loc: Loc, roles: Sequence[str]) -> None:
        """Each role is one of the provider's workspace roles."""
        if self.provider is None:
            return
        known = self.provider.workspace_roles
        for index, role in enumerate(roles):
            if role not in known:
                text = f"{describe_value(role)} is not allowed here; " + (
                    f"expected one of: {', '.join(known)} (the workspace roles of "
                    f"{self.provider.display_name})"
                    if known
                    else f"{self.provider.display_name} has no workspace roles"
                )
                self.reporter.add(source, (*loc, index), text)

    def key(
        self, source: Source, loc: Loc, ws: WorkspaceDoc, key: ApiKeyDoc, members: set[str]
    ) -> None:
        if key.expires is not None and key.expires <= self.warn_from:
            self.expiry(source, (*loc, "expires"), key.expires)
        if key.owner.lower() not in members:
            self.reporter.add(
                source,
                (*loc, "owner"),
                f"owner '{key.owner}' is not a member of workspace '{ws.name}'",
                WARNING,
            )
        if key.role is not None and (problem := self.role_problem(ws, key.role)) is not None:
            self.reporter.add(source, (*loc, "role"), problem)
        if key.secret is not None:
            self.secret(source, (*loc, "secret"), ws.name, key)
        if key.policy is not None:
            self.key_policy(source, loc, ws, key)
        if key.status is not None:
            self.key_status(source, (*loc, "status"), key.status)

    def key_status(self, source: Source, loc: Loc, status: str) -> None:
        """A status the provider's keys can have: set in place, or the final one."""
        if self.provider is None:
            return
        spec = self.provider
        final = [spec.final_key_status] if spec.final_key_status else []
        known = [*spec.key_statuses, *final]
        if status in known:
            return
        self.reporter.add(
            source,
            loc,
            f"{describe_value(status)} is not allowed here; expected one of: {', '.join(known)}"
            + (f" ({final[0]} is final)" if final else "")
            if known
            else f"{spec.display_name} keys have no status the API can set",
        )

    @functools.cached_property
    def warn_from(self) -> dt.date:
        """The last expiry day a key is warned about (or refused, if past)."""
        org = self.organization
        days = org.organization.keys.expiry_warning_days if org else 14
        return self.today + dt.timedelta(days=min(days, (dt.date.max - self.today).days))

    def expiry(self, source: Source, loc: Loc, expires: dt.date) -> None:
        """An expiry day on or before :attr:`warn_from`: a warning. One in the past is not an
        error: the day after a key expires, its organisation's plans and applies must still
        run; a plan refuses to create a key that has expired (:mod:`reconciler.rails`)."""
        if expires < self.today:
            self.reporter.add(
                source,
                loc,
                f"expired on {expires.isoformat()} (today is {self.today.isoformat()}): the "
                "key no longer works; give it a later date to replace it, or remove it",
                WARNING,
            )
            return
        left = (expires - self.today).days
        self.reporter.add(
            source, loc, f"expires in {left} day(s), on {expires.isoformat()}", WARNING
        )

    def role_problem(self, ws: WorkspaceDoc, name: str) -> str | None:
        """What is wrong with giving workspace ``ws``'s keys role ``name``, if anything."""
        if self.roles is None:
            return None  # roles.yaml is missing or broken: that problem is reported already
        cached = (id(ws), name)  # the answer depends on the workspace and the role only
        if cached not in self._role_problems:
            self._role_problems[cached] = self._role_problem(self.roles, ws, name)
        return self._role_problems[cached]

    def _role_problem(self, roles: RolesFile, ws: WorkspaceDoc, name: str) -> str | None:
        role = roles.roles.get(name)
        if role is None:
            hint = difflib.get_close_matches(name, list(roles.roles), n=1)
            text = f"role '{name}' does not exist in roles.yaml"
            if hint:
                text += f" (did you mean '{hint[0]}'?)"
            elif roles.roles:
                text += f"; roles: {', '.join(roles.roles)}"
            return text
        catalog = self.catalog
        if catalog is None:
            return None  # the provider is unknown: so are its models
        if canonical(catalog, ws.policy.allowed_models) is None or any(
            m not in catalog for m in ws.policy.allowed_models
        ):
            return None  # every model allowed, or an unknown name (reported already)
        listed = ", ".join(ws.policy.allowed_models)
        extra = outside(catalog, role.allowed_models, ws.policy.allowed_models)
        if extra is None:
            return (
                f"role '{name}' allows every model ('*'), but workspace '{ws.name}' allows "
                f"only {listed}"
            )
        if extra:
            return (
                f"role '{name}' allows {', '.join(extra)}, which workspace '{ws.name}' does not "
                f"allow (workspace allows: {listed})"
            )
        return None

    def key_policy(self, source: Source, loc: Loc, ws: WorkspaceDoc, key: ApiKeyDoc) -> None:
        """A key's own models exist and stay within its role's and workspace's; its limits
        bind (see :mod:`reconciler.desired.limit_checks`)."""
        policy = key.policy
        assert policy is not None
        role = self.roles.roles.get(key.role) if self.roles and key.role else None
        check_limits(self.reporter, source, (*loc, "policy"), policy)
        check_key_limits(
            self.reporter, source, (*loc, "policy"), policy, (key.role, role), (ws.name, ws.policy)
        )
        if policy.allowed_models is None:
            return
        at = (*loc, "policy", "allowed_models")
        self.models(source, at, policy.allowed_models)
        catalog = self.catalog
        if catalog is None or any(
            m != UNLIMITED and m not in catalog for m in policy.allowed_models
        ):
            return  # unknown names are reported already
        ceilings = [(f"workspace '{ws.name}'", ws.policy.allowed_models)]
        if role is not None:
            ceilings.insert(0, (f"role '{key.role}'", role.allowed_models))
        for owner, allowed in ceilings:
            if any(m != UNLIMITED and m not in catalog for m in allowed):
                continue
            extra = outside(catalog, policy.allowed_models, allowed)
            if extra is None or extra:
                named = "every model ('*')" if extra is None else ", ".join(extra)
                self.reporter.add(
                    source,
                    at,
                    f"key '{key.name}' allows {named}, which {owner} does not allow ({owner} "
                    f"allows: {', '.join(allowed)})",
                )
                return

    def secret(self, source: Source, loc: Loc, ws: str, key: ApiKeyDoc) -> None:
        secret = key.secret
        assert secret is not None
        default = self.organization.organization.vault.backend if self.organization else "vault"
        backend = secret.backend or default
        if backend == "github":
            if secret.repository is None:
                self.reporter.add(source, loc, "the github backend needs 'repository: owner/name'")
            name = github_secret_name(secret.path or f"{ws}/{key.name}")
            if name[0].isdigit() or name.startswith("GITHUB_"):
                self.reporter.add(
                    source,
                    (*loc, "path") if secret.path else loc,
                    f"the GitHub secret name would be {name}, which GitHub refuses (it may not "
                    "start with a digit or GITHUB_); choose another secret.path",
                )
            return
        for name in ("repository", "environment"):
            if getattr(secret, name) is not None:
                self.reporter.add(
                    source,
                    (*loc, name),
                    f"'{name}' applies only to the github backend (this key's backend "
                    f"is {backend})",
                )


def outside(catalog: Catalog, wanted: Sequence[str], allowed: Sequence[str]) -> list[str] | None:
    """The names in ``wanted`` that ``allowed`` does not allow (sorted; empty: none);
    None when ``wanted`` is every model and ``allowed`` is not."""
    within = canonical(catalog, allowed)
    if within is None:
        return []
    if canonical(catalog, wanted) is None:
        return None
    return sorted(m for m in wanted if (i := catalog.resolve(m)) is not None and i not in within)


def canonical(catalog: Catalog, models: Sequence[str]) -> frozenset[str] | None:
    """The canonical ids an allow-list allows; ``None`` means every model."""
    if UNLIMITED in models:
        return None
    return frozenset(i for m in models if (i := catalog.resolve(m)) is not None)


def check_all(
    checker: Checker,
    roles: Source | None,
    workspaces: Sequence[Source],
) -> None:
    """Run every rule: per file, then across files."""
    reporter = checker.reporter
    if roles is not None and isinstance(roles.model, RolesFile):
        checker.roles_file(roles, roles.model)
    valid = [s for s in workspaces if isinstance(s.model, WorkspaceFile)]
    for source in valid:
        checker.workspace_file(source, source.model)

    check_unique(reporter, checker.organization, valid)
    check_previous_names(reporter, valid, checker.organization_source)
    _check_budgets(checker, valid)


def _check_budgets(checker: Checker, workspaces: Sequence[Source]) -> None:
    org = checker.organization
    if org is None or org.organization.spend_limit is None:
        return
    limit = org.organization.spend_limit.amount
    if limit is None:
        return
    total = sum(
        (
            s.model.workspace.policy.monthly_budget_usd or Decimal(0)
            for s in workspaces
            if not s.model.workspace.archived
        ),
        Decimal(0),
    )
    if total > limit and checker.organization_source is not None:
        checker.reporter.add(
            checker.organization_source,
            ("organization", "spend_limit", "amount"),
            f"workspace budgets add up to {total} USD/month, more than the organisation's "
            f"spend limit of {limit} {org.organization.spend_limit.currency}",
            WARNING,
        )
