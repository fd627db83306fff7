"""Every environment variable reconciler reads, named once.

Code reads the environment only through these names (``env.get(VAULT_TOKEN)``) and says
them in messages the same way, so a grep for a variable finds every reader and a rename
happens here. The bottom layer: it imports nothing.

La Plateforme (:mod:`reconciler.platform.mistral.settings`)

=============================== ============================================================
MISTRAL_ADMIN_API_KEY           the organisation's Admin API key
MISTRAL_ADMIN_API_KEY_FILE      a file holding that key (instead of the variable)
MISTRAL_ADMIN_BASE_URL          the Admin API base
MISTRAL_API_BASE_URL            the inference API base (``/models``)
MISTRAL_ADMIN_AUTH              ``bearer`` or ``x-api-key``
MISTRAL_ADMIN_API_KEY_NAME      the admin key's name as the audit log shows it: only its changes
                                are reconciler's own (unset: every admin key's are)
MISTRAL_CONCURRENCY             requests in flight at once
MISTRAL_TIMEOUT                 seconds to wait for one answer
=============================== ============================================================

Anthropic (:mod:`reconciler.platform.anthropic.settings`)

=============================== ============================================================
ANTHROPIC_ADMIN_API_KEY         the organisation's Admin API key (``sk-ant-admin...``)
ANTHROPIC_ADMIN_API_KEY_FILE    a file holding that key (instead of the variable)
ANTHROPIC_BASE_URL              the API base (``https://api.anthropic.com``)
=============================== ============================================================

reconciler itself

=============================== ============================================================
RECONCILER_VAULT                overrides every key's secret store (``file:PATH``, ``vault:URL``)
RECONCILER_ALLOW_FILE_VAULT     ``1``: allow a file vault against a live organisation
RECONCILER_ALLOW_PLAIN_HTTP     ``1``: send credentials over plain http:// to another machine
RECONCILER_STATE_DIR            where the journal and audit logs live
RECONCILER_CATALOG              a model catalog written by ``reconciler catalog refresh``
RECONCILER_CRASH_AFTER_RECORD   tests only: SIGKILL after the Nth journal record
RECONCILER_RETRY_DELAY_SCALE    tests only: the share of each wait between retries waited
                                (``0``: retry at once; unset or not a number: all of it)
NO_COLOR                        never colour the output
TERM                            ``dumb``: no colour and no progress bar either
PYDANTIC_DISABLE_PLUGINS        pydantic's: the ``reconciler`` command takes it as ``__all__``
                                when unset (loads no pydantic plugin); empty: plugins load
=============================== ============================================================

HashiCorp Vault (:mod:`reconciler.vault.hashicorp`, :mod:`reconciler.vault.hashicorp_auth`)

=============================== ============================================================
VAULT_ADDR                      the Vault address (the desired state's, if it names one, must agree)
VAULT_NAMESPACE                 the Vault Enterprise namespace
VAULT_TOKEN                     token auth; else the file VAULT_TOKEN_FILE, else ~/.vault-token
VAULT_TOKEN_FILE                a file holding the token
VAULT_ROLE_ID, VAULT_SECRET_ID  AppRole auth (the role id variable may be renamed in the YAML)
VAULT_ROLE                      the JWT auth role; wins over vault.role (CI sets each job's)
VAULT_JWT                       a JWT to log in with (else one from GitHub Actions' OIDC)
VAULT_JWT_AUDIENCE              the audience asked of GitHub Actions' OIDC (the Vault address)
VAULT_AUTH                      the auth method, instead of ``vault.auth`` (``token``, ``approle``,
                                ``jwt``): ``token`` on a laptop whose desired state says ``jwt``
VAULT_AUTH_PATH                 the auth mount, instead of ``approle`` / ``jwt``
HOME                            where ``~/.vault-token`` is
=============================== ============================================================

GitHub (:mod:`reconciler.github`, :mod:`reconciler.vault.github`, the lock's holder)

=============================== ============================================================
GITHUB_TOKEN                    the token for comments, issues and Actions secrets
GITHUB_API_URL                  the REST API base (GitHub Enterprise)
GITHUB_REPOSITORY               ``OWNER/NAME`` when ``--repo`` is not given
GITHUB_EVENT_PATH               the event payload (the pull request number)
GITHUB_SERVER_URL, GITHUB_RUN_ID  the link to the run, in comments and issues
GITHUB_SHA, GITHUB_REF_NAME     the merged commit and its branch (the reviewed plan, stale plans)
GITHUB_ACTOR                    who holds the apply lock, in a workflow
GITHUB_ACTIONS                  ``true`` inside a workflow
GITHUB_STEP_SUMMARY             the job summary file
GITHUB_OUTPUT                   the step outputs file (``reconciler github outputs``)
ACTIONS_ID_TOKEN_REQUEST_URL    where to ask GitHub Actions for an OIDC token (Vault JWT)
ACTIONS_ID_TOKEN_REQUEST_TOKEN  what authorises that request
=============================== ============================================================
"""

