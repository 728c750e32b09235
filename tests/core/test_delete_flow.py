"""Wire transcripts of ``delete_image`` and ``plan_deletion`` (Go's delete trace).

The delete is GET manifest (Accept x6) → digest → which staging signatures exist → DELETE by
digest (Accept x6; only 202 is success) → remove the ``file://`` signatures. Beyond Go, a
signature in an http lookaside makes us refuse *before* the DELETE (Go deletes the manifest and
then fails). Staging lookasides are real files under ``tmp_path``; ``run_sync`` answers them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sansio_registry.auth import Credentials
from sansio_registry.config.registries_conf import (
    RegistriesConf,
    merge_registries_conf,
    parse_registries_conf,
)
from sansio_registry.config.registries_d import RegistriesD, Section, file_url
from sansio_registry.digest import Digest
from sansio_registry.errors import (
    DigestMismatch,
    ManifestUnknown,
    RegistryBlocked,
    RegistryResponseError,
    ServerError,
    Unsupported,
)
from sansio_registry.flows.delete import (
    Deletion,
    DeletionPlan,
    SignatureStorageReadOnly,
    delete_image,
    plan_deletion,
)
from sansio_registry.http import Request, Response
from sansio_registry.media_types import MANIFEST_ACCEPT
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.fake import error_body
from sansio_registry.testing.transcript import Expect, Transcript, reply

UA = "delete-test/1.0"
H = "reg.test"
T = "auth.reg.test"
OCI = "application/vnd.oci.image.manifest.v1+json"
RAW = json.dumps({"schemaVersion": 2, "mediaType": OCI, "config": {}, "layers": []}).encode()
DIGEST = Digest.of(RAW)
OTHER = json.dumps({"schemaVersion": 2, "mediaType": OCI, "layers": [1]}).encode()
NO_DEFAULT = "file:///nonexistent/sansio-registry-test/sigstore"
HTTP_BASE = "https://sigs.test/lookaside"
SIG_BLOBS = [b"\x00simple-signing\nSIG-%d" % n for n in range(1, 10)]
ACCEPT_X6 = (("Accept", MANIFEST_ACCEPT),)
REF = ImageRef.parse(f"{H}/ns/app:v1")
MANIFEST_URL = f"https://{H}/v2/ns/app/manifests/v1"
DELETE_URL = f"https://{H}/v2/ns/app/manifests/{DIGEST}"
JSON = ("Content-Type", "application/json")


def config(
    *, credentials: Credentials | None = None, registries: RegistriesConf | None = None
) -> ClientConfig:
    return ClientConfig(
        user_agent=UA, credentials=credentials, registries=registries or RegistriesConf()
    )


def ping() -> Expect:
    return Expect("GET", f"https://{H}/v2/", reply(200))


def manifest_get(
    url: str = MANIFEST_URL, answer: Response | None = None, raw: bytes = RAW
) -> Expect:
    return Expect(
        "GET",
        url,
        answer or reply(200, raw, ("Content-Type", OCI)),
        header_lines=ACCEPT_X6,
    )


def delete_req(answer: Response, present: dict[str, str | None] | None = None) -> Expect:
    return Expect("DELETE", DELETE_URL, answer, present=present or {}, header_lines=ACCEPT_X6)


def staging(tmp_path: Path, *, read: str | None = None) -> RegistriesD:
    """``lookaside-staging`` in ``tmp_path`` (and an http ``lookaside`` for reading)."""
    return RegistriesD(
        docker={H: Section(lookaside=read or HTTP_BASE, lookaside_staging=file_url(str(tmp_path)))}
    )


def http_only() -> RegistriesD:
    return RegistriesD(docker={H: Section(lookaside=HTTP_BASE)})


def sig_folder(root: Path, digest: Digest = DIGEST) -> Path:
    return root / f"ns/app@{digest.algorithm}={digest.hex}"


def write_sigs(root: Path, count: int) -> Path:
    folder = sig_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        (folder / f"signature-{n}").write_bytes(SIG_BLOBS[n - 1])
    return folder


def http_sig(n: int) -> str:
    return f"{HTTP_BASE}/ns/app@sha256={DIGEST.hex}/signature-{n}"


def delete(
    transport: Callable[[Request], Response],
    registries_d: RegistriesD,
    *,
    ref: ImageRef = REF,
    cfg: ClientConfig | None = None,
) -> Deletion:
    settings = replace(cfg or config(), registries_d=registries_d, lookaside_default=NO_DEFAULT)
    flow = delete_image(ref, config=settings, state=RegistryState())
    return run_sync(flow, transport)


def plan(
    transport: Callable[[Request], Response], registries_d: RegistriesD, *, ref: ImageRef = REF
) -> DeletionPlan:
    settings = replace(config(), registries_d=registries_d, lookaside_default=NO_DEFAULT)
    flow = plan_deletion(ref, config=settings, state=RegistryState())
    return run_sync(flow, transport)


# --- the wire sequence ---------------------------------------------------------------------------


def test_bearer_delete_wire_sequence(tmp_path: Path) -> None:
    """Go's delete trace: token scope ``repository:ns/app:*``, GET then DELETE, Accept x6."""
    challenge = f'Bearer realm="https://{T}/token",service="test-registry"'
    token = json.dumps({"token": "TOKEN-D", "expires_in": 300}).encode()
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(401, b"", ("WWW-Authenticate", challenge))),
            Expect(
                "GET",
                f"https://{T}/token?account=alice&scope=repository%3Ans%2Fapp%3A%2A"
                "&service=test-registry",
                reply(200, token),
            ),
            manifest_get(),
            delete_req(
                reply(202),
                present={
                    "Authorization": "Bearer TOKEN-D",
                    "Docker-Distribution-Api-Version": "registry/2.0",
                    "User-Agent": UA,
                },
            ),
        ]
    )
    creds = Credentials(username="alice", password="secret")
    done = delete(script, staging(tmp_path), cfg=config(credentials=creds))
    assert script.seen[2].headers.get("Authorization") == "Bearer TOKEN-D"
    assert done == Deletion(reference=REF, digest=DIGEST, signatures_removed=())


