"""Vault KV v2 over HTTP, against respx routes answering with Vault's documented bodies."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from reconciler.errors import ConfigError, SecretStoreError
from reconciler.logging import configure_logging
from reconciler.model import VaultSettings
from reconciler.vault.base import (
    CasMismatch,
    LockHolder,
    LockLost,
    SecretExists,
    WriteUncertain,
)
from reconciler.vault.hashicorp import HashiCorpVault
from reconciler.vault.hashicorp_auth import AppRoleAuth, JwtAuth, TokenAuth, auth_from_env

from .fake_vault import CAS_MISMATCH, FakeVault
from .helpers import (
    SECRET,
    SECRET_TEXT,
    TOKEN_TEXT,
    VAULT_ADDR,
    Sleeps,
    assert_no_secret,
    make_metadata,
    run,
    vault_store,
)

DATA = f"{VAULT_ADDR}/v1/secret/data/mistral/acme/dev/dev-alice"
METADATA = f"{VAULT_ADDR}/v1/secret/metadata/mistral/acme/dev/dev-alice"
WRITTEN = {
    "data": {
        "created_time": "2025-03-22T02:24:06.945319214Z",
        "custom_metadata": None,
        "deletion_time": "",
        "destroyed": False,
        "version": 1,
    }
}
SEALED = {"errors": ["Vault is sealed"]}
DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def fresh_path() -> None:
    """``dev/dev-alice`` does not exist yet: its metadata is a 404."""
    respx.get(METADATA).respond(404, json={"errors": []})


def test_put_writes_custom_metadata_then_data_with_cas() -> None:
    """The metadata first: it makes no version, so a failure there changes nothing."""
    meta = make_metadata()
    with respx.mock:
        fresh_path()
        data = respx.post(DATA).respond(200, json=WRITTEN)
        metadata = respx.post(METADATA).respond(204)
        version = run(vault_store(namespace="admin/acme").put("dev/dev-alice", SECRET, meta))
        order = [(c.request.method, c.request.url.path.split("/")[3]) for c in respx.calls]
    assert version == 1
    assert order == [("GET", "metadata"), ("POST", "metadata"), ("POST", "data")]
    sent = data.calls.last.request
    assert body(sent) == {"options": {"cas": 0}, "data": {"api_key": SECRET_TEXT}}
    assert sent.headers["X-Vault-Token"] == TOKEN_TEXT
    assert sent.headers["X-Vault-Namespace"] == "admin/acme"
    # the metadata names the version it describes: the one the data write makes
    custom = {**meta.as_strings(), "data_version": "1"}
    assert body(metadata.calls.last.request) == {"custom_metadata": custom}
    assert all(isinstance(v, str) for v in meta.as_strings().values())


def test_no_namespace_header_without_a_namespace() -> None:
    with respx.mock:
        fresh_path()
        route = respx.post(DATA).respond(200, json=WRITTEN)
        respx.post(METADATA).respond(204)
        run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=None))
    sent = route.calls.last.request
    assert "X-Vault-Namespace" not in sent.headers
    assert "options" not in body(sent)  # unconditional write


@pytest.mark.parametrize(
    ("cas", "current", "error"), [(0, 3, SecretExists), (4, 3, CasMismatch), (4, 0, CasMismatch)]
)
def test_a_version_other_than_expected_is_refused_before_anything_is_written(
    cas: int, current: int, error: type[Exception]
) -> None:
    with respx.mock:
        if current:
            respx.get(METADATA).respond(200, json={"data": {"current_version": current}})
        else:
            fresh_path()
        data = respx.post(DATA).respond(200, json=WRITTEN)
        metadata = respx.post(METADATA).respond(204)
        with pytest.raises(error) as caught:
            run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=cas))
    assert type(caught.value) is error
    assert isinstance(caught.value, CasMismatch) and caught.value.current == current
    assert "dev/dev-alice" in str(caught.value)
    assert "Vault https://vault.test:8200 mount secret prefix mistral/acme" in str(caught.value)
    assert not data.called and not metadata.called
    assert_no_secret(str(caught.value), repr(caught.value))


@pytest.mark.parametrize(("cas", "error"), [(0, SecretExists), (4, CasMismatch)])
def test_a_cas_mismatch_on_the_data_puts_the_metadata_back(
    cas: int, error: type[Exception]
) -> None:
    """Someone wrote between the read and the write: the data write is refused, and the
    metadata written for it goes back to what it was."""
    previous = {"managed_by": "reconciler", "key_id": "k-before"}
    with respx.mock:
        respx.get(METADATA).respond(
            200, json={"data": {"current_version": cas, "custom_metadata": previous}}
        )
        respx.post(DATA).respond(400, json={"errors": [CAS_MISMATCH]})
        respx.get(DATA).respond(
            200, json={"data": {"data": {"api_key": "theirs"}, "metadata": {"version": cas + 1}}}
        )
        metadata = respx.post(METADATA).respond(204)
        with pytest.raises(error) as caught:
            run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=cas))
    assert type(caught.value) is error
    written = [body(c.request)["custom_metadata"] for c in metadata.calls]
    assert written == [{**make_metadata().as_strings(), "data_version": str(cas + 1)}, previous]
    assert_no_secret(str(caught.value), repr(caught.value))


def test_a_redirect_from_vault_says_where_it_pointed_and_that_it_was_not_followed() -> None:
    # a standby node without request forwarding answers 307 to the active one
    with respx.mock:
        route = respx.get(METADATA).respond(
            307, headers={"Location": "https://vault-active.test:8200/v1/secret/metadata/x"}
        )
        with pytest.raises(SecretStoreError) as caught:
            run(vault_store().read_metadata("dev/dev-alice"))
    message = str(caught.value)
    assert "cannot read the metadata of dev/dev-alice" in message
    assert "a redirect to https://vault-active.test:8200: not followed" in message
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (403, DENIED, "permission denied (HTTP 403)"),
        (404, {"errors": []}, "not found (Vault also answers 404 when the mount"),
        (503, SEALED, "Vault is sealed; unseal it and try again"),
        (500, {"errors": ["internal error"]}, "Vault answered HTTP 500: internal error"),
        (400, {"errors": ["invalid path"]}, "Vault answered HTTP 400: invalid path"),
        (429, {"errors": ["request path exceeded rate limit"]}, "rate limited by Vault"),
    ],
)
def test_vault_errors_have_clear_messages_without_secrets(
    status: int, answer: dict[str, Any], expected: str
) -> None:
    sleeps = Sleeps()
    with respx.mock:
        fresh_path()
        respx.post(METADATA).respond(204)
        respx.get(DATA).respond(404, json={"errors": []})  # the read-back: it did not land
        route = respx.post(DATA).respond(status, json=answer)
        with pytest.raises(SecretStoreError) as caught:
            run(vault_store(sleep=sleeps).put("dev/dev-alice", SECRET, make_metadata()))
    message = str(caught.value)
    assert expected in message
    assert "cannot write dev/dev-alice" in message
    assert_no_secret(message, repr(caught.value), caught.value.__cause__)
    retried = status in (429, 503)
    assert route.call_count == (3 if retried else 1)
    assert len(sleeps.delays) == (2 if retried else 0)


def test_permission_denied_names_the_capability_and_path() -> None:
    with respx.mock:
        respx.get(METADATA).respond(403, json=DENIED)
        with pytest.raises(SecretStoreError) as caught:
            run(vault_store().read_metadata("dev/dev-alice"))
    assert "policy lacks read on secret/metadata/mistral/acme/dev/dev-alice" in str(caught.value)


def test_transient_errors_are_retried_and_logged_without_secrets(tmp_path: Path) -> None:
    stream = io.StringIO()
    log_file = tmp_path / "log.jsonl"
    configure_logging(stream=stream, json_file=log_file)
    sleeps = Sleeps()
    with respx.mock:
        fresh_path()
        route = respx.post(DATA)
        route.side_effect = [
            httpx.Response(503, json=SEALED),
            httpx.Response(502, text="Bad Gateway"),
            httpx.Response(200, json=WRITTEN),
        ]
        respx.post(METADATA).respond(204)
        assert run(vault_store(sleep=sleeps).put("dev/dev-alice", SECRET, make_metadata())) == 1
    assert route.call_count == 3
    assert len(sleeps.delays) == 2
    logged = stream.getvalue() + log_file.read_text()
    assert "vault.retry" in logged
    assert "HTTP 503" in logged
    assert_no_secret(logged)


def test_transport_errors_say_vault_is_unreachable() -> None:
    with respx.mock:
        respx.get(METADATA).mock(side_effect=httpx.ConnectError("Connection refused"))
        with pytest.raises(SecretStoreError, match=r"cannot reach Vault at https://vault\.test"):
            run(vault_store().read_metadata("dev/dev-alice"))


def test_a_resent_cas_write_that_had_landed_is_recognised_as_ours() -> None:
    """The first attempt landed but its answer was lost: the resend's CAS mismatch is ours."""
    with respx.mock:
        fresh_path()
        write = respx.post(DATA)
        write.side_effect = [
            httpx.ReadTimeout("timed out"),
            httpx.Response(400, json={"errors": [CAS_MISMATCH]}),
        ]
        respx.get(DATA).respond(
            200, json={"data": {"data": {"api_key": SECRET_TEXT}, "metadata": WRITTEN["data"]}}
        )
        respx.post(METADATA).respond(204)
        assert run(vault_store().put("dev/dev-alice", SECRET, make_metadata())) == 1
    assert write.call_count == 2


