"""The managed keys whose secret the desired state now sends elsewhere, for a plan.

A key's secret is written where the desired state says (its ``secret``, or
``<workspace>/<key name>`` in the organisation's vault); the ownership record says where
it was written. When a pull request names another place (a path, a GitHub repository or
environment, to or from GitHub), the key is replaced so that its new secret is written
there, and the plan says from where to where (:func:`secret_moves`, consumed by the diff
through :class:`~reconciler.ownership.KeyFacts`); so when one key names another kind of
store for itself (``backend: file`` in a Vault organisation). Not a move: a place that
derives from the key's names and still does after a workspace's rename (the next rotation
writes the new place), and a change of the store that holds the organisation's secrets
(another address, another kind, ``--vault``), whose secrets a plan checks where they were
written; nor a key whose ``backend`` is taken away (the record cannot tell a store the key
named from the organisation's store of the time). Those secrets stay where they are
until the key's next rotation, and the plan says so (:func:`left_in_place`).
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.apply.ledger import location_of
from reconciler.apply.routing import SecretRouter, route
from reconciler.diff.changes import Action, Change, Kind
from reconciler.model import ApiKey, DesiredState, LiveState, SecretBackend, SecretTarget
from reconciler.ownership import Ledger, SecretLocation, SecretMove, SecretState, secret_move


def _derived_place(want: ApiKey) -> bool:
    """Whether ``want``'s secret goes where every key's goes from its names
    (``<workspace>/<key name>`` in the vault), rather than to a place the desired state
    names."""
    target = want.secret
    return target is None or (
        target.backend is not SecretBackend.GITHUB
        and target.path == f"{want.workspace}/{want.name}"
    )


def _github_place(target: SecretTarget, repository: str) -> SecretLocation:
    """Where a GitHub secret of ``repository`` goes, as ``target`` names it (GitHub is
    not opened)."""
    from reconciler.vault.github import store_description

    return SecretLocation(
        store=store_description(repository, target.environment),
        backend=SecretBackend.GITHUB,
        path=target.path,
        repository=repository,
        environment=target.environment,
    )


def secret_moves(
    ledger: Ledger,
    desired: DesiredState,
    live: LiveState,
    router: SecretRouter,
    *,
    overridden: bool,
) -> dict[str, SecretMove]:
    """The managed keys whose secret, stored where the ledger says, the desired state now
    sends elsewhere (:func:`~reconciler.ownership.secret_move`), by key id: the keys of
    the desired state the ledger holds as stored, live, and not retiring. When the run's
    store is ``overridden``, every secret is routed to it: only secrets recorded in it
    (by runs with the same override) are compared, not those a run without it wrote."""
    entries = ledger.keys
    if not entries:  # no record yet: nothing was stored anywhere
        return {}
    wanted = desired.keys_by_name()
    moves: dict[str, SecretMove] = {}
    github = SecretBackend.GITHUB
    default_kind = desired.organization.vault.backend
    for key in live.keys:
        entry = entries.get(key.id or "")
        want = wanted.get(key.name)
        if entry is None or want is None or entry.retiring is not None:
            continue
        where, target = entry.secret, want.secret
        if where.state is not SecretState.STORED:
            continue  # adopted: its secret goes where the desired state says when first made
        # a key that names a kind of store other than the organisation's (``backend: file``
        # in a Vault organisation) is routed and compared by kind too
        kind = (
            target is not None
            and target.backend is not None
            and target.backend is not github
            and target.backend is not default_kind
        )
        if (
            not kind
            and target is not None
            and target.path == where.path
            and target.backend is not github
            and where.backend is not github
        ):
            continue  # the same path in the vault (nearly every key)
        if (
            not kind
            and _derived_place(want)
            and where.backend is not github
            and where.path == f"{entry.workspace}/{entry.name}"
        ):
            # its place derived from its names, and still does: a workspace renamed leaves
            # it where it was (the next rotation writes the new place); a place the desired
            # state names, a secret sent back from a named place or from GitHub, is compared
            continue
        routed = route(router, want)
        if routed is not None:
            place = location_of(*routed, want)
        elif target is not None and target.backend is github and target.repository:
            place = _github_place(target, target.repository)  # not opened here (no token)
        else:
            continue  # its store cannot be opened here
        if overridden and place.store != where.store:
            continue
        move = secret_move(where, place)
        if move is None and kind and place.backend is not where.backend:
            move = SecretMove(where, place)
        if move is not None:
            moves[key.id or ""] = move
    return moves


#: Keys named in a :func:`left_in_place` warning, at most (the count says the rest).
SHOWN = 3


def left_in_place(
    ledger: Ledger, desired: DesiredState, live: LiveState, changes: Iterable[Change]
) -> list[str]:
    """The plan's warnings for secrets an earlier apply wrote to another kind of store
    than the one the desired state now sends them to, where the plan (its ``changes``)
    neither replaces nor deletes their key: the organisation's store changed kind, or a
    key's own ``backend`` was taken away. One warning per store they are in, naming the
    first keys: each is checked where it is, and written to the new store at its next
    rotation (``--replace`` does it now)."""
    entries = ledger.keys
    if not entries:
        return []
    replaced = {  # a replacement (a move, a rotation) writes the key's new secret anew
        c.live_id for c in changes if c.kind is Kind.API_KEY and Action.DELETE in c.actions
    }
    wanted = desired.keys_by_name()
    default_kind = desired.organization.vault.backend
    github = SecretBackend.GITHUB
    left: dict[str, list[str]] = {}  # by the store they are in
    for key in live.keys:
        entry = entries.get(key.id or "")
        want = wanted.get(key.name)
        if entry is None or want is None or entry.retiring is not None or key.id in replaced:
            continue
        where = entry.secret
        if where.state is not SecretState.STORED or where.backend in (github, default_kind):
            continue
        kind = want.secret.backend if want.secret and want.secret.backend else default_kind
        if kind is default_kind:  # a key naming another kind of store itself is a move
            store = where.store or f"the {where.backend.value} store"
            left.setdefault(store, []).append(want.address)
    return [
        f"{len(addresses)} key(s) keep their secret where an earlier apply wrote it, in "
        f"{store}, though the desired state now sends it to the organisation's "
        f"{default_kind.value} store ({', '.join(addresses[:SHOWN])}"
        f"{', ...' if len(addresses) > SHOWN else ''}): each is checked there, and written "
        "to the new store at its next rotation (to move one now, plan and apply with "
        f"--replace {addresses[0]})"
        for store, addresses in left.items()
    ]