def test_delete_by_digest_reference(tmp_path: Path) -> None:
    ref = ImageRef.parse(f"{H}/ns/app@{DIGEST}")
    script = Transcript([ping(), manifest_get(DELETE_URL), delete_req(reply(202))])
    assert delete(script, staging(tmp_path), ref=ref).digest == DIGEST


def test_get_by_digest_is_verified(tmp_path: Path) -> None:
    """The digest we DELETE is one we checked: a manifest that does not hash to the requested
    digest stops everything before the DELETE."""
    ref = ImageRef.parse(f"{H}/ns/app@{DIGEST}")
    script = Transcript([ping(), manifest_get(DELETE_URL, raw=OTHER)])
    with pytest.raises(DigestMismatch):
        delete(script, staging(tmp_path), ref=ref)


def test_docker_content_digest_header_is_checked(tmp_path: Path) -> None:
    wrong = str(Digest.of(OTHER))
    answer = reply(200, RAW, ("Content-Type", OCI), ("Docker-Content-Digest", wrong))
    script = Transcript([ping(), manifest_get(answer=answer)])
    with pytest.raises(DigestMismatch):
        delete(script, staging(tmp_path))


# --- DELETE outcomes -----------------------------------------------------------------------------


def test_202_is_success(tmp_path: Path) -> None:
    script = Transcript([ping(), manifest_get(), delete_req(reply(202))])
    assert delete(script, staging(tmp_path)).digest == DIGEST


def test_405_unsupported(tmp_path: Path) -> None:
    body = error_body("UNSUPPORTED", "The operation is unsupported.")
    script = Transcript([ping(), manifest_get(), delete_req(reply(405, body, JSON))])
    with pytest.raises(Unsupported) as info:
        delete(script, staging(tmp_path))
    assert info.value.code == "UNSUPPORTED"
    assert info.value.status == 405
    assert info.value.method == "DELETE"


def test_404_on_delete_is_manifest_unknown(tmp_path: Path) -> None:
    body = error_body("MANIFEST_UNKNOWN", "manifest unknown")
    script = Transcript([ping(), manifest_get(), delete_req(reply(404, body, JSON))])
    with pytest.raises(ManifestUnknown) as info:
        delete(script, staging(tmp_path))
    assert info.value.code == "MANIFEST_UNKNOWN"


