"""The provider registry: the platforms reconciler can manage, and what each one brings.

A platform plugs in as a :class:`ProviderSpec`: its name (what ``organization.yaml``'s
``provider:`` says), its vocabulary of workspace member roles, its model catalog (ids,
aliases, prices), its defaults (the vault path prefix, the environment variables holding
its credentials) and the functions that open a live :class:`~reconciler.provider.Provider`
on the platform itself or on its sandbox, and what its API cannot do (create keys).
Validation, planning, policy and the command
line look the desired state's provider up here, so adding a platform edits none of them.

Where specs come from, looked up on the first request for a name:

- the built-ins, registered by :mod:`reconciler.platform` when it is imported;
- third parties, through the ``reconciler.providers`` entry point group: an entry point
  named like the provider whose object is a :class:`ProviderSpec` (or a function that
  returns one), loaded only when its name is asked for;
- :func:`register`, for a caller (or a test) that builds one in code.

A spec's static data must load without an HTTP client: a plug-in's module imports only
what its roles and catalog need, and ``open``/``sandbox``/``list_models`` import the rest
when called.

Sits just above :mod:`reconciler.model` and :mod:`reconciler.errors` (with the
:mod:`reconciler.provider` protocol it names): the desired-state layer reads role names
and catalogs from here, and the session opens providers through it.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import ConfigError
from reconciler.provider import Provider

if TYPE_CHECKING:
    from importlib.metadata import EntryPoints

DEFAULT_PROVIDER = "mistral"  # the platform of a desired state that names none
ENTRY_POINT_GROUP = "reconciler.providers"
BUILTINS = "reconciler.platform"  # importing it registers the built-in providers
_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*\Z")


@dataclass(frozen=True, kw_only=True)
class Target:
    """What a run talks to: the platform, from ``env``, or the sandbox's state file."""

    env: Mapping[str, str]
    concurrency: int = 8
    sandbox_state: Path = Path(".sandbox/state.json")
    sandbox_seed: Path | None = None  # None: the provider's demo organisation


#: Opens a live provider for a target; raises :class:`ConfigError` when it cannot.
Opener = Callable[[Target], Provider]
#: The platform's model list as ``{"data": [{"id", "aliases", "max_context_length",
#: "capabilities", "deprecation", "deprecation_replacement_model"}, ...]}`` (the fields
#: :func:`reconciler.desired.catalog.catalog_from_models_response` reads).
ModelLister = Callable[[Provider], Awaitable[Mapping[str, Any]]]
#: What a run against a target is called (``Provider.target``: the lock and the journal
#: are named after it), worked out without credentials and without opening anything.
TargetNamer = Callable[[Target, bool], str]


@dataclass(frozen=True, kw_only=True)
class ProviderSpec:
    """One platform: its vocabulary, catalog and defaults, and how to reach it."""

    name: str  # lower-case, as organization.yaml names it: "mistral"
    display_name: str  # for people: "La Plateforme"
    workspace_roles: tuple[str, ...]  # the roles a workspace member may hold
    member_roles: tuple[str, ...]  # the roles of a member listed without any
    admin_role: str | None  # a workspace's `admin:` is a member with it; None: no such role
    vault_path_prefix: str  # where new keys' secrets go in a vault that sets no prefix
    credential_env: tuple[str, ...] = ()  # environment variables holding the credentials
    catalog: Callable[[], str]  # the shipped model catalog, as models.json text
    open: Opener | None = None  # None: no admin API (policy only)
    sandbox: Opener | None = None  # None: no local sandbox
    list_models: ModelLister | None = None  # None: the catalog cannot be refreshed
    target_name: TargetNamer | None = None  # None: only an opened provider names its target
    # people: the organisation roles a person may hold, the one that administers the
    # organisation, the one given when none is named, and the product seats
    organization_roles: tuple[str, ...] = ()
    organization_admin_role: str | None = None
    default_organization_role: str | None = None
    seats: tuple[str, ...] = ()
    # False: the platform's API cannot create keys (Anthropic: Console only); the plan
    # turns each key create into a manual action done at ``key_console`` instead, and
    # the next plan adopts the key made there by its name
    can_create_keys: bool = True
    key_console: str = ""  # where keys are created by hand (a URL), when they must be
    # the statuses a key can be set to in place (a key's ``status:``; the provider then
    # implements :class:`~reconciler.provider.KeyStatusSetter`), and the one that ends a
    # key for good (planned as its destroy); none: keys have no status to manage
    key_statuses: tuple[str, ...] = ()
    final_key_status: str | None = None
    # the limit types a workspace's ``rate_limits:`` may set (Anthropic's per-workspace
    # overrides); none: the platform's workspaces have no rate limits to write
    rate_limit_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"provider name {self.name!r}: use lower-case letters, digits, _, -")
        unknown = [
            r
            for r in (*self.member_roles, *([self.admin_role] if self.admin_role else []))
            if r not in self.workspace_roles
        ]
        if unknown:
            raise ValueError(f"provider {self.name}: roles {unknown} are not in workspace_roles")

    def name_target(self, target: Target, *, sandbox: bool) -> str:
        """``Provider.target`` of what :meth:`open_target` would open, opening nothing
        when the provider can name it so (else it is opened and closed unused)."""
        if self.target_name is not None:
            return self.target_name(target, sandbox)
        provider = self.open_target(target, sandbox=sandbox)
        return provider.target

    def open_target(self, target: Target, *, sandbox: bool) -> Provider:
        """A live provider on the platform, or (``sandbox``) on its sandbox."""
        opener = self.sandbox if sandbox else self.open
        if opener is not None:
            return opener(target)
        if sandbox and self.open is not None:
            hint = " or ".join(self.credential_env)
            raise ConfigError(
                f"provider {self.name} ({self.display_name}) has no sandbox"
                + (f"; set {hint} to plan against the platform" if hint else "")
            )
        raise ConfigError(
            f"provider {self.name} ({self.display_name}) has no admin API (policy only): plan, "
            "apply, budget and policy seed cannot reach it; apps enforce its desired state "
            "with reconciler.policy (try: reconciler policy check)"
        )


