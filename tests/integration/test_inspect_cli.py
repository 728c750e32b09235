"""``sansio-registry inspect`` as users run it (a subprocess) against real registries and skopeo.

Raw bytes must equal ``skopeo inspect --raw`` on every kind of registry; summaries must agree
with ``skopeo inspect`` on the fields both print; errors are one line on stderr, exit 1, no
traceback, and for registry refusals the same text skopeo (containers/image) prints.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.lab.cli import CLIResult, run_cli, run_cli_many
from tests.lab.images import PushedImage, schema1_digest, schema1_payload, sha256_digest
from tests.lab.labs import Lab
from tests.lab.mirrors import (
    RecordingProxy,
    RegistryEntry,
    SilentServer,
    dead_host,
    registries_conf_text,
)
from tests.lab.skopeo import run_skopeo, skopeo_inspect_raw, skopeo_manifest_digest

LAB_NAMES = ["plain_registry", "basic_registry", "token_registry", "tls_registry"]
PROG = "sansio-registry"


@pytest.fixture(params=LAB_NAMES)
def lab(request: pytest.FixtureRequest) -> Lab:
    value = request.getfixturevalue(request.param)
    assert isinstance(value, Lab)
    return value


Creds = tuple[str, str] | Literal["default"] | None


def access(lab: Lab, creds: Creds = "default") -> list[str]:
    """The ``inspect`` flags that reach ``lab``: plain http is insecure, TLS is verified."""
    pair = lab.creds if creds == "default" else creds
    args: list[str] = []
    if lab.cert_dir is not None:
        args += ["--cert-dir", str(lab.cert_dir)]
    else:
        args.append("--tls-verify=false")
    if pair is not None:
        args += ["--creds", f"{pair[0]}:{pair[1]}"]
    return args


@functools.cache
def _skopeo_raw(
    ref: str, tls_verify: bool, creds: tuple[str, str] | None, cert: str | None
) -> bytes:
    return skopeo_inspect_raw(
        ref, tls_verify=tls_verify, creds=creds, cert_dir=Path(cert) if cert else None
    )


def skopeo_raw(lab: Lab, ref: str, creds: Creds = "default") -> bytes:
    pair = lab.creds if creds == "default" else creds
    cert = str(lab.cert_dir) if lab.cert_dir else None
    return _skopeo_raw(ref, lab.tls_verify, pair, cert)


def raw_cases(lab: Lab) -> list[PushedImage]:
    images = lab.images
    tops = [images.app, images.oci, images.multi, images.list]
    return tops + [inst for top in (images.multi, images.list) for inst in top.instances]


def assert_one_line_error(result: CLIResult, *, status: int = 1) -> str:
    """Exit ``status``, nothing on stdout, exactly one stderr line, no traceback."""
    assert result.returncode == status, result.describe()
    assert result.stdout == b"", result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    lines = result.stderr_lines
    assert len(lines) == 1, result.describe()
    return lines[0]


_GO_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')
_GO_PREFIX = re.compile(r'^Error parsing image name "[^"]*": ')


def skopeo_error(ref: str, args: Sequence[str], *, env: dict[str, str] | None = None) -> str:
    """The error containers/image gives for ``skopeo inspect --raw ARGS docker://REF``,
    without skopeo's own prefix and with whitespace collapsed (as our one-line output does)."""
    proc = run_skopeo(["inspect", "--raw", *args, f"docker://{ref}"], env=env, check=False)
    assert proc.returncode != 0, "skopeo unexpectedly succeeded"
    match = _GO_MSG.search(proc.stderr.decode())
    assert match is not None, proc.stderr
    text = json.loads(f'"{match.group(1)}"')
    return " ".join(_GO_PREFIX.sub("", text).split())


def our_error(line: str, ref_text: str) -> str:
    """The message part of ``sansio-registry: inspect REF: MESSAGE [CODE]``."""
    prefix = f"{PROG}: inspect {ref_text}: "
    assert line.startswith(prefix), line
    message = line[len(prefix) :]
    message = re.sub(r" \(\d+ mirror\(s\) also failed; --debug shows them\)$", "", message)
    return re.sub(r" \[[A-Z_]+\]$", "", message)


