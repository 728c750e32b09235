"""Registry refusals turned into exceptions, with containers/image's texts.

* :func:`registry_error` is the "registry wrapper" used for manifests: ``<context>: <text>``.
* :func:`simple_error` is the "simple wrapper" used for ping, tokens, blobs and tag lists.
* :func:`is_manifest_unknown` tells "no such manifest" from other refusals.

The decoding of the body is :mod:`sansio_registry.error_details`.
"""

from __future__ import annotations

from sansio_registry.error_details import (
    CodedError,
    ErrorList,
    UnexpectedBody,
    decode_error_details,
    parse_error_body,
)
from sansio_registry.errors import (
    ErrorDetail,
    RegistryResponseError,
    TooManyRequests,
    Unauthorized,
    response_error_class,
)
from sansio_registry.http import Response, status_text

__all__ = ["is_manifest_unknown", "registry_error", "simple_error"]


def _error_class(decoded: ErrorList) -> type[RegistryResponseError]:
    code = decoded.first_code if 400 <= decoded.status < 500 else ""
    return response_error_class(decoded.status, code)


def _body_details(resp: Response, decoded: ErrorList) -> tuple[ErrorDetail, ...]:
    """Coded errors for ``.errors``; for statuses Go does not decode, still read the body."""
    if decoded.status_line is None:
        return decoded.details
    items, _ = parse_error_body(resp.status, resp.body)
    return tuple(item.as_detail() for item in items if isinstance(item, CodedError))


def registry_error(
    resp: Response, *, method: str, url: str, context: str
) -> RegistryResponseError:
    """The "registry wrapper" (manifests): ``<context>: <text>``.

    An unexpected body becomes ``StatusCode: <code>, <first 50 bytes>...``; everything else is
    the decoded text (docs/behaviour.md#registry-errors).
    """
    decoded = decode_error_details(resp)
    unexpected = decoded.unexpected
    if unexpected is not None:
        text = f"StatusCode: {unexpected.status}, {unexpected.excerpt}"
    else:
        text = decoded.text
    message = f"{context}: {text}" if context else text
    cls = _error_class(decoded)
    return cls(
        message,
        status=resp.status,
        errors=_body_details(resp, decoded),
        method=method,
        url=url,
    )


def simple_error(
    resp: Response, *, method: str, url: str, context: str | None
) -> RegistryResponseError:
    """The "simple wrapper" (ping, token, blobs, tag list).

    The text hides the body except on 401, as Go does; the class and ``.errors`` still come
    from the decoded body, so a blob 404 with ``BLOB_UNKNOWN`` is a :class:`BlobUnknown`.
    """
    decoded = decode_error_details(resp)
    details = _body_details(resp, decoded)
    status = resp.status
    cls: type[RegistryResponseError]
    if status == 429:
        cls, message = TooManyRequests, "too many requests to registry"
    elif status == 401:
        cls = Unauthorized
        message = f"unable to retrieve auth token: invalid username/password: {decoded.text}"
    else:
        cls = _error_class(decoded)
        prefix = f"{context}: " if context else ""
        # Go prints StatusText, empty for codes it does not know; the server's reason is kinder.
        text = status_text(status) or resp.reason
        message = f"{prefix}invalid status code from registry {status} ({text})"
    return cls(message, status=status, errors=details, method=method, url=url)


# --- manifest-unknown classification ----------------------------------------------------------


def is_manifest_unknown(
    exc_or_resp: RegistryResponseError | Response, *, legacy: bool = False
) -> bool:
    """Whether a manifest refusal means "no such manifest" (sigstore attachments absent).

    Default: upstream's rule (docs/behaviour.md#sigstore-attachments): first error
    MANIFEST_UNKNOWN; or UNKNOWN whose message contains "not found" in any case; or any 404
    whose body is not a registry error list.
    ``legacy=True``: the 5.23.1 rule: UNKNOWN only with message exactly
    ``Not Found``, and an unparsable 404 body only when it contains ``Not found``.
    """
    if isinstance(exc_or_resp, Response):
        decoded = decode_error_details(exc_or_resp)
        if decoded.status_line is not None or not decoded.items:
            return False
        first = decoded.items[0]
        if isinstance(first, UnexpectedBody):
            if decoded.unexpected is None or first.status != 404:
                return False
            return b"Not found" in first.body if legacy else True
        return _coded_is_unknown(first.code, first.message, short=first.short, legacy=legacy)
    exc = exc_or_resp
    if not 400 <= exc.status < 500:
        return False
    if exc.errors:
        first_detail = exc.errors[0]
        return _coded_is_unknown(
            first_detail.code, first_detail.message, short=False, legacy=legacy
        )
    if exc.status != 404:
        return False
    return "Not found" in str(exc) if legacy else True


def _coded_is_unknown(code: str, message: str, *, short: bool, legacy: bool) -> bool:
    if code == "MANIFEST_UNKNOWN":
        return True
    if code != "UNKNOWN" or short:
        return False
    return message == "Not Found" if legacy else "not found" in message.lower()
