"""The one exception tree of sansio-registry (docs/design.md#errors).

Every exception the core or a backend raises on purpose derives from
:class:`RegistryClientError`. Messages never contain a password, a token or an
``Authorization`` value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "BlobUnknown",
    "BodyTooLarge",
    "ConfigError",
    "CredentialHelperError",
    "Denied",
    "DigestMismatch",
    "ErrorDetail",
    "IntegrityError",
    "InvalidReference",
    "LocalProtocolError",
    "ManifestUnknown",
    "NameUnknown",
    "NotFound",
    "RegistryBlocked",
    "RegistryClientError",
    "RegistryResponseError",
    "ProxyError",
    "RemoteProtocolError",
    "ServerError",
    "SizeMismatch",
    "SourceFailure",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "Unsupported",
    "with_source_failures",
]


class RegistryClientError(Exception):
    """Root of every error this library raises on purpose.

    Attributes:
        also_failed: when several pull sources (mirrors, the primary) were tried, the others
            that failed too, in the order tried; empty otherwise. The error itself is the
            primary's (manifests) or the first source's (blobs), so ``except ManifestUnknown``
            works with or without mirrors. A note per entry says the same for tracebacks.
    """

    also_failed: tuple[SourceFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """One pull source that failed: where (``reference``, a mirror or not) and why.

    ``reference`` is the source's image reference as text (``ImageRef.parse`` reads it back).
    """

    reference: str
    error: RegistryClientError
    is_mirror: bool

    @property
    def note(self) -> str:
        """The note the raised error carries for this failure (for tracebacks)."""
        where = f"mirror {self.reference}" if self.is_mirror else self.reference
        return f"{where} also failed: {self.error}"


def with_source_failures(
    error: RegistryClientError, failures: tuple[SourceFailure, ...]
) -> RegistryClientError:
    """``error`` carrying ``failures`` as data (``also_failed``) and as one note each."""
    error.also_failed = failures
    for failure in failures:
        error.add_note(failure.note)
    return error


class LocalProtocolError(RegistryClientError):
    """The caller misused the library: a bad reference, a reply out of turn, a finished flow."""


class InvalidReference(LocalProtocolError):
    """An image reference does not parse; the message is containers/image's text."""


class ConfigError(LocalProtocolError):
    """A configuration file (registries.conf, registries.d, auth.json) is wrong."""


class RegistryBlocked(ConfigError):
    """registries.conf marks the registry ``blocked``; refused before any request."""


class RemoteProtocolError(RegistryClientError):
    """The peer broke the protocol: malformed challenge, JSON, header or redirect."""


