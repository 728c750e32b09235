"""The lab itself works: registries answer, seeded bytes round-trip through skopeo, the token
issuer is trusted by the real registry and counts what it serves, wrong passwords are refused."""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import jwt
import pytest

from tests.lab.client import LabHTTP, basic_header, parse_challenge
from tests.lab.images import (
    ALL_MANIFEST_TYPES,
    MT_DOCKER_LIST,
    MT_DOCKER_V2,
    MT_OCI_INDEX,
    build_image,
    make_layer,
    push_oci_image,
    push_schema2_image,
    schema1_digest,
    schema1_payload,
    sha256_digest,
)
from tests.lab.labs import Lab
from tests.lab.registry import LabError, RegistryServer, htpasswd_line, require_binary
from tests.lab.signing import GpgKey, Lookaside, sign_image, signature_paths, write_policy
from tests.lab.skopeo import (
    SkopeoError,
    skopeo_copy,
    skopeo_inspect_raw,
    skopeo_manifest_digest,
)
from tests.lab.tls import make_ca
from tests.lab.token_issuer import TokenIssuer, libtrust_key_id, parse_scope

pytestmark = pytest.mark.integration

LAB_NAMES = ["plain_registry", "basic_registry", "token_registry", "tls_registry"]


@pytest.fixture(params=LAB_NAMES)
def lab(request: pytest.FixtureRequest) -> Lab:
    value = request.getfixturevalue(request.param)
    assert isinstance(value, Lab)
    return value


def _v2(lab: Lab, creds: tuple[str, str] | None) -> int:
    return lab.http(creds).request("GET", "/v2/").status


# -- the registries answer ---------------------------------------------------------------------


def test_each_registry_answers(lab: Lab) -> None:
    assert lab.server.running
    assert re.fullmatch(r"127\.0\.0\.1:\d+", lab.host)
    assert lab.url == f"{'https' if lab.tls_verify else 'http'}://{lab.host}"
    expected_anon = 401 if lab.name in ("basic", "token") else 200
    assert lab.http(None).raw("GET", "/v2/").status == expected_anon
    assert _v2(lab, lab.creds) == 200
    assert lab.server.config_path.is_file()
    assert lab.server.storage_dir.is_dir()


def test_basic_challenge_and_wrong_password(basic_registry: Lab) -> None:
    res = basic_registry.http(None).raw("GET", "/v2/")
    assert res.status == 401
    assert parse_challenge(res.headers["www-authenticate"])[0] == "basic"
    assert _v2(basic_registry, ("alice", "wrong")) == 401
    assert _v2(basic_registry, ("bob", "hunter2")) == 200
    with pytest.raises(SkopeoError, match=r"(?i)unauthorized|authentication required"):
        skopeo_inspect_raw(
            basic_registry.ref(basic_registry.images.app),
            tls_verify=False,
            creds=("alice", "wrong"),
        )


def test_htpasswd_uses_cheap_bcrypt() -> None:
    line = htpasswd_line("u", "p")
    assert line.startswith("u:$2b$04$")


def test_token_registry_challenge_points_at_issuer(token_registry: Lab) -> None:
    assert token_registry.issuer is not None
    res = token_registry.http(None).raw("GET", "/v2/")
    scheme, params = parse_challenge(res.headers["www-authenticate"])
    assert (res.status, scheme) == (401, "bearer")
    assert params["realm"] == token_registry.issuer.realm
    assert params["service"] == token_registry.issuer.service


