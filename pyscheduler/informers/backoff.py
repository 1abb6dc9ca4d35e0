"""Jittered exponential backoff that resets after a healthy period (client-go's backoff manager).

Contract (wait.NewExponentialBackoffManager as the Reflector uses it: 800ms initial, 30s cap,
factor 2, jitter 1.0, reset after 2 minutes):
- Each :meth:`ExponentialBackoff.next_delay` returns ``d + random() * jitter * d`` where ``d``
  is the current step, then doubles the step up to ``cap``.
- If more than ``reset_after`` seconds passed since the previous call, the step first returns
  to ``initial``: a connection that stayed healthy that long starts over with a short delay.
- ``clock`` and ``rng`` are injectable so tests are deterministic and need no sleeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class ExponentialBackoff:
    initial: float = 0.8
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 1.0
    reset_after: float = 120.0
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    _step: float = field(init=False, default=0.0)
    _last: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._step = self.initial

    def next_delay(self) -> float:
        now = self.clock()
        if self._last is not None and now - self._last > self.reset_after:
            self._step = self.initial
        self._last = now
        step = self._step
        self._step = min(self._step * self.factor, self.cap)
        if self.jitter > 0:
            return step + self.rng.random() * self.jitter * step
        return step

    def reset(self) -> None:
        self._step = self.initial
        self._last = None
