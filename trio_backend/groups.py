"""Exception groups from trio nurseries, reduced to the one error a caller should see."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["first_exception", "sole_exception"]

E = TypeVar("E", bound=BaseException)


def first_exception(group: BaseExceptionGroup[BaseException], kind: type[E]) -> E | None:
    """The first exception of ``kind`` in a (nested) group, depth first, or None."""
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = first_exception(exc, kind)
            if found is not None:
                return found
    return None


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-member groups, or None when there are more."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup):
        if len(inner.exceptions) != 1:
            return None
        inner = inner.exceptions[0]
    return inner
