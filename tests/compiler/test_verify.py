"""The IR verifier: each invariant, broken on purpose, is reported with the node's name."""
from __future__ import annotations

import pytest

from compiler import GraphBuilder, TensorType, VerificationError
from compiler.ir.graph import Graph
from compiler.ir.verify import verification_errors, verify
from compiler.ops.scan import build_scan


def small_graph():
    """x -> tanh (%h) -> exp (%e) -> sum (%s); outputs %s, %e."""
    b = GraphBuilder(name="g")
    x = b.input("x", (2, 3))
    w = b.param("w", (3, 4))
    with b.location("layer_1"):
        h = b.tanh(x, name="h")
    e = b.exp(h, name="e")
    m = b.matmul(e, w, name="m")
    s = b.sum(m, axes=[1], name="s")
    b.output(s, e)
    return b.graph, dict(x=x, w=w, h=h, e=e, m=m, s=s)


def rnn_graph():
    b = GraphBuilder(name="r")
    xs = b.input("xs", (4, 3))
    h0 = b.input("h0", (3,))
    (h,), (ys,) = build_scan(
        b, lambda bb, c, xt, p: ([bb.tanh(bb.add(c[0], xt[0]))], [bb.neg(c[0])]), [h0], [xs],
        name="cell")
    b.output(h, ys)
    return b.graph


def only(errors: list[str], *words: str) -> str:
    """The one error that mentions all of ``words``."""
    hits = [e for e in errors if all(w in e for w in words)]
    assert len(hits) == 1, f"expected one error with {words}, got {errors}"
    return hits[0]


def test_valid_graphs_have_no_errors():
    g, _ = small_graph()
    assert verification_errors(g) == []
    assert verify(g) is g
    r = rnn_graph()
    assert verification_errors(r) == []
    assert verify(r) is r


def test_unknown_op():
    g, v = small_graph()
    g.add_node("frobnicate", [v["x"]], {}, [TensorType((2, 3), "f32")], names=["bad"],
               loc="my_layer")
    err = only(verification_errors(g), "unknown op")
    assert "%bad = frobnicate" in err and "'frobnicate'" in err and "my_layer" in err


def test_dangling_value_from_another_graph():
    g, v = small_graph()
    other = GraphBuilder(name="other")
    z = other.input("z", (2, 3))
    v["e"].producer.inputs[0] = z  # %e reads a value of @other
    err = only(verification_errors(g), "dangling")
    assert err.startswith("%e = exp") and "%z" in err and "@g" in err and "operand 0" in err


def test_use_before_definition_after_reordering():
    g, v = small_graph()
    g.nodes[0], g.nodes[1] = g.nodes[1], g.nodes[0]  # exp now runs before tanh
    errors = verification_errors(g)
    err = only(errors, "before it is defined")
    assert err.startswith("%e = exp") and "%h" in err
    assert not any("cycle" in e for e in errors)


def test_cycle_is_reported_with_every_node_on_it():
    g, v = small_graph()
    v["h"].producer.inputs[0] = v["e"]  # tanh reads exp, which reads tanh
    errors = verification_errors(g)
    err = only(errors, "cycle")
    assert "%h = tanh (built at layer_1)" in err and "%e = exp" in err
    assert "%m = matmul" not in err
    # the back edge also shows up as a use before definition
    assert only(errors, "before it is defined").startswith("%h = tanh")


def test_self_loop_is_a_cycle():
    g, v = small_graph()
    n = v["e"].producer
    n.inputs[0] = v["e"]
    assert "%e = exp" in only(verification_errors(g), "cycle")


def test_duplicate_value_name():
    g, v = small_graph()
    v["m"].name = "h"  # %m's output renamed to clash with %h
    err = only(verification_errors(g), "duplicate value name %h")
    assert "%h = matmul" in err and "%h = tanh" in err


def test_duplicate_argument_name():
    g, v = small_graph()
    v["w"].name = "x"
    err = only(verification_errors(g), "duplicate value name %x")
    assert "argument" in err


@pytest.mark.parametrize("declared, inferred", [
    (TensorType((2, 5), "f32"), "f32[2]"),
    (TensorType((2,), "f64"), "f32[2]"),
    (TensorType((), "f32"), "f32[2]"),
])
def test_declared_type_that_the_shape_rule_contradicts(declared, inferred):
    g, v = small_graph()
    v["s"].type = declared
    err = only(verification_errors(g), "declared result type")
    assert err.startswith("%s = sum")
    assert f"declared result type {declared} but the op's rule gives {inferred}" in err


