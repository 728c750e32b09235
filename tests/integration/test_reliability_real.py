"""Reliability of the command line against the real registry, skopeo and a faulty proxy.

Each case is tagged ``fault(category, case)`` (the fault catalogue):

- local disk: which directories ``pull`` writes (skopeo's ``dir:`` rule, compared with
  skopeo itself), a target that is a file, a read-only target, a full disk;
- signals: Ctrl-C and SIGTERM during a pull and during inspect (exit 130/143, one line,
  nothing half-written, an earlier image kept whole);
- deadlines: a stall after the response head or mid-blob (idle deadline, resumed with
  ``Range``), a slow drip that outlasts the idle deadline and still completes, a server that
  never answers a request, a TLS ClientHello never answered;
- connections: an OAuth2 token POST on a keep-alive connection the server dropped;
- command line: several REFs with one failing, ``--tls-verify false``.

Read-only targets and full disks must work as root (CI runs as root): the child drops the
capabilities that let root ignore permissions (``prctl(PR_CAPBSET_DROP)`` before exec), and a
full disk is a file-size limit (``RLIMIT_FSIZE``), which binds root too.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from sansio_registry.auth import Credentials
from sansio_registry.session import ClientConfig
from tests.integration.test_pull_real import assert_one_line_error, files_of, leftovers, pull
from tests.lab.cli import CLIResult, run_cli, started_cli
from tests.lab.faultproxy import Fault, FaultKind, FaultProxy, Rule
from tests.lab.images import Blob, PushedImage, push_schema2_image, random_layer
from tests.lab.labs import TOKEN_USERS, Lab
from tests.lab.mirrors import SilentServer
from tests.lab.registry import RegistryServer
from tests.lab.skopeo import run_skopeo
from tests.lab.token_issuer import TokenIssuer
from trio_backend.client import open_client

PROG = "sansio-registry"
DIR_VERSION = b"Directory Transport Version: 1.1\n"
SKOPEO_REFUSAL = "not a containers image directory"


@pytest.fixture(scope="module")
def big(plain_registry: Lab) -> PushedImage:
    """One ~8 MiB incompressible layer: long enough to interrupt mid-blob."""
    return push_schema2_image(
        plain_registry.server, "faults/big", "v1", layers=[random_layer(8 * 2**20, seed=7)]
    )


@pytest.fixture(scope="module")
def small(plain_registry: Lab) -> PushedImage:
    """One ~384 KiB incompressible layer: drips in a few seconds."""
    return push_schema2_image(
        plain_registry.server, "faults/small", "v1", layers=[random_layer(384 * 1024, seed=8)]
    )


def ref_via(proxy: FaultProxy, image: PushedImage) -> str:
    return f"{proxy.host}/{image.repo}:{image.tag}"


def layer_rule(layer: Blob, fault: Fault, times: int | None = 1) -> Rule:
    return Rule(fault, target=f"/blobs/{layer.digest}$", times=times)


def skopeo_copy_into(lab: Lab, image: PushedImage, dest: Path) -> tuple[int, str]:
    proc = run_skopeo(
        [
            "--insecure-policy",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{lab.ref(image)}",
            f"dir:{dest}",
        ],
        check=False,
        timeout=60,
    )
    return proc.returncode, proc.stderr.decode(errors="replace")


# -- local disk ------------------------------------------------------------------------------


def assert_refused_like_skopeo(lab: Lab, dest: Path) -> None:
    """Our pull and skopeo's copy both refuse ``dest``, and neither changes a file there."""
    before = files_of(dest)
    result = pull(lab.ref(lab.images.app), dest)
    assert_one_line_error(result, SKOPEO_REFUSAL, str(dest))
    assert files_of(dest) == before
    status, message = skopeo_copy_into(lab, lab.images.app, dest)
    assert status == 1 and SKOPEO_REFUSAL in message, message
    assert files_of(dest) == before


@pytest.mark.parametrize(
    "contents",
    [
        pytest.param(
            {"notes.txt": b"keep me\n", "manifest.json": b"my own manifest, not an image's\n"},
            marks=pytest.mark.fault("local disk", "pull into a folder of someone else's files"),
            id="someone-elses-files",
        ),
        pytest.param(
            {"version": b"Directory Transport Version: 1.0\n"},
            marks=pytest.mark.fault("local disk", "pull into a folder of another dir: version"),
            id="another-version",
        ),
    ],
)
def test_folder_that_is_not_an_image_directory_is_refused_like_skopeo(
    contents: dict[str, bytes], plain_registry: Lab, tmp_path: Path
) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    for name, data in contents.items():
        (dest / name).write_bytes(data)
    assert_refused_like_skopeo(plain_registry, dest)