from __future__ import annotations

MISTRAL_ADMIN_API_KEY = "MISTRAL_ADMIN_API_KEY"
MISTRAL_ADMIN_API_KEY_FILE = "MISTRAL_ADMIN_API_KEY_FILE"
MISTRAL_ADMIN_BASE_URL = "MISTRAL_ADMIN_BASE_URL"
MISTRAL_API_BASE_URL = "MISTRAL_API_BASE_URL"
MISTRAL_ADMIN_AUTH = "MISTRAL_ADMIN_AUTH"
MISTRAL_ADMIN_API_KEY_NAME = "MISTRAL_ADMIN_API_KEY_NAME"
MISTRAL_CONCURRENCY = "MISTRAL_CONCURRENCY"
MISTRAL_TIMEOUT = "MISTRAL_TIMEOUT"

ANTHROPIC_ADMIN_API_KEY = "ANTHROPIC_ADMIN_API_KEY"
ANTHROPIC_ADMIN_API_KEY_FILE = "ANTHROPIC_ADMIN_API_KEY_FILE"
ANTHROPIC_BASE_URL = "ANTHROPIC_BASE_URL"

RECONCILER_VAULT = "RECONCILER_VAULT"
RECONCILER_ALLOW_FILE_VAULT = "RECONCILER_ALLOW_FILE_VAULT"
RECONCILER_ALLOW_PLAIN_HTTP = "RECONCILER_ALLOW_PLAIN_HTTP"
RECONCILER_STATE_DIR = "RECONCILER_STATE_DIR"
RECONCILER_CATALOG = "RECONCILER_CATALOG"
RECONCILER_CRASH_AFTER_RECORD = "RECONCILER_CRASH_AFTER_RECORD"
RECONCILER_RETRY_DELAY_SCALE = "RECONCILER_RETRY_DELAY_SCALE"
NO_COLOR = "NO_COLOR"
TERM = "TERM"
PYDANTIC_DISABLE_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"

VAULT_ADDR = "VAULT_ADDR"
VAULT_NAMESPACE = "VAULT_NAMESPACE"
VAULT_TOKEN = "VAULT_TOKEN"
VAULT_TOKEN_FILE = "VAULT_TOKEN_FILE"
VAULT_ROLE_ID = "VAULT_ROLE_ID"
VAULT_SECRET_ID = "VAULT_SECRET_ID"
VAULT_ROLE = "VAULT_ROLE"
VAULT_JWT = "VAULT_JWT"
VAULT_JWT_AUDIENCE = "VAULT_JWT_AUDIENCE"
VAULT_AUTH = "VAULT_AUTH"
VAULT_AUTH_PATH = "VAULT_AUTH_PATH"
HOME = "HOME"

GITHUB_TOKEN = "GITHUB_TOKEN"
GITHUB_API_URL = "GITHUB_API_URL"
GITHUB_REPOSITORY = "GITHUB_REPOSITORY"
GITHUB_EVENT_PATH = "GITHUB_EVENT_PATH"
GITHUB_SERVER_URL = "GITHUB_SERVER_URL"
GITHUB_RUN_ID = "GITHUB_RUN_ID"
GITHUB_SHA = "GITHUB_SHA"
GITHUB_REF_NAME = "GITHUB_REF_NAME"
GITHUB_ACTOR = "GITHUB_ACTOR"
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITHUB_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
GITHUB_OUTPUT = "GITHUB_OUTPUT"
ACTIONS_ID_TOKEN_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
ACTIONS_ID_TOKEN_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
