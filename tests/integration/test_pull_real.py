"""``sansio-registry pull`` against the real registry, skopeo, and a proxy that breaks things.

- Every kind of image (schema2, OCI, OCI index by default and ``--override-arch arm64``, Docker
  list, signed schema1, a 16 MiB random layer) pulls into a directory that ``skopeo inspect
  dir:`` accepts, that equals what ``skopeo copy docker://… dir:`` writes (byte for byte; the
  schema1 manifest excepted, the registry re-signs it on every read), and that ``skopeo copy
  dir:… docker://…`` pushes back unchanged.
- Through `FaultProxy`: a connection cut mid-blob is resumed with ``Range``; a flipped byte, a
  short body, or a connection cut on every attempt fail with exit 1 and leave no file for that
  blob, no temporary file and no ``manifest.json``; a stalled server ends at
  ``--command-timeout``.
- Redirected blob GETs and external (foreign-layer) URLs never carry the registry's
  credentials to the other host.
- Memory stays bounded for a 64 MiB layer; progress goes to a terminal only, the one summary line
  everywhere (unless `-q`).
"""

from __future__ import annotations

import http.client
import json
import os
import pty
import subprocess
import threading
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig
from tests.lab.cli import CLI_COMMAND, CLIResult, cli_env, run_cli, run_cli_many
from tests.lab.extserver import StaticServer, blob_paths, redirect_blobs
from tests.lab.faultproxy import Fault, FaultKind, FaultProxy, Rule
from tests.lab.images import (
    MT_OCI_CONFIG,
    MT_OCI_MANIFEST,
    Blob,
    Platform,
    PushedImage,
    make_config,
    make_layer,
    push_blob,
    push_manifest,
    push_schema2_image,
    random_layer,
    schema1_digest,
)
from tests.lab.labs import Lab
from tests.lab.registry import RegistryServer
from tests.lab.skopeo import run_skopeo, skopeo_copy
from trio_backend.client import open_client
from trio_backend.pull import pull_image

PROG = "sansio-registry"
MT_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DIR_VERSION = b"Directory Transport Version: 1.1\n"

# Why a flipped byte / short body / repeated cut produce an exception-group traceback instead
# of one line: the error is raised inside pull_image's nurseries, so the CLI's
# `except RegistryClientError` never sees it (trio wraps it in an ExceptionGroup).


# -- helpers --------------------------------------------------------------------------------


