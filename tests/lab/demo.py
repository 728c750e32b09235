"""``make demo``: start the lab, show what it serves and what skopeo (the Go reference) sees.

``python -m tests.lab.demo`` prints a table and exits; ``--serve`` keeps the registries running
(printing how to reach them) until Ctrl-C, for poking at them by hand. The product's own CLI can
be added next to the skopeo column once it exists.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from tests.lab.images import schema1_digest, sha256_digest
from tests.lab.labs import Lab, plain_lab, tls_lab, token_lab
from tests.lab.registry import LabError

__all__ = ["main", "describe"]


def describe(lab: Lab) -> list[str]:
    """One line per seeded image: reference, type, digest, and whether skopeo agrees."""
    lines = [
        f"== {lab.name} registry at {lab.url}" + (f" (creds {lab.creds[0]})" if lab.creds else "")
    ]
    for image in lab.images.all():
        t0 = time.perf_counter()
        raw = lab.inspect_raw(image)
        ms = (time.perf_counter() - t0) * 1000
        got = schema1_digest(raw) if image.repo == "ns/s1" else sha256_digest(raw)
        verdict = "same" if got == image.digest else f"DIFFERENT ({got})"
        kind = image.media_type.rsplit("/", 1)[-1]
        lines.append(
            f"  {lab.ref(image):40} {kind:48} {image.digest[:19]}…  skopeo: {verdict} {ms:.0f} ms"
        )
    if lab.issuer is not None:
        lines.append(f"  token issuer {lab.issuer.realm}: {lab.issuer.count()} token requests")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.demo")
    parser.add_argument("--serve", action="store_true", help="keep the lab running until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        with contextlib.ExitStack() as stack:
            t0 = time.perf_counter()
            labs = [stack.enter_context(cm) for cm in (plain_lab(), token_lab(), tls_lab())]
            print(f"lab started and seeded in {time.perf_counter() - t0:.2f} s")
            for lab in labs:
                print("\n".join(describe(lab)))
            if args.serve:
                for lab in labs:
                    extra = f" --cert-dir {lab.cert_dir}" if lab.cert_dir else ""
                    creds = f" --creds {lab.creds[0]}:{lab.creds[1]}" if lab.creds else ""
                    print(
                        f"skopeo inspect --raw --tls-verify={str(lab.tls_verify).lower()}"
                        f"{creds}{extra} docker://{lab.ref(lab.images.app)}"
                    )
                print("serving; Ctrl-C to stop")
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
