"""runtime.threads: the adaptive team-size policy (with made-up call times) and the run-time team
size of compiled programs (results independent of it, bad sizes rejected or clamped)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.llvm.parallel import TEAM_SIZE_SYMBOL, Threading, openmp_available
from compiler.pipeline import CompileOptions
from runtime.program import Program
from runtime.threads import THREAD_POLICY_ENV, AdaptiveTeam, thread_policy

needs_openmp = pytest.mark.skipif(not openmp_available(), reason="libgomp is not loadable")


def drive(team: AdaptiveTeam, cost, calls: int) -> list[int]:
    """Run ``calls`` simulated calls; ``cost(call_index, size)`` is a call's seconds. Returns the
    size each call ran with."""
    used = []
    for i in range(calls):
        used.append(team.size)
        team.observe(cost(i, team.size))
    return used


# ------------------------------------------------------------------------------- the policy
def test_keeps_the_full_team_when_it_is_faster_and_probes_ever_more_rarely():
    team = AdaptiveTeam(2)
    used = drive(team, lambda i, n: 1.0e-3 if n == 2 else 2.0e-3, 20000)
    assert team.size == 2 and team.switches == 0
    # the single-thread size was measured (so the choice is informed) ...
    assert team.estimate(1) == pytest.approx(2.0e-3) and team.estimate(2) == pytest.approx(1e-3)
    # ... but with the interval doubling to its cap, probing costs little of the run
    assert used.count(1) / len(used) < 0.02
    assert team.probes <= 2 + 20000 // team.base_interval


def test_falls_back_to_one_thread_when_the_team_stalls():
    team = AdaptiveTeam(2)
    # another process holds a core: the 2-thread regions wait for their second thread
    used = drive(team, lambda i, n: 5.0e-3 if n == 2 else 2.0e-3, 5000)
    first_switch = used.index(1)
    assert first_switch <= team.warmup + team.window
    assert team.size == 1
    assert used[first_switch:].count(2) / len(used[first_switch:]) < 0.05


def test_probes_of_a_stalling_team_stop_early():
    team = AdaptiveTeam(2)
    used = drive(team, lambda i, n: 5.0e-3 if n == 2 else 2.0e-3, 20000)
    after = used[used.index(1):]
    runs, run = [], 0
    for n in after:
        run = run + 1 if n == 2 else 0
        runs.append(run)
    # a probe stops once it used more than a winning window's time (16 x 2 ms x 0.95 here),
    # i.e. after 7 calls of 5 ms, not after a whole window of 16
    assert 0 < max(runs) <= 7
    assert team.probes >= 3 and team.size == 1


def test_setting_the_size_by_hand_mid_probe_restarts_cleanly():
    team = AdaptiveTeam(2)
    drive(team, lambda i, n: 1.0e-3 if n == 2 else 2.0e-3, team.warmup + team.window + 3)
    assert team.size == 1          # probing one thread
    team.pin(2)
    used = drive(team, lambda i, n: 1.0e-3 if n == 2 else 2.0e-3, 2000)
    assert team.size == 2 and used.count(1) < 100


def test_returns_to_the_full_team_when_the_load_goes_away():
    team = AdaptiveTeam(2)
    load_ends = 3000
    used = drive(team, lambda i, n: (5.0e-3 if i < load_ends else 1.0e-3) if n == 2
                 else 2.0e-3, 12000)
    assert used[load_ends - 1] == 1
    back = used.index(2, load_ends)
    # found again at the next probe, at most the probe interval's cap later
    assert back - load_ends <= team.max_interval + 2 * team.window
    assert set(used[back + team.window:]) <= {1, 2} and team.size == 2
    assert used[back + 2 * team.window:].count(1) / len(used[back + 2 * team.window:]) < 0.05


def test_a_current_size_slower_than_the_other_was_is_probed_at_once():
    team = AdaptiveTeam(2)
    load_from = 10000       # the interval has long reached its cap by now
    used = drive(team, lambda i, n: (1.0e-3 if i < load_from else 9.0e-3) if n == 2
                 else 2.0e-3, 10200)
    assert used[load_from - 1] == 2
    # the slow window stops once it is sure to lose (16 x 2 ms / 0.95 = 33.7 ms: after 4 calls
    # of 9 ms), and the probe of one thread that follows wins
    assert used.index(1, load_from) - load_from == 4
    assert team.size == 1


def test_noise_within_the_margin_does_not_switch():
    rng = np.random.default_rng(0)
    team = AdaptiveTeam(2)
    # one thread is 3% faster on average, less than the margin: the team stays
    drive(team, lambda i, n: (1.0 if n == 2 else 0.97) * (1 + 0.01 * rng.standard_normal()),
          3000)
    assert team.size == 2 and team.switches == 0


def test_one_thread_programs_never_change():
    team = AdaptiveTeam(1)
    assert set(drive(team, lambda i, n: 1.0, 1000)) == {1}
    assert team.probes == 0


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_max_size_is_validated(bad):
    with pytest.raises(ValueError, match="max_size"):
        AdaptiveTeam(bad)


def test_policy_from_the_environment(monkeypatch):
    monkeypatch.delenv(THREAD_POLICY_ENV, raising=False)
    assert thread_policy() == "adaptive"
    monkeypatch.setenv(THREAD_POLICY_ENV, " Fixed ")
    assert thread_policy() == "fixed"
    monkeypatch.setenv(THREAD_POLICY_ENV, "greedy")
    with pytest.raises(ValueError, match=f"{THREAD_POLICY_ENV}.*adaptive, fixed.*'greedy'"):
        thread_policy()


# ------------------------------------------------------------------- compiled programs
ROWS, COLS = 67, 1543     # big enough for parallel regions, odd for uneven shares and tails


def _graph():
    b = GraphBuilder(name="team_rows")
    x = b.input("x", (ROWS, COLS))
    w = b.input("w", (COLS, 40))
    b.output(b.softmax(x, axis=1), b.sum(b.square(x), axes=(0,)), b.tanh(b.mul(x, 3.0)),
             b.matmul(x, w))
    return b.graph


def _program(threads: int):
    return Program(_graph(), backend="llvm",
                   compile_options=CompileOptions(threading=Threading(threads), cache=False))


@pytest.fixture(scope="module")
def feeds():
    rng = np.random.default_rng(3)
    return [rng.normal(size=(ROWS, COLS)).astype(np.float32),
            rng.normal(size=(COLS, 40)).astype(np.float32)]


@needs_openmp
def test_results_do_not_depend_on_the_run_time_team_size(feeds, monkeypatch):
    monkeypatch.setenv(THREAD_POLICY_ENV, "fixed")
    serial = _program(1)([*feeds])
    p = _program(2)
    assert p.team is not None and p.team.policy == "fixed" and p.team.adaptive is None
    assert p.team.max_size == 2 and p.team.size == 2
    for size in (2, 1, 2):
        p.team.size = size
        for got, want in zip(p(feeds), serial):
            np.testing.assert_array_equal(got, want)
    eager = Program(_graph(), backend="eager")(feeds)
    for got, want in zip(p(feeds), eager):   # the matmul sums 1543 products: scale atol
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


@needs_openmp
def test_adaptive_switching_between_calls_keeps_results_identical(feeds, monkeypatch):
    monkeypatch.setenv(THREAD_POLICY_ENV, "adaptive")
    p = _program(2)
    assert p.team.adaptive is not None
    # a policy that probes every other call, so the size really changes during the run
    p.team.adaptive = AdaptiveTeam(2, window=1, warmup=0, base_interval=1, max_interval=1)
    first = p(feeds)
    sizes = set()
    for _ in range(12):
        sizes.add(p.team.size)
        for got, want in zip(p(feeds), first):
            np.testing.assert_array_equal(got, want)
    assert sizes == {1, 2}


@needs_openmp
def test_team_size_is_validated_and_raw_writes_are_clamped(feeds, monkeypatch):
    monkeypatch.setenv(THREAD_POLICY_ENV, "fixed")
    p = _program(2)
    want = p(feeds)
    for bad in (0, 3, -1, 1.0, True):
        with pytest.raises(ValueError, match=r"team size must be an int in 1\.\.2.*got"):
            p.team.size = bad
    # native code clamps whatever the cell holds (it is process memory, not trusted)
    cell = ctypes.c_int32.from_address(p.compiled.module.address(TEAM_SIZE_SYMBOL))
    for raw in (1 << 30, -7, 0):
        cell.value = raw
        for got, w in zip(p(feeds), want):
            np.testing.assert_array_equal(got, w)


def test_serial_and_eager_programs_have_no_team(feeds):
    assert _program(1).team is None
    assert Program(_graph(), backend="eager").team is None
    assert TEAM_SIZE_SYMBOL not in _program(1).compiled.module.exports
