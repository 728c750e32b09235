"""TLS: verification with trustme CAs, insecure mode, client certificates, certs.d rules."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trustme

from sansio_registry.errors import ConfigError, TransportError
from sansio_registry.http import Headers, Origin, Request
from tests.backend.loopback import Exchange, serve, trio_test
from trio_backend.pool import ConnectionPool
from trio_backend.tls import (
    CertDirContents,
    CertDirSearch,
    HostTLS,
    TLSConfig,
    cert_dir_for_host,
    host_port,
    load_cert_dir,
)

NO_DIRS = CertDirSearch(enabled=False)


def req(url: str, *, verify: bool = True) -> Request:
    return Request(method="GET", url=url, headers=Headers(), tls_verify=verify)


async def ok(ex: Exchange) -> None:
    await ex.respond(200, body=b"secure")


def server_context(
    ca: trustme.CA, *names: str, client_ca: trustme.CA | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(ctx)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(ctx)
    return ctx


def write_ca(ca: trustme.CA, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def write_client_pair(ca: trustme.CA, directory: Path, stem: str = "client") -> tuple[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    cert = ca.issue_cert("client.example")
    cert_path, key_path = directory / f"{stem}.cert", directory / f"{stem}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return str(cert_path), str(key_path)


# --- verification ----------------------------------------------------------------------------


@trio_test
async def test_trusted_ca_verifies_and_connection_is_reused(tmp_path: Path) -> None:
    ca = trustme.CA()
    tls = TLSConfig(
        default=HostTLS(ca_files=(write_ca(ca, tmp_path / "ca.pem"),)), cert_dirs=NO_DIRS
    )
    async with serve(ok, ssl_context=server_context(ca)) as srv, ConnectionPool(tls=tls) as pool:
        for _ in range(3):
            assert (await pool.fetch(req(srv.url("/v2/")))).body == b"secure"
        assert pool.statistics().connections_opened == 1
    assert srv.url().startswith("https://")


@trio_test
async def test_untrusted_ca_fails_with_certificate_error() -> None:
    ca = trustme.CA()
    async with (
        serve(ok, ssl_context=server_context(ca)) as srv,
        ConnectionPool(tls=TLSConfig(cert_dirs=NO_DIRS)) as pool,
    ):
        with pytest.raises(TransportError) as info:
            await pool.fetch(req(srv.url("/v2/")))
        assert pool.statistics().idle == ()
    message = str(info.value)
    assert message.startswith(f"TLS handshake with https://127.0.0.1:{srv.port}: ")
    assert "certificate verify failed" in message
    assert isinstance(info.value.__cause__, trio.BrokenResourceError)


@trio_test
async def test_name_mismatch_fails(tmp_path: Path) -> None:
    ca = trustme.CA()
    tls = TLSConfig(
        default=HostTLS(ca_files=(write_ca(ca, tmp_path / "ca.pem"),)), cert_dirs=NO_DIRS
    )
    async with (
        serve(ok, ssl_context=server_context(ca, "registry.example")) as srv,
        ConnectionPool(tls=tls) as pool,
    ):
        with pytest.raises(TransportError, match="certificate verify failed"):
            await pool.fetch(req(srv.url()))


@trio_test
async def test_unverified_request_skips_verification_others_keep_it() -> None:
    ca = trustme.CA()
    async with serve(ok, ssl_context=server_context(ca, "registry.example")) as srv:
        tls = TLSConfig(cert_dirs=NO_DIRS)  # the request decides: one knob (ClientConfig)
        async with ConnectionPool(tls=tls) as pool:
            assert (await pool.fetch(req(srv.url(), verify=False))).body == b"secure"
            # verified requests keep verifying
            strict = tls.ssl_context_for(Origin("https", "localhost", srv.port))
            assert strict.verify_mode == ssl.CERT_REQUIRED
            with pytest.raises(TransportError, match="certificate verify failed"):
                await pool.fetch(req(f"https://localhost:{srv.port}/"))


@trio_test
async def test_plain_http_server_over_https_is_named() -> None:
    async def plain(stream: trio.abc.Stream) -> None:
        await stream.receive_some(65536)  # a TLS ClientHello a plain server cannot parse
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

    async with serve(raw=plain) as srv, ConnectionPool(tls=TLSConfig(cert_dirs=NO_DIRS)) as pool:
        with pytest.raises(TransportError) as info:
            await pool.fetch(req(f"https://127.0.0.1:{srv.port}/v2/"))
    assert str(info.value) == (
        f"TLS handshake with https://127.0.0.1:{srv.port}: "
        "server gave HTTP response to HTTPS client"
    )


@trio_test
async def test_client_certificate_from_certs_dir(tmp_path: Path) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    ctx = server_context(server_ca, client_ca=client_ca)
    async with serve(ok, ssl_context=ctx) as srv:
        certs = tmp_path / "home" / ".config/containers/certs.d" / f"127.0.0.1:{srv.port}"
        write_ca(server_ca, certs / "ca.crt")
        write_client_pair(client_ca, certs)
        search = CertDirSearch(home=str(tmp_path / "home"), system_dirs=())
        async with ConnectionPool(tls=TLSConfig(cert_dirs=search)) as pool:
            assert (await pool.fetch(req(srv.url()))).body == b"secure"

        # Without the client pair the server refuses us (TLS 1.3 reports it on first read).
        (certs / "client.cert").unlink()
        (certs / "client.key").unlink()
        async with ConnectionPool(tls=TLSConfig(cert_dirs=search)) as pool:
            with pytest.raises(TransportError):
                await pool.fetch(req(srv.url()))


@trio_test
async def test_explicit_cert_dir_shortcut(tmp_path: Path) -> None:
    ca = trustme.CA()
    write_ca(ca, tmp_path / "certs" / "registry.crt")
    async with (
        serve(ok, ssl_context=server_context(ca)) as srv,
        ConnectionPool(tls=TLSConfig(cert_dir=str(tmp_path / "certs"))) as pool,
    ):
        assert (await pool.fetch(req(srv.url()))).status == 200


# --- contexts --------------------------------------------------------------------------------


def test_ssl_context_is_cached_per_host() -> None:
    tls = TLSConfig(cert_dirs=NO_DIRS)
    a = tls.ssl_context_for(Origin.of("https://registry.test/v2/"))
    assert tls.ssl_context_for(Origin.of("https://registry.test:443/x")) is a
    assert a.verify_mode == ssl.CERT_REQUIRED and a.check_hostname
    b = tls.ssl_context_for(Origin.of("https://INSECURE.test:5000/"), verify=False)
    assert b is not a
    assert b.verify_mode == ssl.CERT_NONE and not b.check_hostname


def test_bad_explicit_ca_file_is_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    tls = TLSConfig(default=HostTLS(ca_files=(str(junk),)), cert_dirs=NO_DIRS)
    with pytest.raises(ConfigError, match="loading CA certificates"):
        tls.ssl_context_for(Origin.of("https://r.test/"))
    missing = TLSConfig(default=HostTLS(ca_files=(str(tmp_path / "nope.pem"),)), cert_dirs=NO_DIRS)
    with pytest.raises(ConfigError, match=r"nope\.pem"):
        missing.ssl_context_for(Origin.of("https://r.test/"))


def test_bad_client_pair_is_config_error(tmp_path: Path) -> None:
    (tmp_path / "c.cert").write_text("junk")
    (tmp_path / "c.key").write_text("junk")
    tls = TLSConfig(cert_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="loading client certificate"):
        tls.ssl_context_for(Origin.of("https://r.test/"))


def test_junk_crt_in_certs_dir_is_ignored_like_go(tmp_path: Path) -> None:
    (tmp_path / "junk.crt").write_text("not PEM at all")
    ctx = TLSConfig(cert_dir=str(tmp_path)).ssl_context_for(Origin.of("https://r.test/"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED


# --- certs.d rules (containers-certs.d(5)) --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://docker.io/v2/", "docker.io"),
        ("https://registry-1.docker.io/v2/", "docker.io"),  # Docker Hub's connection host
        ("https://registry-1.docker.io:5000/v2/", "registry-1.docker.io:5000"),
        ("https://registry.test:443/", "registry.test"),
        ("https://registry.test:5000/", "registry.test:5000"),
        ("http://r.test:80/", "r.test"),
    ],
)
def test_host_port_key(url: str, key: str) -> None:
    assert host_port(Origin.of(url)) == key


def test_docker_hub_connections_use_the_docker_io_certs_folder(tmp_path: Path) -> None:
    hub = tmp_path / "certs.d" / "docker.io"
    hub.mkdir(parents=True)
    (hub / "ca.crt").write_text("not used until a context is built")
    tls = TLSConfig(cert_dirs=CertDirSearch(per_host_root=str(tmp_path / "certs.d")))
    contents = tls.cert_dir_contents_for(Origin.of("https://registry-1.docker.io/v2/"))
    assert contents.ca_files == (str(hub / "ca.crt"),)


def test_cert_dir_explicit_dir_wins_even_if_missing(tmp_path: Path) -> None:
    (tmp_path / "home/.config/containers/certs.d/h:5000").mkdir(parents=True)
    got = cert_dir_for_host(
        "h:5000",
        explicit_dir=str(tmp_path / "missing"),
        per_host_root=str(tmp_path / "root"),
        home=str(tmp_path / "home"),
    )
    assert got == str(tmp_path / "missing")


def test_cert_dir_per_host_root_is_joined(tmp_path: Path) -> None:
    got = cert_dir_for_host("h:5000", per_host_root=str(tmp_path), home=str(tmp_path / "home"))
    assert got == str(tmp_path / "h:5000")


def test_cert_dir_search_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    etc_containers = tmp_path / "etc/containers/certs.d"
    etc_docker = tmp_path / "etc/docker/certs.d"
    system = (str(etc_containers), str(etc_docker))

    def lookup() -> str | None:
        return cert_dir_for_host("h:5000", home=str(home), env={}, system_dirs=system)

    assert lookup() is None
    (etc_docker / "h:5000").mkdir(parents=True)
    assert lookup() == str(etc_docker / "h:5000")
    (etc_containers / "h:5000").mkdir(parents=True)
    assert lookup() == str(etc_containers / "h:5000")
    (home / ".config/containers/certs.d/h:5000").mkdir(parents=True)
    assert lookup() == str(home / ".config/containers/certs.d/h:5000")
    # only the exact host[:port] directory counts
    assert cert_dir_for_host("h", home=str(home), env={}, system_dirs=system) is None


def test_cert_dir_home_comes_from_env(tmp_path: Path) -> None:
    (tmp_path / ".config/containers/certs.d/docker.io").mkdir(parents=True)
    got = cert_dir_for_host("docker.io", env={"HOME": str(tmp_path)}, system_dirs=())
    assert got == str(tmp_path / ".config/containers/certs.d/docker.io")
    assert cert_dir_for_host("docker.io", env={}, system_dirs=()) is None


def test_load_cert_dir_lists_cas_and_pairs(tmp_path: Path) -> None:
    for name in ("b.crt", "a.crt", "client.cert", "client.key", "README", "x.pem"):
        (tmp_path / name).write_text("")
    assert load_cert_dir(str(tmp_path)) == CertDirContents(
        ca_files=(str(tmp_path / "a.crt"), str(tmp_path / "b.crt")),
        client_pairs=((str(tmp_path / "client.cert"), str(tmp_path / "client.key")),),
    )
    assert load_cert_dir(str(tmp_path / "missing")) == CertDirContents()
    assert load_cert_dir(None) == CertDirContents()


def test_load_cert_dir_cert_without_key(tmp_path: Path) -> None:
    (tmp_path / "client.cert").write_text("")
    with pytest.raises(ConfigError) as info:
        load_cert_dir(str(tmp_path))
    assert str(info.value) == (
        "missing key client.key for client certificate client.cert. "
        "Note that CA certificates should use the extension .crt"
    )


def test_load_cert_dir_key_without_cert(tmp_path: Path) -> None:
    (tmp_path / "client.key").write_text("")
    with pytest.raises(ConfigError) as info:
        load_cert_dir(str(tmp_path))
    assert str(info.value) == "missing client certificate client.cert for key client.key"


@trio_test
async def test_inconsistent_certs_dir_fails_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "ca.cert").write_text("")  # a CA misnamed .cert: Go's hint applies
    async with ConnectionPool(tls=TLSConfig(cert_dir=str(tmp_path))) as pool:
        with pytest.raises(ConfigError, match=r"should use the extension \.crt"):
            await pool.fetch(req("https://127.0.0.1:1/v2/"))
        assert pool.statistics().connections_opened == 0
