"""The enforcement hook around one inference call, independent of any HTTP library.

An HTTP adapter (:mod:`~reconciler.policy.transport` for ``httpx``,
:mod:`~reconciler.policy.httpx2_transport` for ``httpx2``) hands the :class:`Hook` what
it sees and does what it answers:

1. **before sending**: :meth:`Hook.admit` takes the request's method, path, content type
   and body bytes. Requests without a JSON body naming a ``model`` (listing models,
   files, ...), and those that generate nothing (Anthropic's token counting, an agent's
   definition), are not governed (None); a multipart form naming a ``model`` (an audio
   transcription) is, and is sent as it is. A model call whose model the server picks
   (an agent's completion, a conversation: the provider says) is decided as a call to
   any model (:meth:`~reconciler.policy.policy.Policy.authorize_unnamed`: refused to a
   caller restricted to some models). Otherwise it estimates the tokens
   (:mod:`~reconciler.policy.tokens`), fills in a missing output cap when the caller has
   a per-request token cap (``clamp``), lets the provider adjust the body
   (OpenAI streams are asked to report usage), and asks the policy: a
   :class:`~reconciler.policy.wire.Denial` (never to be sent: the adapter answers it, or
   raises) or an :class:`Admission` holding the reservation and the body to send;
2. **while the response streams by**: a :class:`UsageMeter` is fed its bytes and finds
   the usage in the JSON body or in the server-sent events (the provider says where);
3. **after**: :meth:`Hook.finish` records the reported usage (or the estimate, when a
   successful response reported none or a malformed one; for a stream that ended before
   its usage, its input and the text it streamed) and releases the reservation for an
   error status; :meth:`Hook.fail` releases it when the call failed to be answered. A
   store that fails then is logged, never raised: the call has already happened.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from reconciler.errors import scrub
from reconciler.policy.decision import Decision, Reason
from reconciler.policy.denials import deny, shown_model
from reconciler.policy.policy import Policy
from reconciler.policy.prices import CachedTokens
from reconciler.policy.sql import PolicyStoreError
from reconciler.policy.tokens import DEFAULT_ESTIMATOR, TokenEstimate, TokenEstimator
from reconciler.policy.wire import (
    OUTPUT_FIELDS,
    Denial,
    Provider,
    Usage,
    generated,
    provider_named,
)

_log = logging.getLogger(__name__)
MAX_BUFFERED = 32 * 1024 * 1024  # bytes of a non-streamed body kept to read its usage


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted call: its decision, its estimate, and the body to send if changed."""

    decision: Decision
    estimate: TokenEstimate
    body: bytes | None = None  # None: send the request's own body


@dataclass(frozen=True, slots=True)
class Refused:
    """A denied call: the decision and the provider-shaped answer."""

    decision: Decision
    denial: Denial

    def content(self) -> bytes:
        return json.dumps(self.denial.body).encode()


class Hook:
    """Admits and meters the calls of one caller under one policy, for one provider."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None,
        *,
        provider: str | Provider = "mistral",
        estimator: TokenEstimator | None = None,
        clamp: bool = True,
    ) -> None:
        who = caller or policy.single_key
        if who is None:
            raise ValueError("name the caller (a role or key) for a policy with several keys")
        self.policy = policy
        self.caller = who
        self.provider = provider_named(provider)
        self.estimator = estimator or DEFAULT_ESTIMATOR
        self.clamp = clamp

    def admit(
        self, method: str, path: str, content_type: str | None, content: bytes
    ) -> Admission | Refused | None:
        """None: not governed, send as is. Else admitted or refused."""
        if method != "POST" or not self.provider.governs(path):
            return None
        body = _json_object(content_type, content)
        form = body is None  # a multipart form (an audio transcription) is sent as it is
        if body is None:
            named = _form_models(content_type, content)
            if not named:
                return None
            if len(set(named)) > 1:  # servers differ on which part they read
                return self._refused(
                    deny(
                        Reason.INVALID_REQUEST,
                        "the form names several models ("
                        + ", ".join(shown_model(m) for m in dict.fromkeys(named))
                        + "): name one",
                        self.caller,
                    )
                )
            body = {"model": named[0]}
        model = body.get("model")
        # what a call runs when the server picks its model (an agent): decided as any model
        runs = None if form else self.provider.unnamed(path, body)
        if runs is not None:
            model = None
        elif not isinstance(model, str):
            return None
        changed = None if form else self.provider.prepare(body)
        if changed is not None:
            body = changed
        estimate = self.estimator.request(path, body, model=model)
        cap = self.policy.max_tokens_per_request(self.caller)
        if form or not self.clamp or (runs is not None and "messages" not in body):
            cap = None  # a conversation caps its output in completion_args
        if cap is not None and estimate.output_tokens and not _caps(body):
            body = {**body, self.provider.output_field: max(1, cap - estimate.input_tokens)}
            estimate = self.estimator.request(path, body, model=model)
            changed = body
        if model is None:
            decision = self.policy.authorize_unnamed(self.caller, str(runs), estimate)
        else:
            decision = self.policy.authorize(self.caller, model, estimate)
        if not decision:
            return self._refused(decision)
        sent = None if changed is None else json.dumps(body, separators=(",", ":")).encode()
        return Admission(decision, estimate, sent)

    def _refused(self, decision: Decision) -> Refused:
        return Refused(decision, self.provider.denial(decision))

    def meter(self, content_type: str | None) -> UsageMeter:
        """A meter for a response of this content type."""
        stream = (content_type or "").lower().startswith("text/event-stream")
        return UsageMeter(self.provider, stream)

    def finish(self, admission: Admission, status: int, meter: UsageMeter) -> None:
        """Record what a completed call used; release its reservation on an error status.

        A stream that ended before its usage (the app stopped reading, the connection
        broke) is charged its input and the output it streamed, counted from its text.
        A store that fails now is logged, not raised: the call has happened, and the app
        gets its answer (or its error), not the store's."""
        try:
            if status >= 400:
                self.policy.release(admission.decision)
            else:
                self._record(admission, meter)
        except PolicyStoreError as error:
            self._unsettled(admission, error)

    def fail(self, admission: Admission) -> None:
        """Release the reservation of a call that failed to send or to complete (a store
        that fails now is logged: the app gets the call's own error)."""
        try:
            self.policy.release(admission.decision)
        except PolicyStoreError as error:
            self._unsettled(admission, error)

    def _unsettled(self, admission: Admission, error: PolicyStoreError) -> None:
        _log.warning(
            "the usage of %s's call to %s was not recorded (its estimate stays held, and "
            "is charged once the store's time-to-live passes): %s",
            self.caller,
            shown_model(str(admission.decision.model)),  # the request's own name if unknown
            scrub(str(error)),
        )

    def _record(self, admission: Admission, meter: UsageMeter) -> None:
        decision = admission.decision
        usage, estimate = meter.usage(), admission.estimate
        # a call that asked for the cache and reports no usage: its prompt as the estimate
        # held it, an hour's cache write
        guessed = CachedTokens(long_writes=estimate.input_tokens) if estimate.cache_writes else None
        if meter.sse and (usage is None or not usage.final):
            streamed = self.estimator.count("".join(meter.text), decision.model)
            if estimate.output_tokens:
                streamed = min(streamed, estimate.output_tokens)
            given = estimate.input_tokens if usage is None else usage.input_tokens
            produced = streamed if usage is None else max(streamed, usage.output_tokens)
            usage = (
                Usage(given, produced, cached=guessed)
                if usage is None
                else Usage(given, produced, usage.model, cached=usage.cached)
            )
        if usage is None:
            self.policy.record(
                decision, estimate.input_tokens, estimate.output_tokens, cached=guessed
            )
        else:
            model = usage.model or meter.model  # a conversation names it beside its words
            self.policy.record(
                decision, usage.input_tokens, usage.output_tokens, model=model, cached=usage.cached
            )


