"""The plan comment: create, edit in place (found on any page), keys, parts, surplus parts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from reconciler.errors import ConfigError
from reconciler.github.comments import (
    SUPERSEDED,
    check_key,
    comment_bodies,
    marker,
    parse_marker,
    post_plan_comment,
)
from reconciler.github.split import CONTINUED
from reconciler.render.markdown import MARKER

from .helpers import API, REPO, client, run

COMMENTS = f"{API}/repos/{REPO}/issues/12/comments"
EDIT = f"{API}/repos/{REPO}/issues/comments"
PLAN = (
    f"{MARKER}\n### Plan for `sandbox`\n\n**Plan: 1 to add, 0 to change, 0 to destroy.**\n\n"
    "<details><summary>Show Output</summary>\n\n```diff\n"
    '+ + workspace "prod" {\n    }\n```\n\n</details>\n\n'
    "Plan: 1 to add, 0 to change, 0 to destroy.\n"
)


def big_plan(resources: int) -> str:
    block = "".join(
        f'  # api_key.k{n} will be created\n+ + api_key "k{n}" {{\n'
        f'+     + owner = "{"o" * 30}@acme.example"\n    }}\n\n'
        for n in range(resources)
    )
    return (
        f"{MARKER}\n**Plan: {resources} to add, 0 to change, 0 to destroy.**\n\n"
        f"<details><summary>Show Output</summary>\n\n```diff\n{block}```\n\n</details>\n"
    )


def comment(cid: int, body: str, login: str = "github-actions[bot]") -> dict[str, Any]:
    return {
        "id": cid,
        "body": body,
        "user": {"login": login},
        "html_url": f"https://github.test/{REPO}/pull/12#issuecomment-{cid}",
    }


def sent_body(route: respx.Route, index: int = -1) -> str:
    return str(json.loads(route.calls[index].request.content)["body"])


def post_ok() -> respx.Route:
    route = respx.post(COMMENTS)
    counter = iter(range(900, 1000))
    route.side_effect = lambda request: httpx.Response(
        201,
        json=comment(next(counter), json.loads(request.content)["body"]),
    )
    return route


# --- markers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "part", "text"),
    [
        (None, 1, "<!-- reconciler plan -->"),
        ("desired-state/prod", 1, "<!-- reconciler plan: desired-state/prod -->"),
        ("prod", 3, "<!-- reconciler plan: prod (part 3) -->"),
        (None, 2, "<!-- reconciler plan (part 2) -->"),
    ],
)
def test_markers_round_trip(key: str | None, part: int, text: str) -> None:
    assert marker(key, part) == text
    assert parse_marker(text + "\nbody") == (key, part)


def test_the_default_marker_is_the_renders() -> None:
    assert marker() == MARKER


@pytest.mark.parametrize(
    "body", ["hello", "text <!-- reconciler plan -->", "<!-- reconciler planet -->", ""]
)
def test_other_comments_are_not_ours(body: str) -> None:
    assert parse_marker(body) is None


@pytest.mark.parametrize("bad", ["a-->b", "x\ny", "(part 2)", "-leading", "k" * 101])
def test_bad_keys_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="--key"):
        check_key(bad)


def test_bodies_replace_the_plans_marker_with_the_keyed_one() -> None:
    bodies = comment_bodies(PLAN, key="prod")
    assert len(bodies) == 1
    assert bodies[0].startswith("<!-- reconciler plan: prod -->\n### Plan for `sandbox`")
    assert MARKER not in bodies[0]


def test_bodies_fit_the_limit_with_their_markers() -> None:
    bodies = comment_bodies(big_plan(300), key="desired-state/prod", limit=5000)
    assert len(bodies) > 3
    for n, body in enumerate(bodies, start=1):
        assert len(body) <= 5000
        assert parse_marker(body) == ("desired-state/prod", n)
    assert "**Plan: 300 to add, 0 to change, 0 to destroy.**" in bodies[0]
    assert all(b.rstrip().endswith(CONTINUED) for b in bodies[:-1])


def test_a_plan_needing_too_many_comments_is_cut_and_says_so() -> None:
    whole = comment_bodies(big_plan(300), limit=3000, max_parts=100)
    assert len(whole) > 4
    bodies = comment_bodies(big_plan(300), limit=3000, max_parts=4)
    assert len(bodies) == 4
    assert bodies[:3] == whole[:3]
    assert all(len(b) <= 3000 for b in bodies)
    assert parse_marker(bodies[3]) == (None, 4)
    cut = "_Plan cut here: it needs more than 4 comments. The full plan is in the run's artifacts._"
    assert bodies[3].rstrip().endswith(cut)
    assert CONTINUED not in bodies[3]
    assert bodies[3].count("```") % 2 == 0  # the fence is still closed


# --- posting -----------------------------------------------------------------------------


def test_first_plan_creates_a_comment() -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[comment(1, "LGTM", "alice")])
        created = post_ok()
        result = run(post_plan_comment(client(), REPO, 12, PLAN))
    assert created.call_count == 1
    assert sent_body(created) == PLAN
    assert [p.action for p in result.parts] == ["created"]
    assert result.describe().startswith(f"Plan comment on {REPO}#12 posted: https://github.test/")


def test_the_previous_comment_is_edited_in_place_even_on_page_two() -> None:
    page2 = f"{API}/repositories/5/issues/12/comments?per_page=100&page=2"
    old = comment(4242, f"{MARKER}\nold plan\n")
    with respx.mock:
        respx.get(COMMENTS).respond(
            200,
            json=[comment(n, f"chatter {n}", "bob") for n in range(100)],
            headers={"Link": f'<{page2}>; rel="next"'},
        )
        respx.get(page2).respond(200, json=[old, comment(5000, "thanks", "bob")])
        edited = respx.patch(f"{EDIT}/4242").respond(200, json=old)
        created = respx.post(COMMENTS).respond(201, json=comment(1, ""))
        result = run(post_plan_comment(client(), REPO, 12, PLAN))
    assert not created.called
    assert sent_body(edited) == PLAN
    assert [(p.comment_id, p.action) for p in result.parts] == [(4242, "updated")]
    assert "updated" in result.describe()


def test_an_identical_plan_is_not_sent_again() -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[comment(7, PLAN)])
        edited = respx.patch(f"{EDIT}/7").respond(200, json={})
        result = run(post_plan_comment(client(), REPO, 12, PLAN))
    assert not edited.called
    assert "already up to date" in result.describe()


def test_keys_keep_two_plans_on_one_pr_apart() -> None:
    prod = comment(1, "<!-- reconciler plan: prod -->\nprod plan\n")
    unkeyed = comment(2, f"{MARKER}\nother plan\n")
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[prod, unkeyed])
        edit_prod = respx.patch(f"{EDIT}/1").respond(200, json=prod)
        edit_other = respx.patch(f"{EDIT}/2").respond(200, json=unkeyed)
        created = post_ok()
        run(post_plan_comment(client(), REPO, 12, PLAN, key="staging"))
        run(post_plan_comment(client(), REPO, 12, PLAN, key="prod"))
    assert created.call_count == 1  # staging: a new comment
    assert sent_body(created).startswith("<!-- reconciler plan: staging -->\n")
    assert edit_prod.call_count == 1
    assert not edit_other.called


def test_author_filter_ignores_a_human_quoting_the_marker() -> None:
    quoted = comment(3, f"{MARKER}\nI copied the plan here", "mallory")
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[quoted])
        edited = respx.patch(f"{EDIT}/3").respond(200, json={})
        created = post_ok()
        run(post_plan_comment(client(), REPO, 12, PLAN, author="github-actions[bot]"))
    assert not edited.called
    assert created.called


def test_a_token_that_posts_as_another_login_than_the_author_is_a_clear_error() -> None:
    """A GitHub App's token with the default author: the comment it posts would never be
    found again, and every run would add one. The first run says so, naming the login."""
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[])
        respx.post(COMMENTS).respond(201, json=comment(9, f"{MARKER}\nplan", "acme-bot[bot]"))
        with pytest.raises(ConfigError) as caught:
            run(post_plan_comment(client(), REPO, 12, PLAN, author="github-actions[bot]"))
    assert "the token posts as 'acme-bot[bot]', not as the author given" in str(caught.value)
    assert "Set the action's comment-author (or --author) to 'acme-bot[bot]'" in str(caught.value)


def test_a_long_plan_is_posted_in_parts() -> None:
    plan = big_plan(200)
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[])
        created = post_ok()
        result = run(post_plan_comment(client(), REPO, 12, plan, limit=4000))
    bodies = [sent_body(created, i) for i in range(created.call_count)]
    assert len(bodies) == len(result.parts) > 2
    assert [parse_marker(b) for b in bodies] == [(None, n) for n in range(1, len(bodies) + 1)]
    assert all(len(b) <= 4000 for b in bodies)
    assert f"({len(bodies)} parts)" in result.describe()


def test_a_shorter_plan_edits_part_one_and_deletes_the_surplus_parts() -> None:
    olds = [comment(10 + n, b) for n, b in enumerate(comment_bodies(big_plan(200), limit=4000))]
    assert len(olds) > 2
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[*olds, comment(99, "nice", "bob")])
        edited = respx.patch(f"{EDIT}/10").respond(200, json=olds[0])
        deleted = [respx.delete(f"{EDIT}/{c['id']}").respond(204) for c in olds[1:]]
        others = respx.delete(f"{EDIT}/99").respond(204)
        created = post_ok()
        result = run(post_plan_comment(client(), REPO, 12, PLAN, limit=4000))
    assert sent_body(edited) == PLAN
    assert all(route.call_count == 1 for route in deleted)
    assert not others.called
    assert not created.called
    assert result.deleted == tuple(c["id"] for c in olds[1:])
    assert f"{len(olds) - 1} old part(s) removed" in result.describe()


def test_surplus_parts_are_blanked_when_the_token_may_not_delete() -> None:
    old2 = comment(21, "<!-- reconciler plan (part 2) -->\nrest of an old plan\n")
    with respx.mock:
        respx.get(COMMENTS).respond(200, json=[comment(20, f"{MARKER}\nold\n"), old2])
        respx.patch(f"{EDIT}/20").respond(200, json={})
        respx.delete(f"{EDIT}/21").respond(403, json={"message": "Must have admin rights"})
        blank = respx.patch(f"{EDIT}/21").respond(200, json={})
        result = run(post_plan_comment(client(), REPO, 12, PLAN))
    assert sent_body(blank) == f"<!-- reconciler plan (part 2) -->\n{SUPERSEDED}\n"
    assert result.blanked == (21,)


def test_duplicate_parts_from_a_race_are_cleaned_up() -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(
            200, json=[comment(31, f"{MARKER}\nb\n"), comment(30, f"{MARKER}\na\n")]
        )
        kept = respx.patch(f"{EDIT}/30").respond(200, json={})
        dropped = respx.delete(f"{EDIT}/31").respond(204)
        run(post_plan_comment(client(), REPO, 12, PLAN))
    assert kept.called  # the oldest one stays
    assert dropped.called


def test_an_already_deleted_surplus_part_is_fine() -> None:
    with respx.mock:
        respx.get(COMMENTS).respond(
            200,
            json=[comment(1, f"{MARKER}\na\n"), comment(2, "<!-- reconciler plan (part 2) -->\n")],
        )
        respx.patch(f"{EDIT}/1").respond(200, json={})
        respx.delete(f"{EDIT}/2").respond(404, json={"message": "Not Found"})
        result = run(post_plan_comment(client(), REPO, 12, PLAN))
    assert result.deleted == (2,)  # gone either way, no error


@pytest.mark.parametrize(
    ("markdown", "number", "message"),
    [(" \n", 12, "the plan to post is empty"), (PLAN, 0, "--pr must be a pull request number")],
)
def test_nothing_is_sent_for_bad_input(markdown: str, number: int, message: str) -> None:
    # any request would fail: none is mocked
    with respx.mock, pytest.raises(ConfigError, match=message):
        run(post_plan_comment(client(), REPO, number, markdown))
