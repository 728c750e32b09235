"""The host's platform in the names OCI platforms use (Go's GOOS, GOARCH and ARM variants).

The CLI picks an instance of a multi-platform image for the machine it runs on, as skopeo does;
the core takes the platform as data (:class:`sansio_registry.platform.WantedPlatform`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["cpu_variant", "go_arch", "go_os"]


_MACHINE_TO_GOARCH: Final[dict[str, str]] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "x64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "x86": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "aarch64_be": "arm64be",
    "armv8l": "arm",
    "armv7l": "arm",
    "armv7": "arm",
    "armv6l": "arm",
    "armv5tel": "arm",
    "armv5tejl": "arm",
    "arm": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips": "mips",
    "mipsel": "mipsle",
    "mips64": "mips64",
    "mips64el": "mips64le",
    "loongarch64": "loong64",
}


def go_arch(machine: str) -> str:
    """Map ``platform.machine()`` to Go's GOARCH name (unknown names are lowercased as-is)."""
    m = machine.strip().lower()
    if m in _MACHINE_TO_GOARCH:
        return _MACHINE_TO_GOARCH[m]
    if m.startswith("armv"):
        return "arm"
    return m


def go_os(system: str) -> str:
    """Map ``platform.system()`` to Go's GOOS name."""
    return system.strip().lower()


_ARM_VARIANTS: Final[dict[str, str]] = {
    "8": "v8",
    "aarch64": "v8",
    "7": "v7",
    "7m": "v7",
    "?(12)": "v7",
    "?(13)": "v7",
    "?(14)": "v7",
    "?(15)": "v7",
    "?(16)": "v7",
    "?(17)": "v7",
    "6": "v6",
    "6tej": "v6",
    "5": "v5",
    "5t": "v5",
    "5te": "v5",
    "5tej": "v5",
    "4": "v4",
    "4t": "v4",
    "3": "v3",
}


def cpu_variant(os: str, architecture: str, cpuinfo: str) -> str:
    """The host CPU variant Go detects, from the text of ``/proc/cpuinfo``.

    Only ARM has variants here; the first ``CPU architecture`` line (case-insensitive) counts.
    """
    if os == "windows" or architecture not in ("arm", "arm64"):
        return ""
    for line in cpuinfo.splitlines():
        parts = line.split(":")
        if len(parts) > 1 and parts[0].strip().lower() == "cpu architecture":
            return _ARM_VARIANTS.get(parts[1].strip().lower(), "")
    return ""
