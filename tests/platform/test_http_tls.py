"""The TLS context of the HTTP stack (reconciler.http.client_tls): one shared context with
the trusted certificates for HTTPS; for a plain HTTP server (a sandbox, a development
Vault) none is loaded, and its client's context trusts no certificate at all."""

from __future__ import annotations

import ssl

from reconciler import http


def test_an_https_client_shares_the_context_with_the_trusted_certificates() -> None:
    for base in ("https://api.mistral.ai/v1/admin", ""):  # "": absolute URLs, maybe HTTPS
        assert http.client_tls(base) is http.tls_context()
    assert http.tls_context().cert_store_stats()["x509_ca"] > 0


def test_a_plain_http_client_verifies_strictly_and_trusts_no_certificate() -> None:
    context = http.client_tls("http://127.0.0.1:8765/v1/admin")
    assert context is not http.tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # an HTTPS request through it fails