@pytest.mark.fault("local disk", "pull over an earlier image directory")
def test_pull_over_an_earlier_image_replaces_its_blobs_and_keeps_other_files(
    plain_registry: Lab, tmp_path: Path
) -> None:
    images = plain_registry.images
    dest = tmp_path / "img"
    skopeo_status, _ = skopeo_copy_into(plain_registry, images.app, dest)
    assert skopeo_status == 0
    (dest / "signature-1").write_bytes(b"a signature of the old image")
    (dest / "README").write_bytes(b"the user's own file\n")
    result = pull(plain_registry.ref(images.oci), dest)
    assert result.returncode == 0, result.describe()
    expected = {b.digest.removeprefix("sha256:"): b.data for b in images.oci.blobs}
    expected |= {
        "manifest.json": images.oci.manifest,
        "version": DIR_VERSION,
        "README": b"the user's own file\n",
    }
    assert files_of(dest) == expected


@pytest.mark.fault("local disk", "pull onto an existing file")
def test_target_that_is_a_file(plain_registry: Lab, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_bytes(b"not a directory\n")
    result = pull(plain_registry.ref(plain_registry.images.app), target)
    assert_one_line_error(result, str(target), "not a directory")
    assert target.read_bytes() == b"not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def _drop_root_file_powers() -> None:
    """In the child: lose CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so permissions bind root."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.fault("local disk", "pull into a read-only directory")
def test_read_only_target(plain_registry: Lab, tmp_path: Path) -> None:
    dest = tmp_path / "ro"
    dest.mkdir()
    dest.chmod(0o555)
    try:
        result = run_cli(
            [
                "pull",
                "--tls-verify=false",
                plain_registry.ref(plain_registry.images.app),
                str(dest),
            ],
            preexec_fn=_drop_root_file_powers,
        )
    finally:
        dest.chmod(0o755)
    assert_one_line_error(result, "permission denied", str(dest))
    assert list(dest.iterdir()) == []


def _limit_file_size() -> None:
    """In the child: files may not grow past 1 MiB (EFBIG, as a full disk's ENOSPC)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, resource.RLIM_INFINITY))


@pytest.mark.fault("local disk", "the disk fills up during a pull")
def test_full_disk(plain_registry: Lab, big: PushedImage, tmp_path: Path) -> None:
    dest = tmp_path / "parent" / "img"
    result = run_cli(
        ["pull", "--tls-verify=false", plain_registry.ref(big), str(dest)],
        preexec_fn=_limit_file_size,
        timeout=60,
    )
    assert_one_line_error(result, "file too large", str(dest))
    # Every directory and file the pull created is gone again.
    assert list(tmp_path.iterdir()) == []


# -- signals --------------------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _partial_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if ".partial-" in p.name and p.stat().st_size]


def _signal_mid_pull(
    lab: Lab, image: PushedImage, dest: Path, signum: signal.Signals
) -> tuple[CLIResult, list[FaultKind]]:
    layer = image.layers[0]
    with FaultProxy(lab.host, [layer_rule(layer, Fault.stall_body(3_000_000))]) as proxy:
        args = ["pull", "--tls-verify=false", ref_via(proxy, image), str(dest)]
        with started_cli(args) as run:
            _wait_for(lambda: bool(_partial_files(dest)), "a blob half written")
            run.process.send_signal(signum)
            result = run.finish(timeout=20)
        kinds = [r.fault for r in proxy.blob_requests() if r.target.endswith(layer.digest)]
    return result, kinds


def assert_signalled(result: CLIResult, command: str, status: int, word: str) -> None:
    assert result.returncode == status, result.describe()
    assert result.stderr_lines == [f"{PROG}: {command}: {word}"], result.describe()


@pytest.mark.parametrize(
    ("signum", "status", "word"),
    [
        pytest.param(
            signal.SIGINT,
            130,
            "interrupted",
            marks=pytest.mark.fault("signals", "Ctrl-C during a pull"),
            id="SIGINT",
        ),
        pytest.param(
            signal.SIGTERM,
            143,
            "terminated",
            marks=pytest.mark.fault("signals", "SIGTERM during a pull"),
            id="SIGTERM",
        ),
    ],
)
def test_signal_during_pull_leaves_nothing(
    signum: signal.Signals,
    status: int,
    word: str,
    plain_registry: Lab,
    big: PushedImage,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "img"
    result, kinds = _signal_mid_pull(plain_registry, big, dest, signum)
    assert kinds == [FaultKind.STALL_BODY]
    assert_signalled(result, "pull", status, word)
    assert list(tmp_path.iterdir()) == []  # the directory it created is gone too


@pytest.mark.fault("signals", "SIGTERM during a pull over an earlier image")
def test_signal_during_pull_over_an_earlier_image_keeps_it(
    plain_registry: Lab, big: PushedImage, tmp_path: Path
) -> None:
    dest = tmp_path / "img"
    first = pull(plain_registry.ref(plain_registry.images.app), dest)
    assert first.returncode == 0, first.describe()
    before = files_of(dest)
    result, _ = _signal_mid_pull(plain_registry, big, dest, signal.SIGTERM)
    assert_signalled(result, "pull", 143, "terminated")
    assert files_of(dest) == before
    assert leftovers(dest) == []


def _signal_mid_inspect(lab: Lab, signum: signal.Signals) -> CLIResult:
    image = lab.images.app
    stall_manifests = Rule(Fault.stall(), target="/manifests/", times=None)
    with FaultProxy(lab.host, [stall_manifests]) as proxy:
        args = ["inspect", "--tls-verify=false", ref_via(proxy, image)]
        with started_cli(args) as run:
            _wait_for(lambda: any("/manifests/" in r.target for r in proxy.seen()), "a request")
            run.process.send_signal(signum)
            return run.finish(timeout=20)


@pytest.mark.fault("signals", "Ctrl-C during inspect")
def test_ctrl_c_during_inspect(plain_registry: Lab) -> None:
    assert_signalled(
        _signal_mid_inspect(plain_registry, signal.SIGINT), "inspect", 130, "interrupted"
    )


@pytest.mark.fault("signals", "SIGTERM during inspect")
def test_sigterm_during_inspect(plain_registry: Lab) -> None:
    result = _signal_mid_inspect(plain_registry, signal.SIGTERM)
    assert_signalled(result, "inspect", 143, "terminated")


# -- deadlines ------------------------------------------------------------------------------


def _blob_requests(proxy: FaultProxy, layer: Blob) -> list[tuple[FaultKind, str | None]]:
    return [
        (r.fault, r.header("Range"))
        for r in proxy.blob_requests()
        if r.target.endswith(layer.digest)
    ]


@pytest.mark.fault("deadlines", "a stall after the response head")
def test_stall_after_head_hits_idle_deadline_and_resumes(
    plain_registry: Lab, big: PushedImage, tmp_path: Path
) -> None:
    layer = big.layers[0]
    dest = tmp_path / "img"
    with FaultProxy(plain_registry.host, [layer_rule(layer, Fault.stall_body(0))]) as proxy:
        result = pull(ref_via(proxy, big), dest, global_flags=["--idle-timeout", "1s"])
        requests = _blob_requests(proxy, layer)
    assert result.returncode == 0, result.describe()
    assert [kind for kind, _ in requests] == [FaultKind.STALL_BODY, FaultKind.PASS]
    assert (dest / layer.digest.removeprefix("sha256:")).read_bytes() == layer.data
    assert result.elapsed < 20, result.describe()


@pytest.mark.fault("deadlines", "a stall mid-blob resumes with Range")
def test_stall_mid_blob_resumes_with_range(
    plain_registry: Lab, big: PushedImage, tmp_path: Path
) -> None:
    layer = big.layers[0]
    dest = tmp_path / "img"
    stall_at = 2_000_000
    with FaultProxy(plain_registry.host, [layer_rule(layer, Fault.stall_body(stall_at))]) as proxy:
        result = pull(ref_via(proxy, big), dest, global_flags=["--idle-timeout", "1s"])
        requests = _blob_requests(proxy, layer)
    assert result.returncode == 0, result.describe()
    assert requests == [(FaultKind.STALL_BODY, None), (FaultKind.PASS, f"bytes={stall_at}-")]
    assert (dest / layer.digest.removeprefix("sha256:")).read_bytes() == layer.data
    assert (dest / "manifest.json").read_bytes() == big.manifest


@pytest.mark.fault("deadlines", "a slow drip under the idle deadline completes")
def test_slow_drip_outlasting_the_idle_deadline_completes(
    plain_registry: Lab, small: PushedImage, tmp_path: Path
) -> None:
    layer = small.layers[0]
    dest = tmp_path / "img"
    step = 64 * 1024
    pieces = -(-len(layer.data) // step)
    pause = 0.4
    drip = layer_rule(layer, Fault.drip(step, pause))
    with FaultProxy(plain_registry.host, [drip]) as proxy:
        result = pull(ref_via(proxy, small), dest, global_flags=["--idle-timeout", "1s"])
        requests = _blob_requests(proxy, layer)
    assert result.returncode == 0, result.describe()
    assert requests == [(FaultKind.DRIP, None)]  # never cut, never resumed
    assert result.elapsed > (pieces - 1) * pause > 1.0  # the whole transfer outlasted 1 s
    assert (dest / layer.digest.removeprefix("sha256:")).read_bytes() == layer.data


@pytest.mark.fault("deadlines", "a request never answered")
def test_request_never_answered_hits_response_header_deadline(plain_registry: Lab) -> None:
    never = Rule(Fault.stall(), target="/manifests/", times=None)
    with FaultProxy(plain_registry.host, [never]) as proxy:
        result = run_cli(
            [
                "--response-header-timeout",
                "1s",
                "inspect",
                "--raw",
                "--tls-verify=false",
                ref_via(proxy, plain_registry.images.app),
            ],
            timeout=60,
        )
    assert result.returncode == 1, result.describe()
    assert len(result.stderr_lines) == 1, result.describe()
    assert "no response head within 1 s" in result.stderr, result.describe()


@pytest.mark.fault("deadlines", "a TLS ClientHello never answered")
def test_tls_client_hello_never_answered_hits_handshake_deadline() -> None:
    with SilentServer() as silent:
        ref = f"{silent.host}/ns/app:v1"
        result = run_cli(["--tls-handshake-timeout", "1s", "inspect", "--raw", ref], timeout=30)
        assert silent.connections >= 1
    assert result.returncode == 1, result.describe()
    assert len(result.stderr_lines) == 1, result.describe()
    line = result.stderr_lines[0]
    assert "TLS handshake" in line and "timed out after 1 s" in line, result.describe()
    assert result.elapsed < 10, result.describe()


# -- connections ----------------------------------------------------------------------------


@pytest.mark.fault("connections", "OAuth2 token POST on a connection the server closed")
def test_token_post_on_a_closed_keep_alive_connection_is_sent_again(
    registry_factory: Callable[..., RegistryServer],
) -> None:
    """The second refresh-token POST goes out on the pooled connection the token server
    dropped after the first; it is re-sent on a fresh connection and both images read."""
    with (
        TokenIssuer(users=TOKEN_USERS, refresh_tokens={"rt-lab": "alice"}) as issuer,
        FaultProxy(issuer.host) as front,
    ):
        auth = dataclasses.replace(issuer.registry_auth(), realm=f"{front.url}/token")
        registry = registry_factory(auth="token", token=auth, creds=("alice", "secret"))
        images = [push_schema2_image(registry, f"faults/{name}", "v1") for name in "ab"]
        front.reset()
        issuer.reset()
        front.set_rules([Rule(Fault.close_after(), target="^/token", method="POST")])
        config = ClientConfig(tls_verify=False, credentials=Credentials(identity_token="rt-lab"))

        async def read_both() -> tuple[list[str], int]:
            async with open_client(config) as client:
                digests = []
                for image in images:
                    manifest = await client.get_manifest(f"{registry.host}/{image.repo}:v1")
                    digests.append(str(manifest.digest))
                return digests, client.statistics().retries

        digests, retries = trio.run(read_both)
        posts = [r for r in front.seen() if r.method == "POST"]
        grants = [(r.method, r.grant_type, r.status) for r in issuer.requests]
    assert digests == [image.digest for image in images]
    assert retries == 1
    assert [r.fault for r in posts] == [FaultKind.CLOSE_AFTER, FaultKind.PASS]
    assert posts[0].connection != posts[1].connection
    assert grants == [("POST", "refresh_token", 200)] * 2


# -- command line -----------------------------------------------------------------------------


@pytest.mark.fault("command line", "several REFs to inspect, one failing")
def test_several_refs_with_one_failing(plain_registry: Lab) -> None:
    images = plain_registry.images
    missing = f"{plain_registry.host}/{images.app.repo}:no-such-tag"
    refs = [plain_registry.ref(images.app), missing, plain_registry.ref(images.oci)]
    result = run_cli(["inspect", "--tls-verify=false", *refs])
    assert result.returncode == 1, result.describe()
    docs = result.json()
    assert [doc and doc["Digest"] for doc in docs] == [images.app.digest, None, images.oci.digest]
    assert len(result.stderr_lines) == 1, result.describe()
    assert result.stderr_lines[0].startswith(f"{PROG}: inspect {missing}: "), result.describe()


@pytest.mark.fault("command line", "--tls-verify false (value as a separate word)")
def test_tls_verify_false_as_separate_word_is_a_usage_error(plain_registry: Lab) -> None:
    ref = plain_registry.ref(plain_registry.images.app)
    result = run_cli(["inspect", "--tls-verify", "false", ref])
    assert result.returncode == 2, result.describe()
    assert "--tls-verify=false" in result.stderr, result.describe()
    assert "Traceback" not in result.stderr
    assert result.stdout == b""
