"""The graph IR text form: printer and parser round trip, and parse errors with positions.

The round-trip graph is built from OP_BUILDERS, one small builder per registered op; a test
fails when the registry holds an op without an entry (or an attribute that no entry sets
to a non-default value), so a new op cannot slip past the text form untested.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler import GraphBuilder, IRParseError, VerificationError
from compiler.ir.graph import Graph
from compiler.ir.parser import parse
from compiler.ir.verify import verification_errors
from compiler.ops import all_ops, get_op
from compiler.ops.scan import build_scan
from runtime.eager import Interpreter

# Locations that need escaping in the text form.
TRICKY_LOCS = [
    'layer "quoted" name',
    "back\\slash\\",
    'both \\" at once',
    "tab\tand\nnewline",
    "unicode é → ∑",
    "// not a comment } ) {",
    "@not_a_graph %not_a_value",
]


# ------------------------------------------------------------------------------------------
# One builder per op
# ------------------------------------------------------------------------------------------
class Env:
    """The arguments every op builder can use."""

    def __init__(self, b: GraphBuilder):
        self.b = b
        self.x = b.input("x", (2, 3), "f32")
        self.y = b.input("y", (2, 3), "f32")
        self.row = b.input("row", (3,), "f32")
        self.pos = b.input("pos", (2, 3), "f32")  # fed with positive values
        self.d = b.input("d", (2, 3), "f64")
        self.i = b.input("i", (2, 3), "i64")      # fed with values in [0, 4)
        self.idx = b.input("idx", (4,), "i32")    # fed with values in [0, 2)
        self.mask = b.input("mask", (2, 3), "bool")
        self.img = b.input("img", (1, 5, 5, 2), "f32")
        self.step = b.input("step", (), "i64")
        self.seq = b.input("seq", (4, 3), "f32")
        self.w = b.param("w", (3, 3), "f32")
        self.kern = b.param("kern", (3, 2, 2, 3), "f32")
        self.h0 = b.param("h0", (3,), "f32")


def _constant(e: Env):
    b = e.b
    return [
        b.constant(1e-07, "f32"),
        b.constant(-0.5, "f32", shape=(2, 3)),
        b.constant(float("inf"), "f64", shape=(2,)),
        b.constant(-0.0, "f64"),
        b.constant(float("nan"), "f64"),
        b.constant(-7, "i64", shape=(3,)),
        b.constant(2 ** 31 - 1, "i32"),
        b.constant(True, "bool", shape=(1, 2)),
        b.constant(np.array([[0.1, -0.0, 1e-07], [np.inf, -np.inf, 3.4e38]], np.float32)),
        b.constant(np.array([5e-324, 1 / 3, -0.5, np.nan, 1.7976931348623157e308, -0.0])),
        b.constant(np.array([-2 ** 63, 2 ** 63 - 1, 0, -1], np.int64)),
        b.constant(np.array([-2 ** 31, 7], np.int32)),
        b.constant(np.array([[True, False, True], [False, False, True]])),
        b.constant(np.zeros((0,), np.float32)),
        b.constant(np.arange(4, dtype=np.float64).reshape(2, 1, 2)),
    ]


def _binary(name, lhs, rhs):
    return lambda e: [e.b.op(name, getattr(e, lhs), getattr(e, rhs))]


def _unary(name, *operands):
    return lambda e: [e.b.op(name, getattr(e, o)) for o in operands]


def _logical(e: Env):
    lt = e.b.less(e.x, e.y)
    return [e.b.logical_and(e.mask, lt), e.b.logical_or(lt, e.mask), e.b.logical_not(lt)]


def _rnn_step(bb, c, xt, p):
    h = bb.tanh(bb.add(bb.reshape(bb.matmul(bb.reshape(c[0], shape=(1, 3)), p[0]), shape=(3,)),
                       xt[0]))
    return [h, bb.add(c[1], 1)], [h, bb.mul(h, xt[0])]


def _scan(e: Env):
    b = e.b
    count = b.constant(0, "i64")
    # multi-output scan (2 carries, one of them integer, 2 ys), reversed, with a const
    (h, n), (hs, hx) = build_scan(b, _rnn_step, [e.h0, count], [e.seq], [e.w], reverse=True,
                                  name="rnn_body")

    # a scan whose body holds another scan (nested subgraphs)
    def outer(bb, c, xt, p):
        row = bb.reshape(xt[0], shape=(1, 3))
        (inner_c,), (inner_y,) = build_scan(
            bb, lambda b2, c2, x2, p2: ([b2.add(c2[0], x2[0])], [b2.neg(x2[0])]),
            [c[0]], [row], name="inner_body")
        return [inner_c], [inner_y]

    (o,), (oy,) = build_scan(b, outer, [e.row], [e.seq], name="outer_body")
    return [h, n, hs, hx, o, oy]


OP_BUILDERS = {
    "constant": _constant,
    "add": _binary("add", "x", "row"),
    "sub": _binary("sub", "x", "y"),
    "mul": _binary("mul", "i", "i"),
    "div": _binary("div", "x", "pos"),
    "pow": _binary("pow", "pos", "y"),
    "maximum": _binary("maximum", "x", "row"),
    "minimum": _binary("minimum", "d", "d"),
    "equal": _binary("equal", "x", "y"),
    "not_equal": _binary("not_equal", "i", "i"),
    "less": _binary("less", "x", "row"),
    "less_equal": _binary("less_equal", "d", "d"),
    "greater": _binary("greater", "i", "i"),
    "greater_equal": _binary("greater_equal", "mask", "mask"),
    "logical_and": _logical,
    "logical_or": _logical,
    "logical_not": _logical,
    "neg": _unary("neg", "i", "x"),
    "abs": _unary("abs", "x"),
    "sign": _unary("sign", "d"),
    "square": _unary("square", "i"),
    "exp": _unary("exp", "x"),
    "log": _unary("log", "pos"),
    "log1p": _unary("log1p", "pos"),
    "sqrt": _unary("sqrt", "pos"),
    "rsqrt": _unary("rsqrt", "pos"),
    "erf": _unary("erf", "d"),
    "stop_gradient": _unary("stop_gradient", "mask", "x"),
    "cast": lambda e: [e.b.cast(e.x, dtype="i32"), e.b.cast(e.mask, dtype="f64")],
    "clip": lambda e: [e.b.clip(e.x, min=-0.5, max=float("inf")),
                       e.b.clip(e.i, min=-1e-07, max=2.0)],
    "where": lambda e: [e.b.where(e.mask, e.x, e.row)],
    "relu": _unary("relu", "i"),
    "leaky_relu": lambda e: [e.b.leaky_relu(e.x, alpha=1e-07), e.b.leaky_relu(e.x)],
    "elu": lambda e: [e.b.elu(e.d, alpha=-0.5)],
    "sigmoid": _unary("sigmoid", "x"),
    "tanh": _unary("tanh", "d"),
    "softplus": _unary("softplus", "x"),
    "gelu": lambda e: [e.b.gelu(e.x, approximate=True), e.b.gelu(e.x)],
    "softmax": lambda e: [e.b.softmax(e.x, axis=0), e.b.softmax(e.x)],
    "log_softmax": lambda e: [e.b.log_softmax(e.d, axis=-2)],
    "sum": lambda e: [e.b.sum(e.x, axes=[0], keepdims=True), e.b.sum(e.i)],
    "mean": lambda e: [e.b.mean(e.d, axes=[]), e.b.mean(e.x, axes=[-1], keepdims=True)],
    "max": lambda e: [e.b.max(e.x, axes=[1], keepdims=True)],
    "min": lambda e: [e.b.min(e.i, axes=[0, 1]), e.b.min(e.d, keepdims=True)],
    "argmax": lambda e: [e.b.argmax(e.x, axis=0, keepdims=True)],
    "argmin": lambda e: [e.b.argmin(e.d), e.b.argmin(e.i, axis=0, keepdims=True)],
    "reshape": lambda e: [e.b.reshape(e.x, shape=(3, 2))],
    "transpose": lambda e: [e.b.transpose(e.x, perm=[1, 0]), e.b.transpose(e.img)],
    "broadcast_to": lambda e: [e.b.broadcast_to(e.row, shape=(4, 2, 3))],
    "expand_dims": lambda e: [e.b.expand_dims(e.x, axes=[0, 3])],
    "squeeze": lambda e: [e.b.squeeze(e.b.expand_dims(e.x, axes=[0, 3]), axes=[0]),
                          e.b.squeeze(e.b.expand_dims(e.x, axes=[1]))],
    "concat": lambda e: [e.b.concat(e.x, e.y, e.x, axis=1), e.b.concat(e.x, axis=-2)],
    "slice": lambda e: [e.b.slice(e.x, starts=[0, 1], limits=[2, 3], strides=[2, 1]),
                        e.b.slice(e.x, starts=[1, 0], limits=[2, 3])],
    "pad": lambda e: [e.b.pad(e.x, pads=[[1, 0], [0, 2]], interior=[1, 0], value=-0.5),
                      e.b.pad(e.d, pads=[[0, 1], [1, 0]], value=-0.0),
                      e.b.pad(e.x, pads=[[0, 0], [0, 1]])],
    "one_hot": lambda e: [e.b.one_hot(e.i, depth=4, dtype="f64"), e.b.one_hot(e.idx, depth=2)],
    "matmul": lambda e: [e.b.matmul(e.x, e.w),
                         e.b.matmul(e.b.broadcast_to(e.x, shape=(4, 2, 3)), e.w)],
    "gather": lambda e: [e.b.gather(e.x, e.idx), e.b.gather(e.w, e.idx, axis=1)],
    "scatter_add": lambda e: [e.b.scatter_add(e.idx, e.seq, shape=(2, 3))],
}

_CONV = dict(strides=[2, 1], padding="same", dilation=[1, 2])
_POOL = dict(pool_size=[3, 3], strides=[1, 2], padding="same")
_AVG = dict(pool_size=[2, 3], strides=[2, 2], padding="same")


def _conv(e: Env):
    return [e.b.conv2d(e.img, e.kern, **_CONV), e.b.conv2d(e.img, e.kern)]


def _conv_grads(e: Env):
    y = e.b.conv2d(e.img, e.kern, **_CONV)
    return [e.b.conv2d_input_grad(y, e.kern, shape=e.img.shape, **_CONV),
            e.b.conv2d_filter_grad(e.img, y, shape=e.kern.shape, **_CONV)]


def _pools(e: Env):
    mp = e.b.max_pool2d(e.img, **_POOL)
    ap = e.b.avg_pool2d(e.img, **_AVG)
    return [mp, e.b.max_pool2d(e.img), e.b.max_pool2d_grad(e.img, mp, **_POOL),
            ap, e.b.avg_pool2d(e.img), e.b.avg_pool2d_grad(ap, shape=e.img.shape, **_AVG)]


def _random(e: Env):
    return [e.b.random_uniform(e.step, seed=2 ** 64 - 1, shape=(2, 3), dtype="f32",
                               minval=-0.5, maxval=1e-07),
            e.b.random_uniform(e.step, seed=0, shape=(4,), dtype="f64"),
            e.b.random_normal(e.step, seed=-5, shape=(5,), dtype="f64", mean=-0.5,
                              stddev=0.25)]


OP_BUILDERS.update({
    "conv2d": _conv, "conv2d_input_grad": _conv_grads, "conv2d_filter_grad": _conv_grads,
    "max_pool2d": _pools, "max_pool2d_grad": _pools, "avg_pool2d": _pools,
    "avg_pool2d_grad": _pools,
    "random_uniform": _random, "random_normal": _random,
    "scan": _scan,
})


def build_every_op_graph() -> Graph:
    b = GraphBuilder(name="every_op")
    e = Env(b)
    outs = []
    for k, (name, build) in enumerate(OP_BUILDERS.items()):
        if name not in all_ops():  # an entry for an op that is not (yet) registered
            continue
        with b.location(TRICKY_LOCS[k % len(TRICKY_LOCS)] if k % 3 == 0 else f"layer_{k}"):
            outs.extend(build(e))
    b.output(*outs)
    b.graph.nodes[0].loc = None  # a node without a location
    return b.graph


def feed(g: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    special = {"pos": lambda s: rng.uniform(0.5, 2.0, s), "i": lambda s: rng.integers(0, 4, s),
               "idx": lambda s: rng.integers(0, 2, s), "step": lambda s: np.array(7)}
    out = {}
    for v in g.args:
        dt = np.dtype({"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64",
                       "bool": "bool"}[v.dtype])
        if v.name in special:
            a = special[v.name](v.shape)
        elif v.dtype == "bool":
            a = rng.random(v.shape) < 0.5
        else:
            a = rng.normal(size=v.shape)
        out[v.name] = np.asarray(a).astype(dt)
    return out


# ------------------------------------------------------------------------------------------
# Structural equality
# ------------------------------------------------------------------------------------------
def same_attr(a, b, path: str) -> None:
    if isinstance(a, Graph):
        assert isinstance(b, Graph), path
        assert_same_graph(a, b, path)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        assert a.tobytes() == b.tobytes(), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, float):
        assert type(b) is float, f"{path}: {b!r} is not a float"
        if math.isnan(a):
            assert math.isnan(b), path
        else:
            assert a == b and math.copysign(1, a) == math.copysign(1, b), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, tuple):
        assert type(b) is tuple and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for k, (x, y) in enumerate(zip(a, b)):
            same_attr(x, y, f"{path}[{k}]")
    else:
        assert type(a) is type(b) and a == b, f"{path}: {a!r} != {b!r}"


def assert_same_graph(g1: Graph, g2: Graph, path: str = "") -> None:
    path = f"{path}@{g1.name}"
    assert g1.name == g2.name, path
    assert [(v.name, v.kind, v.type) for v in g1.args] == \
           [(v.name, v.kind, v.type) for v in g2.args], path
    assert len(g1.nodes) == len(g2.nodes), path
    for n1, n2 in zip(g1.nodes, g2.nodes):
        where = f"{path}/{n1.name}"
        assert n1.op == n2.op, where
        assert [v.name for v in n1.inputs] == [v.name for v in n2.inputs], where
        assert [(v.name, v.type) for v in n1.outputs] == [(v.name, v.type) for v in n2.outputs], where
        assert n1.loc == n2.loc, where
        assert set(n1.attrs) == set(n2.attrs), where
        for k in n1.attrs:
            same_attr(n1.attrs[k], n2.attrs[k], f"{where}.{k}")
        # the parsed graph's operands are its own values, not look-alikes from elsewhere
        for v in n2.inputs:
            assert v is g2.value(v.name), where
    assert [v.name for v in g1.outputs] == [v.name for v in g2.outputs], path


def ops_in(g: Graph) -> dict[str, list]:
    found: dict[str, list] = {}
    for sub in g.subgraphs() + [g]:
        for n in sub.nodes:
            found.setdefault(n.op, []).append(n)
    return found


# ------------------------------------------------------------------------------------------
# Round trip
# ------------------------------------------------------------------------------------------
def test_every_registered_op_has_a_builder():
    missing = sorted(set(all_ops()) - set(OP_BUILDERS))
    assert not missing, f"ops without a text round-trip builder in OP_BUILDERS: {missing}"


def test_every_op_graph_uses_every_registered_op():
    g = build_every_op_graph()
    assert verification_errors(g) == []
    missing = sorted(set(all_ops()) - set(ops_in(g)))
    assert not missing, f"the builders do not produce: {missing}"


def test_every_attribute_is_exercised_with_a_non_default_value():
    found = ops_in(build_every_op_graph())
    uncovered = []
    for name, opdef in all_ops().items():
        for key, spec in opdef.attrs.items():
            if key in opdef.type_attrs or spec.required:
                continue  # type attrs live in the result type; required ones are always set
            nodes = found.get(name, [])
            if not any(not _equal_default(n.attrs[key], spec.default) for n in nodes):
                uncovered.append(f"{name}.{key}")
    assert not uncovered, f"attributes never set to a non-default value: {uncovered}"


def _equal_default(v, default) -> bool:
    return type(v) is type(default) and v == default


def test_every_op_graph_round_trips_through_text():
    g = build_every_op_graph()
    text = str(g)
    parsed = parse(text)
    assert str(parsed) == text
    assert_same_graph(g, parsed)
    # The subgraphs come first, innermost first, and are themselves equal.
    subs1, subs2 = g.subgraphs(), parsed.subgraphs()
    assert [s.name for s in subs1] == [s.name for s in subs2]
    assert [s.name for s in subs1].index("inner_body") < [s.name for s in subs1].index("outer_body")
    # Parsing is idempotent from the second round on too.
    assert str(parse(str(parsed))) == text


def test_every_op_graph_computes_the_same_after_round_trip():
    g = build_every_op_graph()
    parsed = parse(str(g))
    args = feed(g)
    r1 = Interpreter(g).run(args)
    r2 = Interpreter(parsed).run(args)
    assert len(r1) == len(r2) == len(g.outputs)
    for v, a, c in zip(g.outputs, r1, r2):
        assert a.dtype == c.dtype and a.shape == c.shape, v.name
        assert a.tobytes() == c.tobytes(), f"%{v.name} differs after the round trip"


def test_text_shows_types_attrs_and_locations():
    b = GraphBuilder(name="m")
    x = b.input("x", (2, 3))
    w = b.param("w", (3, 4), "f64")
    with b.location("dense_1"):
        s = b.sum(x, axes=[0], name="s")
    r = b.reshape(x, shape=(6,), name="r")
    a = b.leaky_relu(x, name="a")
    c = b.leaky_relu(x, alpha=0.5, name="c")
    b.output(s, r, a, c, w)
    lines = str(b.graph).splitlines()
    assert lines[0] == "graph @m(%x: f32[2,3], %w: param f64[3,4]) {"
    assert lines[1] == '  %s = sum(%x) {axes=[0]} : f32[3] loc("dense_1")'
    # type attributes (reshape's shape) come from the result type; defaults are omitted
    assert lines[2].startswith("  %r = reshape(%x) : f32[6] loc(")
    assert lines[3].startswith("  %a = leaky_relu(%x) : f32[2,3] loc(")
    assert lines[4].startswith("  %c = leaky_relu(%x) {alpha=0.5} : f32[2,3] loc(")
    assert lines[5] == "  return %s, %r, %a, %c, %w"
    assert lines[6] == "}"


@pytest.mark.parametrize("value, literal", [
    (1e-07, "1e-07"), (float("inf"), "inf"), (float("-inf"), "-inf"), (-0.5, "-0.5"),
    (-0.0, "-0.0"), (5e-324, "5e-324"), (0.1, "0.1"), (1e300, "1e+300"), (2.0, "2.0"),
    (float("nan"), "nan"),
])
def test_float_attribute_and_constant_round_trip(value, literal):
    b = GraphBuilder(name="m")
    x = b.input("x", (2,), "f64")
    p = b.pad(x, pads=[[1, 1]], value=value, name="p")
    c = b.constant(value, "f64", name="c")
    b.output(p, c)
    text = str(b.graph)
    assert f"{{pads=[[1, 1]], value={literal}}}" in text
    assert f"%c = constant() {{value={literal}}} : f64[]" in text
    g = parse(text)
    same_attr(value, g.value("p").producer.attrs["value"], "pad.value")
    same_attr(value, g.value("c").producer.attrs["value"], "constant.value")
    out = Interpreter(g).run({"x": np.array([1.0, 2.0])})
    assert np.array_equal(out[0][[0, 3]], [value, value], equal_nan=True)
    assert np.signbit(out[0][0]) == np.signbit(value)


def test_float32_dense_values_are_exact():
    # f32 values are printed through their exact float64 expansion
    arr = np.array([0.1, 1 / 3, -0.0, 3.4028235e38, 1e-45, np.nan], np.float32)
    b = GraphBuilder(name="m")
    b.output(b.constant(arr, name="k"))
    text = str(b.graph)
    assert "0.10000000149011612" in text  # float32(0.1) exactly
    got = parse(text).value("k").producer.attrs["value"]
    assert got.dtype == np.float32 and got.tobytes() == arr.tobytes()


@pytest.mark.parametrize("loc", TRICKY_LOCS)
def test_locations_with_escapes_round_trip(loc):
    b = GraphBuilder(name="m")
    x = b.input("x", (2,))
    with b.location(loc):
        y = b.neg(x)
    b.output(y)
    text = str(b.graph)
    assert text.count("\n") == 4  # the location is escaped, never a raw line break
    g = parse(text)
    assert g.nodes[0].loc == loc
    assert str(g) == text


def test_hand_written_text_parses_and_runs():
    text = """
    // a comment line
    graph @step(%c: f64[2], %x: f64[2]) {
      %n = add(%c, %x) : f64[2]   // trailing comment
      return %n, %n
    }
    graph @main(%xs: f64[3,2], %k: param f64[2]) {
      %z = constant() {value=dense<f64[2] [0.5, -1]>} : f64[2]
      %c, %ys = scan(%z, %xs) {body=@step, num_carry=1, num_xs=1, length=3} : f64[2], f64[3,2]
      %p = mul(%c, %k) : f64[2]
      %s = sum(%p) {keepdims=true} : f64[1]
      return %s, %ys
    }
    """
    g = parse(text)
    assert g.name == "main" and [v.kind for v in g.args] == ["input", "param"]
    xs = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    s, ys = Interpreter(g).run({"xs": xs, "k": np.array([2.0, 10.0])})
    # c = [0.5 + 9, -1 + 12] = [9.5, 11]; s = 9.5 * 2 + 11 * 10 = 129
    assert s.tolist() == [129.0]
    assert ys.tolist() == [[1.5, 1.0], [4.5, 5.0], [9.5, 11.0]]


def test_subgraph_name_clashes_are_renamed_consistently():
    def scan_with_body(b, x):
        (c,), _ = build_scan(b, lambda bb, c, xt, p: ([bb.add(c[0], xt[0])], []),
                             [b.constant(0.0, "f32", shape=(2,))], [x], name="body")
        return c

    b = GraphBuilder(name="body")  # the main graph has the bodies' name too
    x = b.input("x", (3, 2))
    b.output(scan_with_body(b, x), scan_with_body(b, b.neg(x)))
    text = str(b.graph)
    assert text.count("graph @body(") == 1
    assert "graph @body.2(" in text and "graph @body.3(" in text
    g = parse(text)
    assert str(g) == text
    xv = np.arange(6, dtype=np.float32).reshape(3, 2)
    c1, c2 = Interpreter(g).run({"x": xv})
    assert c1.tolist() == [6.0, 9.0] and c2.tolist() == [-6.0, -9.0]


@pytest.mark.parametrize("name", ["my model", "a-b", "", "x@y", "q\"r"])
def test_graph_names_must_be_spellable_in_the_text_form(name):
    with pytest.raises(ValueError, match="invalid graph name"):
        Graph(name)
    with pytest.raises(ValueError, match="invalid graph name"):
        GraphBuilder(name=name)


def test_parse_verifies_unless_told_not_to():
    text = "graph @m(%x: f32[2,3]) {\n  %s = sum(%x) : f32[3]\n  return %s\n}\n"
    with pytest.raises(VerificationError, match=r"declared result type f32\[3\].*f32\[\]"):
        parse(text)
    g = parse(text, verify=False)
    assert g.nodes[0].outputs[0].type.shape == (3,)


# ------------------------------------------------------------------------------------------
# Parse errors
# ------------------------------------------------------------------------------------------
def at(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle in text."""
    i = -1
    for _ in range(nth):
        i = text.index(needle, i + 1)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def end(text: str) -> tuple[int, int]:
    return text.count("\n") + 1, len(text) - (text.rfind("\n") + 1) + 1