def test_404_on_get_makes_no_delete(tmp_path: Path) -> None:
    body = error_body("MANIFEST_UNKNOWN", "manifest unknown")
    script = Transcript([ping(), manifest_get(answer=reply(404, body, JSON))])
    with pytest.raises(ManifestUnknown):
        delete(script, staging(tmp_path))


@pytest.mark.parametrize("status", [200, 204])
def test_only_202_is_success(tmp_path: Path, status: int) -> None:
    folder = write_sigs(tmp_path, 1)
    script = Transcript([ping(), manifest_get(), delete_req(reply(status))])
    with pytest.raises(RegistryResponseError) as info:
        delete(script, staging(tmp_path))
    assert info.value.status == status
    assert (folder / "signature-1").is_file()  # a failed DELETE removes no signature


def test_500_on_delete(tmp_path: Path) -> None:
    script = Transcript(
        [ping(), manifest_get(), delete_req(reply(500, error_body("UNKNOWN", "x"), JSON))]
    )
    with pytest.raises(ServerError):
        delete(script, staging(tmp_path))


def test_blocked_registry_sends_nothing(tmp_path: Path) -> None:
    conf = merge_registries_conf(
        [
            parse_registries_conf(
                f'[[registry]]\nlocation = "{H}"\nblocked = true\n'.encode(), path="x"
            )
        ]
    )
    script = Transcript([])
    with pytest.raises(RegistryBlocked):
        delete(script, staging(tmp_path), cfg=config(registries=conf))
    assert script.seen == []


# --- lookaside signatures ------------------------------------------------------------------------


def test_http_lookaside_with_signature_refuses_before_delete() -> None:
    script = Transcript(
        [
            ping(),
            manifest_get(),
            Expect("GET", http_sig(1), reply(200, SIG_BLOBS[0]), absent=("Authorization",)),
            Expect("GET", http_sig(2), reply(404)),
            # no DELETE may follow
        ]
    )
    with pytest.raises(SignatureStorageReadOnly) as info:
        delete(script, http_only())
    assert info.value.locations == (http_sig(1),)
    assert http_sig(1) in str(info.value)
    assert not any(r.method == "DELETE" for r in script.seen)


def test_http_lookaside_without_signatures_deletes() -> None:
    """Beyond Go (which fails on any http lookaside after deleting): nothing to lose, go on."""
    script = Transcript(
        [ping(), manifest_get(), Expect("GET", http_sig(1), reply(404)), delete_req(reply(202))]
    )
    assert delete(script, http_only()).signatures_removed == ()


def test_staging_preferred_over_lookaside_for_writing(tmp_path: Path) -> None:
    """lookaside (http) has signatures, but the write location is the file staging dir: the
    http one is never read (staging comes first for writes) and the delete goes ahead."""
    write_sigs(tmp_path, 1)
    script = Transcript([ping(), manifest_get(), delete_req(reply(202))])
    done = delete(script, staging(tmp_path))
    assert len(done.signatures_removed) == 1


def test_file_signatures_removed_after_the_delete(tmp_path: Path) -> None:
    folder = write_sigs(tmp_path, 3)
    (folder / "signature-5").write_bytes(SIG_BLOBS[4])  # after a gap: not ours to remove
    at_delete: list[list[str]] = []
    base = Transcript([ping(), manifest_get(), delete_req(reply(202))])

    def transport(request: Request) -> Response:
        if request.method == "DELETE":
            at_delete.append(sorted(p.name for p in folder.iterdir()))
        return base(request)

    done = delete(transport, staging(tmp_path))
    assert at_delete == [["signature-1", "signature-2", "signature-3", "signature-5"]]
    assert sorted(p.name for p in folder.iterdir()) == ["signature-5"]
    prefix = f"{file_url(str(tmp_path))}/ns/app@sha256={DIGEST.hex}/signature-"
    assert done.signatures_removed == tuple(f"{prefix}{n}" for n in (1, 2, 3))


