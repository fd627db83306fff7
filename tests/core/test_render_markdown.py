"""The pull-request comment, read as a reviewer reads it: the headline and the table agree,
what apply will refuse is above the fold, the ``diff`` block's symbols mean one thing each,
and objects left alone take one line (their addresses folded).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable

import pytest
from markdown_it import MarkdownIt

from reconciler.model import ApiKey, Member
from reconciler.plan import Plan, make_plan
from reconciler.render import render_json, render_markdown, render_text

from .states import desired, live_drifted, live_matching

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
HEADLINE = re.compile(r"\*\*Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.\*\*")
ALSO = {
    "manual": re.compile(r"(\d+) manual changes? to make"),
    "conflicts": re.compile(r"(\d+) conflicts? to resolve"),
    "unmanaged": re.compile(r"(\d+) unmanaged objects? left alone"),
}


def refusing_plan() -> Plan:
    """Every kind of refusal: a conflict (two live prod-checkout keys), a member removed
    from the protected workspace, and 4 of 10 keys deleted from dev."""
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    keep = tuple(ApiKey(name=f"keep{i}", workspace="dev") for i in range(3))
    state = desired(workspaces=(dev, desired().workspaces[1]), keys=(*desired().keys, *keep))
    base = live_matching()
    live = base.model_copy(
        update={
            "keys": (
                *base.keys,
                base.keys[1].model_copy(update={"id": "k-checkout-2"}),
                *(k.model_copy(update={"id": f"c{i}"}) for i, k in enumerate(keep)),
                *(ApiKey(name=f"stray{i}", workspace="dev", id=f"s{i}") for i in range(4)),
            ),
            "members": (
                *base.members,
                Member(workspace="prod", email="mallory@acme.example", user_id="u-m"),
            ),
        }
    )
    return make_plan(state, live, provider="mistral", desired_path="desired-state", now=NOW)


def only_unmanaged() -> Plan:
    base = live_matching()
    live = base.model_copy(
        update={"keys": (*base.keys, ApiKey(name="stray", workspace="dev", id="k-stray"))}
    )
    return make_plan(desired(), live, provider="mistral", now=NOW)


def drifted() -> Plan:
    return make_plan(desired(), live_drifted(), provider="mistral", now=NOW)


def table(markdown: str) -> dict[str, int]:
    """The counts table, parsed as GitHub parses it: header cell's first word -> number."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    start = next(i for i, t in enumerate(tokens) if t.type == "table_open")
    end = next(i for i, t in enumerate(tokens) if t.type == "table_close")
    width = sum(1 for t in tokens[start:end] if t.type == "th_open")
    cells = [t.content for t in tokens[start:end] if t.type == "inline"]
    head, row = cells[:width], cells[width:]
    return {h.split(" ")[0]: int(r) for h, r in zip(head, row, strict=True)}


@pytest.mark.parametrize("make", [drifted, refusing_plan, only_unmanaged])
def test_the_headline_and_the_table_count_the_same_things(make: Callable[[], Plan]) -> None:
    plan = make()
    markdown = render_markdown(plan)
    counts = table(markdown)
    headline = HEADLINE.search(markdown)
    if plan.summary.has_changes:
        assert headline is not None
        add, change, destroy = (int(n) for n in headline.groups())
        assert (counts["add"], counts["change"], counts["destroy"]) == (add, change, destroy)
    else:
        assert headline is None
        assert (counts["add"], counts["change"], counts["destroy"]) == (0, 0, 0)
    also = next((line for line in markdown.splitlines() if line.startswith("Also: ")), "")
    for column, pattern in ALSO.items():
        found = pattern.search(also)
        assert counts[column] == (int(found.group(1)) if found else 0), column
    # a replacement is one of the adds and one of the destroys, and the table says how many
    assert counts["replace"] == plan.summary.replace <= min(counts["add"], counts["destroy"])


def diff_block(markdown: str) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    (block,) = [t.content for t in tokens if t.type == "fence" and t.info == "diff"]
    return block.splitlines()