# -- 1. raw bytes ------------------------------------------------------------------------------


def test_raw_matches_skopeo_on_every_registry(lab: Lab) -> None:
    cases = raw_cases(lab)
    results = run_cli_many(
        [["inspect", "--raw", *access(lab), f"docker://{lab.ref(img)}"] for img in cases]
    )
    for image, result in zip(cases, results, strict=True):
        assert result.returncode == 0, result.describe()
        assert result.stderr == "", result.describe()
        ref = lab.ref(image)
        assert result.stdout == skopeo_raw(lab, ref), ref
        assert result.stdout == image.manifest, ref
        assert sha256_digest(result.stdout) == image.digest


def test_public_image_anonymously_on_token_registry(token_registry: Lab) -> None:
    lab = token_registry
    assert lab.public is not None
    ref = lab.ref(lab.public)
    result = run_cli(["inspect", "--raw", *access(lab, None), f"docker://{ref}"])
    assert result.returncode == 0, result.describe()
    assert result.stdout == lab.public.manifest == skopeo_raw(lab, ref, None)


def test_schema1_digest_and_payload(plain_registry: Lab, tmp_path: Path) -> None:
    lab = plain_registry
    s1 = lab.images.s1
    assert s1 is not None
    raw = run_cli(["inspect", "--raw", *access(lab), f"docker://{lab.ref(s1)}"])
    assert raw.returncode == 0, raw.describe()
    path = tmp_path / "s1.json"
    path.write_bytes(raw.stdout)
    ours = run_cli(["manifest-digest", str(path)])
    assert ours.returncode == 0, ours.describe()
    theirs = lab.inspect_raw(s1)
    digest = ours.stdout.decode().strip()
    assert digest == skopeo_manifest_digest(raw.stdout) == s1.digest == schema1_digest(theirs)
    assert schema1_payload(raw.stdout) == schema1_payload(theirs)


def test_manifest_digest_of_every_seeded_manifest(plain_registry: Lab, tmp_path: Path) -> None:
    images = raw_cases(plain_registry)[:4]
    paths = []
    for i, img in enumerate(images):
        path = tmp_path / f"{i}.json"
        path.write_bytes(img.manifest)
        paths.append(path)
    results = run_cli_many([["manifest-digest", str(p)] for p in paths])
    for img, path, result in zip(images, paths, results, strict=True):
        assert result.returncode == 0, result.describe()
        digest = result.stdout.decode().strip()
        assert digest == img.digest == skopeo_manifest_digest(path.read_bytes())


# -- 2. platforms and summaries ----------------------------------------------------------------

COMPARED_KEYS = ("Name", "Digest", "Architecture", "Os", "Layers", "Env", "Labels", "Created")


def compare_with_skopeo(ours: dict[str, Any], theirs: dict[str, Any], image: PushedImage) -> None:
    """The fields both tools print must agree; LayersData (which skopeo 1.9.3 does not print)
    must match the image record (and skopeo, where it prints it)."""
    for key in COMPARED_KEYS:
        assert ours.get(key) == theirs.get(key), key
    assert set(ours["RepoTags"]) == set(theirs["RepoTags"])
    expected = [
        {"MIMEType": b.media_type, "Digest": b.digest, "Size": b.size} for b in image.layers
    ]
    got = [{k: d[k] for k in ("MIMEType", "Digest", "Size")} for d in ours["LayersData"]]
    assert got == expected
    if "LayersData" in theirs:
        want = [{k: d[k] for k in ("MIMEType", "Digest", "Size")} for d in theirs["LayersData"]]
        assert got == want


def _summary_cases(lab: Lab) -> list[tuple[PushedImage, PushedImage]]:
    """(what is inspected, the single image it resolves to on linux/amd64)."""
    images = lab.images
    return [
        (images.app, images.app),
        (images.oci, images.oci),
        (images.multi, images.multi.instance("linux/amd64")),
        (images.list, images.list.instance("linux/amd64")),
    ]


