"""The ownership record ("ledger"): which live keys reconciler manages, as a pure value.

One :class:`Ledger` per organisation, kept in the organisation's default secret store
(see :mod:`reconciler.vault.ledger_store`), so that it survives a lost CI runner and any
machine can read it. It never holds a secret: for each managed key, by key id, a
:class:`LedgerEntry` (name, workspace, whether reconciler created or adopted it, where
its secret is and whether it is known to be there, when the key was created, and whether
it is retiring after a rotation), and the :class:`CreateIntent` of every create sent but
not yet resolved: the durable twin of the journal's ``key-create-intent``.

Everything here is pure (the layer sits under diff and imports only the model):

- :mod:`.ledger`: the values and the changes to them, each returning a new ledger;
- :mod:`.claims`: :func:`classify` tells, for a live state, which keys are owned,
  retiring, unowned, or made by an unresolved intent (abandoned: delete and create
  again; or, when the caller found its secret in the store, unrecorded: record it);
- :mod:`.facts`: :class:`KeyFacts`, what a plan knows beyond the live state (the ledger
  and the checks of managed keys' secrets), for the diff;
- :mod:`.settle`: :func:`settle`, the ledger brought up to date before an apply (keys the
  desired state claims recorded, gone keys forgotten, spent intents dropped);
- :mod:`.text`: :func:`encode` / :func:`decode`, the document kept in the store.
"""

from __future__ import annotations

from reconciler.model import CLOCK_SKEW
from reconciler.ownership.claims import NO_CLAIMS, Claim, Claims, Ownership, classify
from reconciler.ownership.facts import (
    KeyFacts,
    SecretFinding,
    SecretMove,
    SecretProblem,
    secret_move,
    secret_problem,
)
from reconciler.ownership.ledger import (
    CreateIntent,
    Ledger,
    LedgerEntry,
    LedgerError,
    Origin,
    Retiring,
    SecretLocation,
    SecretRecord,
    SecretState,
    UnsupportedFormat,
    intent_key,
)
from reconciler.ownership.settle import Claimed, key_entry, settle
from reconciler.ownership.text import (
    COMPRESS_ABOVE,
    ENCODING,
    FORMAT,
    decode,
    encode,
    encode_pointer,
    moved_to,
)

__all__ = [
    "CLOCK_SKEW",
    "COMPRESS_ABOVE",
    "ENCODING",
    "FORMAT",
    "NO_CLAIMS",
    "Claim",
    "Claimed",
    "Claims",
    "CreateIntent",
    "KeyFacts",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "Origin",
    "Ownership",
    "Retiring",
    "SecretFinding",
    "SecretLocation",
    "SecretMove",
    "SecretProblem",
    "SecretRecord",
    "SecretState",
    "UnsupportedFormat",
    "classify",
    "decode",
    "encode",
    "encode_pointer",
    "intent_key",
    "key_entry",
    "moved_to",
    "secret_move",
    "secret_problem",
    "settle",
]
