"""The YAML documents of ``desired-state/``, version 1, as strict pydantic models.

Five kinds of file, each with ``version: 1`` beside one top-level section:

- ``organization.yaml``  -> :class:`OrganizationFile` (``organization:``)
- ``roles.yaml``         -> :class:`RolesFile` (``roles:``)
- ``workspaces/*.yaml``  -> :class:`WorkspaceFile` (``workspace:``)
- ``people.yaml``        -> :class:`PeopleFile` (``people:``), optional
- ``groups.yaml``        -> :class:`GroupsFile` (``groups:``), optional

These models check shape and single-field rules only (types, required fields, unknown
fields, ranges, email and path syntax); rules that need several files, or the provider's
role names and model catalog, live in :mod:`reconciler.desired.checks`, and
:mod:`reconciler.desired.convert` turns the documents into
:class:`reconciler.model.DesiredState`. The JSON Schema that
editors use is generated from these models (:mod:`reconciler.desired.json_schema`).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from reconciler.model import MAX_COUNT, MAX_DAYS, MAX_GRACE_HOURS, MAX_MONEY
from reconciler.providers import DEFAULT_PROVIDER

SUPPORTED_VERSION = 1

# --- field types with their own checks and messages -------------------------------------

_EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+\Z"
)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_ROLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_PROVIDER_RE = re.compile(r"[a-z][a-z0-9_-]*\Z")
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
EMAIL_PATTERN = _EMAIL_RE.pattern.removesuffix(r"\Z")
NAME_PATTERN = _NAME_RE.pattern.removesuffix(r"\Z")


def _empty_list(description: str | None = None) -> Any:
    """A list field that defaults to a new empty list, shown as ``default: []`` in the JSON
    Schema. (A literal ``[]`` default is deep-copied on every validation: 20,000 keys'
    worth of copies.)"""
    return Field(default_factory=list, json_schema_extra={"default": []}, description=description)


# An organisation names the same few hundred people and roles in thousands of places: the
# checks of a value already accepted are remembered (a refused one raises, never cached).
@functools.lru_cache(maxsize=4096)
def _email(value: str) -> str:
    if ".." in value or not _EMAIL_RE.match(value):
        raise PydanticCustomError("email", "not a valid email address: '{value}'", {"value": value})
    return value


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise PydanticCustomError(
            "name",
            "invalid name '{value}': use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
            {"value": value},
        )
    return value


def _provider(value: str) -> str:
    if not _PROVIDER_RE.match(value):
        raise PydanticCustomError(
            "provider",
            "invalid provider name '{value}': use lower-case letters, digits, '_' and '-'",
            {"value": value},
        )
    return value


@functools.lru_cache(maxsize=4096)
def _role_name(value: str) -> str:
    if not _ROLE_RE.match(value):
        raise PydanticCustomError(
            "role_name",
            "invalid role name '{value}': use letters, digits, '_' and '-', starting with a letter",
            {"value": value},
        )
    return value


_SEGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
#: The folders the secret stores keep for themselves (in any letter case, as they refuse
#: them): a secret path under one is refused here rather than by apply.
RESERVED_FOLDERS = {
    "_locks": "apply locks",
    "_reconciler": "reconciler's own documents (the ownership record)",
}


# the paths :func:`path_reason` accepts, in one match: every segment starts with a letter,
# a digit or '_' (so none is empty, '.' or '..'), no backslash, no leading '/'
_PLAIN_PATH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*\Z")


def path_reason(value: str) -> str | None:
    """Why ``value`` is not a path that stays under its prefix (relative, no '..', no
    backslash, no '//'), or None: the same rule the secret stores apply, so a path that
    validates can be written."""
    segments = value.split("/")
    bad = next((s for s in segments if s not in ("", ".", "..") and not _SEGMENT_RE.match(s)), None)
    if not value.strip():
        return "must not be empty"
    if "\\" in value:
        return "backslashes are not allowed (use '/')"
    if value.startswith("/"):
        return "must be relative (no leading '/')"
    if any(part in ("..", ".") for part in segments):
        return "'..' and '.' segments are not allowed: the path must stay under its prefix"
    if "" in segments:
        return "empty path segments are not allowed"
    if bad is not None:
        return (
            f"segment '{bad}' may use only letters, digits, '.', '_' and '-' "
            "(not starting with '.' or '-')"
        )
    reserved = segments[0].lower()
    if reserved in RESERVED_FOLDERS:
        return f"'{reserved}/' is reserved for {RESERVED_FOLDERS[reserved]}"
    return None


def _relative_path(value: str) -> str:
    """A path :func:`path_reason` accepts (an ordinary one in one match: one per key)."""
    if _PLAIN_PATH_RE.match(value) and value.partition("/")[0].lower() not in RESERVED_FOLDERS:
        return value
    reason = path_reason(value)
    if reason:
        raise PydanticCustomError(
            "path", "invalid path '{value}': {reason}", {"value": value, "reason": reason}
        )
    return value


def _url(value: str) -> str:
    if not re.match(r"https?://[^\s/]+", value):
        raise PydanticCustomError("url", "not an http(s) URL: '{value}'", {"value": value})
    return value


def _repository(value: str) -> str:
    if not _REPO_RE.match(value):
        raise PydanticCustomError(
            "repository", "not a GitHub repository 'owner/name': '{value}'", {"value": value}
        )
    return value


def _currency(value: str) -> str:
    if not re.match(r"[A-Z]{3}\Z", value):
        raise PydanticCustomError(
            "currency",
            "expected a 3-letter currency code like USD, got '{value}'",
            {"value": value},
        )
    return value


def _money(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # refused by the strict Decimal check: "expected a number, got true"
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("date", "expected a date like 2027-06-30, not a date and time")
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date", "expected a date like 2027-06-30, got '{value}'", {"value": value}
            ) from None
    return value


_PATH_SCHEMA = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$",
}

Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "pattern": f"^{EMAIL_PATTERN}$"}),
]
Name = Annotated[
    str,
    Field(max_length=255),
    AfterValidator(_name),
    WithJsonSchema({"type": "string", "maxLength": 255, "pattern": f"^{NAME_PATTERN}$"}),
]
_ROLE_SCHEMA = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]*$"}
RoleName = Annotated[str, AfterValidator(_role_name), WithJsonSchema(_ROLE_SCHEMA)]
MemberRoles = Annotated[list[RoleName], Field(min_length=1)]
_MEMBER_ROLES_SCHEMA = {"type": "array", "items": _ROLE_SCHEMA, "minItems": 1}
ProviderName = Annotated[
    str,
    AfterValidator(_provider),
    WithJsonSchema({"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"}),
]
RelativePath = Annotated[str, AfterValidator(_relative_path), WithJsonSchema(_PATH_SCHEMA)]
Url = Annotated[str, AfterValidator(_url), WithJsonSchema({"type": "string", "format": "uri"})]
Repository = Annotated[
    str,
    AfterValidator(_repository),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"}),
]
Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    Field(ge=0, le=MAX_MONEY),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_MONEY}),
]
Date = Annotated[
    dt.date,
    BeforeValidator(_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]
Currency = Annotated[
    str, AfterValidator(_currency), WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})
]
Text = Annotated[str, Field(max_length=255)]
OrganizationName = Annotated[str, Field(min_length=1, max_length=255)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
#: Day counts, hours of grace, request and token counts and money, bounded (see
#: :data:`reconciler.model.MAX_DAYS`): past a bound, later arithmetic would fail.
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
NonNegativeDays = Annotated[int, Field(ge=0, le=MAX_DAYS)]
GraceHours = Annotated[int, Field(ge=0, le=MAX_GRACE_HOURS)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
NonNegativeCount = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Amount = Annotated[int, Field(ge=0, le=MAX_MONEY)]
ModelList = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
Version = Annotated[
    Literal[1],
    Field(description="Format version of this file; this reconciler reads version 1."),
]


def _provider_default(schema: dict[str, Any]) -> None:
    """JSON Schema of a field whose default is the provider's: no default of its own."""
    schema.pop("default", None)


