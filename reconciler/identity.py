"""Which organisation a run is for: the desired state's pin against the live one. Pure.

``organization.yaml`` may pin its organisation (``organization.id``); a provider reports
the id of the organisation its credentials reach (La Plateforme's Admin API has no
organisation id of its own, so it is the default workspace's uuid: see
:func:`reconciler.platform.mistral.normalize.default_workspace_id`). Plan, apply and audit
refuse to run when the two differ (:func:`organization_mismatch`), and warn when nothing
is pinned (:func:`unpinned_organization`), saying what to pin.

:func:`organization_identity` is whose apply lock, journal and ownership record a run
takes: two organisations of one provider at one API address (acme-prod and acme-staging
at ``https://api.mistral.ai``) never share any of them. Pinning ``organization.id`` later
changes it; :func:`earlier_identities` names what it was, so the journal and the record
are taken over rather than started anew. Once the id is pinned, renaming the
organisation keeps its identity; renaming one that pins no id changes it, and its
``previous_names`` name the identities it had (:func:`earlier_identities` again).
:func:`identity_slug` turns an identity into a name a store path or a file may carry.
"""

from __future__ import annotations

import hashlib
import re

from reconciler.model import DesiredState, LiveState, Organization

_SLUG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,79}$")


def organization_identity(target: str, organization: Organization) -> str:
    """The organisation a run is for, as its lock, journal and ownership record are
    named: the provider's ``target`` (an API base URL, or the sandbox's file) and the
    organisation's pinned ``organization.id``, else its name (the target alone when it
    declares neither)."""
    own = organization.id or organization.name
    return f"{own}@{target}" if own else target


def earlier_identities(target: str, organization: Organization) -> tuple[str, ...]:
    """The identities the organisation had before its current one, newest first: its
    name-based one (``<name>@<target>``) once ``organization.id`` is pinned, then those of
    its ``previous_names`` (each once, never the current identity)."""
    names = (organization.name if organization.id else "", *organization.previous_names)
    current = organization_identity(target, organization)
    found = (f"{name}@{target}" for name in names if name)
    return tuple(dict.fromkeys(each for each in found if each != current))


def identity_slug(identity: str) -> str:
    """``identity`` itself when it is a valid path segment, else a readable, hashed form
    of it (``acme-prod-https-api.mistral.ai-v1-admin-<16 hex digits>``)."""
    if _SLUG.match(identity):
        return identity
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", identity).strip("._-")[:40]
    return f"{readable}-{digest}" if readable else digest


def organization_mismatch(
    desired: DesiredState, live: LiveState, *, desired_path: str, operation: str
) -> str | None:
    """Why ``operation`` must not run: the desired state is pinned to another organisation
    than the one the credentials reach (None when it is the same one, or not pinned)."""
    want, have = desired.organization, live.organization
    if want.id is None or want.id == have.id:
        return None
    where = desired_path.rstrip("/") + "/" if desired_path else "the desired state"
    have_text = f"organisation {have.id}" if have.id else "an organisation that names no id"
    if have.name:
        have_text = f'"{have.name}" ({have_text})'
    return (
        f'{where} is for organisation "{want.name}" ({want.id}) but the Admin API key is '
        f"for {have_text}; refusing to {operation}"
    )


def unpinned_organization(desired: DesiredState, live: LiveState) -> str | None:
    """A warning when the desired state names no organisation id to check against."""
    if desired.organization.id is not None or live.organization.id is None:
        return None
    return (
        "organization.id is not set, so nothing checks that these credentials reach the "
        f"right organisation; this one's id is {live.organization.id} (add it under "
        "organization: in organization.yaml)"
    )
