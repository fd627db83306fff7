"""Calls that name no model, through mistralai's own client: an agent's completion, a
conversation started from an agent, appended to or restarted (the server picks the
model), and what is no model call at all (creating an agent's definition).

A caller restricted to some models is refused such a call before it is sent; a caller
allowed every model is admitted under its rate and budgets, and charged the usage the
response reports, priced by the model the response names. Each case drives the SDK over
an upstream in this process (httpx2's ``MockTransport``) and checks what the app's owner
would see: the exception, what reached the server, what the store charged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from reconciler.model import ApiKey, DesiredState, Role, Workspace, WorkspacePolicy
from reconciler.policy import Policy, async_http_client, http_client
from reconciler.policy.prices import default_price_table
from tests.policy.conftest import FakeClock, utc
from tests.policy.sdk_drivers import BASE, COMPLETION, MESSAGES, PROMPT, _chat_reply
from tests.policy.test_sdk_charges import _held_and_spent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RESTRICTED, ANY = "api_key.small", "api_key.any"
LARGE = "mistral-large-2512"  # what the agent runs, as its responses name it


def _policy(limits: WorkspacePolicy | None = None) -> Policy:
    state = DesiredState(
        roles=(
            Role(name="small", allowed_models=("mistral-small-latest",)),
            Role(name="any", allowed_models=("*",)),
        ),
        workspaces=(Workspace(name="w", policy=limits or WorkspacePolicy()),),
        keys=(
            ApiKey(name="small", workspace="w", role="small"),
            ApiKey(name="any", workspace="w", role="any"),
        ),
    )
    return Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))


def _answer(request: httpx2.Request, model: str | None, stream: bool) -> httpx2.Response:
    """La Plateforme's answer to an agent's completion or a conversation's call."""
    path = request.url.path
    if path == "/v1/agents":  # an agent's definition, created
        body = json.loads(request.content)
        agent = {
            "model": body["model"],
            "name": body["name"],
            "id": "ag_new",
            "version": 0,
            "versions": [0],
            "created_at": "2026-11-18T12:00:00Z",
            "updated_at": "2026-11-18T12:00:00Z",
            "deployment_chat": False,
            "source": "api",
            "object": "agent",
        }
        return httpx2.Response(200, json=agent)
    if path.startswith("/v1/conversations"):
        entry = {"object": "entry", "type": "message.output", "role": "assistant"}
        usage = {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION, "total_tokens": 40}
        reply = {
            "object": "conversation.response",
            "conversation_id": "conv_1",
            "outputs": [{**entry, "content": "hi", **({"model": model} if model else {})}],
            "usage": usage,
        }
        return httpx2.Response(200, json=reply)
    kind, content = _chat_reply("stream" if stream else "json", model or LARGE)
    return httpx2.Response(200, content=content, headers={"content-type": kind})


def _client(
    policy: Policy, caller: str, model: str | None = LARGE, *, stream: bool = False
) -> tuple[Any, list[httpx2.Request]]:
    from mistralai.client import Mistral

    sent: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return _answer(request, model, stream)

    http = http_client(policy, caller, provider="mistral", transport=httpx2.MockTransport(answer))
    return Mistral(api_key="k", server_url=BASE, client=http), sent


AGENT_CALLS: dict[str, Callable[[Any], Any]] = {
    "agent-completion": lambda c: c.agents.complete(agent_id="ag_large", messages=MESSAGES),
    "agent-stream": lambda c: list(c.agents.stream(agent_id="ag_large", messages=MESSAGES)),
    "conversation-from-agent": lambda c: c.beta.conversations.start(
        agent_id="ag_large", inputs="Say hi to the policy, please."
    ),
    "conversation-appended": lambda c: c.beta.conversations.append(
        conversation_id="conv_1", inputs="And once more."
    ),
    "conversation-restarted": lambda c: c.beta.conversations.restart(
        conversation_id="conv_1", inputs="Again.", from_entry_id="msg_1"
    ),
}
EACH_CALL = pytest.mark.parametrize("name", list(AGENT_CALLS))
# what runs the models its definition names, and reports no usage of its own
DEFINED_RUNS: dict[str, Callable[[Any], Any]] = {
    "workflow-executed": lambda c: c.workflows.execute_workflow(
        workflow_identifier="wf_summarise", input={"text": "hi"}
    ),
    "judge-live": lambda c: c.beta.observability.judges.judge_conversation(
        judge_id="j_tone", messages=[{"role": "user", "content": "hi"}]
    ),
}


@pytest.mark.parametrize("name", [*AGENT_CALLS, *DEFINED_RUNS])
def test_a_call_whose_model_the_server_picks_is_refused_to_a_restricted_role(name: str) -> None:
    from mistralai.client.errors import SDKError

    policy = _policy()
    client, sent = _client(policy, RESTRICTED)
    with pytest.raises(SDKError) as caught:
        {**AGENT_CALLS, **DEFINED_RUNS}[name](client)
    assert caught.value.status_code == 403
    denial = json.loads(caught.value.body)
    assert denial["code"] == "model-not-allowed"
    message = denial["message"]
    assert message.startswith("key small (role small, workspace w) may not call ")
    assert "cannot be checked before the call" in message
    assert 'allowed_models: ["*"]' in message
    assert sent == []
    assert policy.tokens_today(RESTRICTED) == 0


