"""sansio-registry: a sans-IO Docker/OCI registry client core, after containers/image.

The core emits :class:`~sansio_registry.http.Request` values and consumes responses; it never
touches a socket, a file descriptor, a clock or a thread. ``trio_backend`` is one IO shell.
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
    V1Registry,
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
from sansio_registry.manifest import WantedPlatform
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
    "V1Registry",
    "WantedPlatform",
    "get_instance_manifest",
    "get_manifest",
    "manifest_digest",
    "open_image",
]
