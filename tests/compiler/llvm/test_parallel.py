"""compiler.llvm.parallel: OpenMP regions from generated code, and the serial fallback."""
import ctypes

import llvmlite.ir as ir
import numpy as np
import pytest

from compiler.llvm import parallel
from compiler.llvm.jit import compile_ir, elf_symbols
from compiler.llvm.parallel import (GOMP_SYMBOLS, Threading, body_function_type, emit_barrier,
                                    emit_num_threads, emit_parallel, emit_static_range,
                                    emit_thread_id)

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
FILL_ARGTYPES = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]

needs_openmp = pytest.mark.skipif(not parallel.openmp_available(), reason="libgomp not loadable")


def fill_module(threading: Threading, name: str) -> ir.Module:
    """``void fill(ptr counts, ptr owner, i64 n, ptr team)``: in one parallel region, every
    thread adds 1 (atomically) to ``counts[i]`` and writes its id to ``owner[i]`` for the ``i`` of
    its static share of ``n``; thread 0 stores the team size in ``team[0]``. An element written
    twice shows up as a count of 2 even if the threads race; one never written stays 0."""
    mod = ir.Module(name=name)
    args_t = ir.LiteralStructType([PTR, PTR, I64, PTR])

    body = ir.Function(mod, body_function_type(), name="fill.body")
    body.linkage = "internal"
    b = ir.IRBuilder(body.append_basic_block("entry"))
    counts, owner, n, team = (
        b.load(b.gep(body.args[0], [I32(0), I32(k)], source_etype=args_t), typ=t)
        for k, t in enumerate((PTR, PTR, I64, PTR)))
    tid = emit_thread_id(b, threading)
    nthreads = emit_num_threads(b, threading)
    begin, end = emit_static_range(b, threading, n)
    emit_barrier(b, threading)  # every thread must reach it; a hang would show a broken team
    with b.if_then(b.icmp_signed("==", tid, I64(0))):
        b.store(nthreads, team)
    head = body.append_basic_block("head")
    loop = body.append_basic_block("loop")
    done = body.append_basic_block("done")
    pre = b.block
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, "i")
    i.add_incoming(begin, pre)
    b.cbranch(b.icmp_signed("<", i, end), loop, done)
    b.position_at_end(loop)
    b.atomic_rmw("add", b.gep(counts, [i], source_etype=I32), I32(1), "monotonic")
    b.store(b.trunc(tid, I32), b.gep(owner, [i], source_etype=I32))
    i.add_incoming(b.add(i, I64(1)), loop)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()

    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, PTR]), name="fill")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    block = b.alloca(args_t)
    block.type = PTR  # llvmlite types allocas as typed pointers; LLVM 22 has only `ptr`
    for k, arg in enumerate(fn.args):
        b.store(arg, b.gep(block, [I32(0), I32(k)], source_etype=args_t))
    emit_parallel(b, threading, body, block)
    b.ret_void()
    return mod


@pytest.fixture(scope="module")
def fills():
    """Compiled fill kernels for 1 (serial) and, when libgomp loads, 2 threads."""
    out = {1: compile_ir(fill_module(Threading(1), "fill_t1"), name="fill_t1")}
    if parallel.openmp_available():
        out[2] = compile_ir(fill_module(Threading(2), "fill_t2"), name="fill_t2")
    return out


def run_fill(module, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    counts = np.zeros(n + 1, np.int32)  # one guard element past the end
    owner = np.full(n + 1, -1, np.int32)
    team = np.zeros(1, np.int64)
    module.ctypes_function("fill", None, FILL_ARGTYPES)(counts.ctypes.data, owner.ctypes.data, n,
                                                         team.ctypes.data)
    assert counts[n] == 0 and owner[n] == -1, "wrote past the end"
    return counts[:n], owner[:n], int(team[0])


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
@pytest.mark.parametrize("threads", [1, pytest.param(2, marks=needs_openmp)])
def test_every_element_written_exactly_once(fills, threads, n):
    counts, owner, team = run_fill(fills[threads], n)
    np.testing.assert_array_equal(counts, np.ones(n, np.int32))
    assert team == threads
    # Static schedule: contiguous shares in thread order, sizes within one of each other.
    assert np.all(np.diff(owner) >= 0)
    sizes = np.bincount(owner, minlength=threads)
    assert sizes.max() - sizes.min() <= 1
    if n >= threads:
        assert set(owner.tolist()) == set(range(threads))


@needs_openmp
def test_results_do_not_depend_on_thread_count(fills):
    for n in (0, 1, 7, 1000):
        assert np.array_equal(run_fill(fills[1], n)[0], run_fill(fills[2], n)[0])


def test_serial_fallback_references_no_libgomp(fills):
    module = fills[1]
    _, undefined = elf_symbols(module.object_code)
    assert not [s for s in undefined if s.startswith(("GOMP_", "omp_"))]
    assert not any(s in module.ir_before for s in GOMP_SYMBOLS)
    assert "GOMP" not in module.ir_before


@needs_openmp
def test_parallel_mode_calls_gomp_parallel(fills):
    _, undefined = elf_symbols(fills[2].object_code)
    assert {"GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads"} <= set(undefined)


@needs_openmp
def test_if_clause_false_runs_a_team_of_one():
    mod = ir.Module(name="if_clause")
    team_t = ir.LiteralStructType([PTR])
    threading = Threading(2)
    body = ir.Function(mod, body_function_type(), name="body")
    b = ir.IRBuilder(body.append_basic_block("entry"))
    out = b.load(b.gep(body.args[0], [I32(0), I32(0)], source_etype=team_t), typ=PTR)
    # Each thread adds 1 << (8 * tid): the sum says exactly which threads ran.
    shift = b.shl(I64(1), b.mul(emit_thread_id(b, threading), I64(8)))
    b.atomic_rmw("add", out, shift, "monotonic")
    b.ret_void()
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [PTR, I32]), name="run")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    block = b.alloca(team_t)
    block.type = PTR
    b.store(fn.args[0], b.gep(block, [I32(0), I32(0)], source_etype=team_t))
    emit_parallel(b, threading, body, block,
                  condition=b.icmp_signed("!=", fn.args[1], I32(0)))
    b.ret_void()
    run = compile_ir(mod, name="if_clause").ctypes_function(
        "run", None, [ctypes.c_void_p, ctypes.c_int32])
    for cond, want in ((0, 1), (1, 1 + 256)):
        acc = np.zeros(1, np.int64)
        run(acc.ctypes.data, cond)
        assert acc[0] == want


