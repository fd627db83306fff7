"""The policy with each official SDK's own client, sync and async.

mistralai, anthropic and openai build on httpx2, groq and cohere on httpx; each gets
its client from ``http_client``/``async_http_client``, over an upstream in this process
that counts the requests reaching it (see ``sdk_drivers``). What a user sees: a denied
call raises the SDK's usual exception and sends nothing; an allowed call records the
tokens the response reports, streamed or not; a failed call releases its reservation.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from reconciler.model import ApiKey, DesiredState, Role, Workspace
from reconciler.policy import Policy
from reconciler.policy.hook import Hook, Refused
from tests.policy.conftest import FakeClock, utc
from tests.policy.sdk_drivers import COMPLETION, DRIVERS, PROMPT, Driver, Upstream

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CALLER = "api_key.app"
TIGHT = "api_key.tight"  # a daily budget smaller than any call


def _policy() -> Policy:
    allowed = tuple(d.allowed for d in DRIVERS)
    state = DesiredState(
        roles=(
            Role(name="app", allowed_models=allowed, max_tokens_per_request=2000),
            Role(name="tight", allowed_models=allowed, daily_token_budget=100),
        ),
        workspaces=(Workspace(name="w"),),
        keys=(
            ApiKey(name="app", workspace="w", role="app"),
            ApiKey(name="tight", workspace="w", role="tight"),
        ),
    )
    return Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))


def _call(
    driver: Driver,
    upstream: Upstream,
    policy: Policy,
    *,
    sync: bool,
    caller: str = CALLER,
    model: str | None = None,
    stream: bool = False,
    max_tokens: int | None = 500,
) -> Any:
    client = driver.client(policy, caller, upstream, sync=sync)
    result = driver.call(client, model or driver.allowed, stream=stream, max_tokens=max_tokens)
    return result if sync else asyncio.run(result)


SDKS = pytest.mark.parametrize("driver", DRIVERS, ids=[d.provider for d in DRIVERS])
MODES = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


@SDKS
@MODES
def test_a_model_the_role_may_not_use_raises_the_sdks_403_and_sends_nothing(
    driver: Driver, sync: bool
) -> None:
    upstream, policy = driver.upstream(), _policy()
    with pytest.raises(driver.exception("forbidden")) as caught:
        _call(driver, upstream, policy, sync=sync, model=driver.denied)
    assert caught.value.status_code == 403  # type: ignore[attr-defined]
    assert "may not use" in str(caught.value)
    assert upstream.bodies == []
    assert policy.tokens_today(CALLER) == 0


@SDKS
@MODES
def test_a_spent_budget_raises_the_sdks_429_at_once_and_sends_nothing(
    driver: Driver, sync: bool
) -> None:
    upstream, policy = driver.upstream(), _policy()
    with pytest.raises(driver.exception("rate_limited")) as caught:
        _call(driver, upstream, policy, sync=sync, caller=TIGHT)
    assert caught.value.status_code == 429  # type: ignore[attr-defined]
    assert upstream.bodies == []


@SDKS
@MODES
def test_an_allowed_call_records_the_tokens_the_response_reports(
    driver: Driver, sync: bool
) -> None:
    upstream, policy = driver.upstream(), _policy()
    _call(driver, upstream, policy, sync=sync)
    assert len(upstream.bodies) == 1
    assert upstream.bodies[0]["model"] == driver.allowed
    assert policy.tokens_today(CALLER) == PROMPT + COMPLETION


@SDKS
@MODES
def test_a_streamed_call_records_the_usage_of_its_final_events(driver: Driver, sync: bool) -> None:
    upstream, policy = driver.upstream("stream"), _policy()
    events = _call(driver, upstream, policy, sync=sync, stream=True)
    assert len(events) >= 2
    assert len(upstream.bodies) == 1
    assert policy.tokens_today(CALLER) == PROMPT + COMPLETION


@SDKS
@MODES
def test_an_upstream_error_releases_the_reservation(driver: Driver, sync: bool) -> None:
    upstream, policy = driver.upstream("500"), _policy()
    with pytest.raises(driver.exception("server_error")):
        _call(driver, upstream, policy, sync=sync)
    assert len(upstream.bodies) == 1
    assert policy.tokens_today(CALLER) == 0


@SDKS
@MODES
def test_a_connection_failure_releases_the_reservation(driver: Driver, sync: bool) -> None:
    upstream, policy = driver.upstream("refused"), _policy()
    with pytest.raises(driver.exception("connection_error")):
        _call(driver, upstream, policy, sync=sync)
    assert len(upstream.bodies) == 1
    assert policy.tokens_today(CALLER) == 0


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        ("mistral", "max_tokens"),
        ("openai", "max_completion_tokens"),
        ("groq", "max_completion_tokens"),
        ("cohere", "max_tokens"),
    ],
)  # anthropic's SDK always sends max_tokens
def test_a_call_without_an_output_cap_gets_the_roles(provider: str, field: str) -> None:
    (driver,) = [d for d in DRIVERS if d.provider == provider]
    upstream, policy = driver.upstream(), _policy()
    _call(driver, upstream, policy, sync=True, max_tokens=None)
    assert 1900 < upstream.bodies[0][field] < 2000  # the role's 2000 less the prompt


def test_an_openai_stream_is_asked_to_report_its_usage() -> None:
    (driver,) = [d for d in DRIVERS if d.provider == "openai"]
    upstream, policy = driver.upstream("stream"), _policy()
    _call(driver, upstream, policy, sync=True, stream=True)
    assert upstream.bodies[0]["stream_options"] == {"include_usage": True}


def test_the_denial_says_why_in_the_providers_shape() -> None:
    (driver,) = [d for d in DRIVERS if d.provider == "anthropic"]
    upstream, policy = driver.upstream(), _policy()
    with pytest.raises(driver.exception("forbidden")) as caught:
        _call(driver, upstream, policy, sync=True, model=driver.denied)
    body: Any = caught.value.body  # type: ignore[attr-defined]
    assert body["type"] == "error"
    assert body["error"]["type"] == "permission_error"
    assert body["error"]["message"].startswith("key app (role app, workspace w) may not use")
    assert caught.value.response.headers["x-policy-reason"] == "model-not-allowed"  # type: ignore[attr-defined]


def test_counting_tokens_with_anthropic_is_free_and_not_governed() -> None:
    policy = _policy()
    hook = Hook(policy, CALLER, provider="anthropic")
    body = b'{"model": "claude-opus-4-1", "messages": []}'  # a model the role may not use
    assert hook.admit("POST", "/v1/messages/count_tokens", "application/json", body) is None
    refused = hook.admit("POST", "/v1/messages", "application/json", body)
    assert isinstance(refused, Refused)
    assert refused.denial.status == 403


@pytest.mark.parametrize("provider", ["mistral", "anthropic", "openai"])
def test_without_httpx2_the_client_says_which_extra_to_install(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.policy import http_client

    monkeypatch.setitem(sys.modules, "httpx2", None)  # as where it was never installed
    with pytest.raises(ModuleNotFoundError) as missing:
        http_client(_policy(), CALLER, provider=provider)
    assert 'pip install "reconciler[httpx2]"' in str(missing.value)
    assert missing.value.name == "httpx2"
