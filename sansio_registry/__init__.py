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

The way to call it is a :class:`RegistrySession`: it holds the :class:`ClientConfig` and the
client's memory (tokens, pings) and each method returns a :class:`Flow` to drive, e.g.
``session.open_image(ref)``, ``session.list_tags(repository)``, ``session.delete_image(ref)``.

The driver contract
-------------------

This is the one place it is written down; every backend follows it, and
:mod:`sansio_registry_driverkit.conformance` checks it.

An operation is a :class:`Flow`. ``step = flow.begin(at=clock())``, then answer each step with
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
* :class:`Sleep`: wait ``seconds``, then ``flow.reply(None)`` (the flow counts the time as
  having advanced by at least ``seconds``). Retries wait this way (the core's
  :class:`RetryPolicy` decides when and how long), so the wait must end with the caller's
  cancel scope: never sleep uncancellably.

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
to :class:`BodyTooLarge`, and pass it in with ``flow.fail(exc)``. Throw nothing else in.
Set ``TransportError(msg, before_response=True)`` only when the server cannot have acted on
the request: connecting failed, sending failed, or the connection ended (EOF, reset) before
any byte of the status line arrived. The core resends a retry-safe request
(``Request.retry_safe``) only then; the default ``False`` never causes a second send. (An
error body cut short may be replied as received: some registries send a wrong Content-Length
on errors.)

Cancellation: never throw a cancellation (``trio.Cancelled``, ``KeyboardInterrupt``) into a
flow. Call ``flow.abort()`` (idempotent and valid in any state: put it in ``finally``), close
the connection of an exchange in progress and any kept body, and let the cancellation go on.

Time reaches the core one way: as timestamps on what the driver hands to the flow, all from
one monotonic clock in seconds. Start with ``flow.begin(at=clock())`` (a token cached by an
earlier flow is judged by it before the first request) and stamp ``received_at`` on every
:class:`ResponseHead`/:class:`Response` with the time its head arrived. The flow keeps the
latest (never going back) in its session's ``RegistryState.now``; drivers never write the
state, and need not see it. A ``MockClock`` in tests is fine: only differences matter.

