"""The integration lab: real registries, a token issuer, TLS material and seeded images.

Used by the pytest fixtures (tests/integration/conftest.py), ``make demo`` (tests/lab/demo.py)
and the benchmarks. It depends on nothing in sansio_registry/trio_backend: it is what they are
checked against. Modules:

- ``registry``: `RegistryServer` (``docker-registry serve`` on a free loopback port), `free_port`.
- ``token_issuer``: `TokenIssuer` (distribution token spec + OAuth2 form, RS256 JWTs, counters).
- ``tls``: trustme CA, server/client certificate files, certs.d folders.
- ``images``: deterministic images and the pushers (schema2, OCI, index, list, schema1).
- ``skopeo``: hermetic ``skopeo inspect/copy/manifest-digest`` runs.
- ``signing``: GPG keys, a served lookaside folder, ``skopeo copy --sign-by``.
- ``client``: `LabHTTP`, the lab's own tiny HTTP client (pushing, probing quirks).
- ``labs``: `plain_lab` / `basic_lab` / `token_lab` / `tls_lab` context managers -> `Lab`.
- ``serving``: `Service` (``with`` from start/stop), `BackgroundHTTPServer`, `ServedRequest`.
"""

__all__: list[str] = []