def test_a_resent_cas_write_that_lost_to_someone_else_fails() -> None:
    with respx.mock:
        fresh_path()
        write = respx.post(DATA)
        write.side_effect = [
            httpx.ReadTimeout("timed out"),
            httpx.Response(400, json={"errors": [CAS_MISMATCH]}),
        ]
        respx.get(DATA).respond(
            200, json={"data": {"data": {"api_key": "someone-else"}, "metadata": WRITTEN["data"]}}
        )
        metadata = respx.post(METADATA).respond(204)
        with pytest.raises(SecretExists):
            run(vault_store().put("dev/dev-alice", SECRET, make_metadata()))
    # the metadata written for the lost write is put back as it was (none)
    assert [body(c.request) for c in metadata.calls][-1] == {"custom_metadata": {}}


# --- a write never half done at the current version (against the strict fake) ------------

OLD_TEXT = "sk-the-old-live-keys-secret"


def written_once(fake: FakeVault) -> None:
    """dev/dev-alice at version 1: the old key's secret and metadata."""
    meta = make_metadata(key_id="k-old")
    run(vault_store().put("dev/dev-alice", SecretStr(OLD_TEXT), meta))
    assert fake.entries["mistral/acme/dev/dev-alice"].current_version == 1


def assert_untouched(fake: FakeVault) -> None:
    entry = fake.entries["mistral/acme/dev/dev-alice"]
    assert (entry.current_version, sorted(entry.versions)) == (1, [1])
    assert fake.secret("mistral/acme/dev/dev-alice") == OLD_TEXT
    assert (entry.custom_metadata or {})["key_id"] == "k-old"


