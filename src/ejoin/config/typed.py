"""Tables into typed settings: msgspec Structs, and every refusal one line naming the key.

A config is a msgspec ``Struct`` whose fields are its keys: a nested Struct is a ``[table]``, a
list of Structs an array of tables (``[[modem]]``), ``Annotated[int, Meta(ge=1, le=256)]`` a
bounded value.  ``typed`` turns a table (a parsed TOML file, the flags over it) into one:
unknown keys are refused with the closest known key suggested (a typo is never silently
ignored), numbers TOML allows but no timer can use (``nan``, ``inf``) are refused, and
``msgspec.convert`` in strict mode does the rest (no ``"10"`` for 10, no ``1`` for ``true``);
its refusal is rewritten into words naming the key with its table path and what was expected:

    lease: expected a number of at least 1, not "ten"
    [timing] card_detec: unknown key (did you mean card_detect?)
    [[modem]] #2 port: expected an integer, not "1"

What a type cannot say (two keys that go together, a port that must exist on the device) is
said by a check after typing, raising ``Refused`` with the key's path in the same way.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec
import msgspec.inspect as mi

T = TypeVar("T")

# A key's place in the tables: names of keys and indexes in arrays, outermost first.
KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: "$" would let a final newline through
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")
_MSGSPEC = re.compile(r"^(?P<what>.*?)(?: - at `(?P<at>\$[^`]*)`)?$", re.S)


class ConfigError(ValueError):
    """A config that cannot be used; ``str()`` is one line naming where it is wrong and why."""


class Refused(ConfigError):
    """A value refused: its key (a path in the tables, or a place already written out) and why.

    The loader that knows where the key came from (a file, a flag) names it in front."""

    def __init__(self, key: KeyPath | str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key_name(key)}: {reason}" if key else reason)


def key_name(key: KeyPath | str) -> str:
    """A key as a person finds it in the file: ``lease``, ``[timing] card_detect``, ``[[modem]] #2 port``,
    ``[traffic] senders #1`` (an item of an array)."""
    if isinstance(key, str):
        return key
    names = [i for i, step in enumerate(key) if isinstance(step, str)]
    if not names:
        return ""
    last = names[-1]
    head, leaf = key[:last], key[last:]
    leaf_text = _toml_key(str(leaf[0])) + "".join(f" #{int(i) + 1}" for i in leaf[1:])
    if not head:
        return leaf_text
    if isinstance(head[-1], int):
        return f"[[{_dotted(head[:-1])}]] #{head[-1] + 1} {leaf_text}"
    return f"[{_dotted(head)}] {leaf_text}"


def _dotted(steps: KeyPath) -> str:
    return ".".join(_toml_key(s) if isinstance(s, str) else f"#{s + 1}" for s in steps)


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def shown(value: Any) -> str:
    """A value as TOML writes it (short): ``"ten"``, ``true``, ``1.5``, ``a table``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:60] + "…", ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


# A Struct's fields never change, and reading them evaluates every annotation: read once per class.
_KEYS: dict[type, frozenset[str]] = {}
_INFO: dict[type, mi.Type] = {}


def keys_of(cls: type) -> frozenset[str]:
    """The keys of a config Struct: its fields but those it derives when loaded (``DERIVED``)."""
    if cls not in _KEYS:
        derived: frozenset[str] = getattr(cls, "DERIVED", frozenset())
        _KEYS[cls] = frozenset(f.encode_name for f in msgspec.structs.fields(cls)) - derived
    return _KEYS[cls]


def unknown_key(key: str, known: Iterable[str]) -> str:
    """Why a key is refused: unknown, and the known one it was probably meant to be."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f"unknown key (did you mean {close[0]}?)" if close else "unknown key"


def refuse_unknown(table: Mapping[str, Any], known: Iterable[str], at: KeyPath = ()) -> None:
    """Refused for the first key of ``table`` that is not ``known``."""
    names = set(known)
    for key in table:
        if key not in names:
            raise Refused((*at, key), unknown_key(str(key), names))


def typed(cls: type[T], table: Mapping[str, Any], *, at: KeyPath = (), strict: bool = True) -> T:
    """``table`` as a ``cls`` Struct, or ``Refused`` naming the first key that is wrong and why.

    ``at``: where the table is in the file (``("member", 1)`` for the second ``[[member]]``), for the
    names of keys; ``strict=False`` lets numbers and flags written as text through (a JSON body)."""
    _refuse_unknown_within(_type_info(cls), table, at)
    _refuse_non_finite(table, at)
    try:
        return msgspec.convert(table, cls, strict=strict)
    except msgspec.ValidationError as exc:
        raise _refusal(str(exc), cls, table, at) from None


def _type_info(cls: type) -> mi.Type:
    if cls not in _INFO:
        _INFO[cls] = mi.type_info(cls)
    return _INFO[cls]


def _unwrapped(t: mi.Type) -> mi.Type:
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        real = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(real) == 1:
            return _unwrapped(real[0])
    return t


