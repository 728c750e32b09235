"""The host's platform in OCI names, as the CLI detects it."""

from __future__ import annotations

import pytest

from trio_backend.platform_detection import cpu_variant, go_arch


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        ("x86_64", "amd64"),
        ("AMD64", "amd64"),
        ("aarch64", "arm64"),
        ("arm64", "arm64"),
        ("armv7l", "arm"),
        ("armv6l", "arm"),
        ("armv8l", "arm"),
        ("i686", "386"),
        ("ppc64le", "ppc64le"),
        ("s390x", "s390x"),
        ("riscv64", "riscv64"),
        ("mips64el", "mips64le"),
        ("loongarch64", "loong64"),
        ("sparc64", "sparc64"),
    ],
)
def test_go_arch(machine: str, arch: str) -> None:
    assert go_arch(machine) == arch


@pytest.mark.parametrize(
    ("arch", "cpuinfo", "variant"),
    [
        ("arm64", "processor\t: 0\nCPU architecture: 8\n", "v8"),
        ("arm", "CPU architecture: 7\n", "v7"),
        ("arm", "cpu ARCHITECTURE : 6TEJ\n", "v6"),
        ("arm", "CPU architecture: 5te\n", "v5"),
        ("arm", "CPU architecture: weird\n", ""),
        ("arm", "model name: x\n", ""),
        ("amd64", "CPU architecture: 8\n", ""),
    ],
)
def test_cpu_variant(arch: str, cpuinfo: str, variant: str) -> None:
    assert cpu_variant("linux", arch, cpuinfo) == variant