def test_a_failed_metadata_write_changes_nothing_and_makes_no_version(
    fake_vault: FakeVault,
) -> None:
    written_once(fake_vault)
    fake_vault.fail("metadata", "POST", message="permission denied", status=403)
    for _ in range(4):
        with pytest.raises(SecretStoreError, match="cannot write the metadata of dev/dev-alice"):
            run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=1))
    assert_untouched(fake_vault)


@pytest.mark.parametrize(
    ("status", "read_back"), [(503, False), (504, True)], ids=["refused", "no-answer"]
)
def test_a_failed_data_write_puts_the_previous_metadata_back(
    fake_vault: FakeVault, status: int, read_back: bool
) -> None:
    """Refused (sealed), or no answer and read back as not landed: the path is as it was."""
    written_once(fake_vault)
    fake_vault.fail("data", "POST", under="mistral/acme/dev/", status=status)
    fake_vault.requests.clear()
    with pytest.raises(SecretStoreError) as caught:
        run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=1))
    assert type(caught.value) is SecretStoreError
    assert_untouched(fake_vault)
    assert_no_secret(str(caught.value))
    reads = [r for r in fake_vault.requests if r.method == "GET" and "/data/" in r.url.path]
    assert bool(reads) is read_back


def test_when_the_metadata_cannot_be_put_back_the_error_says_so(fake_vault: FakeVault) -> None:
    """The data did not land (read back), so the current secret is still the old one; the
    metadata names the new key, and the error says so. Read, the path holds a secret of
    no known key: the metadata was written for a version that never became current."""
    written_once(fake_vault)
    fake_vault.fail("data", "POST", under="mistral/acme/dev/")
    fake_vault.fail("metadata", "POST", under="mistral/acme/dev/", skip=1)  # not the first
    with pytest.raises(SecretStoreError, match="putting its previous metadata back failed too"):
        run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=1))
    entry = fake_vault.entries["mistral/acme/dev/dev-alice"]
    assert fake_vault.secret("mistral/acme/dev/dev-alice") == OLD_TEXT
    assert sorted(entry.versions) == [1]
    assert (entry.custom_metadata or {})["key_id"] == make_metadata().key_id
    found = run(vault_store().read_metadata("dev/dev-alice"))
    assert found is not None and (found.version, found.key_id) == (1, None)


def test_when_the_outcome_cannot_be_read_back_nothing_is_undone(fake_vault: FakeVault) -> None:
    """No answer (a gateway's 504) and no read-back: the write may have landed, so the
    metadata written for it stays, and the error is :class:`WriteUncertain`."""
    written_once(fake_vault)
    fake_vault.fail("data", "POST", under="mistral/acme/dev/", status=504, message="timeout")
    fake_vault.fail("data", "GET", under="mistral/acme/dev/")
    with pytest.raises(WriteUncertain, match="cannot be read back now"):
        run(vault_store().put("dev/dev-alice", SECRET, make_metadata(), expect_version=1))
    entry = fake_vault.entries["mistral/acme/dev/dev-alice"]
    assert sorted(entry.versions) == [1]
    assert (entry.custom_metadata or {})["key_id"] == make_metadata().key_id
    fake_vault.faults.clear()  # readable again: the data did not land, so the key is unknown
    found = run(vault_store().read_metadata("dev/dev-alice"))
    assert found is not None and (found.version, found.key_id) == (1, None)