class Doc(BaseModel):
    """Strict: no type coercion, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- organization.yaml ------------------------------------------------------------------


class SpendLimitDoc(Doc):
    """``{amount: 5000, currency: USD}`` or ``{no_monthly_limit: true}``."""

    amount: Amount | None = Field(
        None, description="Monthly limit in whole units of the billing currency."
    )
    currency: Currency = "USD"
    no_monthly_limit: bool = Field(False, description="true: remove the monthly limit.")

    @model_validator(mode="after")
    def _one_of(self) -> SpendLimitDoc:
        if self.no_monthly_limit and self.amount is not None:
            raise PydanticCustomError(
                "spend_limit", "set either amount or no_monthly_limit: true, not both"
            )
        if not self.no_monthly_limit and self.amount is None:
            raise PydanticCustomError(
                "spend_limit",
                "set amount (e.g. {amount: 5000, currency: USD}) or no_monthly_limit: true",
            )
        return self


class KeyPolicyDoc(Doc):
    """Organisation-wide key hygiene."""

    max_age_days: Days = Field(90, description="Keys older than this are reported.")
    unused_after_days: Days = Field(30, description="Keys idle this long are reported.")
    expiry_warning_days: NonNegativeDays = Field(
        14, description="Warn when a key expires within this many days."
    )
    rotation_period_days: Days = Field(90, description="Default rotation period of a key.")
    rotation_grace_hours: GraceHours = Field(
        24,
        description=(
            "Hours a rotated key's predecessor stays alive after its replacement is stored "
            "(0: deleted in the same apply)."
        ),
    )
    platform_max_expiry_days: Days | None = Field(
        None,
        description=(
            "The organisation's key expiry policy on the platform: a new key lives at most "
            "this many days (a later or missing expires is clamped). Plans then expect the "
            "clamped date instead of replacing the key."
        ),
    )


class VaultDoc(Doc):
    """The default secret store for new keys' secrets."""

    backend: Literal["vault", "file"] = "vault"
    address: Url | None = Field(None, description="Vault URL; default: $VAULT_ADDR.")
    namespace: str | None = None
    mount: RelativePath = Field("secret", description="KV v2 mount.")
    path_prefix: Annotated[RelativePath | None, WithJsonSchema(_PATH_SCHEMA)] = Field(
        None,
        description="Every key's secret path is under this prefix; default: the provider's "
        "name (mistral).",
        json_schema_extra=_provider_default,
    )
    auth: Literal["token", "approle", "jwt"] = "token"
    role: str | None = Field(None, description="JWT or AppRole role.")