_registered: dict[str, ProviderSpec] = {}
_builtins_loaded = False


def register(spec: ProviderSpec) -> None:
    """Make ``spec`` known by its name; registering the same spec again is harmless."""
    existing = _registered.get(spec.name)
    if existing is not None and existing is not spec:
        raise ValueError(f"a provider named {spec.name!r} is already registered")
    _registered[spec.name] = spec


def unregister(name: str) -> None:
    """Forget a provider registered in code (tests)."""
    _registered.pop(name, None)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module(BUILTINS)


def _entry_points(name: str | None = None) -> EntryPoints:
    """The plug-ins' entry points, or those named ``name`` (``importlib.metadata`` takes
    some 20 ms to import and read: only for a provider not built in)."""
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP)
    return found if name is None else found.select(name=name)


def _from_entry_point(name: str) -> ProviderSpec | None:
    for point in _entry_points(name=name):
        try:
            loaded = point.load()
            spec = loaded if isinstance(loaded, ProviderSpec) else loaded()
        except Exception as exc:  # a broken plug-in is a configuration problem, named
            raise ConfigError(
                f"provider plug-in {name} ({point.value}) failed to load: {exc}"
            ) from exc
        if not isinstance(spec, ProviderSpec) or spec.name != name:
            raise ConfigError(
                f"provider plug-in {name} ({point.value}) is not a ProviderSpec named {name!r}"
            )
        register(spec)
        return spec
    return None


def find_provider(name: str | None = None) -> ProviderSpec | None:
    """The provider called ``name`` (None: the default one), or None if nobody knows it."""
    name = name or DEFAULT_PROVIDER
    _load_builtins()
    return _registered.get(name) or _from_entry_point(name)


def provider_names() -> list[str]:
    """Every provider that can be named: registered, built in, or offered by a plug-in."""
    _load_builtins()
    return sorted({*_registered, *(p.name for p in _entry_points())})


def unknown_provider_message(name: str) -> str:
    """``unknown provider 'x' (did you mean 'mistral'?)``, or the list of known ones."""
    known = provider_names()
    hint = difflib.get_close_matches(name, known, n=1)
    if hint:
        return f"unknown provider '{name}' (did you mean '{hint[0]}'?)"
    return f"unknown provider '{name}'; known providers: {', '.join(known)}"


def get_provider(name: str | None = None) -> ProviderSpec:
    """The provider called ``name`` (None: the default one); :class:`ConfigError` if unknown."""
    spec = find_provider(name)
    if spec is None:
        raise ConfigError(unknown_provider_message(name or DEFAULT_PROVIDER))
    return spec


def archives_keys(name: str) -> bool:
    """Whether the provider called ``name`` ends a key by archiving it for good (its
    ``final_key_status``), so that a key's destroy is an archive that cannot be undone."""
    spec = find_provider(name)
    return spec is not None and spec.final_key_status is not None
