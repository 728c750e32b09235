"""Which proxy a URL goes through: Go's ProxyFromEnvironment, vectors from its own tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_registry.errors import ProxyError, TransportError
from trio_backend.proxy import Proxy, ProxySettings

# golang.org/x/net/http/httpproxy's TestUseProxy list, verbatim.
GO_NO_PROXY = (
    "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, "
    "10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, "
    "2002:db8:a::45/64"
)


@pytest.mark.parametrize(
    ("host", "proxied"),
    [
        ("localhost", False),
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("::2", True),  # not a loopback address
        ("192.168.1.1", False),  # exact IPv4
        ("192.168.1.2", True),  # the entry's port (81) is not the request's (80)
        ("192.168.1.3", False),  # exact IPv4 with port
        ("192.168.1.4", True),
        ("10.0.0.2", False),  # CIDR
        ("2001:db8::52:0:1", False),  # exact IPv6
        ("2001:db8::52:0:2", True),  # port 443 in the entry
        ("2001:db8::52:0:3", False),  # exact IPv6 with port
        ("2002:db8:a::123", False),  # IPv6 CIDR
        ("fe80::424b:c8be:1643:a1b6", True),
        ("barbaz.net", True),  # ".barbaz.net" is subdomains only
        ("www.barbaz.net", False),
        ("foobar.com", False),
        ("www.foobar.com", False),  # "foobar.com" covers its subdomains
        ("foofoobar.com", True),  # not a suffix at a label boundary
        ("baz.com", True),
        ("localhost.net", True),
        ("local.localhost", True),
        ("barbarbaz.net", True),
        ("wildcard.io", True),  # "*.wildcard.io" is subdomains only
        ("nested.wildcard.io", False),
        ("awildcard.io", True),
    ],
)
def test_no_proxy_matches_go(host: str, proxied: bool) -> None:
    settings = ProxySettings.of(http="http://proxy.example.com", no_proxy=GO_NO_PROXY)
    got = settings.proxy_for("http", host, 80)
    assert (got is not None) == proxied


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port"),
    [
        ("127.0.0.1:8080", "http", "127.0.0.1", 8080),
        ("cache.corp.example.com:1234", "http", "cache.corp.example.com", 1234),
        ("cache.corp.example.com", "http", "cache.corp.example.com", 80),
        ("https://cache.corp.example.com", "https", "cache.corp.example.com", 443),
        ("http://[::1]:3128", "http", "::1", 3128),
    ],
)
def test_proxy_urls_parse_as_go_reads_them(text: str, scheme: str, host: str, port: int) -> None:
    proxy = Proxy.parse(text)
    assert (proxy.scheme, proxy.host, proxy.port) == (scheme, host, port)


def test_https_urls_use_https_proxy_and_http_urls_http_proxy() -> None:
    env = {"HTTP_PROXY": "http.proxy.tld", "HTTPS_PROXY": "https://secure.proxy.tld"}
    settings = ProxySettings.from_environment(env)
    assert settings.proxy_for("http", "insecure.tld", 80) == Proxy("http", "http.proxy.tld", 80)
    assert settings.proxy_for("https", "secure.tld", 443) == Proxy(
        "https", "secure.proxy.tld", 443
    )


def test_no_fallback_from_https_to_http_proxy() -> None:
    settings = ProxySettings.from_environment({"HTTP_PROXY": "http://p:3128"})
    assert settings.proxy_for("https", "registry.example", 443) is None


def test_upper_case_wins_and_lower_case_works() -> None:
    both = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}
    assert ProxySettings.from_environment(both).https == Proxy("http", "upper", 1)
    lower = {"https_proxy": "http://lower:2", "no_proxy": "example.com"}
    settings = ProxySettings.from_environment(lower)
    assert settings.https == Proxy("http", "lower", 2)
    assert settings.proxy_for("https", "example.com", 443) is None


def test_http_proxy_is_ignored_in_a_cgi_request() -> None:
    env = {"HTTP_PROXY": "http://10.1.2.3:8080", "REQUEST_METHOD": "GET"}
    assert ProxySettings.from_environment(env).proxy_for("http", "example.com", 80) is None


def test_no_proxy_star_bypasses_everything() -> None:
    settings = ProxySettings.of(https="http://p:3128", no_proxy="*")
    assert settings.proxy_for("https", "registry.example", 443) is None


def test_no_proxy_host_with_port_matches_only_that_port() -> None:
    settings = ProxySettings.of(https="http://p:3128", no_proxy="registry.test:5000")
    assert settings.proxy_for("https", "registry.test", 5000) is None
    assert settings.proxy_for("https", "registry.test", 5001) is not None


def test_credentials_become_proxy_authorization_and_never_show() -> None:
    proxy = Proxy.parse("http://al%40ice:s3cr%3At@proxy.corp:3128")
    assert proxy.authorization == "Basic YWxAaWNlOnMzY3I6dA=="  # base64("al@ice:s3cr:t")
    assert "s3cr" not in repr(proxy)
    assert proxy.redacted() == "http://***@proxy.corp:3128"


@pytest.mark.parametrize("text", ["socks5://127.0.0.1:1080", "ftp://p", "http://", "http://h:x"])
def test_unusable_proxy_urls_are_proxy_errors_without_secrets(text: str) -> None:
    with pytest.raises(ProxyError) as info:
        Proxy.parse(text.replace("://", "://u:hunter2@", 1) if "h:x" not in text else text)
    assert isinstance(info.value, TransportError)
    assert "hunter2" not in str(info.value)


@given(st.ip_addresses())
def test_loopback_addresses_are_never_proxied(ip: object) -> None:
    settings = ProxySettings.of(http="http://p:3128", https="http://p:3128")
    proxied = settings.proxy_for("https", str(ip), 443) is not None
    assert proxied == (not ip.is_loopback)  # type: ignore[attr-defined]