class SafetyDoc(Doc):
    """Refuse plans that delete too much (octoDNS-style thresholds)."""

    max_delete_fraction: Annotated[float, Field(ge=0, le=1)] = 0.30
    max_delete_min_keys: NonNegativeInt = 10


class OrganizationDoc(Doc):
    name: OrganizationName
    previous_names: list[OrganizationName] = _empty_list(
        description="Names this organisation had before, most recent first. Until "
        "organization.id is pinned, its ownership record and journal are named after its "
        "name: those kept under a previous name are taken over (the record by the next "
        "apply), so a rename keeps the keys reconciler manages.",
    )
    id: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^\S+$")] | None = Field(
        None,
        description="The organisation's id on its platform (La Plateforme: the uuid of its "
        "default workspace); plan, apply and audit refuse to run against another one. "
        "reconciler import writes it; a plan that runs without it says what to write.",
    )
    provider: ProviderName = Field(
        DEFAULT_PROVIDER,
        description="The platform, by its registered provider name; it sets the workspace "
        "role names, the model catalog and the defaults.",
    )
    spend_limit: SpendLimitDoc | None = Field(
        None, description="Organisation monthly spend limit; omitted: not managed."
    )
    keys: KeyPolicyDoc = KeyPolicyDoc()
    vault: VaultDoc = VaultDoc()
    safety: SafetyDoc = SafetyDoc()
    prune_people: bool = Field(
        False,
        description="Remove (offboard) organisation members people.yaml does not list, and "
        "cancel their invitations; false: they are reported and left alone.",
    )