def test_tls_registry_needs_the_ca(tls_registry: Lab) -> None:
    assert tls_registry.cert_dir is not None and tls_registry.ca_path is not None
    assert (tls_registry.cert_dir / "ca.crt").read_bytes() == tls_registry.ca_path.read_bytes()
    assert tls_registry.cert_dir.name == tls_registry.host
    untrusting = LabHTTP(
        tls_registry.host, scheme="https", ssl_context=ssl.create_default_context()
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        untrusting.raw("GET", "/v2/")
    with pytest.raises(SkopeoError, match="certificate"):
        skopeo_inspect_raw(tls_registry.ref(tls_registry.images.app), tls_verify=True)


# -- seeded images round-trip through skopeo -------------------------------------------------


@pytest.mark.parametrize("which", ["app", "oci", "multi", "list"])
def test_skopeo_returns_pushed_bytes(lab: Lab, which: str) -> None:
    image = getattr(lab.images, which)
    raw = lab.inspect_raw(image)
    assert raw == image.manifest
    assert image.digest == sha256_digest(raw)


def test_skopeo_by_digest_and_instances(plain_registry: Lab) -> None:
    multi = plain_registry.images.multi
    assert plain_registry.inspect_raw(multi, by_digest=True) == multi.manifest
    platforms = [str(i.platform) for i in multi.instances]
    assert platforms == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    index = json.loads(multi.manifest)
    assert index["mediaType"] == MT_OCI_INDEX
    assert [m["digest"] for m in index["manifests"]] == [i.digest for i in multi.instances]
    for inst in multi.instances:
        assert inst.tag is None
        assert plain_registry.inspect_raw(inst) == inst.manifest
        cfg = json.loads(plain_registry.inspect_raw(inst, config=True))
        assert inst.config is not None and inst.platform is not None
        assert cfg["architecture"] == inst.platform.architecture
        assert cfg.get("variant") == inst.platform.variant
        assert plain_registry.inspect_raw(inst, config=True) == inst.config.data


def test_docker_list_with_schema2_accept_gives_amd64(plain_registry: Lab) -> None:
    lst = plain_registry.images.list
    assert lst.media_type == MT_DOCKER_LIST
    res = plain_registry.http().get_manifest("ns/list", "v1", MT_DOCKER_V2)
    assert res.status == 200
    assert res.body == lst.instance("linux/amd64").manifest


def test_schema1_digest_matches_skopeo(plain_registry: Lab) -> None:
    s1 = plain_registry.images.s1
    assert s1 is not None
    raw = plain_registry.inspect_raw(s1)
    assert json.loads(raw)["schemaVersion"] == 1
    assert schema1_digest(raw) == s1.digest
    assert skopeo_manifest_digest(raw) == s1.digest
    assert plain_registry.inspect(s1)["Digest"] == s1.digest
    # The registry re-signs on every read: payloads agree even where bytes do not.
    assert schema1_payload(raw) == schema1_payload(s1.manifest)


def test_blobs_are_served(lab: Lab) -> None:
    http = lab.http()
    for blob in lab.images.app.blobs:
        res = http.get_blob("ns/app", blob.digest)
        assert res.status == 200
        assert res.body == blob.data


def test_images_are_deterministic() -> None:
    a = build_image(oci=True, seed="x")
    b = build_image(oci=True, seed="x")
    assert a.manifest == b.manifest and a.config == b.config and a.layers == b.layers
    assert build_image(oci=True, seed="y").manifest != a.manifest
    layer = make_layer({"b": b"2", "a": b"1"})
    assert layer == make_layer({"a": b"1", "b": b"2"})
    assert layer.data[:2] == b"\x1f\x8b" and layer.data[4:8] == b"\0\0\0\0"  # gzip, mtime 0


# -- the token issuer --------------------------------------------------------------------------


def test_token_issuer_counts_requests(token_registry: Lab) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    issuer.reset()
    assert issuer.count() == 0
    token_registry.inspect_raw(token_registry.images.app)
    scope = "repository:ns/app:pull"
    assert issuer.count(scope=scope, account="alice", status=200) >= 1
    before = issuer.count()
    token_registry.inspect_raw(token_registry.images.oci)
    assert issuer.count() > before
    assert issuer.count(scope="repository:ns/oci:pull") >= 1


def test_token_policy_against_the_registry(token_registry: Lab) -> None:
    issuer = token_registry.issuer
    assert issuer is not None and token_registry.public is not None
    anon = token_registry.skopeo_args(None)
    # anonymous pull of public/* is granted, of ns/* is not
    raw = skopeo_inspect_raw(token_registry.ref(token_registry.public), **anon)
    assert raw == token_registry.public.manifest
    with pytest.raises(SkopeoError):
        skopeo_inspect_raw(token_registry.ref(token_registry.images.app), **anon)
    # bob may pull ns/*
    bob = token_registry.skopeo_args(("bob", "hunter2"))
    assert token_registry.inspect_raw(token_registry.images.app, **bob) == (
        token_registry.images.app.manifest
    )
    # ...but asking for push gets a token with only pull
    token = issuer.issue("bob", ["repository:ns/app:pull,push"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": "ns/app", "actions": ["pull"]}]
    res = token_registry.http(None).raw(
        "POST", "/v2/ns/app/blobs/uploads/", body=b"", headers={"Authorization": f"Bearer {token}"}
    )
    assert res.status == 401
    assert 'error="insufficient_scope"' in res.headers["www-authenticate"]


@pytest.mark.parametrize("key_mode", ["kid", "x5c"])
def test_registry_accepts_issued_tokens(
    registry_factory: Callable[..., RegistryServer], key_mode: str
) -> None:
    mode: Literal["kid", "x5c"] = "x5c" if key_mode == "x5c" else "kid"
    with TokenIssuer(users={"alice": "secret"}, key_mode=mode) as issuer:
        reg = registry_factory(
            auth="token", token=issuer.registry_auth(), creds=("alice", "secret")
        )
        pushed = push_schema2_image(reg, "ns/t", "v1")
        http = reg.http(None)
        headers = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}
        good = issuer.issue("alice", ["repository:ns/t:pull"])
        res = http.raw(
            "GET", "/v2/ns/t/manifests/v1", headers={**headers, "Authorization": f"Bearer {good}"}
        )
        assert res.status == 200 and res.body == pushed.manifest
        header = jwt.get_unverified_header(good)
        if key_mode == "kid":
            assert header["kid"] == issuer.signing_key.key_id
        else:
            assert header["x5c"] == issuer.signing_key.x5c
        other = issuer.issue("alice", ["repository:ns/other:pull"])
        res = http.raw(
            "GET", "/v2/ns/t/manifests/v1", headers={**headers, "Authorization": f"Bearer {other}"}
        )
        assert res.status == 401
        assert 'error="insufficient_scope"' in res.headers["www-authenticate"]
        wrong_aud = issuer.issue("alice", ["repository:ns/t:pull"], audience="elsewhere")
        res = http.raw(
            "GET", "/v2/ns/t/manifests/v1", headers={"Authorization": f"Bearer {wrong_aud}"}
        )
        assert res.status == 401


def _token_http(issuer: TokenIssuer) -> LabHTTP:
    return LabHTTP(issuer.host)


def test_token_endpoint_protocol(token_registry: Lab) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    http = _token_http(issuer)
    q = urllib.parse.urlencode({"service": issuer.service, "scope": "repository:ns/app:pull"})
    # wrong password
    res = http.raw("GET", f"/token?{q}", headers={"Authorization": basic_header("alice", "x")})
    assert res.status == 401
    assert res.json() == {"details": "incorrect username or password"}
    # good GET, with offline_token
    res = http.raw(
        "GET",
        f"/token?{q}&offline_token=true",
        headers={"Authorization": basic_header("alice", "secret")},
    )
    doc = res.json()
    assert res.status == 200 and isinstance(doc, dict)
    assert doc["token"] == doc["access_token"] and doc["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["issued_at"])
    claims = jwt.decode(
        doc["token"],
        issuer.signing_key.private_key.public_key(),
        algorithms=["RS256"],
        audience=issuer.service,
        issuer=issuer.issuer,
    )
    assert claims["sub"] == "alice"
    assert {"exp", "nbf", "iat", "jti"} <= claims.keys()
    refresh = doc["refresh_token"]
    # OAuth2 password grant
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": "bob",
            "password": "hunter2",
            "service": issuer.service,
            "scope": "repository:ns/app:pull repository:ns/oci:pull,push",
            "client_id": "lab",
        }
    ).encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    res = http.raw("POST", "/token", body=form, headers=ctype)
    doc = res.json()
    assert res.status == 200 and isinstance(doc, dict)
    claims = jwt.decode(doc["access_token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "ns/app", "actions": ["pull"]},
        {"type": "repository", "name": "ns/oci", "actions": ["pull"]},
    ]
    bad = form.replace(b"hunter2", b"nope")
    assert http.raw("POST", "/token", body=bad, headers=ctype).status == 401
    # refresh-token grant (the one issued above)
    form = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "refresh_token": refresh, "service": issuer.service}
    ).encode()
    res = http.raw("POST", "/token", body=form, headers=ctype)
    assert res.status == 200
    doc = res.json()
    assert isinstance(doc, dict)
    assert jwt.decode(doc["access_token"], options={"verify_signature": False})["sub"] == "alice"
    form = form.replace(refresh.encode(), b"rt-unknown")
    assert http.raw("POST", "/token", body=form, headers=ctype).status == 401
    bad_grant = b"grant_type=implicit"
    assert http.raw("POST", "/token", body=bad_grant, headers=ctype).status == 400
    assert issuer.count(method="POST", path="/token") == 5


