"""The thread team of a compiled program, and the policy that sizes it while the program runs.

Why a policy at all: kiln's parallel regions split their work statically through libgomp, and a
region ends when its last thread does. On a machine shared with other processes the second
thread may be descheduled; the region then waits for it, about one scheduler time slice (4 ms
measured here), for work that takes the calling thread 0.1 ms. A training step of the mnist
CNN went from 1.4 ms (idle machine, 2 threads) to a mean of several ms with one busy process
on the other core, while the same step on one thread kept its 2.0 ms. No split inside a region
can help: libgomp's region join waits for every thread of the team to arrive.

So the runtime measures. Compiled code reads its team size from the module's
``@kiln_team_size`` (compiler/llvm/parallel.py) before every region, and the results do not
depend on it (every split is by output element), so the runtime may change it between calls.
:class:`AdaptiveTeam` keeps the mean time per call of the full team and of one thread, each
measured over a window of calls, and uses the faster. The size not in use is re-measured
("probed") after a number of calls that doubles each time a probe confirms the current choice
(up to a cap), and falls back to its base after a switch or when the size in use measures
clearly slower than the other size did when last measured: load comes and goes, and once the choice is
stable probing costs little.

``KILN_THREAD_POLICY`` picks the policy: ``adaptive`` (default) or ``fixed`` (always the
compiled team size: for benchmarks of the parallel code itself).
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field

__all__ = ["THREAD_POLICY_ENV", "POLICIES", "thread_policy", "AdaptiveTeam", "TeamControl"]

THREAD_POLICY_ENV = "KILN_THREAD_POLICY"
POLICIES = ("adaptive", "fixed")


def thread_policy() -> str:
    """The policy named by ``$KILN_THREAD_POLICY`` (default ``adaptive``)."""
    raw = os.environ.get(THREAD_POLICY_ENV, "").strip().lower() or "adaptive"
    if raw not in POLICIES:
        raise ValueError(f"{THREAD_POLICY_ENV} must be one of {', '.join(POLICIES)}, "
                         f"got {raw!r}")
    return raw


@dataclass
class AdaptiveTeam:
    """Chooses between the full team (``max_size``) and one thread from measured call times.

    Feed it every call's duration with :meth:`observe`; it returns the team size for the next
    call. Pure bookkeeping (no clock, no native code), so its decisions can be tested with
    made-up timings.
    """

    max_size: int
    window: int = 16            # calls per measurement
    warmup: int = 2             # first calls not measured (page faults, cold caches)
    base_interval: int = 256    # calls between probes right after a change
    max_interval: int = 4096    # cap of the doubling probe interval
    margin: float = 0.05        # a probe must be this much faster to win
    size: int = field(init=False)
    switches: int = field(init=False, default=0)
    probes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if isinstance(self.max_size, bool) or not isinstance(self.max_size, int) \
                or self.max_size < 1:
            raise ValueError(f"AdaptiveTeam.max_size must be an int >= 1, got {self.max_size!r}")
        self.size = self.max_size
        self._estimate: dict[int, float] = {}   # size -> mean seconds per call
        self._calls = 0
        self._sum = 0.0
        self._count = 0
        self._since_probe = 0
        self._interval = self.base_interval
        self._probing = False

    def estimate(self, size: int) -> float | None:
        """The last measured mean seconds per call with ``size`` threads (None if never)."""
        return self._estimate.get(size)

    def observe(self, seconds: float) -> int:
        """Record one call of the current size; returns the size for the next call."""
        self._calls += 1
        if self.max_size == 1 or self._calls <= self.warmup:
            return self.size
        self._sum += seconds
        self._count += 1
        if self._count < self.window:
            return self.size
        mean = self._sum / self._count
        self._sum, self._count = 0.0, 0
        self._estimate[self.size] = mean
        other = 1 if self.size == self.max_size else self.max_size
        if self._probing:
            self._probing = False
            self._since_probe = 0
            if mean < self._estimate[other] * (1.0 - self.margin):
                self.switches += 1                     # the probe won: stay, probe soon
                self._interval = self.base_interval
            else:                                      # the choice held: back, probe later
                self.size = other
                self._interval = min(2 * self._interval, self.max_interval)
            return self.size
        self._since_probe += self.window
        # the other size, as last measured, would now win: the load changed, look again soon
        slowed = other in self._estimate and \
            self._estimate[other] < mean * (1.0 - self.margin)
        if slowed:
            self._interval = self.base_interval
        if other not in self._estimate or slowed or self._since_probe >= self._interval:
            self._probing = True
            self.probes += 1
            self.size = other
        return self.size


class TeamControl:
    """The run-time team size of one compiled program (its ``@kiln_team_size``) and the policy
    that sets it. ``size`` may be set by hand (1..``max_size``); with the adaptive policy the
    next measurement window may change it again, so pin it with ``policy="fixed"``."""

    def __init__(self, address: int, max_size: int, policy: str):
        if policy not in POLICIES:
            raise ValueError(f"thread policy must be one of {', '.join(POLICIES)}, "
                             f"got {policy!r}")
        self._cell = ctypes.c_int32.from_address(address)
        self.max_size = max_size
        self.policy = policy
        self.adaptive = AdaptiveTeam(max_size) if policy == "adaptive" and max_size > 1 else None

    @property
    def size(self) -> int:
        """The team size the next call asks libgomp for."""
        return int(self._cell.value)

    @size.setter
    def size(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.max_size:
            raise ValueError(f"team size must be an int in 1..{self.max_size} (the size the "
                             f"program was compiled for), got {n!r}")
        self._cell.value = n
        if self.adaptive is not None:
            self.adaptive.size = n

    def observe(self, seconds: float) -> None:
        """One call took ``seconds``: let the adaptive policy pick the next call's size."""
        if self.adaptive is not None:
            n = self.adaptive.observe(seconds)
            if n != self._cell.value:
                self._cell.value = n

    def __repr__(self) -> str:
        return f"TeamControl(size={self.size}, max_size={self.max_size}, policy={self.policy!r})"
