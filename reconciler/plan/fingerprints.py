"""Fingerprints of the desired and the live state a plan was made from: a saved plan is
stale when either has changed since."""

from __future__ import annotations

import hashlib
from typing import Any

from reconciler.model import DesiredState, LiveState


def desired_fingerprint(desired: DesiredState) -> str:
    """sha256 of the desired state's JSON (pydantic's serialiser: fields in model order)."""
    data: bytes = DesiredState.__pydantic_serializer__.to_json(desired)
    return "sha256:" + hashlib.sha256(data).hexdigest()


_LIVE_VOLATILE: Any = {"target": True, "requests": True, "keys": {"__all__": {"last_used"}}}


def live_fingerprint(live: LiveState) -> str:
    """sha256 of the live state, ignoring what changes on its own (``last_used``) and the
    order the platform listed things in.

    Serialised by pydantic in one pass, to bytes (an organisation of 20,000 keys in about
    0.1 s); keys are ordered by id then name with two stable sorts, cheaper than a tuple key.
    """
    by_name = sorted(live.keys, key=lambda k: k.name or "")
    ordered = live.model_copy(
        update={
            "keys": tuple(sorted(by_name, key=lambda k: k.id or "")),
            "workspaces": tuple(sorted(live.workspaces, key=lambda w: w.id or w.name)),
            "members": tuple(sorted(live.members, key=lambda m: (m.workspace, m.email))),
        }
    )
    data: bytes = LiveState.__pydantic_serializer__.to_json(ordered, exclude=_LIVE_VOLATILE)
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Fingerprints:
    """A plan's fingerprints of the desired and the live state it was made from.

    Those of a plan just made are computed when first read, from the (frozen) states the
    plan keeps: a plan only printed never needs them (a quarter of a second at 20,000
    keys); a saved plan's are the strings its file holds."""

    __slots__ = ("_desired", "_live", "_states")

    def __init__(self, desired: str, live: str) -> None:
        self._desired: str | None = desired
        self._live: str | None = live
        self._states: tuple[DesiredState, LiveState] | None = None

    @classmethod
    def of(cls, desired: DesiredState, live: LiveState) -> Fingerprints:
        """The fingerprints of ``desired`` and ``live``, each computed when first read."""
        made = cls("", "")
        made._desired = made._live = None
        made._states = (desired, live)
        return made

    @property
    def desired(self) -> str:
        if self._desired is None:
            assert self._states is not None
            self._desired = desired_fingerprint(self._states[0])
            self._forget()
        return self._desired

    @property
    def live(self) -> str:
        if self._live is None:
            assert self._states is not None
            self._live = live_fingerprint(self._states[1])
            self._forget()
        return self._live

    def _forget(self) -> None:
        if self._desired is not None and self._live is not None:
            self._states = None  # both known: the states may go

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprints):
            return NotImplemented
        return (self.desired, self.live) == (other.desired, other.live)

    def __hash__(self) -> int:
        return hash((self.desired, self.live))

    def __repr__(self) -> str:
        return f"Fingerprints(desired={self.desired!r}, live={self.live!r})"