def test_token_issuer_fault_injection(token_registry: Lab) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    http = _token_http(issuer)
    issuer.fail_next(503, b"busy", count=2)
    assert [http.raw("GET", "/token").status for _ in range(3)] == [503, 503, 200]


def test_libtrust_key_id_shape(token_registry: Lab) -> None:
    assert token_registry.issuer is not None
    kid = token_registry.issuer.signing_key.key_id
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", kid)
    pub = token_registry.issuer.signing_key.private_key.public_key()
    assert libtrust_key_id(pub) == kid
    raw = base64.b32decode(kid.replace(":", ""))
    assert len(raw) == 30


def test_parse_scope() -> None:
    assert parse_scope("repository:ns/app:pull,push") == ("repository", "ns/app", ["pull", "push"])
    assert parse_scope("repository:host:5000/x:pull") == ("repository", "host:5000/x", ["pull"])
    assert parse_scope("registry:catalog:*") == ("registry", "catalog", ["*"])
    assert parse_scope("bogus") is None


# -- TLS client certificates, start-up failures ---------------------------------------------


def test_client_certificate_required(registry_factory: Callable[..., RegistryServer]) -> None:
    reg = registry_factory(tls=make_ca(), client_auth=True)
    assert reg.cert_dir is not None
    assert (reg.cert_dir / "client.cert").is_file() and (reg.cert_dir / "client.key").is_file()
    assert reg.http().raw("GET", "/v2/").status == 200  # context presents the client cert
    no_cert = LabHTTP(
        reg.host, scheme="https", ssl_context=ssl.create_default_context(cafile=str(reg.ca_path))
    )
    with pytest.raises((ssl.SSLError, ConnectionError)):
        no_cert.raw("GET", "/v2/")
    pushed = push_oci_image(reg, "ns/c", "v1")
    raw = skopeo_inspect_raw(f"{reg.host}/ns/c:v1", tls_verify=True, cert_dir=reg.cert_dir)
    assert raw == pushed.manifest


