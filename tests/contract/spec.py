"""The vendored Admin API spec extract, and checks of request and response bodies against it.

Every double of the Admin API in the tests answers to this one record: the sandbox's
contract tests call :func:`check_request` and :func:`check_response` directly, and the
hand-built bodies the platform tests serve go through :func:`check_exchange` (see
:mod:`tests.contract.transport`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
VENDORED_SPEC = REPO / "tests" / "contract" / "mistral-admin-openapi.yaml"
SHARED_SPEC = REPO.parent / "shared" / "reference" / "mistral-admin-openapi.yaml"
SPEC_URI = "urn:mistral-admin-openapi"


@cache
def spec() -> dict[str, Any]:
    doc: dict[str, Any] = YAML(typ="safe", pure=True).load(VENDORED_SPEC.read_text("utf-8"))
    return doc


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = dt.datetime.fromisoformat(value)
    return parsed.tzinfo is not None


@cache
def _checker() -> FormatChecker:
    checker = FormatChecker(["date", "uuid"])
    checker.checks("date-time", raises=ValueError)(_date_time)
    return checker


@cache
def _registry() -> Registry:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


def validator(pointer: str) -> Draft202012Validator:
    """A validator for the schema at a JSON pointer into the spec (e.g. a component)."""
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"}, registry=_registry(), format_checker=_checker()
    )


def component(name: str) -> Draft202012Validator:
    return validator(f"/components/schemas/{name}")


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def operation(method: str, path: str) -> dict[str, Any]:
    """The spec's operation object; fails if the spec has no such operation."""
    op = spec()["paths"].get(path, {}).get(method.lower())
    assert isinstance(op, dict), f"{method} {path} is not an operation of the spec extract"
    return op


def _pattern(template: str) -> re.Pattern[str]:
    parts = template.split("/")
    return re.compile("/".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


@cache
def _path_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Every spec path as a pattern, those with fewer parameters first (literals win)."""
    paths = sorted(spec()["paths"], key=lambda path: (path.count("{"), path))
    return tuple((path, _pattern(path)) for path in paths)


def template(path: str) -> str:
    """The spec path a URL path is an instance of (``/v1/admin/api-keys/{key_id}``)."""
    for name, pattern in _path_patterns():
        if pattern.fullmatch(path):
            return name
    raise AssertionError(f"{path} is not a path of the spec extract")


def check_exchange(request: httpx.Request, response: httpx.Response) -> None:
    """Assert one exchange a test double took part in keeps to the spec.

    The method and path must be an operation of the spec and a JSON request body valid for
    it. A response whose status the spec documents, and every success, must be documented
    and match its schema. An error status the spec does not document (it documents none
    under ``/v1/admin``) is let through: the client must cope with whatever it carries.
    """
    path = template(request.url.path)
    responses = operation(request.method, path)["responses"]
    if request.content:
        check_request(request.method, path, json.loads(request.content))
    if response.is_success or str(response.status_code) in responses:
        check_response(request.method, path, response)


def check_request(method: str, path: str, body: Any) -> None:
    """Assert a request body we send is valid for the operation."""
    operation(method, path)
    pointer = (
        f"/paths/{_escape(path)}/{method.lower()}/requestBody/content/application~1json/schema"
    )
    validator(pointer).validate(body)


def check_response(method: str, path: str, response: httpx.Response) -> Any:
    """Assert a response's status is documented and its body matches; return the body."""
    responses = operation(method, path)["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method} {path}: status {status} is not in the spec"
    content = responses[status].get("content")
    if content is None:
        assert response.content == b"", f"{method} {path}: {status} must have no body"
        return None
    body = response.json()
    pointer = (
        f"/paths/{_escape(path)}/{method.lower()}/responses/{status}"
        "/content/application~1json/schema"
    )
    validator(pointer).validate(body)
    return body


def check_error(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    """The platform's error object: ``{object, message, type, param, code}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"object", "message", "type", "param", "code"}
    assert body["object"] == "error"
    assert body["type"] == type_
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["code"], str)
    assert body["code"]
    return dict(body)


def check_validation_error(response: httpx.Response, loc: Sequence[str | int]) -> list[Any]:
    """A 422 with the ``HTTPValidationError`` shape, one item at ``loc``."""
    assert response.status_code == 422, response.text
    body = response.json()
    component("HTTPValidationError").validate(body)
    locs = [item["loc"] for item in body["detail"]]
    assert list(loc) in locs, locs
    return list(body["detail"])