class OrganizationFile(Doc):
    """``desired-state/organization.yaml``."""

    version: Version
    organization: OrganizationDoc


# --- roles.yaml -------------------------------------------------------------------------


class LimitsDoc(Doc):
    """Usage limits applications enforce, the same at every level (workspace, role, key).

    A workspace's limits count all its keys together; a role's and a key's count each key
    on its own. Every level's limit holds, so the tightest binds.
    """

    rpm: Count | None = Field(None, description="Requests per minute; null: no cap.")
    max_tokens_per_request: Count | None = Field(
        None, description="Tokens of one request, prompt + completion; null: no cap."
    )
    daily_token_budget: NonNegativeCount | None = Field(
        None, description="Tokens per rolling 24 hours; null: no budget."
    )
    hourly_budget_usd: Money | None = Field(
        None, description="USD per rolling hour; null: no budget."
    )
    daily_budget_usd: Money | None = Field(
        None, description="USD per rolling 24 hours; null: no budget."
    )
    monthly_budget_usd: Money | None = Field(
        None, description="USD per calendar month (UTC); null: no budget."
    )


class _RoleModels(Doc):
    description: Text = ""
    allowed_models: ModelList = Field(
        description='Model ids or aliases from the catalog, or ["*"] for every model.'
    )


class RoleDoc(LimitsDoc, _RoleModels):  # in this order, the models come first
    """Application-side policy for a class of caller: its limits count each key apart."""


class RolesFile(Doc):
    """``desired-state/roles.yaml``."""

    version: Version
    roles: dict[RoleName, RoleDoc]


# --- workspaces/<name>.yaml -------------------------------------------------------------


class MemberDoc(Doc):
    email: Email
    roles: Annotated[MemberRoles | None, WithJsonSchema(_MEMBER_ROLES_SCHEMA)] = Field(
        None,
        description="The provider's workspace roles (reconciler schema --provider NAME lists "
        "them); default: its member role (mistral: user).",
        json_schema_extra=_provider_default,
    )


class _WorkspaceModels(Doc):
    allowed_models: ModelList = ["*"]


class PolicyDoc(LimitsDoc, _WorkspaceModels):
    """Application-side workspace policy: its limits count all the workspace's keys together."""

    monthly_budget_usd: Money | None = Field(
        None,
        description="USD per calendar month (UTC), also the workspace spend limit the plan "
        "expects in the console; null: no budget.",
    )


class _KeyModels(Doc):
    allowed_models: ModelList | None = Field(
        None, description="Default: what the key's role and workspace allow."
    )


class ApiKeyPolicyDoc(LimitsDoc, _KeyModels):
    """Application-side policy of one key, within its role's and its workspace's."""


class SecretDoc(Doc):
    """Where the key's secret is written."""

    backend: Literal["vault", "file", "github"] | None = Field(
        None, description="Default: the organisation's vault backend."
    )
    path: RelativePath | None = Field(
        None,
        description="Path under the vault prefix, default <workspace>/<key name>; for "
        "github the secret's name is the path upper-cased, other characters as '_'.",
    )
    repository: Repository | None = Field(None, description="github: owner/name.")
    environment: str | None = Field(None, description="github: an environment secret.")