@needs_openmp
def test_run_time_team_size_is_read_and_clamped_by_every_region(fills):
    module = fills[2]
    assert parallel.TEAM_SIZE_SYMBOL in module.exports
    cell = ctypes.c_int32.from_address(module.address(parallel.TEAM_SIZE_SYMBOL))
    assert cell.value == 2          # initialised to the compiled team size
    try:
        # out-of-range sizes are clamped to [1, compiled size], never trusted
        for size, team in ((1, 1), (2, 2), (99, 2), (0, 1), (-3, 1)):
            cell.value = size
            counts, owner, got = run_fill(module, 1000)
            assert got == team
            np.testing.assert_array_equal(counts, np.ones(1000, np.int32))
            assert set(owner.tolist()) == set(range(team))
    finally:
        cell.value = 2


def test_serial_module_has_no_team_size(fills):
    assert parallel.TEAM_SIZE_SYMBOL not in fills[1].exports


@needs_openmp
def test_team_of_one_inside_an_active_region_numbers_its_thread_zero():
    """An inner region of one thread, opened by each thread of an outer team of two, must
    see itself as thread 0 of 1 (so a split inside covers all the work), not as the outer
    thread: the direct-call shortcut for teams of one is only taken outside active regions."""
    mod = ir.Module(name="nested_one")
    acc_t = ir.LiteralStructType([PTR])
    threading = Threading(2)
    inner = ir.Function(mod, body_function_type(), name="inner")
    b = ir.IRBuilder(inner.append_basic_block("entry"))
    out = b.load(b.gep(inner.args[0], [I32(0), I32(0)], source_etype=acc_t), typ=PTR)
    shift = b.shl(I64(1), b.mul(emit_thread_id(b, threading), I64(8)))
    b.atomic_rmw("add", out, b.add(shift, b.shl(emit_num_threads(b, threading), I64(32))),
                 "monotonic")
    b.ret_void()
    outer = ir.Function(mod, body_function_type(), name="outer")
    b = ir.IRBuilder(outer.append_basic_block("entry"))
    emit_parallel(b, threading, inner, outer.args[0], condition=ir.Constant(ir.IntType(1), 0))
    b.ret_void()
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [PTR]), name="run")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    block = b.alloca(acc_t)
    block.type = PTR
    b.store(fn.args[0], b.gep(block, [I32(0), I32(0)], source_etype=acc_t))
    emit_parallel(b, threading, outer, block)
    b.ret_void()
    run = compile_ir(mod, name="nested_one").ctypes_function("run", None, [ctypes.c_void_p])
    acc = np.zeros(1, np.int64)
    run(acc.ctypes.data)
    # two inner bodies, each thread 0 (adds 1) of a team of 1 (adds 1 << 32)
    assert acc[0] == 2 * (1 + (1 << 32))


def test_threading_validation_and_host(monkeypatch):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            Threading(bad)
    assert not Threading(1).parallel and Threading(2).parallel
    monkeypatch.setenv("KILN_NUM_THREADS", "3")
    assert Threading.host().num_threads == (3 if parallel.openmp_available() else 1)
    monkeypatch.setenv("KILN_NUM_THREADS", "1")
    assert Threading.host() == Threading(1)
    monkeypatch.setenv("KILN_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="KILN_NUM_THREADS"):
        Threading.host()
    monkeypatch.delenv("KILN_NUM_THREADS")
    assert 1 <= Threading.host().num_threads <= 1024


def test_body_type_is_checked():
    mod = ir.Module()
    bad = ir.Function(mod, ir.FunctionType(ir.VoidType(), [I64]), name="bad")
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), []), name="f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    with pytest.raises(TypeError, match="void \\(ptr\\)"):
        emit_parallel(b, Threading(1), bad, ir.Constant(PTR, None))
