"""Go's math.Round (half away from zero) for the non-negative scores Trimaran computes;
Python's round() rounds half to even and would differ at every .5."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def go_round(x: float) -> int:
    """math.Round(x) for x >= 0, exactly (no x + 0.5 double rounding)."""
    f = math.floor(x)
    return int(f + 1 if x - f >= 0.5 else f)


def go_round_array(x: F64) -> I64:
    """``go_round`` element-wise."""
    f = np.floor(x)
    out: I64 = np.where(x - f >= 0.5, f + 1, f).astype(np.int64)
    return out
