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
(up to a cap), and falls back to its base after a switch or when the size in use turns out
clearly slower than the other size was when last measured: load comes and goes, and once the
choice is stable probing costs little. Any window, probe or not, stops as soon as it is sure
to lose, so a stalling team costs a few calls, not a whole window.

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
        other = 1 if self.size == self.max_size else self.max_size
        # Losing: this window has already used more time than it may and still be the better
        # choice, against a whole window of the other size as last measured. A probe must win
        # by the margin, the size in use must lose by it (hysteresis both ways). Stopping a
        # losing window early means a stalling team costs a few calls, not a window.
        if other in self._estimate:
            full_other = self.window * self._estimate[other]
            limit = full_other * (1.0 - self.margin) if self._probing \
                else full_other / (1.0 - self.margin)
            losing = self._sum > limit
        else:
            losing = False
        if not losing and self._count < self.window:
            return self.size
        mean = self._sum / self._count
        self._estimate[self.size] = mean
        self._sum, self._count = 0.0, 0
        if self._probing:
            return self._end_probe(won=not losing, other=other)
        self._since_probe += self.window
        if losing:              # the load changed: look at the other size now, and soon again
            self._interval = self.base_interval
        if other not in self._estimate or losing or self._since_probe >= self._interval:
            self._probing = True
            self.probes += 1
            self.size = other
        return self.size

    def pin(self, size: int) -> None:
        """Continue from ``size`` (set by hand): the current window and any probe are dropped,
        the estimates kept."""
        self.size = size
        self._sum, self._count = 0.0, 0
        self._probing = False
        self._since_probe = 0

    def _end_probe(self, *, won: bool, other: int) -> int:
        self._probing = False
        self._since_probe = 0
        if won:                         # stay on the probed size; look again soon
            self.switches += 1
            self._interval = self.base_interval
        else:                           # the choice held: go back, look again later
            self.size = other
            self._interval = min(2 * self._interval, self.max_interval)
        return self.size


class TeamControl:
    """The run-time team size of one compiled program (its ``@kiln_team_size``) and the policy
    that sets it. ``size`` may be set by hand (1..``max_size``); with the adaptive policy the
    next measurement window may change it again (``KILN_THREAD_POLICY=fixed`` keeps it)."""

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
            self.adaptive.pin(n)

    def observe(self, seconds: float) -> None:
        """One call took ``seconds``: let the adaptive policy pick the next call's size."""
        if self.adaptive is not None:
            n = self.adaptive.observe(seconds)
            if n != self._cell.value:
                self._cell.value = n

    def __repr__(self) -> str:
        return f"TeamControl(size={self.size}, max_size={self.max_size}, policy={self.policy!r})"
