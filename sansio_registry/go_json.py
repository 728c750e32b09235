"""JSON documents read with the matching rules of Go's ``encoding/json``.

containers/image decodes registry documents and auth files with ``encoding/json``, and what it
accepts is behaviour users see: a manifest's guessed type decides how it is digested, an auth
file's ``Auth`` key counts as ``auth``. The rules kept here:

* object keys match field names case-insensitively, and the last matching key wins;
* ``null`` leaves a string, number or struct field as it was, and empties a list, map or
  any-typed field (an any-typed number is a float);
* invalid UTF-8 reads as U+FFFD, byte by byte (:mod:`sansio_registry.json_decode`).

Error texts are msgspec's and ours, not Go's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, Final, TypeVar

import msgspec
import msgspec.inspect as mi

from sansio_registry.json_decode import decode_json, replace_invalid_utf8

__all__ = ["JSONObject", "convert", "decode_any", "fold_fields", "fold_key", "loads"]

_T = TypeVar("_T")
_MISSING: Final = object()


class JSONObject(list[tuple[str, object]]):
    """A JSON object as its members in order, duplicates kept (Go assigns them in turn)."""

    def last(self, key: str, default: object = None) -> object:
        """The value of the last member named exactly ``key`` (a Go map lookup)."""
        found = default
        for name, value in self:
            if name == key:
                found = value
        return found


def _no_constants(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


def loads(raw: bytes) -> object:
    """Parse JSON, objects as :class:`JSONObject`; ValueError when it is not JSON."""
    try:
        return json.loads(
            replace_invalid_utf8(raw).decode("utf-8"),
            object_pairs_hook=JSONObject,
            parse_constant=_no_constants,
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise ValueError("not JSON: nested too deeply") from None


_ANY_VALUE: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder()


def decode_any(raw: bytes) -> Any:
    """``raw`` decoded by msgspec into plain values (dicts, lists…), invalid UTF-8 replaced.

    Raises ``msgspec.DecodeError`` when ``raw`` is not JSON.
    """
    return decode_json(_ANY_VALUE, raw)


def fold_key(key: str) -> str:
    """The form under which Go matches a key to an ASCII field name (simple case folding)."""
    return key.lower().replace("\u017f", "s")  # the long s folds to "s"; "K" (Kelvin) lowers


def fold_fields(members: Iterable[tuple[str, object]], names: Iterable[str]) -> dict[str, object]:
    """The members whose key matches one of ``names``, renamed to it; the last match wins."""
    wanted = {fold_key(name): name for name in names}
    out: dict[str, object] = {}
    for key, value in members:
        name = wanted.get(fold_key(key))
        if name is not None:
            out[name] = value
    return out


def convert(tree: object, cls: type[_T]) -> _T:
    """Decode a :func:`loads` tree into ``cls`` as Go's ``json.Unmarshal`` would.

    Raises ``msgspec.ValidationError`` on a type mismatch (Go's "cannot unmarshal" cases).
    """
    return msgspec.convert(_shape(tree, _type_info(cls)), cls)


#: msgspec's description of each class converted to, built once: it costs far more than a
#: decode. The classes are the module-level structs of their callers, a handful.
_TYPE_INFO: Final[dict[type, mi.Type]] = {}


def _type_info(cls: type) -> mi.Type:
    info = _TYPE_INFO.get(cls)
    if info is None:
        info = _TYPE_INFO[cls] = mi.type_info(cls)
    return info


def _nullable(t: mi.Type) -> bool:
    return isinstance(t, mi.AnyType) or (
        isinstance(t, mi.UnionType) and any(isinstance(m, mi.NoneType) for m in t.types)
    )


def _inner(t: mi.Type) -> mi.Type:
    if isinstance(t, mi.UnionType):
        others = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(others) == 1:
            return others[0]
    return t


_ZERO: Final[dict[type[mi.Type], object]] = {
    mi.StrType: "",
    mi.IntType: 0,
    mi.FloatType: 0.0,
    mi.BoolType: False,
}


def _shape(value: object, t: mi.Type) -> object:
    """``value`` rewritten so that ``msgspec.convert`` sees what Go's decoder would."""
    if value is None:
        if _nullable(t):
            return None
        if isinstance(t, mi.StructType):
            return {}
        return _ZERO.get(type(t), None)
    t = _inner(t)
    if isinstance(t, mi.AnyType):
        return _plain(value, any_typed=True)
    if isinstance(t, mi.StructType) and isinstance(value, JSONObject):
        return _shape_struct(value, t)
    if isinstance(t, mi.DictType) and isinstance(value, JSONObject):
        return {k: _shape(v, t.value_type) for k, v in value}
    if isinstance(t, mi.ListType | mi.VarTupleType) and _is_array(value):
        assert isinstance(value, list)
        return [_shape(v, t.item_type) for v in value]
    if isinstance(t, mi.BytesType) and isinstance(value, str):
        return value.replace("\r", "").replace("\n", "")  # Go's base64 skips line breaks
    return _plain(value, any_typed=False)


def _shape_struct(value: JSONObject, t: mi.StructType) -> dict[str, object]:
    fields = {fold_key(f.encode_name): f for f in t.fields}
    out: dict[str, object] = {}
    for key, member in value:
        f = fields.get(fold_key(key))
        if f is None or (member is None and not _nullable(f.type)):
            continue
        shaped = _shape(member, f.type)
        previous = out.get(f.encode_name, _MISSING)
        if isinstance(previous, dict) and isinstance(shaped, dict):
            shaped = previous | shaped  # Go decodes a repeated object into the same value
        out[f.encode_name] = shaped
    return out


def _is_array(value: object) -> bool:
    return isinstance(value, list) and not isinstance(value, JSONObject)


def _plain(value: object, *, any_typed: bool) -> object:
    """Objects as dicts (last member wins); any-typed numbers as finite floats."""
    if isinstance(value, JSONObject):
        return {k: _plain(v, any_typed=any_typed) for k, v in value}
    if isinstance(value, list):
        return [_plain(v, any_typed=any_typed) for v in value]
    if any_typed and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):
            raise msgspec.ValidationError(f"number {value} is out of range")
        return number
    return value
