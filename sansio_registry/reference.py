"""Docker image references: parsing and normalisation exactly as containers/image does.

``ImageRef.parse`` follows the Go order of checks (64-hex name, Docker domain split, the
lowercase check, the grammar, the 255-character name limit, digest validation, tag-and-digest)
so that every error text is the one skopeo prints (docs/behaviour.md#references). The grammar is
the Go one, rewritten with unambiguous, possessive sub-patterns because Python's backtracking
engine would otherwise be exponential on hostile input where Go's RE2 is linear; the language
accepted is the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from sansio_registry.errors import InvalidReference

__all__ = [
    "DEFAULT_DOMAIN",
    "DOCKER_CONNECTION_HOST",
    "ImageRef",
    "is_valid_domain",
    "parse_digest",
]

#: The implicit registry of unqualified names.
DEFAULT_DOMAIN: Final = "docker.io"
#: The host actually contacted for ``docker.io`` (certificates/credentials still use docker.io).
DOCKER_CONNECTION_HOST: Final = "registry-1.docker.io"
_LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
_OFFICIAL_REPO_PREFIX: Final = "library/"
_NAME_TOTAL_LENGTH_MAX: Final = 255

# --- the grammar, as in containers/image docker/reference/regexp.go ---------------------------
# dcomp := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]  (same language, no ambiguity)
_DCOMP: Final = r"[a-zA-Z0-9]++(?:-++[a-zA-Z0-9]++)*+"
_DOMAIN: Final = rf"{_DCOMP}(?:\.{_DCOMP})*+(?::[0-9]++)?+"
# component := [a-z0-9]+ (sep [a-z0-9]+)* ; sep := . | _ | __ | -+  (Go's "[-]*" may be empty,
# which only merges alphanumeric runs, so requiring a non-empty separator is equivalent).
_COMPONENT: Final = r"[a-z0-9]++(?:(?:[._]|__|-++)[a-z0-9]++)*+"
_PATH: Final = rf"{_COMPONENT}(?:/{_COMPONENT})*+"
_NAME: Final = rf"(?:{_DOMAIN}/)?{_PATH}"
_TAG: Final = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}+"
_DIGEST_GRAMMAR: Final = (
    r"[A-Za-z][A-Za-z0-9]*+(?:[-_+.][A-Za-z][A-Za-z0-9]*+)*+:[0-9a-fA-F]{32,}+"
)

_REFERENCE_RE: Final = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST_GRAMMAR}))?")
_ANCHORED_NAME_RE: Final = re.compile(rf"(?:({_DOMAIN})/)?({_PATH})")
_ANCHORED_DOMAIN_RE: Final = re.compile(_DOMAIN)
_ANCHORED_TAG_RE: Final = re.compile(_TAG)
_ANCHORED_DIGEST_GRAMMAR_RE: Final = re.compile(_DIGEST_GRAMMAR)
_IDENTIFIER_RE: Final = re.compile(r"[a-f0-9]{64}")

# --- digests (opencontainers/go-digest Validate) ----------------------------------------------
_DIGEST_HEX_LENGTHS: Final[dict[str, int]] = {"sha256": 64, "sha384": 96, "sha512": 128}
_LOWER_HEX_RE: Final = re.compile(r"[a-f0-9]+")
_GO_DIGEST_RE: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")

_ERR_FORMAT: Final = "invalid reference format"
_ERR_LOWERCASE_NORMALIZED: Final = "invalid reference format: repository name must be lowercase"
_ERR_LOWERCASE: Final = "repository name must be lowercase"
_ERR_TOO_LONG: Final = f"repository name must not be more than {_NAME_TOTAL_LENGTH_MAX} characters"
_ERR_TAG_AND_DIGEST: Final = (
    "Docker references with both a tag and digest are currently not supported"
)


def parse_digest(text: str) -> tuple[str, str]:
    """Split and validate ``algo:hex`` like go-digest's ``Validate``.

    Only sha256/sha384/sha512 are supported, with exactly 64/96/128 lowercase hex digits.
    """
    colon = text.find(":")
    if colon <= 0 or colon + 1 == len(text):
        raise InvalidReference("invalid checksum digest format")
    algo, encoded = text[:colon], text[colon + 1 :]
    length = _DIGEST_HEX_LENGTHS.get(algo)
    if length is None:
        if _GO_DIGEST_RE.fullmatch(text) is None:
            raise InvalidReference("invalid checksum digest format")
        raise InvalidReference("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidReference("invalid checksum digest length")
    if _LOWER_HEX_RE.fullmatch(encoded) is None:
        raise InvalidReference("invalid checksum digest format")
    return algo, encoded


def _split_docker_domain(text: str) -> tuple[str, str]:
    """The Docker rule: a first segment is a domain only if it has ``.``/``:`` or is localhost."""
    slash = text.find("/")
    if slash == -1 or (
        "." not in text[:slash] and ":" not in text[:slash] and text[:slash] != "localhost"
    ):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = text[:slash], text[slash + 1 :]
    if domain == _LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A normalised docker reference: ``domain/path`` plus exactly one of tag or digest.

    Build it with :meth:`parse`; the fields are the normalised parts (``docker.io`` never
    appears as ``index.docker.io``, official images carry ``library/``).
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse a bare reference (no ``docker://`` or ``//``), adding tag ``latest`` if needed."""
        if _IDENTIFIER_RE.fullmatch(text) is not None:
            raise InvalidReference(
                f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
            )
        domain, remainder = _split_docker_domain(text)
        remote_name = remainder.split(":", 1)[0]
        if remote_name.lower() != remote_name:
            raise InvalidReference(_ERR_LOWERCASE_NORMALIZED)
        ref = cls._parse_full(domain + "/" + remainder)
        if ref.tag is not None and ref.digest is not None:
            raise InvalidReference(_ERR_TAG_AND_DIGEST)
        if ref.tag is None and ref.digest is None:
            return replace(ref, tag="latest")
        return ref

    @classmethod
    def _parse_full(cls, full: str) -> ImageRef:
        """Go's ``reference.Parse`` applied to the already domain-qualified string."""
        match = _REFERENCE_RE.fullmatch(full)
        if match is None:
            if _REFERENCE_RE.fullmatch(full.lower()) is not None:
                raise InvalidReference(_ERR_LOWERCASE)
            raise InvalidReference(_ERR_FORMAT)
        name, tag, digest = match.group(1, 2, 3)
        if len(name) > _NAME_TOTAL_LENGTH_MAX:
            raise InvalidReference(_ERR_TOO_LONG)
        name_match = _ANCHORED_NAME_RE.fullmatch(name)
        assert name_match is not None  # the same sub-grammar matched just above
        domain, path = name_match.group(1, 2)
        if not domain:
            # Go accepts a first segment that is a valid path component but not a valid domain
            # (e.g. "a_b.c/x") as a domain-less name, which can never be contacted; we refuse it.
            raise InvalidReference(_ERR_FORMAT)
        if digest is not None:
            parse_digest(digest)
        return cls(domain=domain, path=path, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``domain/path``, the key for registries.conf, auth.json and policy scopes."""
        return f"{self.domain}/{self.path}"

    @property
    def tag_or_digest(self) -> str:
        """What goes after ``/manifests/``: the digest if present, else the tag."""
        if self.digest is not None:
            return self.digest
        return self.tag if self.tag is not None else "latest"

    @property
    def connection_host(self) -> str:
        """The ``host[:port]`` to dial: docker.io is served by registry-1.docker.io."""
        return DOCKER_CONNECTION_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def familiar_name(self) -> str:
        """The short name users type: no ``docker.io/``, no ``library/`` for official images."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        parts = self.path.split("/")
        if len(parts) == 2 and parts[0] == "library":
            return parts[1]
        return self.path

    @property
    def familiar(self) -> str:
        """The familiar string (Go's ``FamiliarString``), e.g. ``busybox:latest``."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        if self.digest is not None:
            return "@" + self.digest
        if self.tag is not None:
            return ":" + self.tag
        return ""

    def __str__(self) -> str:
        """The canonical string (also the policy identity): ``name:tag`` or ``name@digest``."""
        return self.name + self._suffix()

    def with_digest(self, digest: str) -> ImageRef:
        """The same repository at ``digest`` (the tag is dropped)."""
        if _ANCHORED_DIGEST_GRAMMAR_RE.fullmatch(digest) is None:
            raise InvalidReference("invalid digest format")
        parse_digest(digest)
        return replace(self, tag=None, digest=digest)

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository at ``tag`` (any digest is dropped)."""
        if _ANCHORED_TAG_RE.fullmatch(tag) is None:
            raise InvalidReference("invalid tag format")
        return replace(self, tag=tag, digest=None)

    def policy_namespaces(self) -> tuple[str, ...]:
        """Scopes searched after the identity (docs/behaviour.md#lookaside-storage).

        The name, each parent cut at the last ``/`` down to ``host[:port]``, then the wildcard
        domains ``*.<rest>`` from the host without its port.
        """
        result: list[str] = []
        name = self.name
        while True:
            result.append(name)
            slash = name.rfind("/")
            if slash == -1:
                break
            name = name[:slash]
        host = name.split(":", 1)[0]
        while (dot := host.find(".")) != -1:
            host = host[dot + 1 :]
            result.append("*." + host)
        return tuple(result)


def is_valid_domain(text: str) -> bool:
    """Whether ``text`` is a bare ``host[:port]`` of the reference grammar."""
    return _ANCHORED_DOMAIN_RE.fullmatch(text) is not None
