"""What a denied call does through each official SDK: what the denial shows (and never
shows), how long the SDKs that retry a 429 on their own wait before raising it, and what
their retries of a server's error count; multipart requests are refused like JSON ones.

Each case drives an SDK's own client (see ``sdk_drivers``) over an upstream in this
process (httpx2's ``MockTransport``, respx for httpx) and checks what the app's owner
would see: the exception, the time the SDK waits, what reached the server.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import respx

from reconciler.model import WorkspacePolicy
from reconciler.policy import Policy, SQLiteStore, http_client
from reconciler.policy.hook import Hook, Refused
from tests.policy.conftest import utc
from tests.policy.sdk_drivers import (
    BASE,
    DRIVERS,
    MESSAGES,
    OPENAI,
    transcribe,
    workspace_limited,
)
from tests.policy.test_sdks import CALLER, TIGHT, _policy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _refused_message(policy: Policy, model: str) -> str:
    decision = policy.authorize(CALLER, model, 10, dry_run=True)
    assert not decision
    return decision.message


def test_a_denied_model_name_is_shown_without_its_control_characters() -> None:
    forged = "gpt-4o\x1b[2K\r\nINFO allowed everything\x00"
    message = _refused_message(_policy(), forged)
    assert message.isprintable()
    assert "gpt-4o\\x1b[2K\\r\\nINFO allowed everything\\x00" in message


def test_a_denied_model_name_of_any_length_is_cut_short() -> None:
    message = _refused_message(_policy(), "m" * 100_000)
    assert len(message) < 400
    assert "mmm..." in message


def _cohere_waits(
    policy: Policy, caller: str, monkeypatch: pytest.MonkeyPatch, says: str = "budget"
) -> list[float]:
    """The seconds cohere's own client (default retries) waits before raising a denial."""
    import cohere

    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)  # what cohere's client waits, unwaited
    driver = next(d for d in DRIVERS if d.provider == "cohere")
    upstream = driver.upstream()
    http = http_client(policy, caller, provider="cohere", transport=upstream.transport())
    client = cohere.ClientV2(api_key="k", base_url=BASE, httpx_client=http)
    with pytest.raises(cohere.errors.TooManyRequestsError) as caught:
        client.chat(model=driver.allowed, messages=MESSAGES)
    assert says in str(caught.value.body)
    assert upstream.bodies == []
    return waits


def test_cohere_raises_a_spent_monthly_budget_at_once_instead_of_waiting_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = workspace_limited(WorkspacePolicy(monthly_budget_usd=Decimal(0)))
    assert sum(_cohere_waits(policy, CALLER, monkeypatch)) < 0.1


def test_cohere_waits_for_a_minute_of_requests_to_free_up_before_asking_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = workspace_limited(WorkspacePolicy(rpm=1))
    assert policy.authorize(CALLER, OPENAI.allowed, 10)  # the minute's one request
    waits = _cohere_waits(policy, CALLER, monkeypatch, says="requests per minute")
    assert waits == [60.0, 60.0]  # Retry-After, each time it asks again (the clock stands)


def test_cohere_raises_a_call_that_can_never_fit_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sum(_cohere_waits(_policy(), TIGHT, monkeypatch)) < 0.1


def test_an_sdk_retrying_a_server_error_is_charged_nothing_and_counts_each_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import openai

    monkeypatch.setattr("time.sleep", lambda _: None)  # the SDK's backoff, unwaited
    attempts: list[httpx2.Request] = []

    def overloaded(request: httpx2.Request) -> httpx2.Response:
        attempts.append(request)
        return httpx2.Response(503, json={"error": {"message": "overloaded"}})

    policy = workspace_limited(WorkspacePolicy(rpm=3))
    http = http_client(
        policy, CALLER, provider="openai", transport=httpx2.MockTransport(overloaded)
    )
    client: Any = openai.OpenAI(api_key="k", base_url=BASE, http_client=http)  # 2 retries
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
    assert len(attempts) == 3
    assert policy.tokens_today(CALLER) == 0
    refused = policy.authorize(CALLER, OPENAI.allowed, 10, dry_run=True)
    assert "has had 3 in the last minute" in refused.message


def test_the_api_key_reaches_neither_a_denial_nor_the_store(tmp_path: Path) -> None:
    import openai

    secret = "sk-trial-" + "5e3c1a9f" * 4
    policy = Policy(_policy().state, store=SQLiteStore(tmp_path / "usage.db"))
    upstream = OPENAI.upstream()
    http = http_client(policy, CALLER, provider="openai", transport=upstream.transport())
    client: Any = openai.OpenAI(api_key=secret, base_url=BASE, http_client=http, max_retries=0)
    client.chat.completions.create(model=OPENAI.allowed, messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model=OPENAI.denied, messages=MESSAGES)
    response = denied.value.response
    shown = f"{denied.value!s} {denied.value.body} {response.text} {dict(response.headers)}"
    assert "may not use" in shown and secret not in shown
    policy.store.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert len(stored) > 0 and secret.encode() not in stored


