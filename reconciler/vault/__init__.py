"""Secret stores ("vaults") behind one small protocol: Vault KV v2, a file vault, GitHub.

See :mod:`reconciler.vault.base` for the protocol and its errors, and
:mod:`reconciler.vault.factory` for choosing a store from the settings or an override.
"""

from __future__ import annotations

from reconciler.vault.base import (
    CasMismatch,
    DocumentUnsupported,
    LockHolder,
    LockUnsupported,
    SecretExists,
    SecretMetadata,
    SecretStore,
    StoredDocument,
    StoredSecret,
    WriteUncertain,
)
from reconciler.vault.factory import open_store, parse_override, store_for_target

__all__ = [
    "CasMismatch",
    "DocumentUnsupported",
    "LockHolder",
    "LockUnsupported",
    "SecretExists",
    "SecretMetadata",
    "SecretStore",
    "StoredDocument",
    "StoredSecret",
    "WriteUncertain",
    "open_store",
    "parse_override",
    "store_for_target",
]
