"""``sansio-registry``: the command line, skopeo-compatible where skopeo has the same thing.

Errors print one line on stderr and exit 1; usage errors exit 2; a traceback only with
``--debug``. Ctrl-C (SIGINT) exits 130 and SIGTERM 143, each with one line, after the
command was cancelled the trio way (so ``pull`` removes what it had written). No command has
a deadline of its own unless ``--command-timeout`` sets one; each network wait is bounded by
the ``--*-timeout`` flags (:class:`~trio_backend.timeouts.Timeouts`).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from sansio_registry.client_config import ClientConfig
from sansio_registry.credentials import Credentials
from sansio_registry.errors import RegistryClientError
from sansio_registry.reference import ImageRef
from sansio_registry.retry_policy import RetryPolicy
from trio_backend.groups import sole_exception
from trio_backend.image_dir import DestinationError, local_errors
from trio_backend.summary import inspect_summary
from trio_backend.system_config import LoadedConfig, host_platform, load_config
from trio_backend.timeouts import Timeouts
from trio_backend.tls import TLSConfig

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    from sansio_registry.flows.delete import DeletionPlan
    from trio_backend.client import RegistryClient
    from trio_backend.pull import PullResult
    from trio_backend.tag_lists import SharedTagLists

__all__ = ["main"]

PROG = "sansio-registry"
#: Exit status after a signal: 128 + its number, as shells report it.
_SIGNAL_EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
_SIGNAL_WORD: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class UsageError(Exception):
    """Bad command-line input: exit status 2."""


class CommandError(Exception):
    """A failure outside the registry protocol (e.g. an unreadable file): exit status 1."""


class _Signalled(BaseException):
    """SIGINT or SIGTERM arrived; the command was cancelled."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool, as skopeo's ``--tls-verify=BOOL`` takes it."""
    value = text.strip().lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """A Go duration (``90s``, ``1m30s``, ``500ms``) in seconds; a bare number means seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return total


_OTHER_TRANSPORTS = (
    "oci:",
    "oci-archive:",
    "dir:",
    "docker-archive:",
    "docker-daemon:",
    "containers-storage:",
    "sif:",
    "tarball:",
)


def _strip_transport(text: str) -> str:
    if text.startswith("docker://"):
        return text[len("docker://") :]
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        raise UsageError(
            f"{text!r} is a URL, not an image reference: write docker://{rest}"
            " (add --tls-verify=false for a registry served over plain HTTP)"
        )
    if "://" in text.split("/", 1)[0] or text.startswith(_OTHER_TRANSPORTS):
        raise UsageError(f"unsupported transport in {text!r}: only docker:// is supported")
    return text


def _bool_flags(argv: Sequence[str], boolean: frozenset[str] = frozenset()) -> list[str]:
    """pflag semantics: a bare boolean flag means true; its value only ever follows "=".

    A lone ``true``/``false`` right after a boolean flag in ``boolean`` is refused: it would
    be taken as a REF (``--tls-verify false`` reads ``false`` as an image).
    """
    out: list[str] = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg in boolean and following.lower() in ("true", "false"):
            raise UsageError(
                f"{arg} takes no separate value: {following!r} would be read as a REF; "
                f"write {arg}={following}"
            )
        out.append("--tls-verify=true" if arg == "--tls-verify" else arg)
    return out


def _boolean_flags(parser: argparse.ArgumentParser) -> frozenset[str]:
    """Every flag that takes no value (``--tls-verify`` included), in any sub-command."""
    names = {"--tls-verify"}
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            elif action.nargs == 0 and not isinstance(action, argparse._HelpAction):
                names.update(action.option_strings)
    return frozenset(names)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def _access_flags() -> _Parser:
    """Flags every registry-reading command shares (skopeo's names)."""
    access = _Parser(add_help=False)
    access.add_argument(
        "--tls-verify",
        type=parse_bool,
        default=None,
        metavar="BOOL",
        help="require HTTPS and verify certificates (--tls-verify=false to allow HTTP)",
    )
    access.add_argument("--cert-dir", metavar="DIR", help="extra CAs (*.crt) and client certs")
    access.add_argument("--creds", metavar="USER[:PASS]", help="credentials for the registry")
    access.add_argument("--no-creds", action="store_true", help="access anonymously")
    access.add_argument(
        "--authfile",
        metavar="FILE",
        help="auth.json (default: $REGISTRY_AUTH_FILE, then the usual places)",
    )
    access.add_argument("--registry-token", metavar="TOKEN", help="bearer token to send")
    access.add_argument(
        "--retry-times",
        type=_retry_times,
        metavar="N",
        help="the number of times to possibly retry (default: 2 for 5xx and lost "
        "connections, 4 for 429)",
    )
    access.add_argument(
        "--retry-delay",
        type=_retry_delay,
        metavar="DURATION",
        help="fixed delay between retries, if not set exponential backoff is used",
    )
    return access


def _retry_times(text: str) -> int:
    try:
        times = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of retries {text!r}") from None
    if times < 0:
        raise argparse.ArgumentTypeError("--retry-times cannot be negative")
    return times


def _retry_delay(text: str) -> float:
    delay = parse_duration(text)
    if delay < 0:
        raise argparse.ArgumentTypeError("--retry-delay cannot be negative")
    return delay


def package_version() -> str:
    """The installed distribution's version; a source checkout's ``pyproject.toml`` otherwise."""
    # Imported here: only --version needs them, and they cost start-up time.
    import tomllib
    from importlib import metadata

    try:
        return metadata.version(PROG)
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            with pyproject.open("rb") as file:
                return str(tomllib.load(file)["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: argparse's own, but the version is looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {package_version()}")
        parser.exit()


def _add_global_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the program rather than of one command (skopeo's global flags)."""
    parser.add_argument("--debug", action="store_true", help="print tracebacks and details")
    parser.add_argument("--override-os", metavar="OS", help="use OS instead of the running OS")
    parser.add_argument("--override-arch", metavar="ARCH", help="use ARCH instead of the host's")
    parser.add_argument("--override-variant", metavar="VARIANT", help="use this CPU variant")
    parser.add_argument(
        "--registries.d",
        dest="registries_d",
        metavar="DIR",
        help="registries.d directory (signature storage configuration)",
    )
    parser.add_argument(
        "--registries-conf",
        metavar="FILE",
        help="registries.conf file (default: $CONTAINERS_REGISTRIES_CONF, "
        "~/.config/containers/registries.conf, /etc/containers/registries.conf)",
    )
    parser.add_argument(
        "--command-timeout",
        metavar="DUR",
        type=parse_duration,
        help="give up on the whole command after DUR (e.g. 30s, 2m); default: no limit",
    )
    defaults = Timeouts()
    for flag, field, what in _TIMEOUT_FLAGS:
        parser.add_argument(
            flag,
            dest=f"timeout_{field}",
            metavar="DUR",
            type=parse_duration,
            help=f"{what} (default {getattr(defaults, field):g}s; 0: no limit)",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    parser = _Parser(prog=PROG, description="Read images from container registries.")
    parser.add_argument("--version", action=_VersionAction)
    _add_global_flags(parser)
    # The same flags after the sub-command (skopeo accepts both places); there they default
    # to "not given", so a flag before the sub-command is not reset by the sub-parser.
    after = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    _add_global_flags(after)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    access = _access_flags()

    inspect = sub.add_parser(
        "inspect", parents=[access, after], help="print an image's manifest or a summary"
    )
    inspect.add_argument(
        "--raw",
        action="store_true",
        help="write the manifest (or with --config the config) bytes as served",
    )
    inspect.add_argument("--config", action="store_true", help="show the image config")
    inspect.add_argument("--no-tags", action="store_true", help="do not list the repo's tags")
    inspect.add_argument(
        "refs", nargs="+", metavar="REF", help="[docker://]HOST/NAME[:TAG|@DIGEST]"
    )

    pull = sub.add_parser(
        "pull",
        parents=[access, after],
        help="copy an image into DIR in skopeo's dir: layout, every byte verified",
    )
    pull.add_argument(
        "--jobs", "-j", type=int, default=4, metavar="N", help="blobs downloaded at once (4)"
    )
    pull.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    pull.add_argument("ref", metavar="REF", help="[docker://]HOST/NAME[:TAG|@DIGEST]")
    pull.add_argument("dir", metavar="DIR", help="destination directory")

    signatures = sub.add_parser(
        "signatures",
        parents=[access, after],
        help="list every signature of an image (lookaside, API extension, sigstore)",
    )
    signatures.add_argument(
        "-o", "--output-dir", metavar="DIR", help="also write signature-1… files into DIR"
    )
    signatures.add_argument("ref", metavar="REF", help="[docker://]HOST/NAME[:TAG|@DIGEST]")

    delete = sub.add_parser(
        "delete", parents=[access, after], help="delete an image and its lookaside signatures"
    )
    delete.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted; change nothing"
    )
    delete.add_argument("ref", metavar="REF", help="[docker://]HOST/NAME[:TAG|@DIGEST]")

    list_tags = sub.add_parser(
        "list-tags", parents=[access, after], help="list a repository's tags as skopeo does"
    )
    list_tags.add_argument(
        "ref", metavar="REPOSITORY", help="[docker://]HOST/NAME (no tag or digest)"
    )

    digest = sub.add_parser(
        "manifest-digest", parents=[after], help="print the digest of a manifest file"
    )
    digest.add_argument("file", metavar="FILE")
    return parser


_TIMEOUT_FLAGS = (
    ("--connect-timeout", "connect", "limit for a TCP connect"),
    ("--tls-handshake-timeout", "tls_handshake", "limit for a TLS handshake"),
    ("--response-header-timeout", "response_header", "limit from a request to its answer"),
    ("--idle-timeout", "idle", "limit between received bytes of an answer"),
    ("--idle-connection-timeout", "idle_connection", "keep unused connections this long"),
)


@dataclass(frozen=True, slots=True)
class _Settings:
    config: ClientConfig
    tls: TLSConfig
    timeouts: Timeouts


def _timeouts(args: argparse.Namespace) -> Timeouts:
    given: dict[str, float] = {}
    for _flag, field, _what in _TIMEOUT_FLAGS:
        value = getattr(args, f"timeout_{field}")
        if value is not None:
            given[field] = value if value > 0 else math.inf
    return Timeouts(**given)


def _credentials(args: argparse.Namespace) -> Credentials | None:
    if args.creds is not None and args.no_creds:
        raise UsageError("--creds and --no-creds cannot be used together")
    if args.registry_token is not None and args.creds is not None:
        raise UsageError("--creds and --registry-token cannot be used together")
    if args.registry_token is not None:
        return Credentials(registry_token=args.registry_token)
    if args.creds is None:
        return None
    user, sep, password = args.creds.partition(":")
    if not user:
        raise UsageError("--creds: the user name is empty")
    if not sep:
        if not sys.stdin.isatty():
            raise UsageError("--creds USER without a password needs a terminal to ask for it")
        import getpass  # only an interactive password prompt needs it

        password = getpass.getpass("Password: ")
    return Credentials(username=user, password=password)


def _settings(args: argparse.Namespace) -> _Settings:
    """The library's :func:`~trio_backend.load_config`, with the flags as its arguments."""
    loaded = _load_config(args)
    return _Settings(config=loaded.config, tls=loaded.tls, timeouts=_timeouts(args))


def _load_config(args: argparse.Namespace) -> LoadedConfig:
    return load_config(
        registries_conf=args.registries_conf,
        registries_d=args.registries_d,
        authfile=args.authfile,
        cert_dir=args.cert_dir,
        credentials=_credentials(args),
        use_auth_files=not args.no_creds,
        tls_verify=args.tls_verify,
        platform=host_platform(
            os_name=args.override_os,
            architecture=args.override_arch,
            variant=args.override_variant,
        ),
        env=os.environ,
        retry=RetryPolicy.of_flags(times=args.retry_times, delay=args.retry_delay),
    )


async def _inspect_one(
    client: RegistryClient, tag_lists: SharedTagLists, ref: ImageRef, args: argparse.Namespace
) -> Any:
    from sansio_registry.flows.blob import NoConfigBlob  # loaded with the client anyway

    source = await client.open_image(ref)
    if args.raw and not args.config:
        return source.manifest.raw
    image = await client.resolve_image(source)
    try:
        config_raw = await client.get_config(source, image)
    except NoConfigBlob:
        config_raw = b""  # schema1: the summary has no config fields
    if args.config:
        return config_raw if args.raw else json.loads(config_raw or b"null")
    tags = () if args.no_tags else await tag_lists.tags_of(source)
    return inspect_summary(ref, source.manifest, image, config_raw, tags)


class _RefError(Exception):
    def __init__(self, ref: str, error: RegistryClientError) -> None:
        super().__init__(ref)
        self.ref = ref
        self.error = error


async def _inspect(args: argparse.Namespace, settings: _Settings) -> None:
    """Every REF at once; a failed one is a stderr line of its own and ``null`` in the array."""
    if args.raw and len(args.refs) > 1:
        raise UsageError("--raw takes exactly one REF")
    texts = [_strip_transport(text) for text in args.refs]  # a usage error before any work
    results: list[Any] = [None] * len(args.refs)
    failures: list[_RefError | None] = [None] * len(args.refs)
    async with _client(settings) as client:
        from trio_backend.tag_lists import SharedTagLists  # with the client: this command only

        tag_lists = SharedTagLists(client)

        async def one(index: int) -> None:
            try:
                ref = ImageRef.parse(texts[index])
                results[index] = await _inspect_one(client, tag_lists, ref, args)
            except RegistryClientError as exc:
                failures[index] = _RefError(args.refs[index], exc)

        async with trio.open_nursery() as nursery:
            for index in range(len(args.refs)):
                nursery.start_soon(one, index)
    failed = [failure for failure in failures if failure is not None]
    if len(args.refs) == 1 and failed:
        raise failed[0]
    if args.debug and failed:
        raise failed[0].error
    if args.raw:
        sys.stdout.buffer.write(results[0])
        sys.stdout.buffer.flush()
        return
    payload = results[0] if len(results) == 1 else results
    sys.stdout.write(json.dumps(payload, indent=4) + "\n")
    if failed:
        for failure in failed:
            sys.stderr.write(_ref_error_line(args.command, failure) + "\n")
        raise _AlreadyReported


class _AlreadyReported(Exception):
    """Failures were printed already; exit status 1."""


def _client(settings: _Settings) -> AbstractAsyncContextManager[RegistryClient]:
    # Imported here: the HTTP stack (h11, the pool, proxies) is for commands that go online.
    from trio_backend.client import open_client

    return open_client(settings.config, tls=settings.tls, timeouts=settings.timeouts)


def _manifest_digest(args: argparse.Namespace) -> None:
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise CommandError(f"reading {args.file}: {exc.strerror or exc}") from None
    from sansio_registry.digest import manifest_digest  # this command only

    sys.stdout.write(f"{manifest_digest(raw)}\n")


async def _pull(args: argparse.Namespace, settings: _Settings) -> None:
    from trio_backend.pull import progress_stream, pull_image  # this command only

    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    ref = _parse_ref(args.ref)
    out = progress_stream(args.quiet)
    started = time.monotonic()
    async with _client(settings) as client:
        with _naming(args.ref):
            result = await pull_image(
                client, ref, Path(args.dir), jobs=args.jobs, progress_out=out
            )
    if not args.quiet:
        sys.stderr.write(pull_summary(args.ref, result, time.monotonic() - started) + "\n")


def pull_summary(ref: str, result: PullResult, seconds: float) -> str:
    """The one line a pull ends with, terminal or not (a log keeps what was pulled)."""
    size = result.bytes_downloaded / 2**20
    return (
        f"Pulled {ref} ({result.manifest.digest}) into {result.directory}:"
        f" {len(result.blobs)} blobs, {size:.1f} MiB in {seconds:.1f} s"
    )


@contextmanager
def _naming(text: str) -> Iterator[None]:
    """A registry error raised inside is reported with the reference ``text`` as typed."""
    try:
        yield
    except RegistryClientError as exc:
        raise _RefError(text, exc) from exc


def _parse_ref(text: str) -> ImageRef:
    with _naming(text):
        return ImageRef.parse(_strip_transport(text))


async def _signatures(args: argparse.Namespace, settings: _Settings) -> None:
    ref = _parse_ref(args.ref)
    async with _client(settings) as client:
        with _naming(args.ref):
            found = await client.list_signatures(ref)
        if not found and not _signature_source_configured(client, ref):
            sys.stderr.write(
                f"{PROG}: signatures {args.ref}: no signature source configured (no registries.d"
                " lookaside, no use-sigstore-attachments, and the registry does not offer the"
                " signatures extension)\n"
            )
    if args.output_dir:
        out_dir = Path(args.output_dir)
        await trio.to_thread.run_sync(_write_signatures, out_dir, [s.raw for s in found])
    for number, signature in enumerate(found, 1):
        claims = signature.claims
        identity = claims.docker_reference if claims else "-"
        claimed = claims.manifest_digest if claims else "-"
        sys.stdout.write(
            f"{number}\t{signature.source}\t{signature.format}\t{identity}\t{claimed}"
            f"\t{len(signature.raw)}\t{signature.location}\n"
        )


def _signature_source_configured(client: RegistryClient, ref: ImageRef) -> bool:
    """Whether any place containers/image looks for signatures was set up for ``ref``.

    The built-in lookaside folder does not count: it is consulted, but nobody configured it.
    """
    registries_d = client.config.registries_d
    lookaside = registries_d.lookaside_base(ref, write=False, default_dir="")
    return (
        bool(lookaside)
        or registries_d.use_sigstore_attachments(ref)
        or any(ping.supports_signatures for ping in client.state.pings.values())
    )


def _write_signatures(directory: Path, blobs: list[bytes]) -> None:
    with local_errors("creating", directory):
        directory.mkdir(parents=True, exist_ok=True)
    for number, blob in enumerate(blobs, 1):
        path = directory / f"signature-{number}"
        with local_errors("writing", path):
            path.write_bytes(blob)


async def _delete(args: argparse.Namespace, settings: _Settings) -> None:
    ref = _parse_ref(args.ref)
    async with _client(settings) as client:
        with _naming(args.ref):
            if args.dry_run:
                plan = await client.plan_deletion(ref)
                _print_plan(ref, plan)
                return
            done = await client.delete(ref)
    sys.stdout.write(f"Deleted {ref.name}@{done.digest}\n")
    for location in done.signatures_removed:
        sys.stdout.write(f"  removed signature: {location}\n")


def _print_plan(ref: ImageRef, plan: DeletionPlan) -> None:
    sys.stdout.write(f"Would delete {ref.name}@{plan.digest}\n")
    sys.stdout.write(f"  tags: {', '.join(plan.tags) or '(none)'}\n")
    for location in plan.signatures:
        sys.stdout.write(f"  signature: {location}\n")
    if plan.signatures and not plan.writable:
        sys.stdout.write("  (signatures are in a read-only lookaside: delete would refuse)\n")


def _repository_ref(text: str) -> ImageRef:
    """A repository for ``list-tags``: a tag or digest is refused, as ``skopeo list-tags`` does."""
    bare = _strip_transport(text)
    if "@" in bare or ":" in bare.rsplit("/", 1)[-1]:
        raise UsageError(
            f"list-tags {text}: no tag or digest allowed in the reference"
            " (a repository: [docker://]HOST/NAME)"
        )
    return _parse_ref(text)


async def _list_tags(args: argparse.Namespace, settings: _Settings) -> None:
    """skopeo's JSON: ``Repository`` (the normalised name) and ``Tags`` in the registry's order."""
    ref = _repository_ref(args.ref)
    async with _client(settings) as client:
        with _naming(args.ref):
            tags = await client.list_tags(ref)
    listing = {"Repository": f"{ref.domain}/{ref.path}", "Tags": list(tags)}
    sys.stdout.write(json.dumps(listing, indent=4) + "\n")


_COMMANDS: dict[str, Callable[[argparse.Namespace, _Settings], Awaitable[None]]] = {
    "inspect": _inspect,
    "pull": _pull,
    "signatures": _signatures,
    "delete": _delete,
    "list-tags": _list_tags,
}


async def _run(args: argparse.Namespace) -> None:
    """The command, cancelled by SIGINT/SIGTERM (then :class:`_Signalled` is raised)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        await _command(args)  # signals reach only the main thread: nothing to watch
        return
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    async for signum in signals:
                        received.append(signum)
                        nursery.cancel_scope.cancel()
                        return

                nursery.start_soon(watch)
                try:
                    await _command(args)
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The watcher never fails: the group holds the command's one exception.
            sole = sole_exception(group)
            if sole is None:
                raise
            raise sole from None
    if received:
        raise _Signalled(received[0])


async def _command(args: argparse.Namespace) -> None:
    settings = _settings(args)
    run = _COMMANDS[args.command]
    if not args.command_timeout:
        await run(args, settings)
        return
    with trio.fail_after(args.command_timeout):
        await run(args, settings)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _configure_logging(debug: bool) -> None:
    """Registry warnings always reach stderr, once per text; ``--debug`` adds the exchanges."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    logger = logging.getLogger("trio_backend")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False


def _ref_error_line(command: str, exc: _RefError) -> str:
    code = getattr(exc.error, "code", "")
    suffix = f" [{code}]" if code else ""
    mirrors = [f for f in exc.error.also_failed if f.is_mirror]
    counted = {f.note for f in mirrors}  # the notes that say the same as the count
    notes: list[str] = getattr(exc.error, "__notes__", [])
    others = [note for note in notes if note not in counted]
    if others:
        suffix += "; " + "; ".join(others)
    if mirrors:
        suffix += f" ({len(mirrors)} mirror(s) also failed; --debug shows them)"
    return f"{PROG}: {command} {exc.ref}: {_one_line(exc.error)}{suffix}"


def _refs_of(args: argparse.Namespace) -> list[str]:
    """The references a command was given, as typed (none for ``manifest-digest``)."""
    if hasattr(args, "refs"):
        return list(args.refs)
    return [args.ref] if hasattr(args, "ref") else []


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise _Signalled(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status.

    Without ``argv`` this is the process's own command (the console script, ``python -m``):
    what is loaded by then lives until the process ends, so it is moved out of the cyclic
    garbage collector's sight (``gc.freeze``). Full collections, during the command and
    several at interpreter exit, then skip it: about 30 ms less per command.
    """
    if argv is None:
        gc.freeze()
    parser = build_parser()
    given = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(_bool_flags(given, _boolean_flags(parser)))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    _configure_logging(args.debug)
    if threading.current_thread() is not threading.main_thread():
        return _main(args)  # signal handlers can only be set from the main thread
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        return _main(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "manifest-digest":
            _manifest_digest(args)
        else:
            trio.run(_run, args)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except (CommandError, DestinationError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: {args.command}: {_one_line(exc)}\n")
        return 1
    except _AlreadyReported:
        return 1
    except _RefError as exc:
        if args.debug:
            raise exc.error from None
        sys.stderr.write(_ref_error_line(args.command, exc) + "\n")
        return 1
    except RegistryClientError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: {args.command}: {_one_line(exc)}\n")
        return 1
    except trio.TooSlowError:
        if args.debug:
            raise
        sys.stderr.write(
            f"{PROG}: {' '.join([args.command, *_refs_of(args)])}: timed out after"
            f" {args.command_timeout:g}s (--command-timeout)\n"
        )
        return 1
    except _Signalled as exc:
        sys.stderr.write(f"{PROG}: {args.command}: {_SIGNAL_WORD[exc.signum]}\n")
        return _SIGNAL_EXIT[exc.signum]
    except KeyboardInterrupt:  # before or after the signal receiver was in place
        sys.stderr.write(f"{PROG}: {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if args.debug:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        reason = (exc.strerror or str(exc)).lower()
        sys.stderr.write(f"{PROG}: {args.command}:{where}: {reason}\n")
        return 1
    return 0
