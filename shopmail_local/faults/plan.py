"""The seeded fault schedule: decides each injection and counts what was injected.

One :class:`FaultPlan` per run: the AWS hooks (:mod:`.aws`), the relay hook (:mod:`.relay`)
and the harness's platform faults ask it; every draw comes from one ``random.Random(seed)``,
so a single-threaded run with the same seed injects the same faults. The harness names the
inputs in flight (:meth:`FaultPlan.exposing`), and each injection is attributed to them.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from shopmail_local.faults.profiles import AwsFault, FaultProfile, RelayFault, load_profile

F = TypeVar("F", AwsFault, RelayFault)


class FaultPlan:
    """Seeded decisions for one :class:`FaultProfile`.

    Parameters
    ----------
    profile
        What may be injected (a name or path is loaded with
        :func:`~shopmail_local.faults.profiles.load_profile`).
    seed
        The generator's seed.
    """

    def __init__(self, profile: FaultProfile | str, seed: int = 0) -> None:
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.seed = seed
        self.enabled = True
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._used: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        #: fault kind -> input -> how many of its injections hit that input
        self.exposed: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._current: tuple[str, ...] = ()

    # --- attribution ---------------------------------------------------------------------

    @contextmanager
    def exposing(self, inputs: Iterable[str]) -> Iterator[None]:
        """Attribute injections inside the block to ``inputs`` (the batch or mail in flight)."""
        previous, self._current = self._current, tuple(inputs)
        try:
            yield
        finally:
            self._current = previous

    def record(self, kind: str) -> None:
        """Count one injection of ``kind`` (attributed to the inputs in flight)."""
        with self._lock:
            self._record(kind)

    def _record(self, kind: str) -> None:
        self.injected[kind] += 1
        self.exposed[kind].update(self._current)

    # --- decisions -----------------------------------------------------------------------

    def chance(self, probability: float, kind: str) -> bool:
        """One draw: ``True`` (and counted as ``kind``) with ``probability``."""
        if not probability or not self.enabled:
            return False
        with self._lock:
            hit = self._rng.random() < probability
            if hit:
                self._record(kind)
            return hit

    def pick(self, candidates: Sequence[F]) -> F | None:
        """The first of ``candidates`` whose draw hits (each drawn in order), else ``None``."""
        if not self.enabled:
            return None
        with self._lock:
            for fault in candidates:
                if fault.limit is not None and self._used[fault.kind] >= fault.limit:
                    continue
                if fault.probability and self._rng.random() < fault.probability:
                    self._used[fault.kind] += 1
                    self._record(fault.kind)
                    return fault
        return None

    def sample(self, population: int, at_least: int = 1) -> list[int]:
        """A seeded, sorted choice of indexes out of ``population`` (at least ``at_least``)."""
        with self._lock:
            k = self._rng.randint(min(at_least, population), population)
            return sorted(self._rng.sample(range(population), k))

    def aws_faults(self, service: str, operation: str) -> list[AwsFault]:
        """The profile's AWS faults that apply to ``service``'s ``operation``."""
        return [f for f in self.profile.aws if f.matches(service, operation)]

    def relay_faults(self, stage: str) -> list[RelayFault]:
        """The profile's relay faults at ``stage``."""
        return [f for f in self.profile.relay if f.stage == stage]

    def total(self) -> int:
        """Every injection so far."""
        return sum(self.injected.values())