def test_an_async_agent_call_is_refused_to_a_restricted_role() -> None:
    from mistralai.client import Mistral
    from mistralai.client.errors import SDKError

    sent: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return _answer(request, LARGE, stream=False)

    transport = httpx2.MockTransport(answer)
    http = async_http_client(_policy(), RESTRICTED, provider="mistral", transport=transport)
    client: Any = Mistral(api_key="k", server_url=BASE, async_client=http)
    with pytest.raises(SDKError) as caught:
        asyncio.run(client.agents.complete_async(agent_id="ag_large", messages=MESSAGES))
    assert caught.value.status_code == 403
    assert sent == []


def _cost(model: str) -> Decimal:
    return default_price_table().cost(model, PROMPT, COMPLETION)


@EACH_CALL
def test_a_call_whose_model_the_server_picks_is_charged_what_its_response_reports(
    name: str,
) -> None:
    policy = _policy(WorkspacePolicy(monthly_budget_usd=Decimal(100)))
    client, sent = _client(policy, ANY, stream=name.endswith("stream"))
    AGENT_CALLS[name](client)
    assert len(sent) == 1
    assert policy.tokens_today(ANY) == PROMPT + COMPLETION
    assert _held_and_spent(policy) == _cost(LARGE)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_an_agent_call_is_priced_by_the_model_its_response_names(stream: bool) -> None:
    policy = _policy(WorkspacePolicy(monthly_budget_usd=Decimal(100)))
    client, _ = _client(policy, ANY, "mistral-small-latest", stream=stream)
    AGENT_CALLS["agent-stream" if stream else "agent-completion"](client)
    assert _held_and_spent(policy) == _cost("mistral-small-latest")
    assert _cost("mistral-small-latest") < _cost(LARGE)


@pytest.mark.parametrize(
    ("name", "model"),
    [("conversation-from-agent", None), ("agent-completion", "a-model-of-next-year")],
    ids=["unnamed", "unknown"],
)
def test_a_call_whose_model_is_not_known_is_charged_the_highest_price(
    name: str, model: str | None
) -> None:
    policy = _policy(WorkspacePolicy(monthly_budget_usd=Decimal(100)))
    client, _ = _client(policy, ANY, model)
    AGENT_CALLS[name](client)
    assert _held_and_spent(policy) == _cost("a-model-nobody-prices")
    assert _held_and_spent(policy) >= max(_cost(m) for m in default_price_table().models())


def test_agent_calls_count_in_the_rpm_of_a_role_allowed_every_model() -> None:
    from mistralai.client.errors import SDKError

    policy = _policy(WorkspacePolicy(rpm=1))
    client, sent = _client(policy, ANY)
    AGENT_CALLS["agent-completion"](client)
    with pytest.raises(SDKError) as caught:
        AGENT_CALLS["conversation-from-agent"](client)
    assert caught.value.status_code == 429
    assert "requests per minute" in str(caught.value)
    assert len(sent) == 1


def test_a_spent_budget_refuses_an_agent_call_before_it_is_sent() -> None:
    from mistralai.client.errors import SDKError

    policy = _policy(WorkspacePolicy(monthly_budget_usd=Decimal(0)))
    client, sent = _client(policy, ANY)
    with pytest.raises(SDKError) as caught:
        AGENT_CALLS["agent-completion"](client)
    assert caught.value.status_code == 429
    assert sent == []


@pytest.mark.parametrize("caller", [RESTRICTED, ANY])
def test_creating_an_agent_generates_nothing_and_is_charged_nothing(caller: str) -> None:
    policy = _policy(WorkspacePolicy(monthly_budget_usd=Decimal(100)))
    client, sent = _client(policy, caller)
    agent = client.beta.agents.create(model="mistral-large-latest", name="helper")
    assert agent.id == "ag_new"
    assert len(sent) == 1
    assert policy.tokens_today(caller) == 0
    assert _held_and_spent(policy) == 0


def _capped() -> Policy:
    """A key allowed every model, 600 tokens a request."""
    state = DesiredState(
        roles=(Role(name="any", allowed_models=("*",), max_tokens_per_request=600),),
        workspaces=(Workspace(name="w"),),
        keys=(ApiKey(name="any", workspace="w", role="any"),),
    )
    return Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))


def test_an_agent_completion_is_capped_at_the_callers_request_limit() -> None:
    client, sent = _client(_capped(), ANY)
    AGENT_CALLS["agent-completion"](client)
    body = json.loads(sent[0].content)
    assert 500 < body["max_tokens"] < 600  # the cap, less the prompt


def test_a_conversation_capping_its_output_in_its_arguments_is_sent_as_it_is() -> None:
    client, sent = _client(_capped(), ANY)
    client.beta.conversations.start(
        agent_id="ag_large", inputs="Hi.", completion_args={"max_tokens": 100}
    )
    body = json.loads(sent[0].content)
    assert "max_tokens" not in body  # not a field of a conversation
    assert body["completion_args"]["max_tokens"] == 100


