"""The ledger's text form: exact round trips, compression when large, and clear refusals.

Whatever the text (another format, broken JSON, a hostile or truncated compressed
payload), decoding ends in a ledger or a :class:`LedgerError` whose message does not
repeat the content.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import string
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.model import SecretBackend
from reconciler.ownership import (
    COMPRESS_ABOVE,
    ENCODING,
    CreateIntent,
    Ledger,
    LedgerEntry,
    LedgerError,
    Origin,
    Retiring,
    SecretRecord,
    SecretState,
    UnsupportedFormat,
    decode,
    encode,
)
from reconciler.ownership import text as ledger_text
from tests.ledgers import ORG, T0, entry, intent, many

MARK = "\x1b]0;pwned\x07"  # an OSC sequence: must never reach a message
ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(-dt.timedelta(hours=8)),
]

times = st.datetimes(
    min_value=dt.datetime(1990, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from(ZONES),
)
texts = st.text(min_size=1, max_size=24)  # any Unicode the platform could send
key_ids = st.from_regex(r"[!-~]{1,40}", fullmatch=True)
records = st.builds(
    SecretRecord,
    store=st.text(max_size=60),
    backend=st.sampled_from(SecretBackend),
    path=texts,
    repository=st.none() | texts,
    environment=st.none() | texts,
    state=st.sampled_from(SecretState),
)
entries = st.builds(
    LedgerEntry,
    name=texts,
    workspace=texts,
    origin=st.sampled_from(Origin),
    secret=records,
    created=times,
    retiring=st.none() | st.builds(Retiring, replaced_by=key_ids, delete_after=times),
)
intents = st.builds(CreateIntent, name=texts, workspace=texts, path=texts, since=times)


@st.composite
def ledgers(draw: st.DrawFn) -> Ledger:
    ledger = Ledger(
        organization=draw(texts), keys=draw(st.dictionaries(key_ids, entries, max_size=8))
    )
    for one in draw(st.lists(intents, max_size=4)):
        ledger = ledger.with_intent(one)
    return ledger


@pytest.mark.slow
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers())
def test_every_ledger_round_trips_exactly(ledger: Ledger) -> None:
    text = encode(ledger)
    assert text.isascii()
    assert decode(text) == ledger
    assert encode(decode(text)) == text


def test_a_small_ledger_is_readable_json() -> None:
    ledger = Ledger(organization=ORG).resolve_intent("k1", entry()).with_intent(intent("x"))
    document = json.loads(encode(ledger))
    assert document["format"] == 1
    assert document["organization"] == ORG
    assert document["keys"]["k1"] == {
        "name": "dev-bob",
        "workspace": "dev",
        "origin": "created",
        "secret": {
            "store": "Vault https://vault.acme.example:8200 mount secret prefix mistral",
            "backend": "vault",
            "path": "dev/dev-bob",
            "state": "stored",
        },
        "created": "2026-03-01T09:30:00Z",
    }
    assert document["intents"] == [
        {"name": "x", "workspace": "dev", "path": "dev/x", "since": "2026-03-01T09:30:00Z"}
    ]


def test_a_large_ledger_is_compressed_and_round_trips() -> None:
    ledger = many(500)
    text = encode(ledger)
    document = json.loads(text)
    assert set(document) == {"format", "encoding", "data"}
    assert document["encoding"] == ENCODING
    plain = zlib.decompress(base64.b64decode(document["data"]))
    assert len(plain) > COMPRESS_ABOVE > len(text) / 2
    assert decode(text) == ledger


def test_names_with_controls_and_accents_survive_as_ascii() -> None:
    odd = entry("bob" + MARK, "\u00e9quipe-\u6570\u636e")
    ledger = Ledger(organization=ORG).resolve_intent("k", odd)
    text = encode(ledger)
    assert text.isascii()
    assert decode(text) == ledger


def packed(document: object) -> str:
    data = base64.b64encode(zlib.compress(json.dumps(document).encode())).decode()
    return json.dumps({"format": 1, "encoding": ENCODING, "data": data})


@pytest.mark.parametrize(("version", "upgrade"), [(2, True), (99, True), (0, False)])
def test_a_ledger_of_another_format_is_refused_by_number(version: int, upgrade: bool) -> None:
    text = json.dumps({"format": version, "organization": ORG, "whatever": MARK})
    with pytest.raises(UnsupportedFormat) as caught:
        decode(text)
    message = str(caught.value)
    assert f"the ledger is format {version}; this reconciler reads format 1" in message
    assert ("upgrade this one" in message) is upgrade
    with pytest.raises(UnsupportedFormat):
        decode(packed({"format": version, "organization": ORG}))


VALID_ENTRY = json.loads(encode(Ledger(organization=ORG).resolve_intent("k", entry())))["keys"]["k"]


def doc(**fields: object) -> str:
    return json.dumps({"format": 1, "organization": ORG, **fields})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "invalid JSON"),
        ("{", "invalid JSON"),
        ("null", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ("[" * 200_000 + "]" * 200_000, "nesting too deep"),
        ('{"format": 1, "n": ' + "9" * 5000 + "}", "number too long"),
        (json.dumps({"organization": ORG}), "no format number"),
        (json.dumps({"format": "1", "organization": ORG}), "no format number"),
        (json.dumps({"format": True, "organization": ORG}), "no format number"),
        (json.dumps({"format": 1.0, "organization": ORG}), "no format number"),
        (json.dumps({"format": 1}), "organization: Field required"),
        (doc(keys=[]), "keys: Input should be a valid dictionary"),
        (doc(keys={MARK: VALID_ENTRY}), "String should match pattern"),
        (doc(keys={"k": {**VALID_ENTRY, "extra": MARK}}), "keys.k.extra: Extra inputs"),
        (doc(keys={"k": {**VALID_ENTRY, "origin": MARK}}), "keys.k.origin: Input should be"),
        (doc(keys={"k": {**VALID_ENTRY, "created": "2026-03-01T09:30:00"}}), "timezone"),
        (doc(keys={"k": {**VALID_ENTRY, "created": MARK}}), "keys.k.created"),
        (doc(keys={"k": {**VALID_ENTRY, "name": ""}}), "keys.k.name"),
        (doc(keys={"k": {**VALID_ENTRY, "name": "n" * 5000}}), "keys.k.name"),
        (doc(intents={"a": 1}), "intents: Input should be a valid"),
        (doc(intents=[json.loads(intent().model_dump_json())] * 2), "two create intents"),
        (doc(surprise=MARK), "surprise: Extra inputs"),
        (json.dumps({"format": 1, "encoding": "gzip", "data": ""}), "unknown encoding"),
        (json.dumps({"format": 1, "encoding": ENCODING}), "unknown encoding"),
        (
            json.dumps({"format": 1, "encoding": ENCODING, "data": "", "organization": ORG}),
            "unknown encoding",
        ),
        (json.dumps({"format": 1, "encoding": ENCODING, "data": 7}), "not a string"),
        (json.dumps({"format": 1, "encoding": ENCODING, "data": MARK}), "not base64"),
        (json.dumps({"format": 1, "encoding": ENCODING, "data": "aGVsbG8="}), "not zlib"),
        (packed(MARK), "not a JSON object"),
        (packed({"organization": ORG}), "no format number"),
        (packed(json.loads(packed({"format": 1, "organization": ORG}))), "inside an encoded"),
    ],
)
def test_malformed_documents_are_refused_without_echoing_them(text: str, expected: str) -> None:
    with pytest.raises(LedgerError) as caught:
        decode(text)
    message = str(caught.value)
    assert expected in message
    assert MARK not in message
    assert "\x1b" not in message
    assert len(message) < 400


def test_truncated_or_padded_compressed_data_is_refused() -> None:
    data = json.loads(packed({"format": 1, "organization": ORG}))["data"]
    raw = base64.b64decode(data)
    for broken in (raw[: len(raw) // 2], raw + b"trailing"):
        text = json.dumps(
            {"format": 1, "encoding": ENCODING, "data": base64.b64encode(broken).decode()}
        )
        with pytest.raises(LedgerError, match="truncated or has trailing bytes"):
            decode(text)


def test_a_compressed_payload_that_inflates_past_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ledger_text, "MAX_DOCUMENT", 10_000)
    bomb = base64.b64encode(zlib.compress(b"[" + b" " * 1_000_000 + b"]")).decode()
    with pytest.raises(LedgerError, match="decompresses to over"):
        decode(json.dumps({"format": 1, "encoding": ENCODING, "data": bomb}))
    with pytest.raises(LedgerError, match="over 0 MiB"):
        decode(" " * 10_001)


def test_a_long_list_of_problems_is_cut_short() -> None:
    bad = {f"k{i}": {**VALID_ENTRY, "origin": "?"} for i in range(10)}
    with pytest.raises(LedgerError, match=r"\(and 7 more\)"):
        decode(doc(keys=bad))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(st.text(alphabet=string.printable, max_size=200))
def test_any_text_is_a_ledger_or_a_ledger_error(text: str) -> None:
    decodes_or_refuses(text)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["organization", "keys", "intents", "x"]), json_values))
def test_any_format_1_json_is_a_ledger_or_a_ledger_error(fields: dict[str, object]) -> None:
    for text in (json.dumps({**fields, "format": 1}), packed({**fields, "format": 1})):
        decodes_or_refuses(text)


def decodes_or_refuses(text: str) -> None:
    """A ledger that encodes back to an equal one, or a short, clean LedgerError."""
    try:
        ledger = decode(text)
    except LedgerError as exc:
        message = str(exc)
    else:
        assert decode(encode(ledger)) == ledger
        return
    assert 0 < len(message) < 400
    assert "\x1b" not in message


def test_a_decoded_entry_keeps_its_time_to_the_microsecond() -> None:
    precise = entry(created=T0 + dt.timedelta(microseconds=123_456))
    ledger = Ledger(organization=ORG).resolve_intent("k", precise)
    found = decode(encode(ledger)).entry("k")
    assert found is not None
    assert found.created == T0 + dt.timedelta(microseconds=123_456)