G = "graph @m(%x: f32[2,3]) {\n"

PARSE_ERRORS = [
    # (id, text, where: (needle, nth) or "end", words expected in the message)
    ("unexpected character", G + "  %y = neg(%x) : f32[2,3] $\n  return %y\n}", ("$", 1),
     ["unexpected character"]),
    ("unexpected character in header", "graph @m(%x: f32[2,3]) ; {\n  return %x\n}", (";", 1),
     ["unexpected character"]),
    ("unterminated string", G + '  %y = neg(%x) : f32[2,3] loc("abc\n  return %y\n}',
     ('"abc', 1), ["unexpected character"]),
    ("missing ':' in argument", "graph @m(%x f32[2,3]) {\n  return %x\n}", ("f32", 1),
     ["expected ':'"]),
    ("missing ':' before result type", G + "  %y = neg(%x) f32[2,3]\n  return %y\n}",
     ("f32", 2), ["expected ':'"]),
    ("unknown op", G + "  %y = frobnicate(%x) : f32[2,3]\n  return %y\n}", ("frobnicate", 1),
     ["unknown op", "frobnicate"]),
    ("unknown dtype in argument", "graph @m(%x: f16[2,3]) {\n  return %x\n}", ("f16", 1),
     ["unknown dtype", "f16"]),
    ("unknown dtype in result", G + "  %y = neg(%x) : float[2,3]\n  return %y\n}",
     ("float", 1), ["unknown dtype", "float"]),
    ("unknown dtype in dense", G + "  %k = constant() {value=dense<u8[1] [1]>} : f32[1]\n"
     "  return %k\n}", ("u8", 1), ["unknown dtype", "u8"]),
    ("use before definition", G + "  %y = add(%z, %x) : f32[2,3]\n  %z = neg(%x) : f32[2,3]\n"
     "  return %y\n}", ("%z", 1), ["%z", "before it is defined"]),
    ("undefined return value", G + "  return %nope\n}", ("%nope", 1), ["%nope"]),
    ("duplicate definition", G + "  %y = neg(%x) : f32[2,3]\n  %y = abs(%x) : f32[2,3]\n"
     "  return %y\n}", ("%y", 2), ["%y", "defined twice"]),
    ("redefined argument", G + "  %x = neg(%x) : f32[2,3]\n  return %x\n}", ("%x", 2),
     ["%x", "defined twice"]),
    ("duplicate argument", "graph @m(%x: f32[2], %x: f32[2]) {\n  return %x\n}", ("%x", 2),
     ["%x", "defined twice"]),
    ("duplicate result in one statement",
     "graph @b(%c: f32[2]) {\n  return %c, %c\n}\n"
     "graph @m(%x: f32[2], %xs: f32[3,2]) {\n"
     "  %a, %a = scan(%x, %xs) {body=@b, num_carry=1, num_xs=1, length=3} : f32[2], f32[3,2]\n"
     "  return %a\n}", ("%a", 2), ["%a", "defined twice"]),
    ("too few types", G + "  %a, %b = neg(%x) : f32[2,3]\n  return %a\n}", ("%a", 1),
     ["2 result(s) but 1 type(s)"]),
    ("too many types", G + "  %a = neg(%x) : f32[2,3], f32[2,3]\n  return %a\n}", ("%a", 1),
     ["1 result(s) but 2 type(s)"]),
    ("unknown attribute", G + "  %s = sum(%x) {axes=[0], bogus=1} : f32[3]\n  return %s\n}",
     ("bogus", 1), ["unknown attribute", "bogus"]),
    ("attribute of the wrong kind", G + "  %s = sum(%x) {keepdims=1} : f32[3]\n  return %s\n}",
     ("1}", 1), ["keepdims", "true or false"]),
    ("list where an int is expected",
     G + "  %s = softmax(%x) {axis=[1]} : f32[2,3]\n  return %s\n}", ("[1]", 1), ["axis"]),
    ("string where a float is expected",
     G + '  %s = leaky_relu(%x) {alpha="0.1"} : f32[2,3]\n  return %s\n}', ('"0.1"', 1),
     ["alpha"]),
    ("value outside the choices",
     "graph @m(%x: f32[1,4,4,1]) {\n  %p = max_pool2d(%x) {padding=\"full\"} : f32[1,2,2,1]\n"
     "  return %p\n}", ('"full"', 1), ["padding", "full"]),
    ("type attribute given as attribute",
     G + "  %r = reshape(%x) {shape=[6]} : f32[6]\n  return %r\n}", ("shape=", 1),
     ["shape", "result type"]),
    ("duplicate attribute", G + "  %s = sum(%x) {axes=[0], axes=[1]} : f32[3]\n  return %s\n}",
     ("axes", 2), ["axes", "twice"]),
    ("bad escape in a string", G + '  %y = neg(%x) : f32[2,3] loc("a\\qb")\n  return %y\n}',
     ('"a', 1), ["string"]),
    ("dense with too few values", G + "  %k = constant() {value=dense<f32[2,2] [1.0, 2.0, 3.0]>}"
     " : f32[2,2]\n  return %k\n}", ("dense", 1), ["4 values", "got 3"]),
    ("dense with too many values", G + "  %k = constant() {value=dense<i64[2] [1, 2, 3]>}"
     " : i64[2]\n  return %k\n}", ("dense", 1), ["2 values", "got 3"]),
    ("dense int element not an integer", G + "  %k = constant() {value=dense<i64[2] [1, 2.5]>}"
     " : i64[2]\n  return %k\n}", ("2.5", 1), ["2.5", "i64"]),
    ("dense int element out of range", G + "  %k = constant() {value=dense<i32[1] "
     "[3000000000]>} : i32[1]\n  return %k\n}", ("3000000000", 1), ["3000000000", "i32"]),
    ("dense bool element not a bool", G + "  %k = constant() {value=dense<bool[2] [true, 2]>}"
     " : bool[2]\n  return %k\n}", ("2]>", 1), ["bool"]),
    ("negative dimension", "graph @m(%x: f32[2,-3]) {\n  return %x\n}", ("-3", 1),
     ["dimension"]),
    ("graph used before definition",
     "graph @m(%x: f32[2], %xs: f32[3,2]) {\n"
     "  %a = scan(%x, %xs) {body=@later, num_carry=1, num_xs=1, length=3} : f32[2]\n"
     "  return %a\n}", ("@later", 1), ["@later"]),
    ("graph defined twice", "graph @m() {\n  return\n}\ngraph @m() {\n  return\n}", ("@m", 2),
     ["@m", "twice"]),
    ("empty text", "", "end", ["empty"]),
    ("only comments and blanks", "  \n// nothing here\n\n", "end", ["empty"]),
    ("unterminated graph", G + "  %y = neg(%x) : f32[2,3]\n", "end", ["end of input"]),
    ("unterminated graph after return", G + "  return %x\n", "end", ["'}'", "end of input"]),
    ("unterminated argument list", "graph @m(%x: f32[2,3]", "end", ["end of input"]),
    ("junk after the graph", G + "  return %x\n}\nreturn", ("return", 2), ["graph"]),
]