def skopeo_summary(lab: Lab, ref: str, global_flags: Sequence[str] = ()) -> dict[str, Any]:
    """``skopeo [--override-arch …] inspect`` of ``ref`` on ``lab``."""
    pair = lab.creds
    args = [*global_flags, "inspect", f"--tls-verify={str(lab.tls_verify).lower()}"]
    if pair is not None:
        args += ["--creds", f"{pair[0]}:{pair[1]}"]
    if lab.cert_dir is not None:
        args += ["--cert-dir", str(lab.cert_dir)]
    doc = json.loads(run_skopeo([*args, f"docker://{ref}"]).stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("lab_name", ["plain_registry", "token_registry"])
def test_summary_agrees_with_skopeo(request: pytest.FixtureRequest, lab_name: str) -> None:
    lab: Lab = request.getfixturevalue(lab_name)
    cases = _summary_cases(lab)
    # Both tools default to the host's platform: pin it so the test does not depend on it.
    pin = ["--override-os", "linux", "--override-arch", "amd64"]
    results = run_cli_many(
        [[*pin, "inspect", *access(lab), f"docker://{lab.ref(top)}"] for top, _ in cases]
    )
    for (top, image), result in zip(cases, results, strict=True):
        assert result.returncode == 0, result.describe()
        ours = result.json()
        theirs = skopeo_summary(lab, lab.ref(top), pin)
        compare_with_skopeo(ours, theirs, image)
        assert ours["Digest"] == top.digest
        assert ours["Name"] == f"{lab.host}/{top.repo}"
        assert ours["Layers"] == [b.digest for b in image.layers]
        assert ours["RepoTags"] == ["v1"]
        assert ours["MediaType"] == image.media_type  # the resolved image's manifest type


PLATFORM_FLAGS = [
    (["--override-arch", "arm64"], "linux/arm64/v8"),
    (["--override-arch", "arm", "--override-variant", "v7"], "linux/arm/v7"),
]


def test_override_arch_picks_the_instance(plain_registry: Lab) -> None:
    lab = plain_registry
    tops = [lab.images.multi, lab.images.list]
    runs: list[list[str]] = []
    for flags, _ in PLATFORM_FLAGS:
        for top in tops:
            ref = f"docker://{lab.ref(top)}"
            runs.append([*flags, "inspect", *access(lab), ref])
            runs.append([*flags, "inspect", "--config", "--raw", *access(lab), ref])
    raw_run = ["--override-arch", "arm64", "inspect", "--raw", *access(lab)]
    runs += [[*raw_run, f"docker://{lab.ref(top)}"] for top in tops]
    results = iter(run_cli_many(runs))
    for flags, platform in PLATFORM_FLAGS:
        for top in tops:
            want = top.instance(platform)
            assert want.config is not None
            summary, config = next(results), next(results)
            for r in (summary, config):
                assert r.returncode == 0, r.describe()
            theirs = skopeo_summary(lab, lab.ref(top), flags)
            ours = summary.json()
            # The summary describes the instance but names the list's own digest, as skopeo does.
            assert ours["Digest"] == top.digest == theirs["Digest"]
            assert ours["Layers"] == [b.digest for b in want.layers] == theirs["Layers"]
            compare_with_skopeo(ours, theirs, want)
            assert want.platform is not None
            assert ours["Architecture"] == want.platform.architecture
            theirs_config = run_skopeo(
                [
                    *flags,
                    "inspect",
                    "--config",
                    "--raw",
                    "--tls-verify=false",
                    f"docker://{lab.ref(top)}",
                ]
            ).stdout
            assert config.stdout == want.config.data == theirs_config
    for top in tops:  # --raw is the list itself, whatever the platform
        raw = next(results)
        assert raw.returncode == 0 and raw.stdout == top.manifest, raw.describe()


def test_schema1_summary_agrees_with_skopeo(plain_registry: Lab) -> None:
    lab = plain_registry
    s1 = lab.images.s1
    assert s1 is not None
    result = run_cli(["inspect", *access(lab), f"docker://{lab.ref(s1)}"])
    assert result.returncode == 0, result.describe()
    ours, theirs = result.json(), lab.inspect(s1)
    assert ours["Digest"] == theirs["Digest"] == s1.digest
    assert ours["Layers"] == theirs["Layers"]
    for key in COMPARED_KEYS:
        assert ours.get(key) == theirs.get(key), key


# -- 3. auth ------------------------------------------------------------------------------------


def test_registry_token_needs_no_token_request(token_registry: Lab) -> None:
    lab = token_registry
    assert lab.issuer is not None
    token = lab.issuer.issue("alice", ["repository:ns/app:pull"])
    lab.issuer.reset()
    ref = lab.ref(lab.images.app)
    result = run_cli(["inspect", "--raw", "--tls-verify=false", "--registry-token", token, ref])
    assert result.returncode == 0, result.describe()
    assert result.stdout == lab.images.app.manifest
    assert lab.issuer.count() == 0
    assert token not in result.stderr


def test_one_token_request_per_repository_in_one_run(token_registry: Lab) -> None:
    """Three references in one repository, one in another: two token requests in all."""
    lab = token_registry
    assert lab.issuer is not None
    multi = lab.images.multi
    refs = [lab.ref(multi), *(lab.ref(i) for i in multi.instances[:2]), lab.ref(lab.images.app)]
    lab.issuer.reset()
    result = run_cli(["inspect", "--raw", *access(lab), refs[0]])
    assert result.returncode == 0
    assert lab.issuer.count() == 1
    lab.issuer.reset()
    result = run_cli(["inspect", "--no-tags", *access(lab), *refs])
    assert result.returncode == 0, result.describe()
    docs = result.json()
    assert [d["Digest"] for d in docs] == [
        multi.digest,
        *(i.digest for i in multi.instances[:2]),
        lab.images.app.digest,
    ]
    scopes = sorted(s for r in lab.issuer.requests for s in r.scopes)
    assert scopes == ["repository:ns/app:pull", "repository:ns/multi:pull"], lab.issuer.requests


def test_several_refs_share_connections(plain_registry: Lab) -> None:
    lab = plain_registry
    images = [lab.images.app, lab.images.oci, lab.images.multi, lab.images.list]
    with RecordingProxy(lab.host) as proxy:
        refs = [f"docker://{proxy.host}/{img.repo}:{img.tag}" for img in images]
        result = run_cli(["inspect", "--tls-verify=false", *refs])
        assert result.returncode == 0, result.describe()
        docs = result.json()
        assert isinstance(docs, list) and len(docs) == len(images)
        for img, doc in zip(images, docs, strict=True):
            assert doc["Digest"] == img.digest
            assert doc["Name"] == f"{proxy.host}/{img.repo}"
        requests = proxy.request_lines()
        # one shared ping, then manifest, (instance), config, tags per reference
        pings = [line for line in requests if line == ("GET", "/v2/")]
        assert len(pings) == 1, requests
        assert len(requests) >= 3 * len(images) + 1, requests
        assert proxy.connections < len(requests), (proxy.connections, requests)


# -- 4. errors ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorRuns:
    """Error cases run all at once (the suite is bound by Python start-up, not by the lab)."""

    results: dict[str, CLIResult]
    refs: dict[str, str]

    def line(self, name: str, *, status: int = 1) -> str:
        return assert_one_line_error(self.results[name], status=status)


BAD_REFERENCES = {
    "bad_upper": "docker://127.0.0.1:1/UPPER/case:v1",
    "bad_colons": "a/b:c:d",
    "bad_digest": "a/b@sha256:12",
    "bad_empty": "docker://",
}


@pytest.fixture(scope="module")
def errors(
    plain_registry: Lab, basic_registry: Lab, token_registry: Lab, tls_registry: Lab
) -> ErrorRuns:
    plain, token = plain_registry, token_registry
    refs = {
        "missing_tag": plain.ref("ns/app:nope"),
        "unknown_repo": plain.ref("ns/nothing-here:v1"),
        "plain_secure": plain.ref(plain.images.app),
        "tls_no_ca": tls_registry.ref(tls_registry.images.app),
        "wrong_password_token": token.ref(token.images.app),
        "wrong_password_basic": basic_registry.ref(basic_registry.images.app),
        "bob_allowed": token.ref(token.images.app),
        "bob_denied": token.ref("other/app:v1"),
        "debug": plain.ref("ns/app:nope"),
    }
    bob = [*access(token, ("bob", "hunter2"))]
    runs: dict[str, list[str]] = {
        "missing_tag": ["inspect", "--raw", *access(plain), f"docker://{refs['missing_tag']}"],
        "unknown_repo": ["inspect", "--raw", *access(plain), f"docker://{refs['unknown_repo']}"],
        "plain_secure": ["inspect", "--raw", refs["plain_secure"]],
        "tls_no_ca": ["inspect", "--raw", f"docker://{refs['tls_no_ca']}"],
        "wrong_password_token": [
            "inspect",
            "--raw",
            *access(token, ("alice", "wrong")),
            f"docker://{refs['wrong_password_token']}",
        ],
        "wrong_password_basic": [
            "inspect",
            "--raw",
            *access(basic_registry, ("alice", "wrong")),
            f"docker://{refs['wrong_password_basic']}",
        ],
        "bob_allowed": ["inspect", "--raw", *bob, refs["bob_allowed"]],
        "bob_denied": ["inspect", "--raw", *bob, refs["bob_denied"]],
        "two_refs": ["inspect", "--raw", refs["plain_secure"], refs["plain_secure"]],
        "debug": ["--debug", "inspect", "--raw", *access(plain), refs["debug"]],
    }
    for name, bad in BAD_REFERENCES.items():
        runs[name] = ["inspect", "--raw", "--tls-verify=false", bad]
        refs[name] = bad
    results = run_cli_many(list(runs.values()))
    return ErrorRuns(dict(zip(runs, results, strict=True)), refs)


def test_missing_tag_and_unknown_repo_read_like_skopeo(errors: ErrorRuns) -> None:
    for name in ("missing_tag", "unknown_repo"):
        ref = errors.refs[name]
        line = errors.line(name)
        assert "MANIFEST_UNKNOWN" in line
        assert our_error(line, f"docker://{ref}") == skopeo_error(ref, ["--tls-verify=false"])


def test_tls_without_the_ca_fails_on_the_certificate(errors: ErrorRuns) -> None:
    line = errors.line("tls_no_ca")
    assert "certificate" in line
    assert errors.refs["tls_no_ca"] in line


def test_wrong_password_is_one_line_naming_the_reference(errors: ErrorRuns) -> None:
    for name in ("wrong_password_token", "wrong_password_basic"):
        ref = errors.refs[name]
        line = errors.line(name)
        assert f"docker://{ref}" in line
        assert "unauthorized" in line.lower()
        assert our_error(line, f"docker://{ref}") == skopeo_error(
            ref, ["--tls-verify=false", "--creds", "alice:wrong"]
        ), name


def test_bob_is_denied_outside_his_grant(errors: ErrorRuns, token_registry: Lab) -> None:
    ok = errors.results["bob_allowed"]
    assert ok.returncode == 0 and ok.stdout == token_registry.images.app.manifest, ok.describe()
    line = errors.line("bob_denied")
    assert "denied" in line and "[DENIED]" in line
    refused = errors.refs["bob_denied"]
    bob = ["--tls-verify=false", "--creds", "bob:hunter2"]
    assert our_error(line, refused) == skopeo_error(refused, bob)


def test_secure_access_to_plain_http_registry(errors: ErrorRuns, plain_registry: Lab) -> None:
    line = errors.line("plain_secure")
    assert "server gave HTTP response to HTTPS client" in line
    assert f"pinging container registry {plain_registry.host}" in line


def test_raw_with_two_refs_is_a_usage_error(errors: ErrorRuns) -> None:
    assert "--raw" in errors.line("two_refs", status=2)


@pytest.mark.parametrize("name", list(BAD_REFERENCES))
def test_bad_reference(errors: ErrorRuns, name: str) -> None:
    line = errors.line(name)
    assert "invalid reference format" in line


def test_debug_shows_a_traceback(errors: ErrorRuns) -> None:
    result = errors.results["debug"]
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ManifestUnknown" in result.stderr


def test_dead_registry_fails_fast() -> None:
    ref = f"{dead_host()}/ns/app:v1"
    result = run_cli(["inspect", "--raw", "--tls-verify=false", ref], timeout=20)
    line = assert_one_line_error(result)
    assert "connection refused" in line
    assert ref in line
    # Refused at once: far below the 30 s dial timeout (the bound allows for a busy machine).
    assert result.elapsed < 8, result.describe()


def test_blocked_registry_sends_nothing(plain_registry: Lab, tmp_path: Path) -> None:
    with RecordingProxy(plain_registry.host) as proxy:
        conf = tmp_path / "registries.conf"
        conf.write_text(registries_conf_text([RegistryEntry(location=proxy.host, blocked=True)]))
        ref = f"{proxy.host}/ns/app:v1"
        flag, env = run_cli_many(
            [
                ["--registries-conf", str(conf), "inspect", "--raw", "--tls-verify=false", ref],
                ["inspect", "--raw", "--tls-verify=false", ref],
            ],
            env={"CONTAINERS_REGISTRIES_CONF": str(conf)},
        )
        for result in (flag, env):
            line = assert_one_line_error(result)
            assert "blocked" in line
            assert f"registry {proxy.host} is blocked in {conf}" in line
        assert proxy.connections == 0


def test_command_timeout_against_a_silent_server() -> None:
    with SilentServer() as silent:
        ref = f"{silent.host}/ns/app:v1"
        result = run_cli(
            ["--command-timeout", "1s", "inspect", "--raw", "--tls-verify=false", ref], timeout=15
        )
        assert silent.connections >= 1
    line = assert_one_line_error(result)
    assert "timed out" in line
    assert result.elapsed < 8, result.describe()  # 1 s budget + start-up on a busy machine


# -- 6. auth files ------------------------------------------------------------------------------


def _auth_json(path: Path, host: str, user: str, password: str) -> Path:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


def test_auth_file_instead_of_creds(basic_registry: Lab, tmp_path: Path) -> None:
    lab = basic_registry
    auth = _auth_json(tmp_path / "auth.json", lab.host, "alice", "secret")
    ref = lab.ref(lab.images.app)
    flag, env, no_creds = run_cli_many(
        [
            ["inspect", "--raw", "--tls-verify=false", "--authfile", str(auth), ref],
            ["inspect", "--raw", "--tls-verify=false", ref],
            ["inspect", "--raw", "--tls-verify=false", "--no-creds", ref],
        ],
        env={"REGISTRY_AUTH_FILE": str(auth)},
    )
    assert flag.returncode == 0 and flag.stdout == lab.images.app.manifest, flag.describe()
    assert env.returncode == 0 and env.stdout == lab.images.app.manifest, env.describe()
    line = assert_one_line_error(no_creds)
    assert "UNAUTHORIZED" in line
    # skopeo reads the same file the same way.
    theirs = skopeo_inspect_raw(ref, tls_verify=False, authfile=auth)
    assert theirs == flag.stdout


def test_auth_file_for_another_host_does_not_apply(basic_registry: Lab, tmp_path: Path) -> None:
    lab = basic_registry
    auth = _auth_json(tmp_path / "auth.json", "127.0.0.1:1", "alice", "secret")
    line = assert_one_line_error(
        run_cli(
            [
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--authfile",
                str(auth),
                lab.ref(lab.images.app),
            ]
        )
    )
    assert "UNAUTHORIZED" in line
