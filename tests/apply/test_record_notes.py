"""What a plan says of an ownership record read under an earlier identity with another
earlier record merged into it (an organisation renamed twice)."""

from __future__ import annotations

from reconciler.apply.record_notes import merged_records, where_read
from reconciler.model import ApiKey, LiveState
from reconciler.ownership import Ledger
from reconciler.vault.ledger_store import Merged, StoredLedger, document_name
from tests.ledgers import entry

TARGET = "https://api.mistral.ai"
FIRST, SECOND, NOW = (f"{name}@{TARGET}" for name in ("acme", "acme-prod", "acme-production"))


def test_a_record_read_under_an_earlier_identity_is_named_where_it_is() -> None:
    """Renamed twice, each time applied: the plan reads the record kept under the second
    name (the next apply moves it) and merges the one kept under the first into it. The
    warning names the records the plan read, not one that is not there yet."""
    ledger = Ledger(organization=NOW, keys={"k-1": entry("dev-alice"), "k-2": entry()})
    old = Merged(FIRST, f"_reconciler/{document_name(FIRST)}", ("k-2",))
    stored = StoredLedger(ledger, 0, kept_under=SECOND, merged=(old,))
    live = LiveState(keys=(ApiKey(name="dev-bob", workspace="dev", id="k-2"),))

    (warning,) = merged_records(stored, NOW, live, applying=False)

    assert warning.startswith(
        f'Two ownership records were found: this organisation\'s, kept under "{SECOND}" '
        f"(_reconciler/{document_name(SECOND)}), and one kept under its earlier identity "
        f'"{FIRST}" (_reconciler/{document_name(FIRST)}) that lists 1 live key this one '
        "does not: dev-bob (dev)."
    )
    assert document_name(NOW) not in warning  # nothing is there yet
    assert f'the next apply merges them into "{NOW}"' in warning
    assert where_read(stored, NOW) == [
        f'The ownership record is kept under the organisation\'s earlier identity "{SECOND}": '
        f'this plan reads it there, and the next apply moves it to "{NOW}".'
    ]
