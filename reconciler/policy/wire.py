"""What each provider's inference API looks like on the wire, for enforcement in the app.

A :class:`Provider` knows, for its API, where a request caps its output (``max_tokens``,
``max_completion_tokens``, ``max_output_tokens``), how a response reports the tokens it
used (in the body, or in the server-sent events of a stream), and how the provider
itself refuses a request, so that a policy denial reaches its official SDK as the
SDK's usual exception:

============  ==========================  ===================================================
provider      usage                       denial body (status 400, 403 or 429)
============  ==========================  ===================================================
mistral       ``usage.prompt_tokens`` /   ``{"object": "error", "message", "type", "code"}``
              ``completion_tokens`` (+    (La Plateforme's own)
              cache reads); a stream's
              last chunk
openai        the same, or the Responses  ``{"error": {"message", "type", "param", "code"}}``
              API's ``input_tokens`` /
              ``output_tokens``; streams
              are asked to include usage
groq          as openai, and a stream's   as openai
              ``x_groq.usage``
anthropic     ``usage.input_tokens`` (+   ``{"type": "error", "error": {"type", "message"}}``
              cache reads and writes) /
              ``output_tokens``; streams:
              ``message_start`` then
              ``message_delta``
cohere        ``usage.billed_units`` (or  ``{"message": ...}``
              ``usage.tokens``, or
              ``meta.billed_units``);
              streams: ``message-end``
============  ==========================  ===================================================

Every denial carries ``x-should-retry: false`` (the Stainless-built SDKs, anthropic,
openai and groq, then raise at once instead of retrying) and ``Retry-After`` when the
limit frees up with time. Two SDKs retry a 429 regardless, so their denials say
``Retry-After`` only for a limit that frees up within a minute (they wait, then ask
again): mistralai given a ``retry_config`` (it would sleep as long as Retry-After says,
to the month's end; without it, it backs off within the config's elapsed time), and
cohere (twice; a longer wait gets ``retry-after-ms: 1``: it asks again at once, is
refused again, and raises). Pure data and functions: no HTTP library is imported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.policy.decision import Decision
from reconciler.policy.prices import CachedTokens

OUTPUT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
LONGEST_WAIT = 60.0  # seconds: the longest Retry-After told to the SDKs that retry a 429
MAX_TOKENS = 10**9  # a count of one call's tokens beyond this is malformed


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a response reports, and the model that served it when it says."""

    input_tokens: int
    output_tokens: int
    model: str | None = None
    final: bool = True  # False: a stream's first count, its output still to come
    cached: CachedTokens | None = None  # the input tokens that wrote or read the cache


@dataclass(frozen=True, slots=True)
class Denial:
    """A policy denial as the provider would answer it."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class Provider:
    """One provider's wire shapes; see the module's table. Subclasses override a little."""

    name = "mistral"
    library = "httpx2"  # the HTTP library its current official SDK builds its client on
    output_field = "max_tokens"  # set when a missing output cap is filled in

    def governs(self, path: str) -> bool:
        """Is a call to ``path`` (with a JSON ``model``) one the policy decides?"""
        return True

    def unnamed(self, path: str, body: Mapping[str, Any]) -> str | None:
        """What a call to ``path`` runs when the server picks its model, whatever ``model``
        the body names (``"agent ag_1"``); None when the call runs the model it names, or
        is no model call."""
        return None

    def prepare(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """A changed request body to send instead, or None to send it as it is."""
        return None

    def usage(self, body: Any) -> Usage | None:
        """The usage of a whole (non-streamed) JSON response."""
        if not isinstance(body, Mapping):
            return None
        return _counts(body.get("usage"), _model(body))

    def event(self, data: Any, seen: Usage | None) -> Usage | None:
        """Usage after one server-sent event's JSON ``data`` (``seen``: so far)."""
        return self.usage(data) or seen

    def denial(self, decision: Decision) -> Denial:
        """The provider's own refusal for a policy denial."""
        # mistralai, given a retry_config, retries a 429 whatever x-should-retry says and
        # sleeps what Retry-After says, however long: it is told only of a short wait
        headers = _headers(decision, longest_wait=LONGEST_WAIT)
        return Denial(decision.status_code, headers, decision.error_body())


