"""A transport that holds every exchange of a test double to the Admin API spec extract.

Wrap whatever serves the test (respx through the default transport, an
``httpx.MockTransport``, the sandbox's ASGI transport): each request and response is checked
with :func:`tests.contract.spec.check_exchange` as it passes. A violation fails the request
at once, and again when the transport is closed, so one swallowed by the client (a
read-ahead page past the end of a listing) still fails the test.

A test that serves a malformed body on purpose marks that one response with
:data:`OFF_SPEC` in its headers.
"""

from __future__ import annotations

import httpx
import jsonschema

from tests.contract.spec import check_exchange

OFF_SPEC_HEADER = "x-test-off-spec"
OFF_SPEC = {OFF_SPEC_HEADER: "served malformed on purpose"}


class SpecViolation(AssertionError):
    """A double served (or the client sent) something the spec extract does not allow."""


class SpecCheckedTransport(httpx.AsyncBaseTransport):
    """Passes each request to ``inner`` and checks the exchange (see the module)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self.violations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if OFF_SPEC_HEADER not in response.headers:
            try:
                check_exchange(request, response)
            except (AssertionError, jsonschema.ValidationError) as exc:
                why = (
                    f"{exc.json_path}: {exc.message}"
                    if isinstance(exc, jsonschema.ValidationError)
                    else str(exc)
                )
                problem = (
                    f"{request.method} {request.url.path} answered HTTP {response.status_code}: "
                    f"{why}"
                )
                self.violations.append(problem)
                raise SpecViolation(problem) from exc
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self.violations:
            raise SpecViolation("\n".join(self.violations))