def test_mistralai_retrying_429s_raises_a_spent_monthly_budget_without_sleeping_to_next_month(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mistralai.client import Mistral
    from mistralai.client.errors import SDKError
    from mistralai.client.utils import BackoffStrategy, RetryConfig

    waited: list[float] = []
    started = utc(2026, 11, 18, 12).timestamp()  # the SDK's clock: the policy's moment
    monkeypatch.setattr("time.sleep", waited.append)  # what the SDK waits, unwaited
    monkeypatch.setattr("time.time", lambda: started + sum(waited))
    policy = workspace_limited(WorkspacePolicy(monthly_budget_usd=Decimal(0)))
    driver = next(d for d in DRIVERS if d.provider == "mistral")
    upstream = driver.upstream()
    http = http_client(policy, CALLER, provider="mistral", transport=upstream.transport())
    retrying = RetryConfig("backoff", BackoffStrategy(500, 8000, 1.5, 10_000), False)
    client = Mistral(api_key="k", server_url=BASE, client=http, retry_config=retrying)
    with pytest.raises(SDKError) as caught:
        client.chat.complete(model=driver.allowed, messages=MESSAGES)
    assert caught.value.status_code == 429
    assert "monthly budget" in caught.value.body
    assert upstream.bodies == []
    assert sum(waited) < 30  # the retry config's 10 s and a last backoff; not twelve days


def test_a_multipart_request_naming_a_model_the_role_may_not_use_is_refused_unsent() -> None:
    from mistralai.client.errors import SDKError

    sent: list[httpx2.Request] = []
    with pytest.raises(SDKError) as caught:
        _, sent = transcribe(_policy(), CALLER)
    assert caught.value.status_code == 403
    assert "may not use unknown model voxtral-mini-latest" in caught.value.body
    assert sent == []


@respx.mock
def test_a_groq_transcription_the_role_may_not_use_is_refused_unsent() -> None:
    import groq

    route = respx.post(f"{BASE}/openai/v1/audio/transcriptions").mock(
        return_value=httpx.Response(200, json={"text": "hi"})
    )
    http = http_client(_policy(), CALLER, provider="groq")
    client: Any = groq.Groq(api_key="k", base_url=BASE, http_client=http, max_retries=0)
    with pytest.raises(groq.PermissionDeniedError, match="whisper-large-v3"):
        client.audio.transcriptions.create(model="whisper-large-v3", file=("a.mp3", b"ID3"))
    assert route.call_count == 0


def _form(*models: str, boundary: str = "b0undary") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n{m}\r\n'
        for m in models
    ]
    file = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n'
    return ("".join(parts) + file + f"\r\nID3\r\n--{boundary}--\r\n").encode()


@pytest.mark.parametrize(
    "content_type",
    ["Multipart/Form-Data; boundary=b0undary", "MULTIPART/FORM-DATA; boundary=b0undary"],
)
def test_a_form_whose_content_type_is_not_in_lower_case_is_still_governed(
    content_type: str,
) -> None:
    """Media types are case-insensitive: servers read such a form as any other."""
    hook = Hook(_policy(), CALLER)
    admitted = hook.admit("POST", "/v1/audio/transcriptions", content_type, _form("voxtral-x"))
    assert isinstance(admitted, Refused)
    assert "may not use unknown model voxtral-x" in admitted.decision.message


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/JSON; charset=utf-8"])
def test_a_json_body_whose_content_type_is_not_in_lower_case_is_still_governed(
    content_type: str,
) -> None:
    hook = Hook(_policy(), CALLER)
    body = b'{"model": "voxtral-x", "messages": []}'
    admitted = hook.admit("POST", "/v1/chat/completions", content_type, body)
    assert isinstance(admitted, Refused)
    assert "may not use unknown model voxtral-x" in admitted.decision.message


def test_a_form_naming_two_models_is_refused_as_invalid() -> None:
    """Servers differ on which of two ``model`` parts they read: the call is refused
    rather than authorized for one and sent to the other."""
    allowed = _policy().authorize(CALLER, "mistral-small-latest", 10, dry_run=True)
    assert allowed
    hook = Hook(_policy(), CALLER)
    form = _form("mistral-small-latest", "mistral-large-latest")
    admitted = hook.admit(
        "POST", "/v1/audio/transcriptions", "multipart/form-data; boundary=b0undary", form
    )
    assert isinstance(admitted, Refused)
    assert admitted.decision.reason == "invalid-request"
    assert "several models" in admitted.decision.message