class _Mistral(Provider):
    """La Plateforme: agents and conversations run a model the request does not name."""

    def governs(self, path: str) -> bool:
        # an agent's definition stores its model and generates nothing; counting is free
        return _AGENT_DEFINITION.search(path) is None and not path.rstrip("/").endswith(
            "/responses/input_tokens"
        )

    def unnamed(self, path: str, body: Mapping[str, Any]) -> str | None:
        # an agent runs its own model, and a conversation the one it started with: a
        # ``model`` beside them (which the server ignores) is not what runs
        agent = body.get("agent_id")
        if isinstance(agent, str) and agent:
            return f"agent {agent}"
        if path.rstrip("/").endswith("/agents/completions"):
            return "an agent"
        if (run := _WORKFLOW_RUN.search(path)) is not None:  # runs the models it defines
            return f"workflow {run.group(1)}"
        if (judging := _LIVE_JUDGING.search(path)) is not None:  # runs its judge's model
            return f"judge {judging.group(1)}" if judging.group(1) else "a judge"
        turn = _CONVERSATION.search(path) if "/conversations" in path else None
        if turn is None:
            return None
        if turn.group(1) is not None:  # appended to or restarted
            return f"conversation {turn.group(1)}"
        if agent is None and isinstance(body.get("model"), str):
            return None  # started with a model it names
        return "a new conversation"

    def usage(self, body: Any) -> Usage | None:
        found = super().usage(body)
        if found is None or found.model is not None or not isinstance(body, Mapping):
            return found
        outputs = body.get("outputs")  # a conversation's entries name their model
        if isinstance(outputs, list):
            named = (_model(o) for o in outputs if isinstance(o, Mapping))
            return replace(found, model=next((m for m in named if m), None))
        return found


# /v1/agents and what follows it (but its completions), not a gateway's own /agents
_AGENT_DEFINITION = re.compile(r"/v1/(?:audio/)?agents(?:/(?!completions/?$)[^/]+)*/?$")
_CONVERSATION = re.compile(r"/conversations(?:/([^/]+)(?:/restart)?)?/?$")
_WORKFLOW_RUN = re.compile(r"/v1/workflows/(?:registrations/)?([^/]+)/execute/?$")
_LIVE_JUDGING = re.compile(
    r"/v1/observability/(?:judges/([^/]+)|dataset-records/[^/]+)/live-judging/?$"
)


class _OpenAI(Provider):
    name = "openai"
    output_field = "max_completion_tokens"

    def prepare(self, body: dict[str, Any]) -> dict[str, Any] | None:
        # a chat stream reports its usage only when asked to
        if body.get("stream") is not True or "messages" not in body:
            return None
        options = body.get("stream_options")
        if isinstance(options, Mapping) and "include_usage" in options:
            return None
        extra = dict(options) if isinstance(options, Mapping) else {}
        return {**body, "stream_options": {**extra, "include_usage": True}}

    def event(self, data: Any, seen: Usage | None) -> Usage | None:
        if isinstance(data, Mapping) and isinstance(data.get("response"), Mapping):
            return self.usage(data["response"]) or seen  # the Responses API's events
        return self.usage(data) or seen

    def denial(self, decision: Decision) -> Denial:
        body = decision.error_body()
        error = {k: body[k] for k in ("message", "type", "param", "code")}
        return Denial(decision.status_code, _headers(decision), {"error": error})


class _Groq(_OpenAI):
    name = "groq"
    library = "httpx"

    def prepare(self, body: dict[str, Any]) -> dict[str, Any] | None:
        return None  # a stream's last chunk carries x_groq.usage anyway

    def event(self, data: Any, seen: Usage | None) -> Usage | None:
        if isinstance(data, Mapping) and isinstance(data.get("x_groq"), Mapping):
            found = _counts(data["x_groq"].get("usage"), _model(data))
            if found is not None:
                return found
        return self.usage(data) or seen