def test_startup_failure_is_reported_with_log() -> None:
    bad = RegistryServer(config_overrides={"storage": {"nosuchdriver": {}}})
    with pytest.raises(LabError, match=r"(?s)exited.*log tail"):
        bad.start()
    assert not bad.running


def test_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(LabError, match=r"'no-such-registry-binary' not found.*docker-registry"):
        require_binary("no-such-registry-binary")


# -- lookaside signatures ----------------------------------------------------------------------


def test_lookaside_signatures(plain_registry: Lab, tmp_path: Path) -> None:
    app, multi = plain_registry.images.app, plain_registry.images.multi
    with (
        GpgKey() as first,
        GpgKey("Second Signer <second@example.invalid>") as second,
        Lookaside(plain_registry.host) as lookaside,
    ):
        sigs = sign_image(plain_registry.server, app, first, lookaside)
        assert [p.name for p in sigs] == ["signature-1"]
        assert sigs[0].parent == lookaside.sigdir / "ns" / f"app@{app.digest.replace(':', '=')}"
        sigs = sign_image(plain_registry.server, app, second, lookaside)
        assert [p.name for p in sigs] == ["signature-1", "signature-2"]
        # served over http at the lookaside URL
        http = LabHTTP(f"127.0.0.1:{lookaside.port}")
        res = http.raw("GET", "/" + sigs[1].relative_to(lookaside.sigdir).as_posix())
        assert res.status == 200 and res.body == sigs[1].read_bytes()
        # --all signs the index and every instance
        assert len(sign_image(plain_registry.server, multi, first, lookaside)) == 1
        for inst in multi.instances:
            assert len(signature_paths(lookaside, inst.repo, inst.digest)) == 1
        # the image is unchanged (digests preserved) and skopeo verifies the signature
        assert plain_registry.inspect_raw(app) == app.manifest
        policy = write_policy(tmp_path / "policy.json", plain_registry.host, second)
        skopeo_copy(
            f"docker://{plain_registry.ref(app)}",
            f"dir:{tmp_path / 'out'}",
            src_tls_verify=False,
            policy=policy,
            registries_d=lookaside.registries_d,
        )
        assert (tmp_path / "out" / "manifest.json").read_bytes() == app.manifest
        with pytest.raises(SkopeoError, match="signature"):
            skopeo_copy(
                f"docker://{plain_registry.ref(plain_registry.images.oci)}",
                f"dir:{tmp_path / 'out2'}",
                src_tls_verify=False,
                policy=policy,
                registries_d=lookaside.registries_d,
            )
