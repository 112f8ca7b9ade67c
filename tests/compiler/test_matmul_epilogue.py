"""Matmul kernels with an epilogue expression (bias + relu applied before the store), through
both code paths: the packed GEMM's hook and the direct loop for tiny products. The fusion plan
does not create epilogues yet, so the kernel IR is edited directly here."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from compiler import GraphBuilder
from compiler.kernels import expr as ex
from compiler.kernels.indexmap import IndexMap
from compiler.kernels.lower import lower
from compiler.kernels.view import View
from compiler.llvm.codegen import ENTRY, generate
from compiler.llvm.jit import compile_ir
from compiler.passes.memory import plan_memory


@pytest.mark.parametrize("batch, m, k, n", [((), 64, 70, 33), ((), 3, 4, 5), ((2,), 9, 40, 17)])
def test_bias_relu_epilogue(batch, m, k, n):
    b = GraphBuilder(name="epi")
    a = b.input("a", batch + (m, k))
    w = b.input("w", (k, n))
    bias = b.input("bias", (n,))
    b.output(b.matmul(a, w))
    kp = lower(b.graph)
    (mm,) = kp.kernels
    bias_buf = kp.inputs[2]
    out_shape = batch + (m, n)
    bias_load = ex.load(bias_buf, IndexMap.broadcast((n,), out_shape).compose_view(
        View.dense((n,))), "f32")
    mm.epilogue = ex.binary("max", ex.binary("add", ex.acc("f32"), bias_load),
                            ex.const(0.0, "f32"))
    plan_memory(kp)
    module, layout = generate(kp)
    compiled = compile_ir(str(module), name="epi")
    entry = compiled.ctypes_function(ENTRY, ctypes.c_int32, [ctypes.c_void_p])

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=v.shape).astype(np.float32) for v in b.graph.args]
    out = np.full(out_shape, np.nan, np.float32)
    arena = np.zeros(max(kp.arena_bytes, 1) + 64, np.uint8)
    work = np.zeros(max(layout.work_bytes, 1) + 64, np.uint8)
    table = (ctypes.c_void_p * len(layout))()
    for i, buf in enumerate(layout.slots):
        table[i] = (arrays[kp.inputs.index(buf)] if buf.kind == "input" else out).ctypes.data
    table[layout.arena_slot] = arena.ctypes.data
    table[layout.work_slot] = work.ctypes.data
    assert entry(table) == 0
    expected = np.maximum(np.matmul(arrays[0], arrays[1]) + arrays[2], 0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