def test_the_diff_block_keeps_the_bang_for_manual_changes_only() -> None:
    lines = diff_block(render_markdown(drifted()))
    objects = [line for line in lines if line.endswith("{")]
    by_kind = {line.split()[1] + " " + line.split()[2]: line.split()[0] for line in objects}
    assert by_kind['organization "Acme"'] == "~"
    assert by_kind['workspace "dev"'] == "~"
    assert by_kind['workspace_spend_limit "dev"'] == "!"
    bangs = [line for line in lines if line.lstrip().startswith("!")]
    assert bangs == [
        "  ! manual change in the admin console (the Admin API cannot make it)",
        '  ! workspace_spend_limit "dev" {',
    ]
    assert "  ~ update in-place" in lines  # the legend says what each symbol means


def test_what_apply_will_refuse_is_above_the_fold() -> None:
    markdown = render_markdown(refusing_plan())
    above, _, below = markdown.partition("<details>")
    assert (
        "> [!CAUTION]\n"
        "> **Apply will refuse this plan:**\n"
        "> - `member.prod/mallory@acme.example`: member of protected workspace 'prod' would be "
        "removed. Set protected: false first, in a change of its own.\n"
        "> - `api_key.prod-checkout`: conflict: Workspace 'prod' holds 2 keys named "
        "'prod-checkout' (ids k-checkout, k-checkout-2). Delete or rename all but one in the "
        "console, or give the key another name in desired state.\n"
        "> - Too many deletes: 40% is over 30% (4/10); --force required\n"
    ) in above
    assert "Apply will refuse" not in below


def test_the_text_plan_says_what_apply_will_refuse_before_its_summary() -> None:
    text = render_text(refusing_plan())
    changes, _, summary = text.partition("Apply will refuse this plan:\n")
    assert "reconciler will perform the following actions:" in changes
    assert summary.startswith(
        "  - member.prod/mallory@acme.example: member of protected workspace 'prod' would be "
        "removed. Set protected: false first, in a change of its own.\n"
        "  - api_key.prod-checkout: conflict: Workspace 'prod' holds 2 keys"
    )
    assert "  - Too many deletes: 40% is over 30% (4/10); --force required\n\nPlan: " in summary
    assert "Apply will refuse" not in render_text(drifted())
    coloured = render_text(refusing_plan(), color=True)
    assert "\x1b[1;31mApply will refuse this plan:\x1b[0m" in coloured


def test_the_json_plan_lists_the_refusals() -> None:
    doc = json.loads(render_json(refusing_plan()))
    assert doc["format_version"] == "1.1"
    assert [(r["kind"], r["addresses"][:1], r["force_overrides"]) for r in doc["refusals"]] == [
        ("protected", ["member.prod/mallory@acme.example"], False),
        ("conflict", ["api_key.prod-checkout"], False),
        ("delete-share", ["api_key.stray0"], True),
    ]
    share = doc["refusals"][2]
    assert share["message"] == "Too many deletes: 40% is over 30% (4/10); --force required"
    assert sorted(share["addresses"]) == [f"api_key.stray{i}" for i in range(4)]
    assert json.loads(render_json(drifted()))["refusals"] == []


def test_unmanaged_objects_are_one_count_with_their_addresses_folded() -> None:
    markdown = render_markdown(drifted())
    assert "is not in the desired state" not in markdown  # not one block per object
    assert (
        "<details><summary>2 unmanaged objects: not in the desired state, left alone</summary>\n"
        "\n```text\nworkspace.Default Workspace\napi_key.iris-laptop\n```\n\n</details>\n"
    ) in markdown
    alone = render_markdown(only_unmanaged())
    assert "<summary>Show Output</summary>" not in alone  # nothing to do: no full plan
    assert "<details><summary>1 unmanaged object: not in the desired state" in alone


def test_an_unmanaged_name_with_a_line_break_stays_on_its_own_line_in_the_fold() -> None:
    """A live name cannot add a line to the fold, so it cannot pass for another object
    left alone (``workspace.prod``) in a reviewer's eyes; it reads as the text plan has it."""
    base = live_matching()
    forged = ApiKey(name="stray\nworkspace.prod\r", workspace="dev", id="k-forged")
    plan = make_plan(
        desired(), base.model_copy(update={"keys": (*base.keys, forged)}), provider="mistral"
    )
    markdown = render_markdown(plan)
    fold = markdown.split("<summary>1 unmanaged object")[1].split("</details>")[0]
    assert fold == (
        ": not in the desired state, left alone</summary>\n"
        "\n```text\napi_key.stray\\nworkspace.prod\\r\n```\n\n"
    )
    assert "api_key.stray\\nworkspace.prod\\r" in render_text(plan)
