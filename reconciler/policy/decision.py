"""What ``Policy.authorize`` answers: allowed or not, why, and the platform-shaped error.

A :class:`Decision` is truthy when the request may go ahead. A denial carries a
:class:`Reason` (a stable, kebab-case code for scripts and dashboards), a sentence for
people, and everything needed to answer the caller the way La Plateforme itself would:
HTTP 403 for requests this caller may never make, 429 for limits that reset with time
(with ``Retry-After`` when it is known), and the platform's error body
``{"object": "error", "message": ..., "type": ..., "param": null, "code": ...}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reconciler.policy.store import Reservation


class Reason(StrEnum):
    """Why a request was allowed or denied."""

    ALLOWED = "allowed"
    UNKNOWN_ROLE = "unknown-role"
    INVALID_REQUEST = "invalid-request"
    MODEL_NOT_ALLOWED = "model-not-allowed"
    OVER_REQUEST_TOKEN_LIMIT = "over-request-token-limit"
    OVER_DAILY_TOKEN_BUDGET = "over-daily-token-budget"
    OVER_RPM = "over-rpm"
    OVER_BUDGET = "over-budget"

    @property
    def status_code(self) -> int:
        """The HTTP status the platform would use for this denial."""
        if self is Reason.ALLOWED:
            return 200
        if self is Reason.INVALID_REQUEST:
            return 400
        if self in (Reason.OVER_DAILY_TOKEN_BUDGET, Reason.OVER_RPM, Reason.OVER_BUDGET):
            return 429
        return 403

    @property
    def error_type(self) -> str:
        """The platform's error ``type`` for this denial."""
        return "rate_limit_error" if self.status_code == 429 else "invalid_request_error"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one ``authorize`` call; truthy when allowed."""

    allowed: bool
    reason: Reason
    message: str
    subject: str  # "api_key.<name>", "role.<name>", or what the caller passed
    model: str | None = None  # canonical model id when known
    estimated_tokens: int = 0
    estimated_cost_usd: Decimal = Decimal(0)
    retry_after: float | None = None  # seconds, for 429 denials whose limit resets
    workspace: str | None = None
    reservation: Reservation | None = field(default=None, repr=False, compare=False)
    # what counted the estimated tokens: "characters", a tokenizer's name (for example
    # "mistral-common"), or "caller" when the caller passed a number
    estimate_source: str | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def status_code(self) -> int:
        return self.reason.status_code

    def error_body(self) -> dict[str, Any]:
        """The platform-shaped JSON error body for a denial."""
        return {
            "object": "error",
            "message": self.message,
            "type": self.reason.error_type,
            "param": None,
            "code": self.reason.value,
        }

    def retry_after_header(self) -> str | None:
        """``Retry-After`` in whole seconds (rounded up), when the limit resets."""
        if self.retry_after is None:
            return None
        return str(max(1, math.ceil(self.retry_after)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no reservation internals)."""
        return {
            "allowed": self.allowed,
            "reason": self.reason.value,
            "message": self.message,
            "subject": self.subject,
            "workspace": self.workspace,
            "model": self.model,
            "estimated_tokens": self.estimated_tokens,
            "estimated_cost_usd": f"{self.estimated_cost_usd:f}",
            "estimate_source": self.estimate_source,
            "retry_after": self.retry_after,
            "status_code": self.status_code,
        }