def pull(
    host_ref: str,
    dest: Path,
    *flags: str,
    global_flags: Sequence[str] = (),
    timeout: float = 60.0,
) -> CLIResult:
    """``sansio-registry [globals] pull --tls-verify=false [flags] REF DEST`` (plain http)."""
    return run_cli(
        [*global_flags, "pull", "--tls-verify=false", *flags, host_ref, str(dest)],
        timeout=timeout,
    )


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def leftovers(directory: Path) -> list[str]:
    """Temporary files a pull must not leave behind (``.<name>.partial-<hex>``)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def skopeo_to_dir(
    ref: str,
    dest: Path,
    global_flags: Sequence[str] = (),
    creds: tuple[str, str] | None = None,
) -> None:
    run_skopeo(
        [
            "--insecure-policy",
            *global_flags,
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            *(["--src-creds", f"{creds[0]}:{creds[1]}"] if creds else []),
            f"docker://{ref}",
            f"dir:{dest}",
        ],
        timeout=60,
    )


def assert_one_line_error(result: CLIResult, *needles: str) -> None:
    assert result.returncode == 1, result.describe()
    lines = result.stderr_lines
    assert len(lines) == 1, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert lines[0].startswith(f"{PROG}: pull"), result.describe()
    for needle in needles:
        assert needle in lines[0], result.describe()


def assert_blob_absent(directory: Path, digest: str) -> None:
    names = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
    hex_ = digest.partition(":")[2]
    assert hex_ not in names, names
    assert not any(hex_ in name for name in names), names  # temporary names carry it too
    assert leftovers(directory) == [], names
    assert "manifest.json" not in names, names
    assert "version" not in names, names


# -- images of this module --------------------------------------------------------------------


@pytest.fixture(scope="module")
def big16(plain_registry: Lab) -> PushedImage:
    """A schema2 image with one ~16 MiB random (incompressible) layer."""
    return push_schema2_image(
        plain_registry.server, "pulltest/big16", "v1", layers=[random_layer(16 * 2**20)]
    )


@dataclass(frozen=True, slots=True)
class Case:
    """One image to pull: which top-level image, which instance lands, extra global flags."""

    image: PushedImage
    expected: PushedImage
    global_flags: tuple[str, ...] = ()
    schema1: bool = False


CASE_NAMES = ["schema2", "oci", "index", "index-arm64", "list", "schema1", "big16"]


def make_case(name: str, lab: Lab, big: PushedImage) -> Case:
    images = lab.images
    amd64 = Platform("linux", "amd64")
    match name:
        case "schema2":
            return Case(images.app, images.app)
        case "oci":
            return Case(images.oci, images.oci)
        case "index":
            return Case(images.multi, images.multi.instance(amd64))
        case "index-arm64":
            arm = images.multi.instance(Platform("linux", "arm64", "v8"))
            return Case(images.multi, arm, ("--override-arch", "arm64"))
        case "list":
            return Case(images.list, images.list.instance(amd64))
        case "schema1":
            assert images.s1 is not None
            return Case(images.s1, images.s1, schema1=True)
        case "big16":
            return Case(big, big)
    raise AssertionError(name)


@pytest.fixture(params=CASE_NAMES)
def case(request: pytest.FixtureRequest, plain_registry: Lab, big16: PushedImage) -> Case:
    return make_case(request.param, plain_registry, big16)


# -- every kind of image, compared with skopeo -----------------------------------------------


def test_pull_matches_skopeo_and_round_trips(
    case: Case, plain_registry: Lab, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    lab = plain_registry
    ref = lab.ref(case.image)
    ours = tmp_path / "ours"
    result = pull(ref, ours, global_flags=case.global_flags)
    assert result.returncode == 0, result.describe()
    # stderr is a pipe: no progress, only the summary line
    assert len(result.stderr_lines) == 1, result.describe()
    assert result.stderr.startswith(f"Pulled {ref} ("), result.describe()

    got = files_of(ours)
    expected = case.expected
    blob_names = {b.digest.removeprefix("sha256:") for b in expected.blobs}
    assert set(got) == blob_names | {"manifest.json", "version"}
    assert got["version"] == DIR_VERSION
    for blob in expected.blobs:
        assert got[blob.digest.removeprefix("sha256:")] == blob.data
    if case.schema1:
        assert schema1_digest(got["manifest.json"]) == expected.digest
    else:
        assert got["manifest.json"] == expected.manifest

    # skopeo accepts the directory as an image.
    inspected = json.loads(run_skopeo(["inspect", f"dir:{ours}"]).stdout)
    assert inspected["Digest"] == expected.digest
    if expected.platform is not None:
        assert inspected["Architecture"] == expected.platform.architecture

    # skopeo writes the same directory.
    theirs = tmp_path / "theirs"
    skopeo_to_dir(ref, theirs, case.global_flags)
    reference = files_of(theirs)
    assert sorted(got) == sorted(reference)
    for name, data in reference.items():
        if name == "manifest.json" and case.schema1:
            assert schema1_digest(got[name]) == schema1_digest(data)
        else:
            assert got[name] == data, name

    # skopeo pushes the directory back unchanged; our inspect --raw reads the same bytes.
    dest = f"{lab.host}/pulltest/roundtrip-{request.node.callspec.id}:v1"
    # (A schema1 manifest embeds its name and tag: skopeo must rewrite and re-sign it.)
    skopeo_copy(
        f"dir:{ours}",
        f"docker://{dest}",
        dest_tls_verify=False,
        extra_args=[] if case.schema1 else ["--preserve-digests"],
    )
    raw = run_cli(["inspect", "--raw", "--tls-verify=false", dest])
    assert raw.returncode == 0, raw.describe()
    if case.schema1:
        pushed, pulled = json.loads(raw.stdout), json.loads(got["manifest.json"])
        for key in ("fsLayers", "history", "architecture"):
            assert pushed[key] == pulled[key], key
    else:
        assert raw.stdout == got["manifest.json"]


def test_pull_into_existing_directory_replaces_stale_files(
    plain_registry: Lab, tmp_path: Path
) -> None:
    """A second pull into the same directory succeeds and leaves a consistent image."""
    dest = tmp_path / "img"
    first = pull(plain_registry.ref(plain_registry.images.app), dest)
    assert first.returncode == 0, first.describe()
    second = pull(plain_registry.ref(plain_registry.images.oci), dest)
    assert second.returncode == 0, second.describe()
    assert (dest / "manifest.json").read_bytes() == plain_registry.images.oci.manifest
    assert leftovers(dest) == []


# -- faults ------------------------------------------------------------------------------


@pytest.fixture
def big_layer(big16: PushedImage) -> Blob:
    return big16.layers[0]


def layer_rule(layer: Blob, fault: Fault, times: int | None = 1) -> Rule:
    return Rule(fault, target=f"/blobs/{layer.digest}$", times=times)


def _stdlib_get(host: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.read()
    finally:
        conn.close()


def test_fault_proxy_itself(plain_registry: Lab, big16: PushedImage, big_layer: Blob) -> None:
    """The proxy does what it says, seen by an independent client (http.client)."""
    path = f"/v2/{big16.repo}/blobs/{big_layer.digest}"
    data = big_layer.data
    rules = [
        layer_rule(big_layer, Fault.flip(7)),
        layer_rule(big_layer, Fault.short(1000)),
        layer_rule(big_layer, Fault.cut(12345)),
    ]
    with FaultProxy(plain_registry.host, rules) as proxy:
        flipped = _stdlib_get(proxy.host, path)
        short = _stdlib_get(proxy.host, path)
        with pytest.raises(http.client.IncompleteRead) as cut:
            _stdlib_get(proxy.host, path)
        clean = _stdlib_get(proxy.host, path, {"Range": "bytes=100-"})
        seen = proxy.blob_requests()
    assert len(flipped) == len(data) and flipped[7] == data[7] ^ 0xFF
    assert flipped[:7] + flipped[8:] == data[:7] + data[8:]
    assert short == data[:1000]
    assert cut.value.partial == data[:12345]
    assert clean == data[100:]
    assert [(r.fault, r.status) for r in seen] == [
        (FaultKind.FLIP, 200),
        (FaultKind.SHORT, 200),
        (FaultKind.CUT, 200),
        (FaultKind.PASS, 206),
    ]
    assert seen[-1].header("range") == "bytes=100-"


def test_cut_mid_blob_is_resumed_with_range(
    plain_registry: Lab, big16: PushedImage, big_layer: Blob, tmp_path: Path
) -> None:
    cut_at = 5_000_000
    with FaultProxy(plain_registry.host, [layer_rule(big_layer, Fault.cut(cut_at))]) as proxy:
        dest = tmp_path / "img"
        result = pull(f"{proxy.host}/{big16.repo}:{big16.tag}", dest)
        seen = [r for r in proxy.blob_requests() if r.target.endswith(big_layer.digest)]
    assert result.returncode == 0, result.describe()
    assert (dest / big_layer.digest.removeprefix("sha256:")).read_bytes() == big_layer.data
    assert (dest / "manifest.json").read_bytes() == big16.manifest
    assert [r.fault for r in seen] == [FaultKind.CUT, FaultKind.PASS]
    assert seen[0].header("Range") is None
    assert seen[1].header("Range") == f"bytes={cut_at}-"
    assert seen[1].status == 206
    assert leftovers(dest) == []


def _faulted_pull(
    lab: Lab, image: PushedImage, layer: Blob, fault: Fault, dest: Path, times: int | None = 1
) -> tuple[CLIResult, list[FaultKind]]:
    with FaultProxy(lab.host, [layer_rule(layer, fault, times)]) as proxy:
        result = pull(f"{proxy.host}/{image.repo}:{image.tag}", dest)
        kinds = [r.fault for r in proxy.blob_requests() if r.target.endswith(layer.digest)]
    return result, kinds


FAILING_FAULTS = {
    "flip": (Fault.flip(), 1),
    "short": (Fault.short(1000), 1),
    "cut-every-time": (Fault.cut(1_000_000), None),
}


@pytest.mark.parametrize(
    "fault_name",
    [
        pytest.param("flip", marks=pytest.mark.fault("integrity", "flipped blob bytes")),
        pytest.param("short", marks=pytest.mark.fault("integrity", "blob shorter than its size")),
        pytest.param(
            "cut-every-time",
            marks=pytest.mark.fault("connections", "truncated blob, lying Content-Length"),
        ),
    ],
)
def test_bad_blob_fails_and_leaves_nothing(
    fault_name: str, plain_registry: Lab, big16: PushedImage, big_layer: Blob, tmp_path: Path
) -> None:
    fault, times = FAILING_FAULTS[fault_name]
    dest = tmp_path / "img"
    result, kinds = _faulted_pull(plain_registry, big16, big_layer, fault, dest, times)
    assert result.returncode == 1, result.describe()
    assert_blob_absent(dest, big_layer.digest)
    if fault_name == "cut-every-time":
        # the first attempt and a bounded number of resumes, each of which made progress
        assert 2 <= len(kinds) <= 10, kinds
    else:
        assert kinds == [fault.kind], kinds  # integrity errors are not retried


@pytest.mark.parametrize(
    ("fault_name", "needles"),
    [
        ("flip", ("digest mismatch", "{digest}")),
        ("short", ("size mismatch", "{digest}", "expected ", "got 1000")),
        ("cut-every-time", ("mid-body",)),
    ],
)
def test_bad_blob_error_is_one_line(
    fault_name: str,
    needles: tuple[str, ...],
    plain_registry: Lab,
    big16: PushedImage,
    big_layer: Blob,
    tmp_path: Path,
) -> None:
    fault, times = FAILING_FAULTS[fault_name]
    dest = tmp_path / "img"
    result, _ = _faulted_pull(plain_registry, big16, big_layer, fault, dest, times)
    assert_one_line_error(result, *(n.format(digest=big_layer.digest) for n in needles))


def test_stalled_server_hits_command_timeout(
    plain_registry: Lab, big16: PushedImage, big_layer: Blob, tmp_path: Path
) -> None:
    """Never answering, and stopping mid-body: both end at ``--command-timeout 2s``."""
    with (
        FaultProxy(plain_registry.host, [layer_rule(big_layer, Fault.stall())]) as silent,
        FaultProxy(
            plain_registry.host, [layer_rule(big_layer, Fault.stall_body(3_000_000))]
        ) as halting,
    ):
        dests = [tmp_path / "silent", tmp_path / "halting"]
        runs = run_cli_many(
            [
                [
                    "--command-timeout",
                    "2s",
                    "pull",
                    "--tls-verify=false",
                    f"{proxy.host}/{big16.repo}:{big16.tag}",
                    str(dest),
                ]
                for proxy, dest in ((silent, dests[0]), (halting, dests[1]))
            ],
            timeout=30,
        )
        stalled = [
            [r.fault for r in p.blob_requests() if r.target.endswith(big_layer.digest)]
            for p in (silent, halting)
        ]
    assert stalled == [[FaultKind.STALL], [FaultKind.STALL_BODY]]
    for result, dest in zip(runs, dests, strict=True):
        assert_one_line_error(result, "timed out")
        assert result.elapsed < 8.0, result.describe()
        assert_blob_absent(dest, big_layer.digest)


# -- credentials stay home: redirects and external URLs --------------------------------------


@pytest.mark.parametrize("lab_name", ["basic_registry", "token_registry"])
def test_redirected_blobs_get_no_credentials(
    lab_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    lab = request.getfixturevalue(lab_name)
    assert isinstance(lab, Lab) and lab.creds is not None
    image = lab.images.app
    with (
        StaticServer(blob_paths(image.repo, image.blobs)) as other,
        FaultProxy(lab.host, [redirect_blobs(other)]) as front,
    ):
        dest = tmp_path / "img"
        result = pull(
            f"{front.host}/{image.repo}:{image.tag}",
            dest,
            "--creds",
            f"{lab.creds[0]}:{lab.creds[1]}",
        )
        redirected = [r for r in front.blob_requests() if r.fault is FaultKind.REDIRECT]
        served = other.requests
    assert result.returncode == 0, result.describe()
    # The registry's side did get credentials (else the test proves nothing) ...
    assert redirected and all(r.header("Authorization") for r in redirected)
    # ... the other origin got every blob, and never an Authorization header.
    assert sorted(r.path for r in served) == sorted(blob_paths(image.repo, image.blobs))
    assert [r.header("Authorization") for r in served] == [None] * len(served)
    for blob in image.blobs:
        assert (dest / blob.digest.removeprefix("sha256:")).read_bytes() == blob.data


#: distribution 2.8.2 rejects every manifest whose foreign/non-distributable layer has URLs
#: (500 UNKNOWN + MANIFEST_BLOB_UNKNOWN) unless ``validation.manifests.urls.allow`` is set;
#: with it, schema2 ``…rootfs.foreign.diff.tar.gzip`` and OCI ``…nondistributable…`` layers
#: are accepted without the blob being in the registry. (Without the allow list it does
#: accept a schema2 manifest whose *ordinary* layer has ``urls``, blob absent.)
ALLOW_URLS = {"validation": {"manifests": {"urls": {"allow": [r"^http://127\.0\.0\.1:"]}}}}


def test_external_urls_fall_through_and_skip_the_registry(
    registry_factory: Callable[..., RegistryServer], tmp_path: Path
) -> None:
    registry = registry_factory(
        auth="htpasswd", users={"alice": "secret"}, config_overrides=ALLOW_URLS
    )
    layer = make_layer({"foreign/file": b"not in the registry\n" * 1000})
    config = make_config([layer], Platform(), media_type=MT_OCI_CONFIG)
    with StaticServer({"/second/layer": layer.data}, status={"/first/layer": 404}) as ext:
        descriptor = layer.descriptor(MT_NONDISTRIBUTABLE)
        descriptor["urls"] = [ext.url_for("/first/layer"), ext.url_for("/second/layer")]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MT_OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [descriptor],
            }
        ).encode()
        with registry.http() as http:
            push_blob(http, "ext/img", config)  # the layer itself is never pushed
            push_manifest(http, "ext/img", "v1", manifest, MT_OCI_MANIFEST)
        with FaultProxy(registry.host) as front:
            dest = tmp_path / "img"
            result = pull(f"{front.host}/ext/img:v1", dest, "--creds", "alice:secret")
            targets = [r.target for r in front.seen()]
            authorized = [r.header("Authorization") for r in front.blob_requests()]
        served = ext.requests
        assert result.returncode == 0, result.describe()
        # skopeo (containers/image) writes the same directory, manifest and URLs untouched.
        skopeo_to_dir(f"{registry.host}/ext/img:v1", tmp_path / "theirs", creds=registry.creds)
        assert files_of(tmp_path / "theirs") == files_of(dest)
    assert files_of(dest) == {
        config.digest.removeprefix("sha256:"): config.data,
        layer.digest.removeprefix("sha256:"): layer.data,
        "manifest.json": manifest,
        "version": DIR_VERSION,
    }
    assert [(r.path, r.status) for r in served] == [("/first/layer", 404), ("/second/layer", 200)]
    assert [r.header("Authorization") for r in served] == [None, None]
    assert not any(layer.digest in t for t in targets), targets
    assert f"/v2/ext/img/blobs/{config.digest}" in targets
    assert all(authorized)  # the registry itself was asked with credentials


# -- memory ---------------------------------------------------------------------------------


def _pull_in_process(host: str, repo: str, dest: Path) -> int:
    async def run() -> int:
        async with open_client(ClientConfig(tls_verify=False)) as client:
            result = await pull_image(client, ImageRef.parse(f"{host}/{repo}:v1"), dest)
            return result.bytes_downloaded

    return trio.run(run)


def _vm_hwm_kib() -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def test_pull_memory_is_bounded(plain_registry: Lab, tmp_path: Path) -> None:
    """A 64 MiB layer is streamed: tracemalloc's peak (and RSS growth) stay under 32 MiB."""
    limit = 32 * 2**20
    layer = random_layer(64 * 2**20, seed=64, compresslevel=0)
    image = push_schema2_image(plain_registry.server, "pulltest/big64", "v1", layers=[layer])
    digest, size = layer.digest, layer.size
    del layer, image  # the test process should not hold the bytes it is about to pull
    dest = tmp_path / "img"
    rss_reset = _reset_peak_rss()
    rss_before = _vm_hwm_kib()
    tracemalloc.start()
    try:
        downloaded = _pull_in_process(plain_registry.host, "pulltest/big64", dest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_after = _vm_hwm_kib()
    assert downloaded >= size
    written = dest / digest.removeprefix("sha256:")
    assert written.stat().st_size == size
    assert peak < limit, f"tracemalloc peak {peak / 2**20:.1f} MiB"
    if rss_reset and rss_before is not None and rss_after is not None:
        growth = (rss_after - rss_before) * 1024
        assert growth < limit, f"peak RSS grew by {growth / 2**20:.1f} MiB"


# -- progress -------------------------------------------------------------------------------


def _run_on_pty(args: Sequence[str], tmp: Path, timeout: float = 60.0) -> tuple[int, bytes]:
    """Run the CLI with stderr on a pseudo-terminal; returns (status, terminal output)."""
    home = tmp / "home"
    home.mkdir()
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def reader() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the last slave fd closed
                return
            if not data:
                return
            chunks.append(data)

    thread = threading.Thread(target=reader, daemon=True)
    try:
        proc = subprocess.Popen(
            [*CLI_COMMAND, *args],
            env=cli_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            cwd=home,
        )
    finally:
        os.close(slave)
    thread.start()
    try:
        proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        thread.join(timeout=5)
        os.close(master)
    return proc.returncode, b"".join(chunks)


@pytest.fixture
def progress_ref(plain_registry: Lab) -> Iterator[str]:
    yield plain_registry.ref(plain_registry.images.app)


def test_progress_on_a_terminal(progress_ref: str, plain_registry: Lab, tmp_path: Path) -> None:
    status, out = _run_on_pty(
        ["pull", "--tls-verify=false", progress_ref, str(tmp_path / "img")], tmp_path
    )
    text = out.decode(errors="replace")
    assert status == 0, text
    image = plain_registry.images.app
    for blob in image.blobs:
        assert f"Copied blob {blob.digest.removeprefix('sha256:')[:12]}" in text, text
    assert f"Pulled {progress_ref} ({image.digest})" in text, text


def test_quiet_on_a_terminal_prints_nothing(progress_ref: str, tmp_path: Path) -> None:
    status, out = _run_on_pty(
        ["pull", "-q", "--tls-verify=false", progress_ref, str(tmp_path / "img")], tmp_path
    )
    assert status == 0, out
    assert out == b""


def test_only_the_summary_when_stderr_is_a_pipe(progress_ref: str, tmp_path: Path) -> None:
    result = pull(progress_ref, tmp_path / "img")
    assert result.returncode == 0, result.describe()
    assert len(result.stderr_lines) == 1 and result.stderr.startswith(f"Pulled {progress_ref} (")
    assert result.stdout == b""
    assert (tmp_path / "img" / "manifest.json").is_file()