def test_a_role_allowing_every_model_in_a_restricted_workspace_is_refused_agents() -> None:
    state = DesiredState(
        roles=(Role(name="any", allowed_models=("*",)),),
        workspaces=(
            Workspace(name="w", policy=WorkspacePolicy(allowed_models=("mistral-small-latest",))),
        ),
        keys=(ApiKey(name="any", workspace="w", role="any"),),
    )
    policy = Policy(state, clock=FakeClock(utc(2026, 11, 18, 12)))
    decision = policy.authorize_unnamed(ANY, "agent ag_large", 100)
    assert decision.reason == "model-not-allowed"
    assert "(workspace w allows mistral-small-latest)" in decision.message
    assert policy.authorize_unnamed("api_key.nobody", "agent ag_1", 100).reason == "unknown-role"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/conversations/conv_1", {"inputs": "Again."}),
        ("/v1/conversations/conv_1/restart", {"inputs": "Again.", "from_entry_id": "msg_1"}),
        ("/v1/agents/completions", {"agent_id": "ag_large", "messages": MESSAGES}),
        ("/v1/agents/completions", {"messages": MESSAGES}),
        ("/v1/conversations", {"agent_id": "ag_large", "inputs": "Hi."}),
        ("/v1/conversations", {"agent_id": "", "inputs": "Hi."}),
        ("/v1/chat/completions", {"agent_id": "ag_large", "messages": MESSAGES}),
    ],
    ids=["appended", "restarted", "agent", "agent-unnamed", "started", "empty-agent", "chat"],
)
def test_naming_an_allowed_model_beside_what_the_server_runs_is_refused_all_the_same(
    path: str, body: dict[str, Any]
) -> None:
    """The server runs the conversation's or the agent's model, not a ``model`` the body
    adds: a restricted caller naming one it may use is refused as without it."""
    sent: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return _answer(request, LARGE, stream=False)

    policy = _policy()
    transport = httpx2.MockTransport(answer)
    with http_client(policy, RESTRICTED, provider="mistral", transport=transport) as http:
        response = http.post(f"{BASE}{path}", json={**body, "model": "mistral-small-latest"})
    assert response.status_code == 403
    assert response.json()["code"] == "model-not-allowed"
    assert "cannot be checked before the call" in response.json()["message"]
    assert sent == []
    assert policy.tokens_today(RESTRICTED) == 0


def test_a_conversation_started_with_a_model_the_role_allows_is_sent() -> None:
    policy = _policy()
    client, sent = _client(policy, RESTRICTED, "mistral-small-latest")
    client.beta.conversations.start(model="mistral-small-latest", inputs="Hi.")
    assert len(sent) == 1
    assert policy.tokens_today(RESTRICTED) == PROMPT + COMPLETION


def _conversation_events(model: str, words: list[str]) -> list[bytes]:
    """A conversation's stream as La Plateforme sends it, one event a chunk: its words
    in ``message.output.delta`` events naming the model, its usage in the last event."""
    usage = {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION, "total_tokens": 40}
    events: list[tuple[str, dict[str, Any]]] = [
        ("conversation.response.started", {"conversation_id": "conv_1"}),
        *(
            (
                "message.output.delta",
                {"id": "msg_2", "content": word, "model": model, "role": "assistant"},
            )
            for word in words
        ),
        ("conversation.response.done", {"usage": usage}),
    ]
    return [
        f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()
        for name, data in events
    ]


def _streaming(policy: Policy, chunks: list[bytes]) -> Any:
    from mistralai.client import Mistral

    def answer(request: httpx2.Request) -> httpx2.Response:
        kind = {"content-type": "text/event-stream"}
        return httpx2.Response(200, content=iter(chunks), headers=kind)

    http = http_client(policy, ANY, provider="mistral", transport=httpx2.MockTransport(answer))
    return Mistral(api_key="k", server_url=BASE, client=http)


def test_a_streamed_conversation_is_priced_by_the_model_its_words_name() -> None:
    policy = _policy(WorkspacePolicy(monthly_budget_usd=Decimal(100)))
    client = _streaming(policy, _conversation_events("mistral-small-latest", ["hi"]))
    with client.beta.conversations.start_stream(agent_id="ag_small", inputs="Hi.") as events:
        kinds = [event.event for event in events]
    assert kinds[-1] == "conversation.response.done"
    assert policy.tokens_today(ANY) == PROMPT + COMPLETION
    assert _held_and_spent(policy) == _cost("mistral-small-latest")


def test_a_streamed_conversation_the_app_stops_reading_is_charged_the_words_it_streamed() -> None:
    policy = _policy()
    words = ["Once upon a time, " * 20] * 10  # some 1,000 tokens streamed before the usage
    client = _streaming(policy, _conversation_events(LARGE, words))
    appended = client.beta.conversations.append_stream(conversation_id="conv_1", inputs="Go on.")
    with appended as events:
        for seen, _event in enumerate(events):
            if seen == len(words):
                break  # every word read, then the app stops before the usage
    assert policy.tokens_today(ANY) > 500