Requests with a ``coalesce_key`` (pings, token fetches) may be single-flighted: identical
concurrent requests share one exchange and its immutable ``Response``. This is optional.
"""

import typing

from sansio_registry.lazy_exports import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from sansio_registry.auth import TokenCache
    from sansio_registry.client_config import ClientConfig
    from sansio_registry.config.registries_conf import RegistriesConf
    from sansio_registry.credentials import Credentials
    from sansio_registry.digest import Digest, DigestVerifier, ManifestDigestError, manifest_digest
    from sansio_registry.errors import (
        BlobUnknown,
        BodyTooLarge,
        ConfigError,
        CredentialHelperError,
        Denied,
        DigestMismatch,
        ErrorDetail,
        IntegrityError,
        InvalidReference,
        LocalProtocolError,
        ManifestUnknown,
        NameUnknown,
        NotFound,
        ProxyError,
        RegistryBlocked,
        RegistryClientError,
        RegistryResponseError,
        RemoteProtocolError,
        ServerError,
        SizeMismatch,
        SourceFailure,
        TooManyRequests,
        TransportError,
        Unauthorized,
        Unsupported,
    )
    from sansio_registry.flow import Done, Fetch, Flow, FlowState, Open, Sleep
    from sansio_registry.flows.blob import (
        BlobDownload,
        ExternalBlobUnavailable,
        NoConfigBlob,
        get_config,
        get_config_blob,
        open_blob,
    )
    from sansio_registry.flows.delete import (
        Deletion,
        DeletionPlan,
        SignatureStorageReadOnly,
        delete_image,
        plan_deletion,
    )
    from sansio_registry.flows.manifest import (
        ImageSource,
        Manifest,
        get_instance_manifest,
        get_manifest,
        open_image,
        resolve_image,
    )
    from sansio_registry.flows.signatures import TooManySignatures, list_signatures
    from sansio_registry.flows.tags import list_tags
    from sansio_registry.http import Headers, Origin, Request, Response, ResponseHead
    from sansio_registry.platform import NoMatchingPlatform, WantedPlatform
    from sansio_registry.reference import ImageRef
    from sansio_registry.retry_policy import RetryPolicy
    from sansio_registry.session import RegistrySession
    from sansio_registry.signature import Signature, SimpleSigningClaims
    from sansio_registry.state import RegistryState

# Public name -> the module defining it. Imported on first use (PEP 562), so a program that
# needs three of these names does not pay for importing every module of the package.
_EXPORTS: dict[str, str] = {
    "Credentials": "sansio_registry.credentials",
    "TokenCache": "sansio_registry.auth",
    "ClientConfig": "sansio_registry.client_config",
    "RegistriesConf": "sansio_registry.config.registries_conf",
    "Digest": "sansio_registry.digest",
    "DigestVerifier": "sansio_registry.digest",
    "ManifestDigestError": "sansio_registry.digest",
    "manifest_digest": "sansio_registry.digest",
    "BlobUnknown": "sansio_registry.errors",
    "BodyTooLarge": "sansio_registry.errors",
    "ConfigError": "sansio_registry.errors",
    "CredentialHelperError": "sansio_registry.errors",
    "Denied": "sansio_registry.errors",
    "DigestMismatch": "sansio_registry.errors",
    "ErrorDetail": "sansio_registry.errors",
    "IntegrityError": "sansio_registry.errors",
    "InvalidReference": "sansio_registry.errors",
    "LocalProtocolError": "sansio_registry.errors",
    "ManifestUnknown": "sansio_registry.errors",
    "NameUnknown": "sansio_registry.errors",
    "NotFound": "sansio_registry.errors",
    "ProxyError": "sansio_registry.errors",
    "RegistryBlocked": "sansio_registry.errors",
    "RegistryClientError": "sansio_registry.errors",
    "RegistryResponseError": "sansio_registry.errors",
    "RemoteProtocolError": "sansio_registry.errors",
    "ServerError": "sansio_registry.errors",
    "SizeMismatch": "sansio_registry.errors",
    "SourceFailure": "sansio_registry.errors",
    "TooManyRequests": "sansio_registry.errors",
    "TransportError": "sansio_registry.errors",
    "Unauthorized": "sansio_registry.errors",
    "Unsupported": "sansio_registry.errors",
    "Done": "sansio_registry.flow",
    "Fetch": "sansio_registry.flow",
    "Flow": "sansio_registry.flow",
    "FlowState": "sansio_registry.flow",
    "Open": "sansio_registry.flow",
    "Sleep": "sansio_registry.flow",
    "BlobDownload": "sansio_registry.flows.blob",
    "ExternalBlobUnavailable": "sansio_registry.flows.blob",
    "NoConfigBlob": "sansio_registry.flows.blob",
    "get_config": "sansio_registry.flows.blob",
    "get_config_blob": "sansio_registry.flows.blob",
    "open_blob": "sansio_registry.flows.blob",
    "Deletion": "sansio_registry.flows.delete",
    "DeletionPlan": "sansio_registry.flows.delete",
    "SignatureStorageReadOnly": "sansio_registry.flows.delete",
    "delete_image": "sansio_registry.flows.delete",
    "plan_deletion": "sansio_registry.flows.delete",
    "ImageSource": "sansio_registry.flows.manifest",
    "Manifest": "sansio_registry.flows.manifest",
    "get_instance_manifest": "sansio_registry.flows.manifest",
    "get_manifest": "sansio_registry.flows.manifest",
    "open_image": "sansio_registry.flows.manifest",
    "resolve_image": "sansio_registry.flows.manifest",
    "TooManySignatures": "sansio_registry.flows.signatures",
    "list_signatures": "sansio_registry.flows.signatures",
    "list_tags": "sansio_registry.flows.tags",
    "Headers": "sansio_registry.http",
    "Origin": "sansio_registry.http",
    "Request": "sansio_registry.http",
    "Response": "sansio_registry.http",
    "ResponseHead": "sansio_registry.http",
    "NoMatchingPlatform": "sansio_registry.platform",
    "WantedPlatform": "sansio_registry.platform",
    "ImageRef": "sansio_registry.reference",
    "RetryPolicy": "sansio_registry.retry_policy",
    "RegistrySession": "sansio_registry.session",
    "Signature": "sansio_registry.signature",
    "SimpleSigningClaims": "sansio_registry.signature",
    "RegistryState": "sansio_registry.state",
}

__all__ = [
    # the session and its inputs
    "RegistrySession",
    "ClientConfig",
    "RetryPolicy",
    "RegistryState",
    "RegistriesConf",
    "Credentials",
    "TokenCache",
    "WantedPlatform",
    "ImageRef",
    "Digest",
    "DigestVerifier",
    "manifest_digest",
    # operations (the session's methods call these)
    "open_image",
    "get_manifest",
    "get_instance_manifest",
    "resolve_image",
    "get_config",
    "get_config_blob",
    "open_blob",
    "list_signatures",
    "list_tags",
    "plan_deletion",
    "delete_image",
    # results
    "ImageSource",
    "Manifest",
    "BlobDownload",
    "Signature",
    "SimpleSigningClaims",
    "DeletionPlan",
    "Deletion",
    # driving a flow
    "Flow",
    "FlowState",
    "Fetch",
    "Open",
    "Sleep",
    "Done",
    "Request",
    "Response",
    "ResponseHead",
    "Headers",
    "Origin",
    # errors
    "RegistryClientError",
    "SourceFailure",
    "LocalProtocolError",
    "InvalidReference",
    "ConfigError",
    "CredentialHelperError",
    "RegistryBlocked",
    "NoMatchingPlatform",
    "NoConfigBlob",
    "RemoteProtocolError",
    "BodyTooLarge",
    "IntegrityError",
    "DigestMismatch",
    "SizeMismatch",
    "ManifestDigestError",
    "TooManySignatures",
    "TransportError",
    "ProxyError",
    "ExternalBlobUnavailable",
    "SignatureStorageReadOnly",
    "RegistryResponseError",
    "ErrorDetail",
    "Unauthorized",
    "Denied",
    "NotFound",
    "ManifestUnknown",
    "BlobUnknown",
    "NameUnknown",
    "Unsupported",
    "TooManyRequests",
    "ServerError",
]


__getattr__, __dir__ = _lazy_exports(globals(), _EXPORTS, __all__)
