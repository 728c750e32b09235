"""The in-process contenders, each run as ``python -m benchmarks.child KIND ARGS...``.

Each one times its own work (start-up and imports excluded) and prints a one-line JSON report
with ``elapsed`` plus what the parent checks (documents read) or reports (connections, peak
RSS). Every import happens inside its function, so a peer's process loads only that peer.

- ``lib-inspect REF...``: our library, every REF at once as ``inspect`` does (manifest, the
  platform's image, config);
- ``oras REF...`` / ``dxf REF...``: oras-py and python-dxf, manifest then config per REF;
- ``lib-pull REF DIR``: our library's ``pull_image``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["main"]


def _split(ref: str) -> tuple[str, str, str]:
    host, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":")
    return host, repo, tag


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def lib_inspect(refs: list[str]) -> dict[str, Any]:
    import trio

    from sansio_registry import ClientConfig, ImageRef
    from trio_backend import open_client

    parsed = [ImageRef.parse(ref) for ref in refs]
    report: dict[str, Any] = {"documents": 0}

    async def main() -> None:
        async with open_client(ClientConfig(tls_verify=False)) as client:

            async def one(ref: ImageRef) -> None:
                source = await client.open_image(ref)
                image = await client.resolve_image(source)
                config = await client.get_config(source, image)
                report["documents"] += 1 + bool(config)

            t0, cpu0 = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                for ref in parsed:
                    nursery.start_soon(one, ref)
            report["elapsed"] = time.perf_counter() - t0
            report["batch_cpu"] = time.process_time() - cpu0
            stats = client.statistics()
            report["connections"] = stats.connections_opened
            report["requests"] = stats.requests_sent

    trio.run(main)
    return report


def oras_inspect(refs: list[str]) -> dict[str, Any]:
    import oras.provider

    registry = oras.provider.Registry(insecure=True)
    documents = 0
    t0 = time.perf_counter()
    for ref in refs:
        host, repo, _ = _split(ref)
        manifest = registry.get_manifest(ref)
        response = registry.get_blob(f"{host}/{repo}", manifest["config"]["digest"])
        response.raise_for_status()
        documents += 1 + bool(response.content)
    return {"elapsed": time.perf_counter() - t0, "documents": documents}


def dxf_inspect(refs: list[str]) -> dict[str, Any]:
    import dxf
    import requests
    import www_authenticate

    def anonymous(client: Any, response: Any) -> None:
        # python-dxf refuses to authenticate over plain HTTP (DXFAuthInsecureError), so this
        # callback does its token dance: the anonymous token the challenge asks for.
        bearer = www_authenticate.parse(response.headers["www-authenticate"])["bearer"]
        params = {"service": bearer["service"], "scope": bearer["scope"]}
        answer = requests.get(bearer["realm"], params=params, timeout=30)
        answer.raise_for_status()
        client.token = answer.json()["token"]

    clients: dict[tuple[str, str], Any] = {}
    documents = 0
    t0 = time.perf_counter()
    for ref in refs:
        host, repo, tag = _split(ref)
        client = clients.get((host, repo))
        if client is None:  # python-dxf binds a client to one repository
            client = clients[host, repo] = dxf.DXF(host, repo, anonymous, insecure=True)
        text, _ = client.get_manifest_and_response(tag)
        config = b"".join(client.pull_blob(json.loads(text)["config"]["digest"]))
        documents += 1 + bool(config)
    return {"elapsed": time.perf_counter() - t0, "documents": documents}


def lib_pull(ref: str, directory: str) -> dict[str, Any]:
    from pathlib import Path

    import trio

    from sansio_registry import ClientConfig, ImageRef
    from trio_backend import open_client
    from trio_backend.pull import pull_image

    report: dict[str, Any] = {}

    async def main() -> None:
        async with open_client(ClientConfig(tls_verify=False)) as client:
            t0 = time.perf_counter()
            await pull_image(client, ImageRef.parse(ref), Path(directory))
            report["elapsed"] = time.perf_counter() - t0

    trio.run(main)
    return report


KINDS: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "lib-inspect": lib_inspect,
    "oras": oras_inspect,
    "dxf": dxf_inspect,
    "lib-pull": lambda args: lib_pull(*args),
}


def main(argv: list[str]) -> int:
    kind, *args = argv
    report = KINDS[kind](args)
    report["peak_rss_kib"] = _peak_rss_kib()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
