"""Pacing: a token bucket that keeps sends under SES's maximum send rate.

One bucket is shared by everything that sends within a batch (threads included): each
message takes one token; tokens refill at ``rate`` per second up to ``burst``. The clock and
the sleep function are injectable, so tests run on a fake clock without waiting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Float tolerance: 0.1 s x 10/s must count as one whole token.
_EPSILON = 1e-9


class TokenBucket:
    """A thread-safe token bucket.

    Parameters
    ----------
    rate
        Tokens added per second (messages per second). ``math.inf`` disables pacing.
    burst
        Bucket capacity (how many sends may go back to back after a pause). Default:
        ``max(1, rate)`` for a finite rate. The bucket starts full.
    clock
        Monotonic clock in seconds (default ``time.monotonic``).
    sleep
        Sleep function used by :meth:`acquire` (default ``time.sleep``).

    Raises
    ------
    ValueError
        If ``rate`` is not positive or ``burst`` is below 1.

    Example
    -------
    >>> now = [0.0]
    >>> bucket = TokenBucket(2.0, burst=1, clock=lambda: now[0], sleep=lambda s: None)
    >>> bucket.try_acquire(), bucket.try_acquire()
    (True, False)
    >>> now[0] += 0.5
    >>> bucket.try_acquire()
    True
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:  # also rejects NaN
            raise ValueError(f"rate must be positive, got {rate!r}")
        if burst is None:
            burst = max(1.0, rate) if math.isfinite(rate) else 1.0
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        """True when the bucket never delays."""
        return math.isinf(self.rate)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    def delay(self, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` are available (0.0 if now); consumes nothing."""
        if self.unlimited:
            return 0.0
        with self._lock:
            self._refill()
            missing = tokens - self._tokens
            return 0.0 if missing <= _EPSILON else missing / self.rate

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if available now; never waits."""
        if self.unlimited:
            return True
        with self._lock:
            self._refill()
            if self._tokens + _EPSILON >= tokens:
                self._tokens = max(0.0, self._tokens - tokens)
                return True
            return False

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping until they are available.

        Parameters
        ----------
        tokens
            How many tokens (default one message); must not exceed ``burst``.

        Returns
        -------
        float
            The seconds spent waiting.

        Raises
        ------
        ValueError
            If ``tokens`` exceeds the bucket's capacity (it could never be satisfied).
        """
        if self.unlimited:
            return 0.0
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens + _EPSILON >= tokens:
                    self._tokens = max(0.0, self._tokens - tokens)
                    return waited
                wait = max((tokens - self._tokens) / self.rate, _EPSILON)
            self._sleep(wait)
            waited += wait