_ANTHROPIC_ERRORS = {400: "invalid_request_error", 403: "permission_error", 429: "rate_limit_error"}


class _Anthropic(Provider):
    name = "anthropic"
    output_field = "max_tokens"

    def governs(self, path: str) -> bool:
        return not path.rstrip("/").endswith("/count_tokens")  # free, and it generates nothing

    def usage(self, body: Any) -> Usage | None:
        if not isinstance(body, Mapping):
            return None
        return _anthropic_counts(body.get("usage"), _model(body), None)

    def event(self, data: Any, seen: Usage | None) -> Usage | None:
        if not isinstance(data, Mapping):
            return seen
        kind = data.get("type")
        if kind == "message_start" and isinstance(data.get("message"), Mapping):
            message = data["message"]
            found = _anthropic_counts(message.get("usage"), _model(message), None)
            return seen if found is None else replace(found, final=False)
        if kind == "message_delta":
            return _anthropic_counts(data.get("usage"), None, seen) or seen
        return seen

    def denial(self, decision: Decision) -> Denial:
        kind = _ANTHROPIC_ERRORS.get(decision.status_code, "permission_error")
        body = {"type": "error", "error": {"type": kind, "message": decision.message}}
        return Denial(decision.status_code, _headers(decision), body)


class _Cohere(Provider):
    name = "cohere"
    library = "httpx"

    def usage(self, body: Any) -> Usage | None:
        if not isinstance(body, Mapping):
            return None
        usage = body.get("usage")
        if isinstance(usage, Mapping):
            for part in ("billed_units", "tokens"):
                found = _counts(usage.get(part), _model(body))
                if found is not None:
                    return found
        meta = body.get("meta")  # embed and rerank
        if isinstance(meta, Mapping):
            return _counts(meta.get("billed_units"), _model(body))
        return None

    def event(self, data: Any, seen: Usage | None) -> Usage | None:
        if isinstance(data, Mapping) and data.get("type") == "message-end":
            delta = data.get("delta")
            return self.usage(delta) if isinstance(delta, Mapping) else seen
        return seen

    def denial(self, decision: Decision) -> Denial:
        # cohere's client retries a 429 twice whatever x-should-retry says, waiting what
        # Retry-After says up to a minute (else a few seconds' backoff): it waits only for
        # a limit that frees up within that minute, and asks again at once otherwise
        headers = _headers(decision, longest_wait=LONGEST_WAIT)
        if decision.status_code == 429 and "retry-after" not in headers:
            headers["retry-after-ms"] = "1"
        return Denial(decision.status_code, headers, {"message": decision.message})


PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (_Mistral(), _OpenAI(), _Groq(), _Anthropic(), _Cohere())
}


def provider_named(name: str | Provider) -> Provider:
    """The provider called ``name`` (mistral, openai, groq, anthropic, cohere)."""
    if isinstance(name, Provider):
        return name
    found = PROVIDERS.get(name)
    if found is None:
        raise ValueError(f"unknown provider {name!r}: expected one of {', '.join(PROVIDERS)}")
    return found


def generated(data: Any) -> list[str]:
    """The text one server-sent event's JSON ``data`` streams to the app (words, tool
    arguments, reasoning), whichever provider's: its ``delta`` (Anthropic, Cohere, the
    Responses API), its choices' (Mistral, OpenAI, Groq), or a Mistral conversation's
    ``content`` and ``arguments``."""
    if not isinstance(data, Mapping):
        return []
    found: list[str] = []
    _strings(data.get("delta"), found)
    if data.get("type") in _CONVERSATION_DELTAS:
        _strings(data.get("content"), found)
        _strings(data.get("arguments"), found)
    choices = data.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, Mapping):
                _strings(choice.get("delta"), found)
    return found


# --- helpers ---------------------------------------------------------------------------

_CONVERSATION_DELTAS = frozenset({"message.output.delta", "function.call.delta"})
_NOT_GENERATED = frozenset(
    {"role", "type", "id", "finish_reason", "stop_reason", "stop_sequence", "signature"}
)


