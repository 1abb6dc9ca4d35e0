"""resource.Quantity parsing into the integers the scheduler compares.

Contract: ``parse_quantity(s)`` returns an exact ``Fraction``; ``to_int(name, s)`` returns the
integer upstream compares for that resource: milli-units for cpu (``MilliValue()``), whole units
for everything else (``Value()``), both rounded *up* as apimachinery does. Invalid strings raise
``ValueError`` naming the string; callers that read cluster objects decide whether to skip the
object (they must not crash the scheduler).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_RE = re.compile(r"^([+-]?[0-9]*\.?[0-9]*)((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Fraction:
    """Parse a Kubernetes quantity ("100m", "1.5Gi", "1e3") exactly."""
    s = text.strip()
    m = _RE.match(s)
    if not s or m is None or m.group(1) in ("", "+", "-", "."):
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    number = Fraction(m.group(1))
    suffix = m.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    # decimal exponent, e.g. "1e3" / "12E-3"
    return number * Fraction(10) ** int(suffix[1:])


@lru_cache(maxsize=8192)
def to_int(resource: str, text: str) -> int:
    """The integer upstream compares: MilliValue() for cpu, Value() otherwise, rounded up."""
    q = parse_quantity(text)
    if resource == CPU:
        q *= 1000
    return math.ceil(q)


def resource_list(values: dict[str, str]) -> dict[str, int]:
    """Parse a ResourceList (name -> quantity string) into integers per :func:`to_int`."""
    return {name: to_int(name, v) for name, v in values.items()}


def format_quantity(resource: str, value: int) -> str:
    """Human form used in messages and dry-run output (cpu in millicores)."""
    if resource == CPU:
        return f"{value}m" if value % 1000 else str(value // 1000)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
