"""Capped exponential back-off with jitter, for waiting out a dependency that is down."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays ``initial``, ``initial * factor``, ... up to ``cap`` seconds, each spread by
    ``±jitter`` so that loaders restarted together do not hammer a recovering server in step.

    The defaults suit a PostgreSQL restart (seconds to a minute): the first retry comes after
    0.2 s, and once it is down a while a retry every ~5 s keeps the catch-up delay after it
    returns under the 5 s cap, at one connection attempt per loader per few seconds.
    """

    initial: float = 0.2
    cap: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2
    attempts: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def next(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        base = min(self.cap, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return base * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempts = 0