class BodyTooLarge(RemoteProtocolError):
    """A buffered body exceeded its limit (docs/behaviour.md#limits); raised by drivers."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"exceeded maximum allowed size of {limit} bytes")
        self.limit = limit


class IntegrityError(RemoteProtocolError):
    """Bytes do not match what they were promised to be."""


class DigestMismatch(IntegrityError):
    """The bytes' digest differs from the expected one."""

    def __init__(self, expected: str, actual: str, what: str = "content") -> None:
        super().__init__(f"digest mismatch for {what}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class SizeMismatch(IntegrityError):
    """The number of bytes differs from the expected size."""

    def __init__(self, expected: int, actual: int, what: str = "content") -> None:
        super().__init__(f"size mismatch for {what}: expected {expected} bytes, got {actual}")
        self.expected = expected
        self.actual = actual


class CredentialHelperError(ConfigError):
    """A credential helper (``docker-credential-<name>``) is missing, failed, or hung."""


class TransportError(RegistryClientError):
    """The connection failed (refused, reset, TLS, timeout); raised by backends.

    ``before_response`` is ``True`` only when the driver knows the server cannot have acted on
    the request: connecting failed, sending failed, or the connection ended before any byte of
    a response arrived. Only then may the core resend a retry-safe request. It defaults to
    ``False``, so a driver that does not know never causes a request to be sent twice.
    """

    def __init__(self, message: str, *, before_response: bool = False) -> None:
        super().__init__(message)
        self.before_response = before_response


class ProxyError(TransportError):
    """The HTTP proxy was misconfigured, refused the request, or failed; names the proxy."""


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of the registry's ``{"errors": [...]}`` envelope (OCI distribution spec)."""

    code: str
    message: str = ""
    detail: str | None = None


# Default messages of the distribution error codes, as containers/image prints them.
DEFAULT_MESSAGES: Final[dict[str, str]] = {
    "UNKNOWN": "unknown error",
    "UNSUPPORTED": "The operation is unsupported.",
    "UNAUTHORIZED": "authentication required",
    "DENIED": "requested access to the resource is denied",
    "UNAVAILABLE": "service unavailable",
    "TOOMANYREQUESTS": "too many requests",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "SIZE_INVALID": "provided length did not match content length",
    "NAME_INVALID": "invalid repository name",
    "TAG_INVALID": "manifest tag did not match URI",
    "NAME_UNKNOWN": "repository name not known to registry",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "MANIFEST_INVALID": "manifest invalid",
    "MANIFEST_UNVERIFIED": "manifest failed signature verification",
    "MANIFEST_BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "BLOB_UPLOAD_UNKNOWN": "blob upload unknown to registry",
    "BLOB_UPLOAD_INVALID": "blob upload invalid",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
}


class RegistryResponseError(RegistryClientError):
    """A well-formed refusal by the registry.

    Attributes:
        status: the HTTP status code.
        errors: the decoded error envelope (may be empty for non-JSON bodies).
        method, url: the request that was refused (the URL never carries secrets: the core
            puts none in URLs).
    """

    #: The subclass is chosen by these codes first, then by ``statuses``.
    codes: ClassVar[frozenset[str]] = frozenset()
    statuses: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: tuple[ErrorDetail, ...] = (),
        method: str = "",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors
        self.method = method
        self.url = url

    @property
    def code(self) -> str:
        """The first error code the registry sent, or ``""``."""
        return self.errors[0].code if self.errors else ""

    @property
    def message(self) -> str:
        """The first error message the registry sent, or ``""``."""
        return self.errors[0].message if self.errors else ""


class Unauthorized(RegistryResponseError):
    """401: credentials missing, wrong or expired."""

    codes = frozenset({"UNAUTHORIZED"})
    statuses = frozenset({401})


class Denied(RegistryResponseError):
    """403 or ``DENIED``: the credentials do not grant this access."""

    codes = frozenset({"DENIED"})
    statuses = frozenset({403})


class NotFound(RegistryResponseError):
    """404: something named in the request does not exist."""

    statuses = frozenset({404})


class ManifestUnknown(NotFound):
    """``MANIFEST_UNKNOWN``: no manifest under that tag or digest."""

    codes = frozenset({"MANIFEST_UNKNOWN"})


class BlobUnknown(NotFound):
    """``BLOB_UNKNOWN``: no blob with that digest in the repository."""

    codes = frozenset({"BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"})


class NameUnknown(NotFound):
    """``NAME_UNKNOWN``: no such repository."""

    codes = frozenset({"NAME_UNKNOWN"})


class Unsupported(RegistryResponseError):
    """405 or ``UNSUPPORTED``: the registry does not allow the operation (e.g. deletes)."""

    codes = frozenset({"UNSUPPORTED"})
    statuses = frozenset({405})


class TooManyRequests(RegistryResponseError):
    """429 or ``TOOMANYREQUESTS``, after the retries were used up."""

    codes = frozenset({"TOOMANYREQUESTS"})
    statuses = frozenset({429})


class ServerError(RegistryResponseError):
    """5xx: the registry failed."""


_BY_CODE: Final[tuple[type[RegistryResponseError], ...]] = (
    ManifestUnknown,
    BlobUnknown,
    NameUnknown,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
)
_BY_STATUS: Final[tuple[type[RegistryResponseError], ...]] = (
    Unauthorized,
    Denied,
    NotFound,
    Unsupported,
    TooManyRequests,
)


def response_error_class(status: int, code: str) -> type[RegistryResponseError]:
    """Pick the subclass for a refusal: the registry's code first, then the status."""
    for cls in _BY_CODE:
        if code in cls.codes:
            return cls
    if status >= 500:
        return ServerError
    for cls in _BY_STATUS:
        if status in cls.statuses:
            return cls
    return RegistryResponseError