@pytest.mark.parametrize("text, where, words", [c[1:] for c in PARSE_ERRORS],
                         ids=[c[0] for c in PARSE_ERRORS])
def test_parse_error_points_at_the_offending_token(text, where, words):
    with pytest.raises(IRParseError) as info:
        parse(text)
    err = info.value
    expected = end(text) if where == "end" else at(text, *where)
    assert (err.line, err.column) == expected, str(err)
    assert str(err).startswith(f"line {expected[0]}, column {expected[1]}: ")
    for w in words:
        assert w in str(err), f"{w!r} not in {str(err)!r}"


def test_missing_required_attribute_is_reported_on_its_line():
    text = G + "  %e = expand_dims(%x) : f32[1,2,3]\n  return %e\n}"
    with pytest.raises(IRParseError, match="missing required attribute 'axes'") as info:
        parse(text)
    assert info.value.line == 2


def test_parse_error_is_a_value_error_with_position_attributes():
    with pytest.raises(ValueError):
        parse("graph")
    try:
        parse("graph @m(%x: f32[2]) {\n\treturn %x,\n}")
    except IRParseError as e:
        # the tab counts as one column; the error is at the '}' after the dangling ','
        assert (e.line, e.column) == (3, 1)
    else:  # pragma: no cover
        pytest.fail("no IRParseError")


def test_every_op_name_is_an_identifier():
    # Every op name must be an identifier the text form can spell.
    import re
    for name in all_ops():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), name
        assert get_op(name).name == name