def _strings(value: Any, into: list[str]) -> None:
    """Every string in a delta but its bookkeeping (role, ids, stop reasons)."""
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _NOT_GENERATED:
                _strings(item, into)
    elif isinstance(value, list):
        for item in value:
            _strings(item, into)


def _headers(decision: Decision, *, longest_wait: float | None = None) -> dict[str, str]:
    """The denial's headers; ``Retry-After`` only up to ``longest_wait`` seconds, if given."""
    headers = {"x-policy-reason": decision.reason.value, "x-should-retry": "false"}
    retry_after = decision.retry_after_header()
    wait = decision.retry_after
    if retry_after is not None and (longest_wait is None or (wait or 0) <= longest_wait):
        headers["retry-after"] = retry_after
    return headers


def _model(body: Mapping[str, Any]) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) and model else None


def _counts(usage: Any, model: str | None) -> Usage | None:
    """``prompt_tokens``/``completion_tokens`` or ``input_tokens``/``output_tokens``, with
    the prompt-cache reads among the input (``prompt_tokens_details.cached_tokens``,
    ``input_tokens_details.cached_tokens``); None when either count is there but is no
    count (the call is then charged its estimate)."""
    if not isinstance(usage, Mapping):
        return None
    for given, produced, details in (
        ("prompt_tokens", "completion_tokens", "prompt_tokens_details"),
        ("input_tokens", "output_tokens", "input_tokens_details"),
    ):
        if given in usage or produced in usage:
            tokens_in, tokens_out = _int(usage.get(given)), _int(usage.get(produced))
            if tokens_in is None or tokens_out is None:
                return None
            breakdown = usage.get(details)
            # a malformed count of cached tokens (or more than the input) is left out: the
            # input is charged in full
            read = _int(breakdown.get("cached_tokens")) if isinstance(breakdown, Mapping) else 0
            cached = CachedTokens(reads=read) if read and read <= tokens_in else None
            return Usage(tokens_in, tokens_out, model, cached=cached)
    return None


def _anthropic_counts(usage: Any, model: str | None, seen: Usage | None) -> Usage | None:
    """Anthropic's usage: input counts cache writes and reads. A stream's delta states
    totals so far: each count it leaves out, or states lower, stays what ``message_start``
    said (``seen``), so a restatement never lowers a charge."""
    if not isinstance(usage, Mapping):
        return None
    parts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    counts = [_int(usage.get(p)) for p in (*parts, "output_tokens")]
    if any(count is None for count in counts):
        return None
    plain, written, read, produced = [count or 0 for count in counts]
    before = (seen.cached if seen else None) or CachedTokens()
    cached = _cached(usage.get("cache_creation"), written, read, before)
    if seen is not None:
        plain = max(plain, seen.input_tokens - before.total)
        produced = max(produced, seen.output_tokens)
    return Usage(
        plain + cached.total,
        produced,
        model or (seen.model if seen else None),
        cached=cached if cached.total else None,
    )


def _cached(breakdown: Any, written: int, read: int, before: CachedTokens) -> CachedTokens:
    """The cache's share of a call's input, each count at least what ``before`` (the
    stream's ``message_start``) said: its writes split by how long they last, as Anthropic's
    ``cache_creation`` says (``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``;
    parts adding up to more than the writes are charged as stated), or as ``before`` did.
    Writes nothing accounts for are taken as the dearer kind, an hour's."""
    if isinstance(breakdown, Mapping):
        short = _int(breakdown.get("ephemeral_5m_input_tokens")) or 0
        written = max(written, short + (_int(breakdown.get("ephemeral_1h_input_tokens")) or 0))
    else:
        short = min(before.writes, written)
    return CachedTokens(
        writes=max(short, before.writes),
        long_writes=max(written - short, before.long_writes),
        reads=max(read, before.reads),
    )


def _int(value: Any) -> int | None:
    """A reported count: 0 when absent or null, None when it is no whole number of tokens
    (text, a fraction, negative, or beyond any one call's)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    return None