def test_sigstore_staging_old_key(tmp_path: Path) -> None:
    """``sigstore-staging`` is the old name of ``lookaside-staging``."""
    folder = write_sigs(tmp_path, 1)
    rd = RegistriesD(
        docker={H: Section(sigstore=HTTP_BASE, sigstore_staging=file_url(str(tmp_path)))}
    )
    script = Transcript([ping(), manifest_get(), delete_req(reply(202))])
    assert len(delete(script, rd).signatures_removed) == 1
    assert not (folder / "signature-1").exists()


# --- dry run -------------------------------------------------------------------------------------


def tags_list(tags: list[str] | None, *headers: tuple[str, str]) -> Response:
    return reply(200, json.dumps({"name": "ns/app", "tags": tags}).encode(), JSON, *headers)


def tag_get(tag: str, raw: bytes) -> Expect:
    return manifest_get(f"https://{H}/v2/ns/app/manifests/{tag}", raw=raw)


def test_dry_run_lists_tags_and_signatures_without_deleting(tmp_path: Path) -> None:
    folder = write_sigs(tmp_path, 2)
    script = Transcript(
        [
            ping(),
            manifest_get(),
            Expect(
                "GET", f"https://{H}/v2/ns/app/tags/list", tags_list(["v1", "other", "latest"])
            ),
            tag_get("latest", RAW),
            tag_get("other", OTHER),
            tag_get("v1", RAW),
        ]
    )
    result = plan(script, staging(tmp_path))
    assert not any(r.method == "DELETE" for r in script.seen)
    assert result.digest == DIGEST
    assert result.tags == ("latest", "v1")
    assert len(result.signatures) == 2 and result.writable
    assert sorted(p.name for p in folder.iterdir()) == ["signature-1", "signature-2"]


def test_dry_run_follows_tag_pages_and_skips_vanished_tags(tmp_path: Path) -> None:
    link = ("Link", '</v2/ns/app/tags/list?last=b&n=2>; rel="next"')
    script = Transcript(
        [
            ping(),
            manifest_get(),
            Expect("GET", f"https://{H}/v2/ns/app/tags/list", tags_list(["a", "b"], link)),
            Expect("GET", f"https://{H}/v2/ns/app/tags/list?last=b&n=2", tags_list(["c"])),
            tag_get("a", RAW),
            manifest_get(
                f"https://{H}/v2/ns/app/manifests/b",
                answer=reply(404, error_body("MANIFEST_UNKNOWN", "gone"), JSON),
            ),
            tag_get("c", RAW),
        ]
    )
    assert plan(script, staging(tmp_path)).tags == ("a", "c")


def test_dry_run_reports_read_only_signatures() -> None:
    script = Transcript(
        [
            ping(),
            manifest_get(),
            Expect("GET", http_sig(1), reply(200, SIG_BLOBS[0])),
            Expect("GET", http_sig(2), reply(404)),
            Expect("GET", f"https://{H}/v2/ns/app/tags/list", tags_list(None)),
        ]
    )
    result = plan(script, http_only())
    assert result.signatures == (http_sig(1),)
    assert not result.writable
    assert result.tags == ()


def test_delete_answer_body_is_bounded(tmp_path: Path) -> None:
    """The DELETE answer is read at most 1 MiB."""
    seen: list[Request] = []
    base = Transcript([ping(), manifest_get(), delete_req(reply(202))])

    def transport(request: Request) -> Response:
        seen.append(request)
        return base(request)

    delete(transport, staging(tmp_path))
    assert seen[-1].method == "DELETE" and seen[-1].max_body == 1024 * 1024


def test_refusal_redacts_lookaside_password() -> None:
    base = "https://user:hunter2@sigs.test/lookaside"
    url = f"{base}/ns/app@sha256={DIGEST.hex}/signature-"
    script = Transcript(
        [
            ping(),
            manifest_get(),
            Expect("GET", f"{url}1", reply(200, SIG_BLOBS[0])),
            Expect("GET", f"{url}2", reply(404)),
        ]
    )
    with pytest.raises(SignatureStorageReadOnly) as info:
        delete(script, RegistriesD(docker={H: Section(lookaside=base)}))
    assert "hunter2" not in str(info.value)
