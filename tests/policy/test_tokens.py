"""Token estimates from request bodies."""

from __future__ import annotations

import pytest

from reconciler.policy import TokenEstimate, TokenEstimator

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
