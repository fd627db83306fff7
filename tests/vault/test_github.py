"""GitHub Actions secrets: sealed with the repository's public key, write-only, rate limits."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest
import respx
from nacl.public import PrivateKey, SealedBox
from pydantic import SecretStr

from reconciler import http
from reconciler.errors import ConfigError, SecretStoreError
from reconciler.vault.base import CasMismatch, LockHolder, LockUnsupported, SecretExists
from reconciler.vault.github import GitHubSecretStore, secret_name

from .helpers import SECRET, SECRET_TEXT, TOKEN_TEXT, Sleeps, assert_no_secret, make_metadata, run

API = "https://api.github.test"
REPO_SECRETS = f"{API}/repos/acme/search/actions/secrets"
ENV_SECRETS = f"{API}/repos/acme/search/environments/production/secrets"
PRIVATE = PrivateKey.generate()
PUBLIC_KEY = {
    "key_id": "568250167242549743",
    "key": base64.b64encode(bytes(PRIVATE.public_key)).decode(),
}
NOW = 1_750_000_000.0


def store(
    environment: str | None = "production", sleeps: Sleeps | None = None, **kw: Any
) -> GitHubSecretStore:
    return GitHubSecretStore(
        repository="acme/search",
        environment=environment,
        token=SecretStr(TOKEN_TEXT),
        api_url=API,
        policy=kw.pop("policy", http.RetryPolicy(attempts=3, base_delay=0.0)),
        sleep=sleeps or Sleeps(),
        clock=lambda: NOW,
        **kw,
    )


def test_put_seals_the_secret_for_the_environment() -> None:
    with respx.mock:
        exists = respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(404)
        key = respx.get(f"{ENV_SECRETS}/public-key").respond(200, json=PUBLIC_KEY)
        put = respx.put(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(201)
        version = run(store().put("prod/search-indexer", SECRET, make_metadata()))
    assert version is None
    assert exists.called
    assert key.called
    sent = json.loads(put.calls.last.request.content)
    assert sent["key_id"] == PUBLIC_KEY["key_id"]
    opened = SealedBox(PRIVATE).decrypt(base64.b64decode(sent["encrypted_value"]))
    assert opened.decode() == SECRET_TEXT
    request = put.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN_TEXT}"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert SECRET_TEXT.encode() not in request.content


def test_repository_secret_path() -> None:
    with respx.mock:
        respx.get(f"{REPO_SECRETS}/MISTRAL_API_KEY").respond(404)
        respx.get(f"{REPO_SECRETS}/public-key").respond(200, json=PUBLIC_KEY)
        put = respx.put(f"{REPO_SECRETS}/MISTRAL_API_KEY").respond(204)
        s = store(environment=None)
        run(s.put("mistral-api-key", SECRET, make_metadata()))
    assert put.called
    assert s.description == "GitHub Actions secret of acme/search"


def test_expect_version_zero_refuses_an_existing_secret() -> None:
    with respx.mock:
        respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(
            200, json={"name": "PROD_SEARCH_INDEXER", "created_at": "2025-01-01T00:00:00Z"}
        )
        put = respx.put(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(204)
        with pytest.raises(SecretExists) as caught:
            run(store().put("prod/search-indexer", SECRET, make_metadata()))
    assert not put.called
    assert "environment production" in str(caught.value)
    assert "PROD_SEARCH_INDEXER" in str(caught.value)


def test_expect_a_version_requires_the_secret_to_exist() -> None:
    with respx.mock:
        respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(404)
        with pytest.raises(CasMismatch, match="to exist"):
            run(store().put("prod/search-indexer", SECRET, make_metadata(), expect_version=2))


def test_unconditional_put_does_not_check_existence() -> None:
    with respx.mock:
        exists = respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(200, json={})
        respx.get(f"{ENV_SECRETS}/public-key").respond(200, json=PUBLIC_KEY)
        put = respx.put(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(204)
        run(store().put("prod/search-indexer", SECRET, make_metadata(), expect_version=None))
    assert not exists.called
    assert put.called


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("prod/search-indexer", "PROD_SEARCH_INDEXER"),
        ("mistral.api-key", "MISTRAL_API_KEY"),
        ("MISTRAL_API_KEY", "MISTRAL_API_KEY"),
    ],
)
def test_secret_names_come_from_the_path(path: str, name: str) -> None:
    assert secret_name(path) == name


@pytest.mark.parametrize("path", ["1password", "github_token", "../x", "a b"])
def test_paths_that_cannot_be_github_names_are_refused(path: str) -> None:
    with pytest.raises(SecretStoreError):
        secret_name(path)


def test_secrets_are_write_only() -> None:
    with respx.mock:
        respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(
            200,
            json={
                "name": "PROD_SEARCH_INDEXER",
                "created_at": "2025-01-01T00:00:00Z",
                "updated_at": "2025-02-03T04:05:06Z",
            },
        )
        respx.get(f"{ENV_SECRETS}/GONE").respond(404)

        async def scenario() -> None:
            s = store()
            assert await s.read_secret("prod/search-indexer") is None
            assert not s.keeps_versions  # an overwritten secret is gone
            assert await s.read_previous("prod/search-indexer") is None
            found = await s.read_metadata("prod/search-indexer")
            assert found is not None
            assert found.version is None
            assert found.metadata is None
            assert found.updated == dt.datetime(2025, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
            assert await s.read_metadata("gone") is None

        run(scenario())


def test_rate_limit_waits_for_the_reset() -> None:
    sleeps = Sleeps()
    limited = httpx.Response(
        403,
        json={"message": "API rate limit exceeded for installation ID 1."},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 5)},
    )
    with respx.mock:
        route = respx.get(f"{ENV_SECRETS}/public-key")
        route.side_effect = [limited, httpx.Response(200, json=PUBLIC_KEY)]
        run(store(sleeps=sleeps).check())
    assert route.call_count == 2
    assert sleeps.delays == [6.0]  # until the reset, plus a second of margin


def test_retry_after_is_honoured_on_secondary_rate_limits() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(f"{ENV_SECRETS}/public-key")
        route.side_effect = [
            httpx.Response(
                403, json={"message": "secondary rate limit"}, headers={"retry-after": "7"}
            ),
            httpx.Response(429, json={"message": "slow down"}, headers={"retry-after": "3"}),
            httpx.Response(200, json=PUBLIC_KEY),
        ]
        run(store(sleeps=sleeps).check())
    assert sleeps.delays == [7.0, 3.0]


def test_a_distant_reset_fails_at_once_saying_when() -> None:
    sleeps = Sleeps()
    reset = int(NOW) + 3600
    with respx.mock:
        route = respx.get(f"{ENV_SECRETS}/public-key").respond(
            403,
            json={"message": "API rate limit exceeded"},
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        )
        with pytest.raises(SecretStoreError) as caught:
            run(store(sleeps=sleeps).check())
    when = dt.datetime.fromtimestamp(reset, dt.UTC).isoformat(timespec="seconds")
    assert f"rate limit exhausted until {when}" in str(caught.value)
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "GITHUB_TOKEN was rejected"),
        (403, "the token needs the Secrets: write permission on acme/search"),
        (404, "not found (the repository or environment does not exist"),
        (422, "GitHub answered HTTP 422: Bad key_id"),
    ],
)
def test_errors_are_clear_and_hold_no_secret(status: int, expected: str) -> None:
    with respx.mock:
        respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(404)
        respx.get(f"{ENV_SECRETS}/public-key").respond(200, json=PUBLIC_KEY)
        respx.put(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(
            status, json={"message": "Bad key_id" if status == 422 else "Resource not accessible"}
        )
        with pytest.raises(SecretStoreError) as caught:
            run(store().put("prod/search-indexer", SECRET, make_metadata()))
    assert expected in str(caught.value)
    assert "cannot write PROD_SEARCH_INDEXER" in str(caught.value)
    assert_no_secret(str(caught.value), repr(caught.value))


def test_a_bad_public_key_is_reported() -> None:
    with respx.mock:
        respx.get(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER").respond(404)
        respx.get(f"{ENV_SECRETS}/public-key").respond(200, json={"key_id": "1", "key": "bm9wZQ=="})
        with pytest.raises(SecretStoreError, match="lacked a valid key_id and key"):
            run(store().put("prod/search-indexer", SECRET, make_metadata()))


def test_list_follows_pages() -> None:
    page1 = {"total_count": 101, "secrets": [{"name": f"S_{n:03}"} for n in range(100)]}
    page2 = {"total_count": 101, "secrets": [{"name": "PROD_SEARCH_INDEXER"}]}
    with respx.mock:
        route = respx.get(ENV_SECRETS)
        route.side_effect = [httpx.Response(200, json=page1), httpx.Response(200, json=page2)]
        names = run(store().list())
    assert len(names) == 101
    assert names[0] == "PROD_SEARCH_INDEXER"
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2"]


def test_delete_is_idempotent() -> None:
    with respx.mock:
        route = respx.delete(f"{ENV_SECRETS}/PROD_SEARCH_INDEXER")
        route.side_effect = [httpx.Response(204), httpx.Response(404)]

        async def scenario() -> None:
            s = store()
            await s.delete("prod/search-indexer")
            await s.delete("prod/search-indexer")

        run(scenario())
    assert route.call_count == 2


def test_no_locks_on_github() -> None:
    now = dt.datetime.now(dt.UTC)
    me = LockHolder(who="me", since=now, expires=now)
    with pytest.raises(LockUnsupported, match="cannot hold the apply lock"):
        run(store().acquire_lock("apply", me, dt.timedelta(minutes=1)))


def test_from_env_needs_a_token_and_reads_the_api_url() -> None:
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        GitHubSecretStore.from_env(repository="acme/search", environment=None, env={})
    s = GitHubSecretStore.from_env(
        repository="acme/search",
        environment="production",
        env={"GITHUB_TOKEN": TOKEN_TEXT, "GITHUB_API_URL": "https://ghe.acme.test/api/v3"},
    )
    with respx.mock:
        route = respx.get(
            "https://ghe.acme.test/api/v3/repos/acme/search/environments/production/secrets/public-key"
        ).respond(200, json=PUBLIC_KEY)
        run(s.check())
    assert route.called
    assert_no_secret(repr(s), s.description)


def test_repository_must_be_owner_slash_name() -> None:
    with pytest.raises(ConfigError, match="owner/name"):
        GitHubSecretStore(repository="acme", token=SecretStr("t"))
