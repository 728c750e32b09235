"""Choosing the instance of a manifest list or OCI index that fits the wanted platform.

As containers/image 5.23.1 does: candidates ``(os, architecture, variant)`` in order of
preference (ARM variants fall back to older ones), matched exactly against each entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sansio_registry.errors import LocalProtocolError
from sansio_registry.manifest import Descriptor, ImageIndex, Platform
from sansio_registry.media_types import LIST_MEDIA_TYPES, OCI_INDEX
from sansio_registry.quoting import quote

__all__ = [
    "ARCH_VARIANTS",
    "Candidate",
    "NoMatchingPlatform",
    "WantedPlatform",
    "choose_instance",
    "wanted_platforms",
]

_NO_PLATFORM: Final = Platform()


class NoMatchingPlatform(LocalProtocolError):
    """No instance of a manifest list / index fits the wanted platforms."""


#: Variant compatibility chains, most to least capable (Go's ``compatibility`` table).
ARCH_VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "arm": ("v8", "v7", "v6", "v5"),
    "arm64": ("v8",),
}

#: One candidate platform: ``(os, architecture, variant)``; variant ``""`` = entry without one.
Candidate = tuple[str, str, str]


def wanted_platforms(
    os: str,
    architecture: str,
    variant: str | None = None,
    *,
    arch_chosen_by_caller: bool,
    host_variant: str = "",
) -> tuple[Candidate, ...]:
    """The ordered candidates (docs/behaviour.md#platform-choice).

    ``os`` and ``architecture`` are already resolved (caller's choice or host default);
    ``variant`` is the caller's choice; ``host_variant`` is what the shell detected for the host
    CPU (see :func:`cpu_variant`), used only when the caller chose neither the architecture nor
    a variant.
    """
    wanted = variant or ("" if arch_chosen_by_caller else host_variant)
    chain = ARCH_VARIANTS.get(architecture)
    variants: tuple[str, ...]
    if wanted:
        if chain is not None and wanted in chain:
            variants = (*chain[chain.index(wanted) :], "")
        else:
            variants = (wanted, "")
    else:
        variants = ("", *(chain or ()))
    return tuple((os, architecture, v) for v in variants)


@dataclass(frozen=True, slots=True)
class WantedPlatform:
    """The platform a caller wants from a manifest list.

    ``os`` / ``architecture``: the caller's choice or the host's (resolved by the shell);
    ``variant``: the caller's choice or None; ``architecture_chosen``: whether the caller chose
    the architecture (then the host's variant is not used); ``host_variant``: detected by the
    shell for the host CPU.
    """

    os: str
    architecture: str
    variant: str | None = None
    architecture_chosen: bool = False
    host_variant: str = ""

    def candidates(self) -> tuple[Candidate, ...]:
        """The ordered list of acceptable ``(os, architecture, variant)`` triples."""
        return wanted_platforms(
            self.os,
            self.architecture,
            self.variant,
            arch_chosen_by_caller=self.architecture_chosen,
            host_variant=self.host_variant,
        )


def _matches(platform: Platform, candidate: Candidate) -> bool:
    # 5.23.1: exact equality of OS, architecture and variant; os.version/os.features ignored.
    return (platform.os, platform.architecture, platform.variant) == candidate


def choose_instance(
    index: ImageIndex, media_type: str, wanted: WantedPlatform | Sequence[Candidate]
) -> Descriptor:
    """Pick the instance for the first wanted platform that any entry matches (as 5.23.1).

    ``wanted`` is a :class:`WantedPlatform` (expanded with its fallbacks) or an explicit list of
    candidates. Docker lists: entries without a platform never match. OCI indexes: entries
    without a platform are skipped, and the first of them is the fallback when nothing matches.
    """
    candidates = wanted.candidates() if isinstance(wanted, WantedPlatform) else tuple(wanted)
    if not candidates:
        raise LocalProtocolError("no wanted platforms given")
    if media_type not in LIST_MEDIA_TYPES:
        raise LocalProtocolError(f"Unimplemented manifest list MIME type {media_type}")
    is_oci = media_type == OCI_INDEX
    for candidate in candidates:
        for d in index.manifests:
            platform = d.platform
            if platform is None:
                if is_oci:
                    continue
                platform = _NO_PLATFORM
            if _matches(platform, candidate):
                return d
    if is_oci:
        for d in index.manifests:
            if d.platform is None:
                return d
    os, architecture, variant = candidates[0]
    where = "image index" if is_oci else "manifest list"
    raise NoMatchingPlatform(
        f"no image found in {where} for architecture {architecture}, "
        f"variant {quote(variant)}, OS {os}"
    )