def test_kv2_keeps_max_versions_so_failed_writes_must_not_make_any(
    fake_vault: FakeVault,
) -> None:
    """The fake drops versions past the mount's max_versions, as Vault does."""
    for n in range(12):
        run(
            vault_store().put(
                "dev/dev-alice", SecretStr(f"sk-{n}"), make_metadata(), expect_version=n
            )
        )
    entry = fake_vault.entries["mistral/acme/dev/dev-alice"]
    assert (entry.current_version, entry.oldest_version) == (12, 3)
    assert fake_vault.secret("mistral/acme/dev/dev-alice", version=2) is None


def test_custom_metadata_over_vaults_limit_is_refused_before_writing() -> None:
    with respx.mock:
        write = respx.post(DATA).respond(200, json=WRITTEN)
        with pytest.raises(SecretStoreError, match="allowed_models is 600 characters"):
            run(
                vault_store().put(
                    "dev/dev-alice", SECRET, make_metadata(allowed_models=("m" * 600,))
                )
            )
    assert not write.called


def test_read_metadata_parses_vault_metadata() -> None:
    meta = make_metadata()
    answer = {
        "data": {
            "cas_required": False,
            "created_time": "2025-03-22T02:24:06.945319214Z",
            "current_version": 3,
            "custom_metadata": meta.as_strings(),
            "updated_time": "2025-03-23T10:00:00.5Z",
            "versions": {},
        }
    }
    with respx.mock:
        respx.get(METADATA).respond(200, json=answer)
        found = run(vault_store().read_metadata("dev/dev-alice"))
    assert found is not None
    assert found.version == 3
    assert found.metadata == meta
    assert found.updated == dt.datetime(2025, 3, 23, 10, 0, 0, 500000, tzinfo=dt.UTC)


def test_metadata_not_written_by_this_tool_reads_as_none() -> None:
    answer = {"data": {"current_version": 1, "custom_metadata": {"team": "search"}}}
    with respx.mock:
        respx.get(METADATA).respond(200, json=answer)
        found = run(vault_store().read_metadata("dev/dev-alice"))
    assert found is not None
    assert found.metadata is None
    assert found.key_id is None


def test_list_uses_get_with_list_true_and_walks_folders() -> None:
    base = f"{VAULT_ADDR}/v1/secret/metadata/mistral/acme"
    with respx.mock:
        respx.get(base, params={"list": "true"}).respond(
            200, json={"data": {"keys": ["_locks/", "dev/", "top"]}}
        )
        respx.get(f"{base}/dev", params={"list": "true"}).respond(
            200, json={"data": {"keys": ["dev-alice", "dev-bob"]}}
        )
        assert run(vault_store().list()) == ["dev/dev-alice", "dev/dev-bob", "top"]


def test_delete_removes_the_metadata_and_tolerates_404() -> None:
    with respx.mock:
        route = respx.delete(METADATA)
        route.side_effect = [httpx.Response(204), httpx.Response(404, json={"errors": []})]

        async def scenario() -> None:
            store = vault_store()
            await store.delete("dev/dev-alice")
            await store.delete("dev/dev-alice")

        run(scenario())
    assert route.call_count == 2


# --- login --------------------------------------------------------------------------------


def test_approle_login_once_then_the_token_is_used() -> None:
    auth = AppRoleAuth(SecretStr("role-1234"), SecretStr("secret-id-5678"))
    with respx.mock:
        login = respx.post(f"{VAULT_ADDR}/v1/auth/approle/login").respond(
            200, json={"auth": {"client_token": TOKEN_TEXT, "lease_duration": 3600}}
        )
        read = respx.get(METADATA).respond(404, json={"errors": []})

        async def scenario() -> None:
            store = vault_store(auth=auth, namespace="admin")
            await store.read_metadata("dev/dev-alice")
            await store.read_metadata("dev/dev-alice")

        run(scenario())
    assert login.call_count == 1
    assert body(login.calls.last.request) == {"role_id": "role-1234", "secret_id": "secret-id-5678"}
    assert login.calls.last.request.headers["X-Vault-Namespace"] == "admin"
    assert read.calls.last.request.headers["X-Vault-Token"] == TOKEN_TEXT


def test_refused_approle_login_is_not_resent_and_hides_the_credentials() -> None:
    auth = AppRoleAuth(SecretStr("role-1234"), SecretStr("secret-id-5678"))
    with respx.mock:
        login = respx.post(f"{VAULT_ADDR}/v1/auth/approle/login").respond(
            503, json={"errors": ["Vault is sealed"]}
        )
        with pytest.raises(SecretStoreError) as caught:
            run(vault_store(auth=auth).read_secret("dev/dev-alice"))
    assert login.call_count == 1
    assert "AppRole login at /v1/auth/approle/login was refused" in str(caught.value)
    assert "secret-id-5678" not in str(caught.value)


