"""Field errors and name checks for plugin args, worded as apimachinery's.

Contract:
* ``FieldError`` renders exactly like ``field.Error.Error()``: ``<path>: <Type>: <value>: <detail>``
  (strings quoted, numbers bare), so messages match upstream's validation output.
* ``raise_if(errors)`` raises ``ArgsError`` (a ValueError) whose message is upstream's
  ``ErrorList.ToAggregate().Error()``: the single message, or ``[m1, m2]`` for several, with
  duplicates dropped.
* ``is_qualified_name`` / ``is_valid_label_value`` / ``is_dns1123_subdomain`` return the list of
  problems (empty when valid) with apimachinery's wording; ``parse_int64`` is Go's
  ``strconv.ParseInt(s, 10, 64)`` (strict: no spaces, no underscores, int64 range).
* Paths are plain strings built with ``child``/``index``; the root path is "".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

INVALID = "Invalid value"
NOT_SUPPORTED = "Unsupported value"
REQUIRED = "Required value"
DUPLICATE = "Duplicate value"

_OMIT = object()


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _go_value(value: Any) -> str:
    """The subset of Go's %v / %q / %#v that field.Error uses for our value types."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    kind: str
    field: str
    value: Any = _OMIT
    detail: str = ""

    def __str__(self) -> str:
        body = self.kind
        # Required-type errors never print the value (apimachinery's ErrorBody).
        if self.kind != REQUIRED and self.value is not _OMIT:
            body += f": {_go_value(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.field}: {body}"


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(INVALID, path, value, detail)


def not_supported(path: str, value: Any, valid: Sequence[str] = ()) -> FieldError:
    detail = ("supported values: " + ", ".join(json.dumps(v) for v in valid)) if valid else ""
    return FieldError(NOT_SUPPORTED, path, value, detail)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, path, _OMIT, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(DUPLICATE, path, value)


def aggregate(errors: Iterable[FieldError]) -> str:
    msgs: list[str] = []
    for e in errors:
        m = str(e)
        if m not in msgs:
            msgs.append(m)
    if len(msgs) == 1:
        return msgs[0]
    return "[" + ", ".join(msgs) + "]"


class ArgsError(ValueError):
    """Invalid plugin args; ``errors`` are the individual field errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(aggregate(errors))
        self.errors = errors


def raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ArgsError(errors)


# ---- apimachinery/pkg/util/validation ---------------------------------------------------------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    # Go builds "(e.g. 'a',  or 'b', ..." with that double space; keep it byte-identical.
    parts = "".join(("" if i == 0 else " or ") + f"'{ex}', " for i, ex in enumerate(examples))
    return f"{msg} (e.g. {parts}regex used for validation is '{fmt}')"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1123_subdomain(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """validation.IsQualifiedName: ``[prefix/]name`` as label keys and resource names use."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append(
            "name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs: list[str] = []
    if len(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


def validate_label_name(name: str, path: str) -> list[FieldError]:
    """metav1validation.ValidateLabelName: one Invalid error per problem."""
    return [invalid(path, name, msg) for msg in is_qualified_name(name)]


def parse_int64(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64); None where Go returns an error."""
    if not _INT64_RE.fullmatch(text):
        return None
    n = int(text)
    if n < -(2**63) or n > 2**63 - 1:
        return None
    return n
