"""A package's public names, imported on first use (PEP 562 module ``__getattr__``).

Importing a package then costs only its ``__init__``: a CLI command that needs three names does
not pay for importing every module the package exports (signatures, deletion, registries.d).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose ``globals()`` is ``namespace``.

    ``exports`` maps each public name to the module defining it; a name is imported when first
    looked up and then kept in ``namespace``, so later lookups are plain attribute reads.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