def test_jwt_login_with_a_given_token() -> None:
    auth = JwtAuth(role="reconciler-apply", jwt=SecretStr("eyJhbGciOi.jwt.sig"))
    with respx.mock:
        login = respx.post(f"{VAULT_ADDR}/v1/auth/jwt/login").respond(
            200, json={"auth": {"client_token": TOKEN_TEXT}}
        )
        respx.get(METADATA).respond(404, json={"errors": []})
        run(vault_store(auth=auth).read_metadata("dev/dev-alice"))
    assert body(login.calls.last.request) == {
        "role": "reconciler-apply",
        "jwt": "eyJhbGciOi.jwt.sig",
    }


def test_jwt_login_with_the_github_actions_oidc_token() -> None:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.test/idtoken?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-abc",
        "VAULT_JWT_AUDIENCE": "https://vault.acme.example",
    }
    settings = VaultSettings(auth="jwt", role="reconciler-apply")
    auth = auth_from_env(settings, env, address=VAULT_ADDR)
    with respx.mock:
        oidc = respx.get("https://token.actions.test/idtoken").respond(
            200, json={"value": "github.oidc.jwt"}
        )
        login = respx.post(f"{VAULT_ADDR}/v1/auth/jwt/login").respond(
            200, json={"auth": {"client_token": TOKEN_TEXT}}
        )
        read = respx.get(METADATA).respond(404, json={"errors": []})
        run(vault_store(auth=auth).read_metadata("dev/dev-alice"))
    asked = oidc.calls.last.request
    assert asked.url.params["audience"] == "https://vault.acme.example"
    assert asked.url.params["api-version"] == "2.0"
    assert asked.headers["Authorization"] == "bearer request-token-abc"
    assert body(login.calls.last.request) == {"role": "reconciler-apply", "jwt": "github.oidc.jwt"}
    assert read.calls.last.request.headers["X-Vault-Token"] == TOKEN_TEXT


def test_jwt_audience_defaults_to_the_vault_address() -> None:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://t.test/x",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "r",
    }
    auth = auth_from_env(VaultSettings(auth="jwt", role="r"), env, address=VAULT_ADDR)
    assert isinstance(auth, JwtAuth)
    assert auth.audience == VAULT_ADDR


@pytest.mark.parametrize(
    ("settings", "env", "missing"),
    [
        (VaultSettings(auth="token"), {}, "VAULT_TOKEN"),
        (VaultSettings(auth="approle"), {"VAULT_SECRET_ID": "s"}, "VAULT_ROLE_ID"),
        (
            VaultSettings(auth="approle", role="MY_ROLE_ID"),
            {"VAULT_ROLE_ID": "r"},
            "MY_ROLE_ID and VAULT_SECRET_ID",
        ),
        (VaultSettings(auth="jwt"), {"VAULT_JWT": "j"}, "VAULT_ROLE"),
        (VaultSettings(auth="jwt", role="r"), {}, "ACTIONS_ID_TOKEN_REQUEST_URL"),
    ],
)
def test_missing_credentials_are_a_config_error_naming_the_variable(
    settings: VaultSettings, env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=missing):
        auth_from_env(settings, env, address=VAULT_ADDR)


@pytest.mark.parametrize("auth", ["jwt", "approle"])
@pytest.mark.parametrize("token", ["VAULT_TOKEN", "VAULT_TOKEN_FILE"])
def test_a_vault_token_the_settings_do_not_use_is_named_in_the_error(auth: str, token: str) -> None:
    # a laptop's VAULT_TOKEN beside the desired state's `auth: jwt` (CI's): say why it is not
    # taken, rather than only asking for a role
    env = {token: TOKEN_TEXT}
    with pytest.raises(ConfigError) as refused:
        auth_from_env(VaultSettings(auth=auth), env, address=VAULT_ADDR)
    message = str(refused.value)
    assert message.endswith(
        f"(vault.auth is {auth} in organization.yaml, so VAULT_TOKEN is not used; "
        "VAULT_AUTH=token uses it)"
    )
    assert_no_secret(message)


