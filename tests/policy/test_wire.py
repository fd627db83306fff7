"""Providers' usage and stream shapes beyond what the SDK tests send."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.hook import UsageMeter
from reconciler.policy.prices import CachedTokens
from reconciler.policy.wire import Usage, provider_named


@pytest.mark.parametrize(
    ("provider", "body", "usage"),
    [
        (
            "anthropic",  # cache writes and reads are input too
            {
                "model": "claude-sonnet-4-5",
                "usage": {
                    "input_tokens": 10,
                    "cache_creation_input_tokens": 100,
                    "cache_read_input_tokens": 1000,
                    "output_tokens": 7,
                },
            },
            # no breakdown of the writes: taken as an hour's, the dearer kind
            Usage(1110, 7, "claude-sonnet-4-5", cached=CachedTokens(long_writes=100, reads=1000)),
        ),
        (
            "anthropic",
            {
                "usage": {
                    "input_tokens": 10,
                    "cache_creation_input_tokens": 100,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 60,
                        "ephemeral_1h_input_tokens": 40,
                    },
                    "output_tokens": 7,
                },
            },
            Usage(110, 7, cached=CachedTokens(writes=60, long_writes=40)),
        ),
        (  # a breakdown claiming more than the writes: the larger count is charged
            "anthropic",
            {
                "usage": {
                    "input_tokens": 0,
                    "cache_creation_input_tokens": 5,
                    "cache_creation": {"ephemeral_5m_input_tokens": 9},
                    "output_tokens": 1,
                },
            },
            Usage(9, 1, cached=CachedTokens(writes=9)),
        ),
        (  # a breakdown whose parts add up to more than the writes: no hour's write is
            # charged as five minutes'
            "anthropic",
            {
                "usage": {
                    "input_tokens": 0,
                    "cache_creation_input_tokens": 10,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 10,
                        "ephemeral_1h_input_tokens": 10,
                    },
                    "output_tokens": 1,
                },
            },
            Usage(20, 1, cached=CachedTokens(writes=10, long_writes=10)),
        ),
        (
            "anthropic",
            {"usage": {"input_tokens": 10, "output_tokens": 7}},
            Usage(10, 7),
        ),
        (  # La Plateforme's prompt cache (prompt_cache_key): reads among the prompt tokens
            "mistral",
            {
                "usage": {
                    "prompt_tokens": 90,
                    "completion_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 64},
                }
            },
            Usage(90, 3, cached=CachedTokens(reads=64)),
        ),
        (  # the Responses API's shape
            "openai",
            {
                "usage": {
                    "input_tokens": 9,
                    "output_tokens": 2,
                    "input_tokens_details": {"cached_tokens": 50},
                }
            },
            Usage(9, 2),  # more cached than the input is no count: the input in full
        ),
        (  # a malformed cached count charges the input in full
            "groq",
            {
                "usage": {
                    "prompt_tokens": 9,
                    "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": "all"},
                }
            },
            Usage(9, 2),
        ),
        ("cohere", {"meta": {"billed_units": {"input_tokens": 12}}}, Usage(12, 0)),  # embed
        ("openai", {"usage": {"input_tokens": 5, "output_tokens": 6}}, Usage(5, 6)),  # responses
        ("mistral", {"usage": {"prompt_tokens": 9, "total_tokens": 9}}, Usage(9, 0)),
        ("mistral", {"choices": []}, None),
    ],
)
def test_usage_of_a_whole_response(provider: str, body: dict[str, Any], usage: Usage) -> None:
    assert provider_named(provider).usage(body) == usage


def _meter(provider: str, stream: bytes, cut: int) -> Usage | None:
    meter = UsageMeter(provider_named(provider), sse=True)
    meter.feed(stream[:cut])  # events arrive split anywhere
    meter.feed(stream[cut:])
    return meter.usage()


def test_an_openai_responses_stream_reports_usage_in_its_completed_event() -> None:
    done = (
        b'event: response.completed\ndata: {"type": "response.completed", "response": '
        b'{"model": "gpt-4o-mini", "usage": {"input_tokens": 11, "output_tokens": 4}}}\n\n'
    )
    for cut in (0, 17, 60, len(done)):
        assert _meter("openai", done, cut) == Usage(11, 4, "gpt-4o-mini")


def test_an_anthropic_delta_may_restate_the_input() -> None:
    stream = (
        b'data: {"type": "message_start", "message": {"model": "claude-sonnet-4-5", '
        b'"usage": {"input_tokens": 20, "output_tokens": 1}}}\n\n'
        b'data: {"type": "message_delta", "usage": {"input_tokens": 25, "output_tokens": 9}}\n\n'
    )
    assert _meter("anthropic", stream, 50) == Usage(25, 9, "claude-sonnet-4-5")


def test_an_anthropic_stream_keeps_its_cache_counts_to_the_end() -> None:
    start = (
        b'data: {"type": "message_start", "message": {"model": "claude-haiku-4-5", "usage": '
        b'{"input_tokens": 3, "cache_creation_input_tokens": 50, "cache_read_input_tokens": 7, '
        b'"cache_creation": {"ephemeral_5m_input_tokens": 50}, "output_tokens": 1}}}\n\n'
    )
    cached = CachedTokens(writes=50, reads=7)
    done = b'data: {"type": "message_delta", "usage": {"output_tokens": 9}}\n\n'
    assert _meter("anthropic", start + done, 40) == Usage(60, 9, "claude-haiku-4-5", cached=cached)
    # a delta restating the totals alone keeps the split message_start gave
    restated = (
        b'data: {"type": "message_delta", "usage": {"input_tokens": 3, '
        b'"cache_creation_input_tokens": 50, "cache_read_input_tokens": 7, "output_tokens": 9}}\n\n'
    )
    assert _meter("anthropic", start + restated, 90) == Usage(
        60, 9, "claude-haiku-4-5", cached=cached
    )


@pytest.mark.parametrize(
    "delta",
    [
        b'{"input_tokens": 3, "output_tokens": 9}',  # the input restated, not the cache
        b'{"input_tokens": 3, "cache_creation_input_tokens": null, '
        b'"cache_read_input_tokens": null, "output_tokens": 9}',
        b'{"cache_read_input_tokens": 7, "output_tokens": 9}',  # the reads alone
        b'{"input_tokens": 0, "cache_creation_input_tokens": 0, '
        b'"cache_read_input_tokens": 0, "output_tokens": 9}',  # totals stated lower
    ],
)
def test_an_anthropic_delta_never_charges_less_than_message_start_said(delta: bytes) -> None:
    start = (
        b'data: {"type": "message_start", "message": {"model": "claude-haiku-4-5", "usage": '
        b'{"input_tokens": 3, "cache_creation_input_tokens": 50, "cache_read_input_tokens": 7, '
        b'"output_tokens": 1}}}\n\n'
    )
    done = b'data: {"type": "message_delta", "usage": ' + delta + b"}\n\n"
    cached = CachedTokens(long_writes=50, reads=7)
    assert _meter("anthropic", start + done, 60) == Usage(60, 9, "claude-haiku-4-5", cached=cached)


def test_an_unknown_provider_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown provider 'bedrock'"):
        provider_named("bedrock")


@pytest.mark.parametrize(
    ("path", "body", "governed", "runs"),
    [
        ("/v1/agents", {"model": "mistral-large-latest", "name": "a"}, False, None),
        ("/v1/agents/", {"model": "mistral-large-latest"}, False, None),
        ("/v1/agents/ag_1/versions", {"model": "mistral-large-latest"}, False, None),
        ("/v1/audio/agents", {"model": "voxtral-mini-latest"}, False, None),
        ("/agents/v1/embeddings", {"model": "mistral-embed"}, True, None),  # a gateway's path
        ("/gw/agents/v1/ocr/", {"model": "mistral-ocr-latest"}, True, None),
        ("/v1/responses/input_tokens", {"model": "mistral-large-latest"}, False, None),
        ("/v1/agents/completions", {"agent_id": "ag_1", "messages": []}, True, "agent ag_1"),
        ("/proxy/v1/agents/completions/", {"agent_id": "ag_1"}, True, "agent ag_1"),
        ("/v1/conversations", {"agent_id": "ag_1", "inputs": "hi"}, True, "agent ag_1"),
        ("/v1/conversations", {"inputs": "hi"}, True, "a new conversation"),
        ("/v1/conversations/conv_1", {"inputs": "hi"}, True, "conversation conv_1"),
        ("/v1/conversations/conv_1/restart", {"inputs": "hi"}, True, "conversation conv_1"),
        ("/v1/chat/completions", {"agent_id": ""}, True, None),
        ("/v1/conversations", {"model": "mistral-small-latest", "inputs": "hi"}, True, None),
        ("/v1/conversations", {"model": "m", "agent_id": "ag_1"}, True, "agent ag_1"),
        ("/v1/conversations/conv_1", {"model": "m", "inputs": "hi"}, True, "conversation conv_1"),
        ("/v1/agents/completions", {"model": "m", "messages": []}, True, "an agent"),
        ("/v1/chat/completions", {"model": "m", "agent_id": "ag_1"}, True, "agent ag_1"),
        ("/v1/chat/completions", {"model": "m", "messages": []}, True, None),
        ("/v1/files", {"purpose": "batch"}, True, None),
        ("/v1/workflows/wf_1/execute", {"input": {}}, True, "workflow wf_1"),
        ("/v1/workflows/registrations/r_1/execute/", {"input": {}}, True, "workflow r_1"),
        ("/v1/workflows/executions/e_1/signals", {"name": "go"}, True, None),
        ("/v1/observability/judges/j_1/live-judging", {"messages": []}, True, "judge j_1"),
        ("/v1/observability/dataset-records/d_1/live-judging", {"judge_id": "j"}, True, "a judge"),
    ],
)
def test_which_mistral_calls_are_model_calls(
    path: str, body: dict[str, Any], governed: bool, runs: str | None
) -> None:
    mistral = provider_named("mistral")
    assert mistral.governs(path) is governed
    assert mistral.unnamed(path, body) == runs


def test_other_providers_know_no_agents() -> None:
    body = {"agent_id": "ag_1", "messages": []}
    for name in ("openai", "groq", "anthropic", "cohere"):
        assert provider_named(name).unnamed("/v1/conversations/c_1", body) is None
        assert provider_named(name).governs("/v1/agents")


def test_a_conversation_is_priced_by_the_model_its_entries_name() -> None:
    entry = {"type": "message.output", "model": "mistral-medium-2508", "content": "hi"}
    body = {"outputs": [{"type": "tool.execution"}, entry], "usage": {"prompt_tokens": 3}}
    assert provider_named("mistral").usage(body) == Usage(3, 0, "mistral-medium-2508")
