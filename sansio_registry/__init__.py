"""sansio-registry: a sans-IO Docker/OCI registry client core, after containers/image.

The core emits :class:`~sansio_registry.http.Request` values and consumes responses; it never
touches a socket, a file descriptor, a clock or a thread. ``trio_backend`` is one IO shell;
``examples/sync_driver.py`` (sockets, ssl and h11, under 200 lines) is another.

Where IO happens, and why there
-------------------------------

* ``sansio_registry`` (this package, minus ``testing``): none. Every module here is a pure
  function of its inputs, so every behaviour is testable without a network (a test checks its
  imports).
* ``sansio_registry.testing``: in-memory test doubles only (``FakeRegistry``, ``FakeNetwork``,
  ``run_sync``, scripted transcripts), to run flows in tests with no IO.
* ``sansio_registry_driverkit``: what driver authors need, which does IO: answering ``file://``
  requests from the file system, and the conformance suite (loopback sockets, threads).
* ``trio_backend``: the IO shell (trio, h11, TLS, the CLI).

The driver contract
-------------------

This is the one place it is written down; every backend follows it, and
:mod:`sansio_registry_driverkit.conformance` checks it.

An operation is a :class:`Flow`. ``step = flow.begin()``, then answer each step with
``flow.reply(...)`` or ``flow.fail(...)`` until it is :class:`Done`; ``step.value`` is the
result. An error the operation raises comes out of the ``begin``/``reply``/``fail`` call that
caused it (the flow is then ``FAILED``): let it propagate to the caller.

Effects and the reply each needs:

* :class:`Fetch`: send ``request``; reply with a :class:`Response` holding the whole body, at
  most ``request.max_body`` bytes (any status). A longer body is not buffered: call
  ``flow.fail(BodyTooLarge(request.max_body))``.
* :class:`Open`: send ``request``. A 2xx answer: reply with its :class:`ResponseHead` and keep
  the body unread. Any other status: read the body in full, cut at ``request.max_body``, and
  reply with a :class:`Response` (the core decodes the error, follows the redirect, backs off
  on 429 or fetches a token, as for a ``Fetch``).
* :class:`Sleep`: wait ``seconds``, then ``flow.reply(None)``.

Who owns an open body: the driver, while the flow runs. When the flow asks for anything after
an ``Open``, that body is abandoned: close its connection unless it was read to the end. When
the flow is ``Done`` right after an ``Open``, the body goes to the caller (a blob stream), who
reads it, checks it with ``BlobDownload.verifier()`` and closes it.

Sending: exactly ``request.method``, ``request.target`` and ``request.headers`` (in order, with
repeats), plus ``Host`` and, for a body, ``Content-Length``. Never ``Accept-Encoding`` and no
transparent decompression: digests cover the bytes as stored. Never follow redirects: the core
does, and drops ``Authorization`` when the origin changes. Verify TLS certificates unless
``request.tls_verify`` is ``False`` (the core's decision, for that request only). Answer
``file://`` URLs with :func:`sansio_registry_driverkit.files.file_exchange`.

Failures: map every transport failure (DNS, connect, TLS, send, receive, a 2xx body cut
short, a timeout, an HTTP/1.1 framing error) to :class:`TransportError`, and over-limit bodies
to :class:`BodyTooLarge`, and pass it in with ``flow.fail(exc)``. Throw nothing else in. (An
error body cut short may be replied as received: some registries send a wrong Content-Length
on errors.)

Cancellation: never throw a cancellation (``trio.Cancelled``, ``KeyboardInterrupt``) into a
flow. Call ``flow.abort()`` (idempotent and valid in any state: put it in ``finally``), close
the connection of an exchange in progress and any kept body, and let the cancellation go on.

Time: ``received_at`` on every reply is the driver's monotonic clock, in seconds, when the
head arrived; set ``RegistryState.now = max(state.now, clock)`` before each step (token
lifetimes are judged by it). A ``MockClock`` in tests is fine: only differences matter.

Requests with a ``coalesce_key`` (pings, token fetches) may be single-flighted: identical
concurrent requests share one exchange and its immutable ``Response``. This is optional.
"""

from sansio_registry.auth import Credentials, TokenCache
from sansio_registry.config.registries_conf import RegistriesConf
from sansio_registry.digest import Digest, DigestVerifier, manifest_digest
from sansio_registry.errors import (
    BlobUnknown,
    BodyTooLarge,
    ConfigError,
    Denied,
    DigestMismatch,
    ErrorDetail,
    IntegrityError,
    InvalidReference,
    LocalProtocolError,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    RegistryBlocked,
    RegistryClientError,
    RegistryResponseError,
    RemoteProtocolError,
    ServerError,
    SizeMismatch,
    TooManyRequests,
    TransportError,
    Unauthorized,
    Unsupported,
)
from sansio_registry.flow import Done, Fetch, Flow, FlowState, Open, Sleep
from sansio_registry.flows.manifest import (
    ImageSource,
    Manifest,
    get_instance_manifest,
    get_manifest,
    open_image,
)
from sansio_registry.http import Headers, Origin, Purpose, Request, Response, ResponseHead
from sansio_registry.platform import WantedPlatform
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState

__all__ = [
    "BlobUnknown",
    "BodyTooLarge",
    "ClientConfig",
    "ConfigError",
    "Credentials",
    "Denied",
    "Digest",
    "DigestMismatch",
    "DigestVerifier",
    "Done",
    "ErrorDetail",
    "Fetch",
    "Flow",
    "FlowState",
    "Headers",
    "ImageRef",
    "ImageSource",
    "IntegrityError",
    "InvalidReference",
    "LocalProtocolError",
    "Manifest",
    "ManifestUnknown",
    "NameUnknown",
    "NotFound",
    "Open",
    "Origin",
    "Purpose",
    "RegistriesConf",
    "RegistryBlocked",
    "RegistryClientError",
    "RegistryResponseError",
    "RegistryState",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ResponseHead",
    "ServerError",
    "SizeMismatch",
    "Sleep",
    "TokenCache",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "Unsupported",
    "WantedPlatform",
    "get_instance_manifest",
    "get_manifest",
    "manifest_digest",
    "open_image",
]