def test_vault_auth_token_uses_a_laptop_s_token_beside_a_ci_desired_state(
    fake_vault: FakeVault,
) -> None:
    """The desired state logs CI in with ``jwt``; a person with a Vault token sets
    ``VAULT_AUTH=token`` rather than editing organization.yaml."""
    settings = VaultSettings(auth="jwt", role="reconciler-plan", path_prefix="mistral/acme")
    env = {"VAULT_ADDR": VAULT_ADDR, "VAULT_TOKEN": TOKEN_TEXT, "VAULT_AUTH": "token"}
    store = HashiCorpVault.from_settings(settings, env=env)
    run(store.put("dev/dev-alice", SECRET, make_metadata()))
    assert run(store.read_secret("dev/dev-alice")) == SECRET
    assert [r.url.path for r in fake_vault.requests if "/auth/" in r.url.path] == []
    assert fake_vault.secret("mistral/acme/dev/dev-alice") == SECRET_TEXT


def test_vault_auth_names_another_method_than_the_desired_state_s() -> None:
    env = {"VAULT_AUTH": "approle", "VAULT_ROLE_ID": "r", "VAULT_SECRET_ID": "s"}
    auth = auth_from_env(VaultSettings(auth="token"), env, address=VAULT_ADDR)
    assert repr(auth) == "AppRoleAuth(mount='approle')"
    with pytest.raises(ConfigError) as refused:
        auth_from_env(VaultSettings(), {"VAULT_AUTH": "jwt", "VAULT_TOKEN": "t"}, address="")
    assert str(refused.value).endswith(
        "(VAULT_AUTH is jwt, so VAULT_TOKEN is not used; VAULT_AUTH=token uses it)"
    )


@pytest.mark.parametrize("value", ["oidc", "tokens", "kubernetes"])
def test_an_unknown_vault_auth_is_a_config_error_naming_the_allowed_ones(value: str) -> None:
    env = {"VAULT_AUTH": value, "VAULT_TOKEN": TOKEN_TEXT}
    with pytest.raises(ConfigError) as refused:
        auth_from_env(VaultSettings(auth="jwt"), env, address=VAULT_ADDR)
    assert str(refused.value) == (
        f"VAULT_AUTH must be one of token, approle, jwt (as vault.auth), got {value!r}"
    )


def test_the_job_s_vault_role_wins_over_the_desired_state_s() -> None:
    """CI names each job's role (plan reads, apply writes): a pull request that edits
    vault.role in the desired state cannot log its plan in with the apply role."""
    env = {"VAULT_JWT": "j", "VAULT_ROLE": "reconciler-plan"}
    auth = auth_from_env(VaultSettings(auth="jwt", role="reconciler-apply"), env, address="")
    assert isinstance(auth, JwtAuth) and auth.role == "reconciler-plan"
    fallback = auth_from_env(VaultSettings(auth="jwt", role="r"), {"VAULT_JWT": "j"}, address="")
    assert isinstance(fallback, JwtAuth) and fallback.role == "r"


def test_token_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN_TEXT + "\n")
    auth = auth_from_env(VaultSettings(), {"VAULT_TOKEN_FILE": str(tmp_path / "token")}, address="")
    assert repr(auth) == f"TokenAuth(source={str(tmp_path / 'token')!r})"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vault-token").write_text(TOKEN_TEXT)
    from_home = auth_from_env(VaultSettings(), {"HOME": str(home)}, address="")
    assert isinstance(from_home, TokenAuth)
    assert from_home.token == SecretStr(TOKEN_TEXT)
    assert_no_secret(repr(auth), repr(from_home))


def test_from_settings_reads_the_environment() -> None:
    env = {
        "VAULT_ADDR": "https://vault.acme.example/",
        "VAULT_TOKEN": TOKEN_TEXT,
        "VAULT_NAMESPACE": "admin",
    }
    store = HashiCorpVault.from_settings(VaultSettings(path_prefix="mistral/acme"), env=env)
    assert store.description == (
        "Vault https://vault.acme.example mount secret prefix mistral/acme namespace admin"
    )
    assert_no_secret(store.description, repr(store))


def test_a_plain_http_address_of_another_machine_is_refused() -> None:
    """The Vault token (or the OIDC token, the AppRole secret id) goes to that address: over
    plain HTTP to another host, anyone on the path reads it; an address from
    organization.yaml is refused all the same."""
    env = {"VAULT_ADDR": "http://vault.acme.example:8200", "VAULT_TOKEN": TOKEN_TEXT}
    with pytest.raises(ConfigError) as refused:
        HashiCorpVault.from_settings(VaultSettings(path_prefix="mistral/acme"), env=env)
    assert str(refused.value).startswith(
        "VAULT_ADDR is plain http:// to vault.acme.example, another machine"
    )
    settings = VaultSettings(path_prefix="mistral/acme", address="http://192.0.2.9:8200")
    with pytest.raises(ConfigError) as refused:
        HashiCorpVault.from_settings(settings, env={"VAULT_TOKEN": TOKEN_TEXT})
    assert str(refused.value).startswith("vault.address is plain http:// to 192.0.2.9")
    local = {"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN": TOKEN_TEXT}
    store = HashiCorpVault.from_settings(VaultSettings(path_prefix="mistral/acme"), env=local)
    assert store.description.startswith("Vault http://127.0.0.1:8200 ")


