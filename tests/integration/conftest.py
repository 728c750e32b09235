"""Session fixtures for the integration lab: real registries on loopback, seeded once.

Every test in this folder is marked ``integration``. A missing ``docker-registry`` or
``skopeo`` is a failure with instructions, never a skip: the suite must not pass silently on a
machine that cannot run it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.labs import Lab, basic_lab, plain_lab, tls_lab, token_lab
from tests.lab.registry import REGISTRY_BINARY, LabError, RegistryServer, require_binary
from tests.lab.skopeo import SKOPEO_BINARY

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


def _require_tools() -> None:
    try:
        require_binary(REGISTRY_BINARY)
        require_binary(SKOPEO_BINARY)
    except LabError as exc:
        pytest.fail(str(exc), pytrace=False)


@contextlib.contextmanager
def _lab(cm: contextlib.AbstractContextManager[Lab]) -> Iterator[Lab]:
    _require_tools()
    try:
        lab = cm.__enter__()
    except LabError as exc:
        pytest.fail(f"integration lab did not start: {exc}", pytrace=False)
    try:
        yield lab
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def plain_registry() -> Iterator[Lab]:
    """Insecure http, no auth, schema1 enabled; ns/app, ns/oci, ns/multi, ns/list, ns/s1."""
    with _lab(plain_lab()) as lab:
        yield lab


@pytest.fixture(scope="session")
def basic_registry() -> Iterator[Lab]:
    """htpasswd Basic auth (alice/secret pushes, bob/hunter2), standard images seeded."""
    with _lab(basic_lab()) as lab:
        yield lab


@pytest.fixture(scope="session")
def token_registry() -> Iterator[Lab]:
    """Bearer auth via ``lab.issuer`` (alice: all; bob: pull ns/*; anonymous: pull public/*)."""
    with _lab(token_lab()) as lab:
        yield lab


@pytest.fixture(scope="session")
def tls_registry() -> Iterator[Lab]:
    """HTTPS with a trustme CA; ``lab.cert_dir`` is a certs.d folder with ca.crt."""
    with _lab(tls_lab()) as lab:
        yield lab


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., RegistryServer]]:
    """Start throwaway registries (``RegistryServer`` kwargs) for tests that mutate state."""
    started: list[RegistryServer] = []

    def start(**kwargs: Any) -> RegistryServer:
        _require_tools()
        server = RegistryServer(**kwargs)
        try:
            server.start()
        except LabError as exc:
            pytest.fail(f"registry did not start: {exc}", pytrace=False)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