class ApiKeyDoc(Doc):
    name: Name
    description: Text = ""
    owner: Email = Field(description="The user the key is created for.")
    expires: Date | None = None
    rotation_period_days: Days | None = Field(
        None, description="Default: the organisation's keys.rotation_period_days."
    )
    rotation_grace_hours: GraceHours | None = Field(
        None, description="Default: the organisation's keys.rotation_grace_hours."
    )
    role: RoleName | None = Field(None, description="Application role from roles.yaml.")
    secret: SecretDoc | None = None
    previous_names: list[Name] = _empty_list(
        description="Names this key had before: a live key of one of them is this key, "
        "renamed (the platform cannot rename a key, so it is replaced, never left unmanaged).",
    )
    policy: ApiKeyPolicyDoc | None = Field(
        None, description="This key's own limits, on top of its role's and workspace's."
    )
    status: Name | None = Field(
        None,
        description="The key's status on a platform that has one (Anthropic: active or "
        "inactive, set in place; archived ends the key for good). Default: left as it is.",
    )


class WorkspaceDoc(Doc):
    name: Name
    description: Text = ""
    admin: Email = Field(
        description="Becomes a member with the provider's admin role (mistral: workspace_admin)."
    )
    members: list[MemberDoc] = _empty_list()
    policy: PolicyDoc = PolicyDoc()
    prune_unmanaged_keys: bool = Field(
        False, description="Delete keys in this workspace that are not declared here."
    )
    protected: bool = Field(False, description="Refuse plans that delete anything here.")
    archived: bool = Field(False, description="Archive the workspace on the platform.")
    api_keys: list[ApiKeyDoc] = _empty_list()
    previous_names: list[Name] = _empty_list(
        description="Names this workspace had before: a live workspace of one of them is "
        "this one, renamed in place with its members and keys.",
    )
    rate_limits: dict[Text, dict[Name, PositiveInt]] | None = Field(
        None,
        description="The workspace's own rate limits where the platform takes them "
        "(Anthropic: by model group display name or group type, then limit type, e.g. "
        "{Claude Sonnet: {requests_per_minute: 100}}); exactly these overrides are kept. "
        "Default: not managed.",
    )


class WorkspaceFile(Doc):
    """``desired-state/workspaces/<name>.yaml``."""

    version: Version
    workspace: WorkspaceDoc


# --- people.yaml and groups.yaml --------------------------------------------------------


class PersonDoc(Doc):
    email: Email
    role: RoleName | None = Field(
        None,
        description="The provider's organisation role (mistral: member, billing_manager, "
        "organization_admin); default: its member role.",
        json_schema_extra=_provider_default,
    )
    seats: list[RoleName] = _empty_list(description="Product seats (mistral: chat, mistral_code).")


class TransferDoc(Doc):
    transfer_to: Email = Field(description="The person who takes over the keys.")


class OffboardingDoc(Doc):
    """What removing a person does to the keys they own in managed workspaces."""

    keys: Literal["delete"] | TransferDoc = Field(
        "delete", description="delete, or {transfer_to: email}: replaced, owned by that person."
    )


class PeopleFile(Doc):
    """``desired-state/people.yaml``: everyone in the organisation."""

    version: Version
    people: list[PersonDoc]
    offboarding: OffboardingDoc = OffboardingDoc()
    run_as: Email | None = Field(
        None,
        description="The organisation admin whose Admin API key reconciler uses: a plan that "
        "removes or demotes them is refused.",
    )


class GroupDoc(Doc):
    name: Name
    description: Text = ""
    members: list[Email] = _empty_list()
    nested: list[Name] = _empty_list(description="Groups directly inside this one.")
    organization_role: RoleName | None = None
    workspaces: dict[Name, MemberRoles] = Field(
        {}, description="Workspace -> the workspace roles the group's members hold there."
    )


class GroupsFile(Doc):
    """``desired-state/groups.yaml``: user groups, so a team's access is one entry."""

    version: Version
    groups: list[GroupDoc]


#: The document class for each kind of file, by the name of its top-level section.
FILE_KINDS: dict[str, type[Doc]] = {
    "organization": OrganizationFile,
    "roles": RolesFile,
    "workspace": WorkspaceFile,
    "people": PeopleFile,
    "groups": GroupsFile,
}