def test_a_desired_state_naming_another_vault_than_vault_addr_is_refused() -> None:
    """CI sets VAULT_ADDR; organization.yaml comes from the pull request. A changed
    vault.address sent the run's Vault login (its token, or its OIDC token) wherever the
    pull request said, before anyone reviewed it."""
    env = {"VAULT_ADDR": "https://vault.acme.example/", "VAULT_TOKEN": TOKEN_TEXT}
    settings = VaultSettings(path_prefix="mistral/acme", address="https://vault.evil.example")
    with pytest.raises(ConfigError) as refused:
        HashiCorpVault.from_settings(settings, env=env)
    assert str(refused.value) == (
        "vault.address (https://vault.evil.example) and VAULT_ADDR "
        "(https://vault.acme.example) name different Vaults: the Vault login goes to only "
        "one; make them agree, unset VAULT_ADDR, or pass --vault vault:URL"
    )
    assert_no_secret(str(refused.value))
    same = VaultSettings(path_prefix="mistral/acme", address="https://vault.acme.example")
    store = HashiCorpVault.from_settings(same, env=env)
    assert store.description.startswith("Vault https://vault.acme.example ")


# --- locks --------------------------------------------------------------------------------

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=10)
LOCK = f"{VAULT_ADDR}/v1/secret/data/mistral/acme/_locks/apply"


def holder(who: str) -> LockHolder:
    return LockHolder(who=who, since=T0, expires=T0 + TTL, host="laptop", pid=7)


def test_lock_is_created_with_cas_zero(fake_vault: FakeVault) -> None:
    store = vault_store(clock=lambda: T0)
    assert run(store.acquire_lock("apply", holder("alice"), TTL)) is None
    first = next(r for r in fake_vault.requests if r.method == "POST")
    assert str(first.url) == LOCK
    sent = body(first)
    assert sent["options"] == {"cas": 0}
    assert sent["data"]["who"] == "alice"
    assert sent["data"]["state"] == "held"
    assert sent["data"]["expires"] == (T0 + TTL).isoformat()


def test_expired_lock_is_taken_over_with_cas_on_its_version(fake_vault: FakeVault) -> None:
    early = vault_store(clock=lambda: T0)
    late = vault_store(clock=lambda: T0 + TTL + dt.timedelta(seconds=1))
    assert run(early.acquire_lock("apply", holder("crashed"), TTL)) is None
    held = run(early.acquire_lock("apply", holder("me"), TTL))
    assert held is not None
    assert held.who == "crashed"
    fake_vault.requests.clear()
    assert run(late.acquire_lock("apply", holder("me"), TTL)) is None
    takeover = [body(r) for r in fake_vault.requests if r.method == "POST"]
    assert [b["options"] for b in takeover] == [{"cas": 0}, {"cas": 1}]
    # the crashed holder's late release cannot free the new holder's lock
    run(early.release_lock("apply", holder("crashed")))
    assert fake_vault.entries["mistral/acme/_locks/apply"].current_version == 2
    current = run(early.acquire_lock("apply", holder("third"), TTL))
    assert current is not None
    assert current.who == "me"


def test_renewal_moves_the_expiry_with_cas_on_the_version_held(fake_vault: FakeVault) -> None:
    later = T0 + TTL / 2
    store = vault_store(clock=lambda: later)
    alice = holder("alice")
    assert run(store.acquire_lock("apply", alice, TTL)) is None
    fake_vault.requests.clear()
    renewed = run(store.renew_lock("apply", alice, TTL))
    assert (renewed.since, renewed.expires) == (T0, later + TTL)
    (sent,) = [body(r) for r in fake_vault.requests if r.method == "POST"]
    assert sent["options"] == {"cas": 1}
    assert sent["data"]["expires"] == (later + TTL).isoformat()
    # another process of the same holder (no version remembered) reads the version first
    again = vault_store(clock=lambda: later)
    assert run(again.renew_lock("apply", renewed, TTL)).expires == later + TTL
    run(store.release_lock("apply", renewed))  # at the version the other one wrote
    assert run(store.read_lock("apply")) is None
    with pytest.raises(LockLost) as caught:
        run(store.renew_lock("apply", renewed, TTL))
    assert caught.value.holder is None


