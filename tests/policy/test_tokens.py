"""Token estimates from request bodies."""

from __future__ import annotations

import sys

import pytest
import tiktoken

from reconciler.policy import (
    MistralCommonTokenizer,
    TiktokenTokenizer,
    TokenEstimate,
    TokenEstimator,
    tokenizers,
)

EST = TokenEstimator(
    chars_per_token=4, message_overhead=4, image_tokens=1000, default_output_tokens=500
)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abcd", 1), ("abcde", 2), ("a" * 400, 100), ("日本語", 3), ("ab日本", 3)],
)
def test_text(text: str, tokens: int) -> None:
    assert EST.text(text) == tokens


@pytest.mark.parametrize(
    ("path", "body", "estimate"),
    [
        (
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "a" * 40}], "max_tokens": 64},
            TokenEstimate(14, 64),
        ),
        (
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "a" * 40}]},
            TokenEstimate(14, 500),
        ),
        (
            "/v1/chat/completions",
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 10,
                "n": 3,
            },
            TokenEstimate(5, 30),
        ),
        (
            "/v1/chat/completions",
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "a" * 8},
                            {"type": "image_url", "image_url": "https://example.invalid/x.png"},
                        ],
                    }
                ],
                "max_tokens": 1,
            },
            TokenEstimate(1006, 1),
        ),
        (
            "/v1/fim/completions",
            {"model": "m", "prompt": "a" * 8, "suffix": "b" * 4, "max_tokens": 7},
            TokenEstimate(3, 7),
        ),
        ("/v1/embeddings", {"model": "m", "input": ["a" * 8, "b" * 8]}, TokenEstimate(4, 0)),
        ("/v1/embeddings", {"model": "m", "input": "a" * 8, "max_tokens": 9}, TokenEstimate(2, 0)),
        ("/v1/moderations", {"model": "m", "input": "abcd"}, TokenEstimate(1, 0)),
        ("/v1/embeddings", {"model": "m", "input": [[1, 2, 3]]}, TokenEstimate(3, 0)),
        (
            "/v1/conversations",  # a conversation caps its output in its completion_args
            {"agent_id": "ag_1", "inputs": "a" * 8, "completion_args": {"max_tokens": 50}},
            TokenEstimate(2, 50),
        ),
    ],
)
def test_request(path: str, body: dict[str, object], estimate: TokenEstimate) -> None:
    assert EST.request(path, body) == estimate


def test_tools_and_tool_calls_count() -> None:
    bare = EST.request("/v1/chat/completions", {"model": "m", "messages": []})
    tooled = EST.request(
        "/v1/chat/completions",
        {
            "model": "m",
            "messages": [{"role": "assistant", "content": "", "tool_calls": [{"id": "x" * 40}]}],
            "tools": [{"type": "function", "function": {"name": "f" * 40}}],
        },
    )
    assert tooled.input_tokens > bare.input_tokens + 20


def test_bad_max_tokens_falls_back_to_the_default() -> None:
    for bad in (True, -5, "100", 0, None):
        body: dict[str, object] = {"model": "m", "messages": [], "max_tokens": bad}
        assert EST.request("/v1/chat/completions", body).output_tokens == 500


# --- providers' tokenizers ----------------------------------------------------------------

HELLO = {"messages": [{"role": "user", "content": "Bonjour, comment ça va aujourd'hui ?"}]}


def test_mistral_models_are_counted_with_mistral_commons_bundled_tokenizer() -> None:
    estimate = TokenEstimator().request("/v1/chat/completions", HELLO, model="mistral-small-latest")
    assert estimate.source == "mistral-common"
    exact = MistralCommonTokenizer.bundled().count("Bonjour, comment ça va aujourd'hui ?")
    assert estimate.input_tokens == exact + 4  # and the message's overhead
    assert exact != TokenEstimator().text("Bonjour, comment ça va aujourd'hui ?")


def test_other_models_fall_back_to_characters_and_say_so() -> None:
    for model in ("gpt-4o-mini", "claude-sonnet-4-5", None):
        estimate = TokenEstimator().request("/v1/chat/completions", HELLO, model=model)
        assert estimate.source == "characters"
        assert estimate.input_tokens == TokenEstimator().request("/", HELLO).input_tokens
    off = TokenEstimator(mistral_common=False)
    assert off.request("/", HELLO, model="mistral-small-latest").source == "characters"


def test_without_mistral_common_mistral_models_fall_back_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokenizers, "_MISTRAL", [])
    monkeypatch.setitem(sys.modules, "mistral_common.tokens.tokenizers.mistral", None)
    estimate = TokenEstimator().request("/", HELLO, model="codestral-latest")
    assert estimate.source == "characters"


def test_a_loaded_tiktoken_encoding_counts_the_models_it_is_given_for() -> None:
    # an encoding built here (one token per byte): tiktoken's own files need the network
    encoding = tiktoken.Encoding(
        name="bytes",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )
    estimator = TokenEstimator(tokenizers=(("gpt-", TiktokenTokenizer(encoding)),))
    estimate = estimator.request("/v1/chat/completions", HELLO, model="gpt-4o-mini")
    assert estimate.source == "tiktoken:bytes"
    assert estimate.input_tokens == len("Bonjour, comment ça va aujourd'hui ?".encode()) + 4
    assert estimator.request("/", HELLO, model="o3-mini").source == "characters"


def test_output_caps_of_every_provider_and_their_other_inputs() -> None:
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        assert EST.request("/v1/chat/completions", {"model": "m", field: 77}).output_tokens == 77
    anthropic = {"model": "m", "system": "a" * 40, "messages": [], "max_tokens": 5}
    assert EST.request("/v1/messages", anthropic) == TokenEstimate(10, 5)
    embed = {"model": "m", "texts": ["a" * 8, "b" * 8]}
    assert EST.request("/v2/embed", embed) == TokenEstimate(4, 0)
    rerank = {"model": "m", "query": "a" * 8, "documents": ["b" * 8, {"text": "c" * 8}]}
    assert EST.request("/v2/rerank", rerank) == TokenEstimate(6, 0)


@pytest.mark.parametrize(
    ("body", "asks"),
    [
        ({"cache_control": {"type": "ephemeral"}, "messages": []}, True),  # the whole request
        ({"system": [{"type": "text", "text": "s", "cache_control": {}}]}, True),
        ({"tools": [{"name": "t", "cache_control": {"type": "ephemeral"}}]}, True),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "content": [{"type": "text", "text": "r", "cache_control": {}}],
                            }
                        ],
                    },
                ]
            },
            True,
        ),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, False),
        ({"input": [[1, 2, 3]] * 1000, "model": "mistral-embed"}, False),
    ],
)
def test_a_request_that_asks_for_the_prompt_cache_is_told_apart(
    body: dict[str, object], asks: bool
) -> None:
    assert TokenEstimator().request("/v1/messages", body).cache_writes is asks
