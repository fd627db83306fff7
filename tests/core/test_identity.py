"""The organisation pin: a desired state for one organisation never runs against another."""

from __future__ import annotations

from reconciler.identity import (
    earlier_identities,
    identity_slug,
    organization_identity,
    organization_mismatch,
    unpinned_organization,
)
from reconciler.model import DesiredState, LiveState, Organization


def states(
    pinned: str | None, live: str | None, live_name: str = ""
) -> tuple[DesiredState, LiveState]:
    desired = DesiredState(organization=Organization(name="Other Corp", id=pinned))
    return desired, LiveState(organization=Organization(name=live_name, id=live))


def test_another_organisation_is_refused_in_one_line() -> None:
    desired, live = states("org-other", "org-acme")
    message = organization_mismatch(desired, live, desired_path="desired-state", operation="plan")
    assert message == (
        'desired-state/ is for organisation "Other Corp" (org-other) but the Admin API key '
        "is for organisation org-acme; refusing to plan"
    )


def test_the_live_name_is_shown_when_the_platform_gives_one() -> None:
    desired, live = states("org-other", "org-acme", live_name="Acme")
    message = organization_mismatch(desired, live, desired_path="ds/", operation="audit")
    assert message == (
        'ds/ is for organisation "Other Corp" (org-other) but the Admin API key is for '
        '"Acme" (organisation org-acme); refusing to audit'
    )


def test_the_same_organisation_or_no_pin_runs() -> None:
    for pinned in ("org-acme", None):
        desired, live = states(pinned, "org-acme")
        assert organization_mismatch(desired, live, desired_path="d", operation="plan") is None


def test_a_platform_that_names_no_organisation_cannot_match_a_pin() -> None:
    desired, live = states("org-other", None)
    message = organization_mismatch(desired, live, desired_path="d", operation="apply")
    assert message is not None and "an organisation that names no id; refusing to apply" in message


def test_an_unpinned_desired_state_is_told_what_to_pin() -> None:
    desired, live = states(None, "org-acme")
    note = unpinned_organization(desired, live)
    assert note is not None and "this one's id is org-acme" in note
    assert unpinned_organization(*states("org-acme", "org-acme")) is None
    assert unpinned_organization(*states(None, None)) is None


def test_an_organisation_is_known_by_its_target_and_pinned_id_else_its_name() -> None:
    target = "https://api.mistral.ai/v1/admin"
    prod = Organization(name="acme-prod", id="80da8647-d4dd-5809-856f-6847937468bc")
    assert organization_identity(target, prod) == f"{prod.id}@{target}"
    renamed = prod.model_copy(update={"name": "acme-production"})
    assert organization_identity(target, renamed) == organization_identity(target, prod)
    staging = Organization(name="acme-staging")
    assert organization_identity(target, staging) == f"acme-staging@{target}"
    assert organization_identity(target, Organization()) == target


def test_an_organisation_pinned_later_was_known_by_its_name() -> None:
    target = "https://api.mistral.ai/v1/admin"
    prod = Organization(name="acme-prod", id="80da8647-d4dd-5809-856f-6847937468bc")
    assert earlier_identities(target, prod) == (f"acme-prod@{target}",)
    assert earlier_identities(target, Organization(name="acme-staging")) == ()
    assert earlier_identities(target, Organization(id="80da8647")) == ()


def test_an_organisation_renamed_was_known_by_its_previous_names_newest_first() -> None:
    target = "https://api.mistral.ai/v1/admin"
    renamed = Organization(name="acme-data", previous_names=("acme-prod", "acme"))
    assert earlier_identities(target, renamed) == (f"acme-prod@{target}", f"acme@{target}")
    pinned = renamed.model_copy(update={"id": "80da8647", "previous_names": ("acme-data",)})
    assert earlier_identities(target, pinned) == (f"acme-data@{target}",)  # each once


def test_an_identity_becomes_a_readable_name_a_store_and_a_file_may_carry() -> None:
    slug = identity_slug("acme-staging@https://api.mistral.ai/v1/admin")
    assert slug.startswith("acme-staging-https-api.mistral.ai-v1-adm-")
    assert slug != identity_slug("acme-prod@https://api.mistral.ai/v1/admin")
    assert identity_slug("acme-prod") == "acme-prod"