def test_two_racing_takers_of_an_expired_lock_cannot_both_win() -> None:
    fake_vault = FakeVault(VAULT_ADDR, token=TOKEN_TEXT)
    early = vault_store(clock=lambda: T0)
    late = vault_store(clock=lambda: T0 + TTL * 2)
    with respx.mock(assert_all_called=False) as router:
        fake_vault.install(router)
        run(early.acquire_lock("apply", holder("crashed"), TTL))
    entry = fake_vault.entries["mistral/acme/_locks/apply"]
    real = fake_vault.handle
    raced = False

    def racing(request: httpx.Request) -> httpx.Response:
        nonlocal raced
        if request.method == "POST" and not raced and body(request)["options"]["cas"] == 1:
            raced = True  # a competitor takes over at version 1 just before us
            entry.current_version = 2
            entry.versions[2] = {
                **entry.versions[1],
                "data": {
                    **holder("competitor").as_strings(),
                    "state": "held",
                    "since": (T0 + TTL * 2).isoformat(),
                    "expires": (T0 + TTL * 3).isoformat(),
                },
            }
        return real(request)

    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=f"{VAULT_ADDR}/v1/secret/").mock(side_effect=racing)
        found = run(late.acquire_lock("apply", holder("me"), TTL))
    assert found is not None
    assert found.who == "competitor"
    assert raced


def test_release_writes_released_with_cas_on_the_held_version(fake_vault: FakeVault) -> None:
    store = vault_store(clock=lambda: T0)
    me = holder("me")

    async def scenario() -> None:
        await store.acquire_lock("apply", me, TTL)
        fake_vault.requests.clear()
        await store.release_lock("apply", me)

    run(scenario())
    (release,) = fake_vault.requests
    assert body(release) == {
        "options": {"cas": 1},
        "data": {"state": "released", "released_by": me.id},
    }


def test_secret_value_never_appears_in_a_request_other_than_the_data_write(
    fake_vault: FakeVault,
) -> None:
    async def scenario() -> None:
        store = vault_store()
        await store.put("dev/dev-alice", SECRET, make_metadata())
        await store.read_metadata("dev/dev-alice")
        await store.list()

    run(scenario())
    carrying = [r for r in fake_vault.requests if SECRET_TEXT.encode() in r.content]
    assert [(r.method, r.url.path) for r in carrying] == [
        ("POST", "/v1/secret/data/mistral/acme/dev/dev-alice")
    ]
    assert all(SECRET_TEXT not in str(r.url) for r in fake_vault.requests)


# --- the token a login created ends with the run ----------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        AppRoleAuth(SecretStr("role-1234"), SecretStr("secret-id-5678")),
        JwtAuth(role="reconciler", jwt=SecretStr("eyJ.a-github-oidc.jwt")),
    ],
    ids=["approle", "jwt"],
)
def test_the_token_a_login_created_is_revoked_when_the_store_closes(
    fake_vault: FakeVault, auth: AppRoleAuth | JwtAuth
) -> None:
    async def scenario() -> None:
        store = vault_store(auth=auth)
        await store.read_metadata("dev/dev-alice")
        await store.aclose()

    run(scenario())
    revokes = [r for r in fake_vault.requests if r.url.path == "/v1/auth/token/revoke-self"]
    assert [r.method for r in revokes] == ["POST"]
    (issued,) = fake_vault.revoked
    assert revokes[0].headers["X-Vault-Token"] == issued
    assert issued not in fake_vault.tokens  # it no longer works


def test_a_token_the_user_gave_is_never_revoked(fake_vault: FakeVault) -> None:
    async def scenario() -> None:
        store = vault_store()  # VAULT_TOKEN
        await store.read_metadata("dev/dev-alice")
        await store.aclose()

    run(scenario())
    assert not [r for r in fake_vault.requests if "revoke" in r.url.path]
    assert fake_vault.revoked == [] and TOKEN_TEXT in fake_vault.tokens


def test_a_store_that_never_logged_in_revokes_nothing(fake_vault: FakeVault) -> None:
    auth = AppRoleAuth(SecretStr("role-1234"), SecretStr("secret-id-5678"))
    run(vault_store(auth=auth).aclose())
    assert fake_vault.requests == []


def test_a_failed_revoke_is_a_warning_not_an_error(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, json_file=tmp_path / "log.jsonl")
    auth = AppRoleAuth(SecretStr("role-1234"), SecretStr("secret-id-5678"))
    with respx.mock:
        respx.post(f"{VAULT_ADDR}/v1/auth/approle/login").respond(
            200, json={"auth": {"client_token": TOKEN_TEXT}}
        )
        respx.get(METADATA).respond(404, json={"errors": []})
        revoke = respx.post(f"{VAULT_ADDR}/v1/auth/token/revoke-self").respond(503, json=SEALED)

        async def scenario() -> None:
            store = vault_store(auth=auth)
            await store.read_metadata("dev/dev-alice")
            await store.aclose()

        run(scenario())
    assert revoke.called
    logged = stream.getvalue() + (tmp_path / "log.jsonl").read_text()
    assert "vault.revoke_failed" in logged
    assert "it ends when its TTL runs out" in logged
    assert_no_secret(logged)
