"""Providers' usage and stream shapes beyond what the SDK tests send."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.hook import UsageMeter
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
            Usage(1110, 7, "claude-sonnet-4-5"),
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


def test_an_unknown_provider_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown provider 'bedrock'"):
        provider_named("bedrock")