def _refuse_unknown_within(t: mi.Type, value: Any, at: KeyPath) -> None:
    t = _unwrapped(t)
    if isinstance(t, mi.StructType) and isinstance(value, Mapping):
        fields = {f.encode_name: f for f in t.fields}
        refuse_unknown(value, keys_of(t.cls), at)
        for key, sub in value.items():
            _refuse_unknown_within(fields[key].type, sub, (*at, key))
    elif isinstance(t, (mi.ListType, mi.TupleType, mi.VarTupleType)) and isinstance(value, list):
        item = t.item_type if not isinstance(t, mi.TupleType) else None
        if item is not None:
            for i, sub in enumerate(value):
                _refuse_unknown_within(item, sub, (*at, i))
    elif isinstance(t, mi.DictType) and isinstance(value, Mapping):
        for key, sub in value.items():
            _refuse_unknown_within(t.value_type, sub, (*at, key))


def _refuse_non_finite(value: Any, at: KeyPath) -> None:
    # TOML has nan and inf: they pass every "> 0" test, and then a timer never fires (or always does)
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused(at, f"expected a finite number, not {value}")
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _refuse_non_finite(sub, (*at, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _refuse_non_finite(sub, (*at, i))


def _refusal(message: str, annotation: Any, table: Any, at: KeyPath) -> Refused:
    """msgspec's words (``Expected `int` >= 1 - at `$.ports```) as the config's, naming the key."""
    found = _MSGSPEC.match(message)
    what, where = (found["what"], found["at"] or "$") if found else (message, "$")
    path: list[str | int] = []
    value, known = table, True
    for step in _PATH_STEP.finditer(where):
        if step[0] == "[...]":  # a value of a dict: msgspec does not say whose; the first that does not fit
            item = _step(annotation, "")
            for key, sub in value.items() if isinstance(value, Mapping) else ():
                try:
                    msgspec.convert(sub, item, strict=True)
                except msgspec.ValidationError as exc:
                    return _refusal(str(exc), item, sub, (*at, *path, key))
            return Refused((*at, *path), message)
        name: str | int = step[1] if step[1] is not None else int(step[2])
        path.append(name)
        annotation = _step(annotation, name)
        try:
            value = value[name]
        except (KeyError, IndexError, TypeError):
            known = False
    missing = re.match(r"Object missing required field `(.+)`", what)
    if missing:
        return Refused((*at, *path, missing[1]), "missing (this key is required)")
    expected = describe(annotation)
    return Refused((*at, *path), f"expected {expected}, not {shown(value)}" if known else f"expected {expected}")


def _bare(annotation: Any) -> Any:
    """The type under ``Annotated`` and ``X | None``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            real = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(real) != 1:
                return annotation
            annotation = real[0]
        else:
            return annotation


def _step(annotation: Any, step: str | int) -> Any:
    """The type of a key (a field's, an item's, a dict value's) inside ``annotation``."""
    bare = _bare(annotation)
    if isinstance(bare, type) and issubclass(bare, msgspec.Struct):
        return next((f.type for f in msgspec.structs.fields(bare) if f.encode_name == step), Any)
    args = typing.get_args(bare)
    if typing.get_origin(bare) in (list, tuple, set, frozenset) and args:
        return args[0]
    if typing.get_origin(bare) is dict and len(args) == 2:
        return args[1]
    return Any


def describe(annotation: Any) -> str:
    """What a value of this type is, in words: ``an integer from 1 to 256``, ``"text" or "json"``."""
    bare = _bare(annotation)
    if typing.get_origin(bare) is Literal:  # in the order declared (msgspec.inspect sorts them)
        return _either([json.dumps(v) if isinstance(v, str) else repr(v) for v in typing.get_args(bare)])
    return _described(mi.type_info(annotation))


def _described(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        said = (t.extra_json_schema or {}).get("description")
        return str(said) if said else _described(t.type)
    if isinstance(t, mi.BoolType):
        return "true or false"
    if isinstance(t, mi.IntType):
        return "an integer" + _bounds(t)
    if isinstance(t, mi.FloatType):
        return "a number" + _bounds(t)
    if isinstance(t, mi.StrType):
        if t.max_length is not None:  # the limit said, or "too long" reads as "empty"
            return f"a string of {t.min_length or 0} to {t.max_length} characters"
        return "a non-empty string" if t.min_length else "a string"
    if isinstance(t, mi.LiteralType):
        return _either([json.dumps(v) if isinstance(v, str) else repr(v) for v in t.values])
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        item = _unwrapped(t.item_type)
        if isinstance(item, mi.StructType):
            return "an array of tables"
        return f"an array of {_plural(_described(item))}"
    if isinstance(t, (mi.StructType, mi.DictType)):
        return "a table"
    if isinstance(t, mi.UnionType):
        return _either([_described(u) for u in t.types if not isinstance(u, mi.NoneType)])
    return "a value"


def _bounds(t: mi.IntType | mi.FloatType) -> str:
    low, high = t.ge if t.ge is not None else t.gt, t.le if t.le is not None else t.lt
    if t.ge is not None and t.le is not None:
        return f" from {_number(t.ge)} to {_number(t.le)}"
    parts = []
    if low is not None:
        parts.append(f"of at least {_number(low)}" if t.ge is not None else f"above {_number(low)}")
    if high is not None:
        parts.append(f"of at most {_number(high)}" if t.le is not None else f"below {_number(high)}")
    return (" " + " and ".join(parts)) if parts else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _plural(words: str) -> str:
    for single, many in (("an integer", "integers"), ("a number", "numbers"), ("a string", "strings")):
        if words.startswith(single):
            return many + words[len(single) :]
    return "values (" + words + ")"