def test_operand_types_that_break_the_shape_rule():
    g, v = small_graph()
    v["m"].producer.inputs = [v["e"], v["e"]]  # [2,3] @ [2,3]
    err = only(verification_errors(g), "matmul")
    assert err.startswith("%m = matmul") and "contraction" in err


@pytest.mark.parametrize("change, words", [
    (lambda a: a.update(axes="zero"), ["axes", "a list of ints"]),
    (lambda a: a.update(bogus=1), ["unknown attribute", "bogus"]),
    (lambda a: a.update(keepdims=1), ["keepdims", "true or false"]),
    (lambda a: a.update(axes=[5]), ["axis 5 is out of range"]),
])
def test_bad_attribute(change, words):
    g, v = small_graph()
    change(v["s"].producer.attrs)
    err = only(verification_errors(g), *words)
    assert err.startswith("%s = sum")


def test_missing_required_attribute():
    b = GraphBuilder(name="g")
    r = b.reshape(b.input("x", (2, 3)), shape=(6,), name="r")
    b.output(r)
    del r.producer.attrs["shape"]
    err = only(verification_errors(b.graph), "missing required attribute 'shape'")
    assert err.startswith("%r = reshape")


def test_integer_constant_out_of_range():
    b = GraphBuilder(name="g")
    k = b.constant(1, "i32", name="k")
    b.output(k)
    k.producer.attrs["value"] = 2 ** 40
    err = only(verification_errors(b.graph), "out of range")
    assert err.startswith("%k = constant") and "i32" in err


def test_undefined_graph_output():
    g, v = small_graph()
    other = GraphBuilder(name="other")
    g.outputs.append(other.input("z", (1,)))
    assert only(verification_errors(g), "graph output") == \
        "graph output %z is not defined in graph @g"


def test_output_of_a_removed_node():
    g, v = small_graph()
    g.nodes.remove(v["s"].producer)
    errors = verification_errors(g)
    assert errors == ["graph output %s is not defined in graph @g"]


def test_scan_body_that_does_not_match_its_operands():
    g = rnn_graph()
    scan = g.nodes[-1]
    body = scan.attrs["body"]
    body.args[1].type = TensorType((4,), "f32")  # xs[t] is f32[3]
    errors = verification_errors(g)
    err = only(errors, "scan: body @cell takes")
    assert err.startswith("%scan = scan")
    assert "(f32[3], f32[4])" in err and "(f32[3], f32[3])" in err
    # the body's own broken node is reported too, prefixed with the body's name
    assert only(errors, "in graph @cell").startswith("in graph @cell: %add = add")


def test_scan_body_whose_outputs_are_not_the_carries():
    g = rnn_graph()
    body = g.nodes[-1].attrs["body"]
    body.outputs[0] = GraphBuilder(body).constant(0.0, "f64", shape=(3,))  # carry is f32[3]
    err = only(verification_errors(g), "must return the 1 carries")
    assert err.startswith("%scan = scan") and "f64[3]" in err


def test_scan_attribute_that_is_not_a_graph():
    g = rnn_graph()
    g.nodes[-1].attrs["body"] = "cell"
    err = only(verification_errors(g), "body")
    assert err.startswith("%scan = scan") and "a graph" in err


def test_several_errors_are_all_reported():
    g, v = small_graph()
    other = GraphBuilder(name="other")
    g.add_node("frobnicate", [v["x"]], {}, [TensorType((2, 3), "f32")], names=["bad"])
    v["e"].producer.inputs[0] = other.input("z", (2, 3))
    v["s"].type = TensorType((9,), "f32")
    v["m"].producer.attrs["bogus"] = True
    g.outputs.append(other.input("q", (1,)))
    errors = verification_errors(g)
    assert len(errors) == 5, errors
    only(errors, "%bad = frobnicate", "unknown op")
    only(errors, "%e = exp", "dangling")
    only(errors, "%s = sum", "declared result type f32[9]")
    only(errors, "%m = matmul", "bogus")
    only(errors, "graph output %q")
    with pytest.raises(VerificationError) as info:
        verify(g)
    assert info.value.errors == errors
    assert "5 error(s)" in str(info.value)
    for e in errors:
        assert e in str(info.value)


def test_errors_in_body_and_main_graph_together():
    g = rnn_graph()
    body = g.nodes[-1].attrs["body"]
    body.nodes[0].op = "not_an_op"
    g.outputs.append(Graph("elsewhere").add_arg("u", TensorType((), "f32")))
    errors = verification_errors(g)
    assert only(errors, "unknown op 'not_an_op'").startswith("in graph @cell: %add = not_an_op")
    only(errors, "graph output %u")