class UsageMeter:
    """Watches a response body go by and keeps what is needed to find its usage."""

    def __init__(self, provider: Provider, sse: bool) -> None:
        self.provider = provider
        self.sse = sse
        self.buffer = bytearray()
        self.overflow = False
        self.partial = b""
        self.found: Usage | None = None
        self.text: list[str] = []  # what a stream generated, in case it ends before its usage
        self.model: str | None = None  # the first model a stream's events name

    def feed(self, chunk: bytes) -> None:
        if not self.sse:
            if not self.overflow:
                self.buffer += chunk
                if len(self.buffer) > MAX_BUFFERED:
                    self.overflow = True
                    self.buffer = bytearray()
            return
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self._event_line(line)

    def _event_line(self, line: bytes) -> None:
        line = line.strip()
        if not line.startswith(b"data:"):
            return
        data = _loads(line[5:])
        if b'"usage"' in line:
            self.found = self.provider.event(data, self.found)
        if self.model is None and isinstance(data, dict):
            named = data.get("model")
            self.model = named if isinstance(named, str) and named else None
        self.text += generated(data)

    def usage(self) -> Usage | None:
        """The usage the response reported, if it did."""
        if self.sse:
            if self.partial:
                self._event_line(self.partial)
                self.partial = b""
            return self.found
        if self.overflow or not self.buffer:
            return None
        return self.provider.usage(_loads(bytes(self.buffer)))


def _json_object(content_type: str | None, content: bytes) -> dict[str, Any] | None:
    if not content or content[:1] not in (b"{", b" ", b"\n", b"\t", b"\r"):
        return None
    if "json" not in (content_type or "application/json").lower():
        return None
    body = _loads(content)
    return body if isinstance(body, dict) else None


def _form_models(content_type: str | None, content: bytes) -> list[str]:
    """The values of the ``model`` fields of a ``multipart/form-data`` body (media types
    are case-insensitive). Only the parts' headers are read (with the standard library's
    parser): a file is not copied."""
    if content_type is None or not content_type.lower().startswith("multipart/form-data"):
        return []
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        return []
    delimiter = b"--" + boundary.encode("latin-1")
    models: list[str] = []
    start = content.find(delimiter)
    while start >= 0:
        end = content.find(delimiter, start + len(delimiter))
        stop = len(content) if end < 0 else end
        blank = content.find(b"\r\n\r\n", start, stop)
        if blank >= 0:
            part = BytesHeaderParser().parsebytes(content[start + len(delimiter) : blank].strip())
            if part.get_param("name", header="content-disposition") == "model":
                value = content[blank + 4 : stop].removesuffix(b"\r\n")
                models.append(value.decode("utf-8", "replace"))
        start = end
    return [model for model in models if model]


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _caps(body: dict[str, Any]) -> bool:
    """Does the body cap its output (with any provider's field)?"""
    for field in OUTPUT_FIELDS:
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return True
    return False
