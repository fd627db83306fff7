"""The GitHub REST client: headers, pagination, rate limits, clear token-free errors."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import respx

from reconciler import errors
from reconciler.errors import ConfigError
from reconciler.github.client import GitHubClient, check_repository

from .helpers import API, NOW, REPO, TOKEN_TEXT, Sleeps, assert_no_token, client, run

COMMENTS = f"{API}/repos/{REPO}/issues/7/comments"


def test_requests_carry_githubs_headers() -> None:
    with respx.mock:
        route = respx.get(f"{API}/repos/{REPO}").respond(200, json={"id": 1})
        run(client().json("GET", f"/repos/{REPO}"))
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN_TEXT}"
    assert sent.headers["Accept"] == "application/vnd.github+json"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_from_env_reads_the_token_and_the_enterprise_url() -> None:
    with pytest.raises(ConfigError, match="needs GITHUB_TOKEN"):
        GitHubClient.from_env({}, purpose="reconciler github comment")
    made = GitHubClient.from_env(
        {"GITHUB_TOKEN": TOKEN_TEXT, "GITHUB_API_URL": "https://ghe.acme.test/api/v3/"},
        purpose="x",
    )
    with respx.mock:
        route = respx.get("https://ghe.acme.test/api/v3/repos/acme/access").respond(200, json={})
        run(made.request("GET", "/repos/acme/access"))
    assert route.called
    assert_no_token(repr(made))


def test_plain_http_to_another_machine_is_refused() -> None:
    env = {"GITHUB_TOKEN": TOKEN_TEXT, "GITHUB_API_URL": "http://ghe.acme.test/api/v3"}
    with pytest.raises(ConfigError) as refused:
        GitHubClient.from_env(env, purpose="x")
    assert str(refused.value).startswith("GITHUB_API_URL is plain http:// to ghe.acme.test")
    assert_no_token(str(refused.value))


def test_pagination_follows_link_next_with_100_per_page() -> None:
    page2 = f"{API}/repositories/42/issues/7/comments?per_page=100&page=2"
    page3 = f"{API}/repositories/42/issues/7/comments?per_page=100&page=3"
    with respx.mock:
        first = respx.get(COMMENTS).respond(
            200, json=[{"id": n} for n in range(100)], headers={"Link": f'<{page2}>; rel="next"'}
        )
        second = respx.get(page2).respond(
            200,
            json=[{"id": n} for n in range(100, 200)],
            headers={"Link": f'<{page3}>; rel="next", <{COMMENTS}>; rel="first"'},
        )
        third = respx.get(page3).respond(200, json=[{"id": 200}])
        items = run(client().paginate(f"/repos/{REPO}/issues/7/comments"))
    assert [i["id"] for i in items] == list(range(201))
    assert first.calls.last.request.url.params["per_page"] == "100"
    assert second.called
    assert third.called


def test_a_next_link_to_another_host_is_refused_so_the_token_stays_home() -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(
            200, json=[], headers={"Link": '<https://evil.test/steal?page=2>; rel="next"'}
        )
        evil = respx.get("https://evil.test/steal").respond(200, json=[])
        with pytest.raises(errors.RemoteError, match="refusing to follow a link to https://evil"):
            run(client().paginate(f"/repos/{REPO}/issues/7/comments"))
    assert not evil.called


def test_a_list_endpoint_answering_an_object_is_an_error() -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(200, json={"message": "odd"})
        with pytest.raises(errors.RemoteError, match="answered something other than a list"):
            run(client().paginate(f"/repos/{REPO}/issues/7/comments"))


# --- rate limits -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 429])
def test_retry_after_is_honoured(status: int) -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(COMMENTS)
        route.side_effect = [
            httpx.Response(
                status,
                json={"message": "You have exceeded a secondary rate limit"},
                headers={"retry-after": "7"},
            ),
            httpx.Response(200, json=[]),
        ]
        run(client(sleeps).paginate(f"/repos/{REPO}/issues/7/comments"))
    assert route.call_count == 2
    assert sleeps.delays == [7.0]


def test_an_exhausted_limit_waits_for_the_reset() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(COMMENTS)
        route.side_effect = [
            httpx.Response(
                403,
                json={"message": "API rate limit exceeded for installation ID 1."},
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 20)},
            ),
            httpx.Response(200, json=[]),
        ]
        run(client(sleeps).paginate(f"/repos/{REPO}/issues/7/comments"))
    assert sleeps.delays == [21.0]  # until the reset, plus a second


def test_a_secondary_limit_without_headers_waits_a_minute() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(COMMENTS)
        route.side_effect = [
            httpx.Response(403, json={"message": "You have exceeded a secondary rate limit."}),
            httpx.Response(200, json=[]),
        ]
        run(client(sleeps).paginate(f"/repos/{REPO}/issues/7/comments"))
    assert sleeps.delays == [60.0]


def test_a_distant_reset_fails_at_once_saying_when() -> None:
    sleeps = Sleeps()
    reset = int(NOW) + 3600
    with respx.mock:
        route = respx.get(COMMENTS).respond(
            403,
            json={"message": "API rate limit exceeded"},
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        )
        with pytest.raises(errors.RateLimited) as caught:
            run(client(sleeps).paginate(f"/repos/{REPO}/issues/7/comments"))
    when = dt.datetime.fromtimestamp(reset, dt.UTC).isoformat(timespec="seconds")
    assert f"API rate limit exhausted until {when}" in str(caught.value)
    assert route.call_count == 1
    assert sleeps.delays == []


def test_a_rate_limited_post_is_sent_again_since_github_refused_it() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.post(COMMENTS)
        route.side_effect = [
            httpx.Response(429, headers={"retry-after": "3"}),
            httpx.Response(201, json={"id": 9}),
        ]
        body = run(client(sleeps).json("POST", f"/repos/{REPO}/issues/7/comments", json={}))
    assert body == {"id": 9}
    assert route.call_count == 2
    assert sleeps.delays == [3.0]


def test_a_post_that_fails_with_a_5xx_is_not_sent_twice() -> None:
    with respx.mock:
        route = respx.post(COMMENTS).respond(502)
        with pytest.raises(errors.ServerError):
            run(client().json("POST", f"/repos/{REPO}/issues/7/comments", json={}))
    assert route.call_count == 1


def test_spending_the_last_request_waits_for_the_reset_before_the_next() -> None:
    sleeps = Sleeps()
    with respx.mock:
        respx.get(f"{API}/a").respond(
            200,
            json={},
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 9)},
        )
        second = respx.get(f"{API}/b").respond(200, json={})

        async def scenario() -> None:
            c = client(sleeps)
            await c.request("GET", "/a")
            await c.request("GET", "/b")

        run(scenario())
    assert second.called
    assert sleeps.delays == [10.0]


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "expected"),
    [
        (401, errors.Unauthorized, "GITHUB_TOKEN was rejected (missing, expired or revoked)"),
        (403, errors.Forbidden, "the token may not do this: it needs 'pull-requests: write'"),
        (404, errors.NotFound, "not found, or the token cannot see it"),
        (422, errors.InvalidRequest, "failed with HTTP 422: Validation Failed"),
    ],
)
def test_errors_say_what_to_do_and_never_hold_the_token(
    status: int, cls: type[errors.RemoteError], expected: str
) -> None:
    message = {
        401: "Bad credentials",
        403: "Resource not accessible by integration",
        404: "Not Found",
        422: "Validation Failed",
    }[status]
    with respx.mock:
        # A server echoing the credential back must not put it in our message.
        respx.post(COMMENTS).respond(status, json={"message": f"{message} ({TOKEN_TEXT})"})
        with pytest.raises(cls) as caught:
            run(
                client().json(
                    "POST",
                    f"/repos/{REPO}/issues/7/comments",
                    json={"body": "x"},
                    permission="pull-requests: write",
                )
            )
    text = str(caught.value)
    assert expected in text
    assert f"GitHub: POST /repos/{REPO}/issues/7/comments failed with HTTP {status}" in text
    assert caught.value.status == status
    assert_no_token(text, repr(caught.value), caught.value.server_message)


def test_a_forbidden_write_mentions_fork_tokens() -> None:
    with respx.mock:
        respx.patch(f"{API}/repos/{REPO}/issues/comments/1").respond(403, json={"message": "no"})
        with pytest.raises(errors.Forbidden, match="a pull request from a fork only gets a read"):
            run(client().request("PATCH", f"/repos/{REPO}/issues/comments/1", json={}))


def test_connection_failures_name_the_host_not_the_token() -> None:
    with respx.mock:
        respx.get(COMMENTS).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(errors.TransportError) as caught:
            run(client().paginate(f"/repos/{REPO}/issues/7/comments"))
    assert "api.github.test" in str(caught.value)
    assert_no_token(str(caught.value))


@pytest.mark.parametrize("bad", ["acme", "acme/", "/access", "a/b/c", "acme/../x", "ac me/x"])
def test_repository_must_be_owner_slash_name(bad: str) -> None:
    with pytest.raises(ConfigError, match="must be OWNER/NAME"):
        check_repository(bad)
