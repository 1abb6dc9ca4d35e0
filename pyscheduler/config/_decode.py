"""Strict YAML → typed decoding that reports *every* problem with its field path.

Contract:
* ``load_yaml(text)`` parses one YAML document with a safe loader. YAML aliases/anchors are
  refused (a few lines of aliases can expand into an enormous tree: a ConfigMap must not be able
  to stall the scheduler), duplicate keys are errors (upstream's strict decoder rejects them),
  and documents larger than ``MAX_DOCUMENT_BYTES`` are refused. Anything wrong raises
  ``ConfigError``; nothing else escapes.
* ``clean(value, hint, path, errors)`` walks a plain value (dicts, lists, scalars from YAML)
  against a type annotation (msgspec Structs, dataclasses, lists, dicts, optionals, scalars),
  appending one upstream-style message per problem (unknown field, wrong type, missing required
  field) and returning a copy in which JSON ``null`` means "unset", as Go's encoding/json treats
  it: null-valued fields are dropped so that defaults apply, null list items of a struct type
  become ``{}``. When ``errors`` stays empty, ``msgspec.convert(result, hint)`` is expected to
  succeed; ``convert_checked`` does both and maps any residual msgspec error to a field path.
* Unknown fields are checked even for Structs that do not set ``forbid_unknown_fields``
  (plugin args types written by others), because upstream decodes plugin args strictly too.
* ``parse_duration`` reads Go ``time.ParseDuration`` syntax ("15s", "1m30s", "250ms").
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

import msgspec
import yaml

from pyscheduler.config.validation import (
    ConfigError,
    invalid,
    render,
    required,
    suggest,
    unknown_field,
)

MAX_DOCUMENT_BYTES = 1 << 20  # a ConfigMap cannot hold more either


# ---- YAML -----------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, recording duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not supported", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    mark = key_node.start_mark
                    self.duplicates.append(
                        f"line {mark.line + 1}, column {mark.column + 1}: "
                        f"duplicate field {render(key)}"
                    )
                seen.add(key)
            except TypeError:  # unhashable key: the base class reports it
                pass
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str | bytes) -> Any:
    """One YAML document as plain Python values; ConfigError on any problem."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError([f"configuration is not valid UTF-8: {err}"]) from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise ConfigError([f"configuration is larger than {MAX_DOCUMENT_BYTES} bytes"])
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)  # the reader already rejects some characters here
        value = loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = ", ".join(x for x in (err.context, err.problem) if x) or "invalid YAML"
        raise ConfigError([f"yaml: {where}{_one_line(what)}"]) from None
    except yaml.YAMLError as err:
        raise ConfigError([f"yaml: {_one_line(str(err))}"]) from None
    except (RecursionError, MemoryError):
        raise ConfigError(["yaml: document is nested too deeply"]) from None
    except (ValueError, TypeError, OverflowError) as err:
        # PyYAML's constructors raise these for some malformed scalars (e.g. timestamps).
        raise ConfigError([f"yaml: {_one_line(str(err))}"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if loader.duplicates:
        raise ConfigError(loader.duplicates)
    return value


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


# ---- typed walk -----------------------------------------------------------------------------
def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


_NONE = type(None)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _struct_fields(hint: Any) -> list[tuple[str, str, Any, bool]] | None:
    """(attribute, wire name, annotation, required) of a Struct/dataclass, or None."""
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        cfg = hint.__struct_config__
        if cfg.array_like or cfg.tag is not None:
            return None  # exotic encodings: leave them to msgspec
        return [
            (f.name, f.encode_name, f.type, f.required) for f in msgspec.structs.fields(hint)
        ]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        try:
            hints = typing.get_type_hints(hint)
        except Exception:  # unresolvable forward references: let msgspec judge the whole value
            return None
        return [
            (
                f.name,
                f.name,
                hints.get(f.name, Any),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(hint)
            if f.init
        ]
    return None


def clean(value: Any, hint: Any, path: str, errors: list[str]) -> Any:
    """Check ``value`` against ``hint``; return it with nulls meaning "unset" (see contract)."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    if origin is typing.Union or origin is types.UnionType:
        if value is None and _NONE in args:
            return None
        rest = [a for a in args if a is not _NONE]
        if len(rest) == 1:
            return clean(value, rest[0], path, errors)
        return _leaf(value, hint, path, errors)

    if origin in (list, tuple, set, frozenset) or (
        isinstance(origin, type) and origin.__name__ in ("Sequence", "MutableSequence")
    ):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return _leaf(value, hint, path, errors)  # fixed-size tuples: rare, let msgspec check
        if not isinstance(value, list):
            errors.append(invalid(path, value, f"expected array, got {_describe(value)}"))
            return value
        item = args[0] if args else Any
        is_struct = _struct_fields(item) is not None
        out = []
        for i, v in enumerate(value):
            if v is None and is_struct:
                v = {}
            out.append(clean(v, item, _index(path, i), errors))
        return out

    if origin is dict or (isinstance(origin, type) and origin.__name__ == "Mapping"):
        if not isinstance(value, dict):
            errors.append(invalid(path, value, f"expected object, got {_describe(value)}"))
            return value
        key_t, val_t = args if len(args) == 2 else (Any, Any)
        out_d: dict[Any, Any] = {}
        for k, v in value.items():
            kpath = f"{path}[{k}]"
            if key_t is str and not isinstance(k, str):
                errors.append(invalid(kpath, k, f"expected a string key, got {_describe(k)}"))
                continue
            out_d[k] = clean(v, val_t, kpath, errors)
        return out_d

    fields = _struct_fields(hint)
    if fields is not None:
        if not isinstance(value, dict):
            errors.append(invalid(path, value, f"expected object, got {_describe(value)}"))
            return value
        by_wire = {wire: (attr, ann, req) for attr, wire, ann, req in fields}
        out_s: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or k not in by_wire:
                errors.append(unknown_field(child(path, str(k)), suggest(str(k), by_wire)))
                continue
            if v is None:
                continue  # null = unset, as Go's encoding/json
            _, ann, _ = by_wire[k]
            before = len(errors)
            cleaned = clean(v, ann, child(path, k), errors)
            # A field with problems is left out, so the rest of the document still decodes and
            # every other problem is reported in the same pass (it is already reported).
            if len(errors) == before:
                out_s[k] = cleaned
        for wire, (_, _, req) in by_wire.items():
            if req and wire not in value:
                errors.append(required(child(path, wire)))
        return out_s

    return _leaf(value, hint, path, errors)


def _leaf(value: Any, hint: Any, path: str, errors: list[str]) -> Any:
    try:
        msgspec.convert(value, hint)
    except msgspec.ValidationError as err:
        errors.append(_from_msgspec(err, path, value))
    except (TypeError, ValueError, RecursionError) as err:  # unsupported hint or odd value
        errors.append(invalid(path, value, _one_line(str(err))))
    return value


_AT = re.compile(r" - at `\$(?P<sub>[^`]*)`$")


def _from_msgspec(err: Exception, path: str, value: Any) -> str:
    """Turn msgspec's "Expected `int`, got `str` - at `$.a[0]`" into a field-path message."""
    msg = str(err)
    sub = ""
    m = _AT.search(msg)
    if m:
        sub = m.group("sub")
        msg = msg[: m.start()]
    full = path + sub if path else sub.lstrip(".")
    detail = msg.replace("`", "")
    detail = detail[:1].lower() + detail[1:]
    if sub:
        return f"{full or '<root>'}: Invalid value: {detail}"
    return invalid(full or "<root>", value, detail)


def convert_checked(value: Any, hint: type[Any], path: str, errors: list[str]) -> Any | None:
    """``clean`` then ``msgspec.convert``; None (and ``errors`` extended) when it fails.

    When ``clean`` found problems, the fields that had them are left out and the rest is still
    converted: the value returned lets the caller go on validating (every problem in one
    pass), and ``errors`` is non-empty, so the caller must not use it as a result."""
    before = len(errors)
    cleaned = clean(value, hint, path, errors)
    if len(errors) > before:
        try:
            return msgspec.convert(cleaned, hint)
        except (msgspec.ValidationError, TypeError, ValueError, RecursionError):
            return None  # the problems that caused this are already reported
    try:
        return msgspec.convert(cleaned, hint)
    except msgspec.ValidationError as err:
        # e.g. a constraint or __post_init__ in a plugin's args type
        errors.append(_from_msgspec(err, path, value))
    except (TypeError, ValueError, RecursionError) as err:
        errors.append(invalid(path or "<root>", value, _one_line(str(err))))
    return None


# ---- Go durations ---------------------------------------------------------------------------
_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
    "h": 3600.0,
}
_DURATION = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)")
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; ValueError when it is not one."""
    s = text.strip() if isinstance(text, str) else ""
    if s in ("0", "+0", "-0"):
        return 0.0
    if not s or not _DURATION.match(s):
        raise ValueError(f"time: invalid duration {render(text)}")
    sign = -1.0 if s[0] == "-" else 1.0
    body = s[1:] if s[0] in "+-" else s
    pos = 0
    total = 0.0
    while pos < len(body):
        m = _PART.match(body, pos)
        if m is None:
            raise ValueError(f"time: invalid duration {render(text)}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total
