"""Small llvmlite.ir helpers shared by the code generators: types, constants, loops, intrinsics.

LLVM 22 has only opaque pointers: every pointer is ``ptr`` and loads and GEPs name their
element type explicitly (see LLVM-NOTES.md). Intrinsics are declared as plain functions with
their mangled names (``llvm.fma.v8f32``), because ``Module.declare_intrinsic`` mishandles
vector signatures.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import llvmlite.ir as ir

PTR = ir.PointerType()
VOID = ir.VoidType()
I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F32 = ir.FloatType()
F64 = ir.DoubleType()

#: IR dtype -> (LLVM type in registers, LLVM type in memory)
_SCALAR = {"f32": (F32, F32), "f64": (F64, F64), "i32": (I32, I32), "i64": (I64, I64),
           "bool": (I1, I8)}


def reg_type(dtype: str) -> ir.Type:
    """The scalar type a value of ``dtype`` has in registers (bool is i1)."""
    return _SCALAR[dtype][0]


def mem_type(dtype: str) -> ir.Type:
    """The type of one element of ``dtype`` in memory (bool is a byte, as in numpy)."""
    return _SCALAR[dtype][1]


def vec(t: ir.Type, width: int) -> ir.Type:
    return t if width == 1 else ir.VectorType(t, width)


def splat(builder: ir.IRBuilder, value: ir.Value, width: int) -> ir.Value:
    """``value`` broadcast to a vector of ``width`` lanes (itself when width is 1)."""
    if width == 1:
        return value
    if isinstance(value, ir.Constant):
        return ir.Constant(ir.VectorType(value.type, width), [value.constant] * width)
    undef = ir.Constant(ir.VectorType(value.type, width), ir.Undefined)
    one = builder.insert_element(undef, value, I32(0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(I32, width), [0] * width))


def const(t: ir.Type, value, width: int = 1) -> ir.Constant:
    c = ir.Constant(t, value)
    if width == 1:
        return c
    return ir.Constant(ir.VectorType(t, width), [value] * width)


def type_suffix(t: ir.Type) -> str:
    """The mangling suffix of an intrinsic overloaded on ``t`` (``f32``, ``v8f32``, ``i64``)."""
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{type_suffix(t.element)}"
    if t == F32:
        return "f32"
    if t == F64:
        return "f64"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    raise TypeError(f"no intrinsic suffix for {t}")


def intrinsic(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """Declare (once) and return intrinsic or library function ``name``."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
    return fn


def call_intrinsic(builder: ir.IRBuilder, base: str, *args: ir.Value, ret: ir.Type | None = None
                   ) -> ir.Value:
    """Call ``llvm.<base>.<suffix of the first operand's type>``."""
    t = args[0].type
    fn = intrinsic(builder.module, f"llvm.{base}.{type_suffix(t)}", ret or t, [a.type for a in args])
    return builder.call(fn, list(args))


@contextlib.contextmanager
def for_range(builder: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: int = 1,
              name: str = "i") -> Iterator[ir.Value]:
    """``for (i = start; i < stop; i += step)`` (i64); the body is emitted inside the block.

    The loop is rotated (test before the first iteration, then at the bottom), the shape LLVM's
    loop passes like best.
    """
    fn = builder.function
    pre = builder.block
    body = fn.append_basic_block(f"{name}.body")
    done = fn.append_basic_block(f"{name}.done")
    builder.cbranch(builder.icmp_signed("<", start, stop), body, done)
    builder.position_at_end(body)
    i = builder.phi(I64, name=name)
    i.add_incoming(start, pre)
    yield i
    nxt = builder.add(i, I64(step), name=f"{name}.next")
    i.add_incoming(nxt, builder.block)
    builder.cbranch(builder.icmp_signed("<", nxt, stop), body, done)
    builder.position_at_end(done)


def gep(builder: ir.IRBuilder, base: ir.Value, offset: ir.Value, etype: ir.Type) -> ir.Value:
    return builder.gep(base, [offset], inbounds=True, source_etype=etype)


def alloca(builder: ir.IRBuilder, t: ir.Type, name: str = "") -> ir.Value:
    """A stack slot of type ``t`` in the function's entry block (where mem2reg promotes it),
    typed as an opaque pointer (llvmlite still returns a typed pointer from ``alloca``)."""
    with builder.goto_entry_block():
        slot = builder.alloca(t, name=name)
    slot.type = PTR
    return slot
