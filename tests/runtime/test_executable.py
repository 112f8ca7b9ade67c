"""The native runner: input checking before native code runs, state updated in place, the
compile cache across programs, dumps of every stage."""
from __future__ import annotations

import re

import numpy as np
import pytest

from compiler import GraphBuilder, InputError
from compiler.passes.autodiff import gradients
from compiler.pipeline import STAGES, CompileOptions
from runtime.program import Program


def _linreg():
    b = GraphBuilder(name="linreg")
    x = b.input("x", (5, 3))
    y = b.input("y", (5, 1))
    w = b.param("w", (3, 1))
    loss = b.mean(b.square(b.sub(b.matmul(x, w), y)))
    (g,) = gradients(b.graph, loss, [w])
    b.output(loss, b.sub(w, b.mul(g, 0.1)))
    return b.graph


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((5, 3), dtype=np.float32)
    return x, (x @ np.array([[1], [2], [3]], np.float32)).astype(np.float32)


def test_training_updates_state_in_place_like_eager():
    g = _linreg()
    x, y = _data()
    runs = {}
    for backend in ("eager", "llvm"):
        w = np.zeros((3, 1), np.float32)
        p = Program(g, state={"w": w}, updates={1: "w"}, backend=backend)
        losses = [float(p({"x": x, "y": y})[0]) for _ in range(50)]
        assert p.state["w"] is w  # updated in place, not replaced
        runs[backend] = (losses, w.copy())
    np.testing.assert_allclose(runs["llvm"][0], runs["eager"][0], rtol=1e-5)
    np.testing.assert_allclose(runs["llvm"][1], runs["eager"][1], rtol=1e-5)
    assert runs["llvm"][0][-1] < runs["llvm"][0][0]


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 3), np.float64), r"input 'x' .*expected dtype float32, got float64"),
    (np.zeros((5, 4), np.float32), r"input 'x' .*expected shape \[5, 3\], got \[5, 4\]"),
    (np.zeros((3, 5), np.float32).T, r"input 'x' .*expected a C-contiguous array"),
    ([[0.0] * 3] * 5, r"input 'x' .*expected a numpy array f32\[5, 3\], got list"),
    (np.frombuffer(b"\0" * 61, np.uint8)[1:].view(np.float32).reshape(5, 3),
     r"input 'x' .*not aligned"),
])
def test_bad_inputs_are_rejected_before_native_code(bad, message):
    p = Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                backend="llvm")
    _, y = _data()
    with pytest.raises(InputError, match=message):
        p({"x": bad, "y": y})


def test_missing_and_unknown_inputs():
    p = Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                backend="llvm")
    x, y = _data()
    with pytest.raises(InputError, match=r"missing input\(s\) y"):
        p({"x": x})
    with pytest.raises(InputError, match=r"unknown input\(s\) z"):
        p({"x": x, "y": y, "z": y})


def test_replaced_state_array_is_checked_and_rebound():
    p = Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                backend="llvm")
    x, y = _data()
    p.state["w"] = np.ones((3, 2), np.float32)
    with pytest.raises(InputError, match=r"'w' .*expected shape \[3, 1\], got \[3, 2\]"):
        p({"x": x, "y": y})
    new = np.ones((3, 1), np.float32)
    p.state["w"] = new
    p({"x": x, "y": y})
    assert not np.allclose(new, 1.0)  # the new array is the one updated


def test_second_program_loads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    g = _linreg()
    first = Program(g, state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                    backend="llvm")
    second = Program(g, state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                     backend="llvm")
    assert first._runner.compiled.cache_event.kind == "miss"
    assert second._runner.compiled.cache_event.kind == "hit"
    x, y = _data()
    np.testing.assert_array_equal(first({"x": x, "y": y})[0], second({"x": x, "y": y})[0])


def test_dump_writes_every_stage_in_pipeline_order(tmp_path):
    opts = CompileOptions(dump="all", dump_dir=tmp_path, cache=False)
    p = Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                backend="llvm", compile_options=opts)
    (program_dir,) = tmp_path.iterdir()      # one directory per program, named after it
    assert program_dir.name.startswith("linreg")
    tmp_path = program_dir
    files = sorted(f.name for f in tmp_path.iterdir())
    # a graph given as is has no separate autodiff stage (that needs the forward graph)
    assert [f.split("-", 1)[1].rsplit(".", 1)[0] for f in files] == \
        [s for s in STAGES if s != "autodiff"]
    assert [int(f.split("-", 1)[0]) for f in files] == \
        [i for i, s in enumerate(STAGES) if s != "autodiff"]
    text = {f.split("-", 1)[1].rsplit(".", 1)[0]: (tmp_path / f).read_text() for f in files}
    assert "graph @linreg" in text["graph"]
    assert "fused kernels" in text["fuse"]
    assert re.match(r"arena \d+ bytes \(no reuse: \d+; most live at once: \d+\)", text["memory"])
    assert text["dot"].startswith("strict digraph") and "cluster_" in text["dot"]
    with pytest.raises(ValueError, match="'autodiff' is not available"):
        p.compiled.stage_text("autodiff")
    # the prediction's matmul carries the residual subtraction as its epilogue
    assert re.search(r"kernel @k0_\S+ contraction \(%matmul, %sub", text["kernels"])
    assert "define i32 @kiln_main" in text["llvm"] or 'define i32 @"kiln_main"' in text["llvm"]
    assert "kiln_main" in text["asm"]
    assert p._runner.compiled.stage_text("kernels") == text["kernels"]


def test_dumps_go_to_a_directory_per_program_never_overwritten(tmp_path, capsys):
    opts = CompileOptions(dump=["kernels"], dump_dir=tmp_path, cache=False)
    for _ in range(2):   # the same program name twice: the second gets linreg-2
        Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                backend="llvm", compile_options=opts)
    kernels = f"{STAGES.index('kernels'):02d}-kernels.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linreg", "linreg-2"]
    for d in ("linreg", "linreg-2"):
        assert [p.name for p in (tmp_path / d).iterdir()] == [kernels]
    err = capsys.readouterr().err
    assert f"kiln: dumped 1 stage(s) of @linreg to {tmp_path / 'linreg'}" in err


def test_kiln_dump_without_a_directory_writes_to_kiln_dumps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KILN_DUMP", "graph")
    monkeypatch.delenv("KILN_DUMP_DIR", raising=False)
    opts = CompileOptions.from_env(cache=False)
    assert opts.dump_dir == "kiln-dumps"
    Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
            backend="llvm", compile_options=opts)
    (written,) = (tmp_path / "kiln-dumps").iterdir()
    assert written.name.startswith("linreg")
    assert [p.name for p in written.iterdir()] == ["00-graph.txt"]
    monkeypatch.delenv("KILN_DUMP")
    assert CompileOptions.from_env().dump_dir is None   # nothing asked, nothing written


def test_unknown_dump_stage_is_an_error():
    with pytest.raises(ValueError, match=r"unknown dump stage\(s\) nope; stages are graph"):
        CompileOptions(dump=["nope"]).wanted()


def test_model_training_step_keeps_the_forward_graph_as_its_graph_stage(tmp_path):
    from frontend.keras.layers import Dense
    from frontend.keras.models import Sequential
    from frontend.models.steps import get_step

    m = Sequential([Dense(3, activation="relu", input_shape=(4,)), Dense(1)])
    m.compile("sgd", "mse")
    x, y = np.zeros((2, 4), np.float32), np.zeros((2, 1), np.float32)
    compiled = get_step(m, "train", [x], [y]).program.compiled
    forward, full = compiled.stage_text("graph"), compiled.stage_text("autodiff")
    assert "matmul" in forward and "loc(\"loss\")" in forward
    assert "/grad" not in forward and "sgd" not in forward    # no gradients, no updates yet
    assert "/grad" in full and "sgd.learning_rate" in full


def test_kernel_dot_has_one_cluster_per_kernel_with_its_fused_nodes():
    import pydot

    p = Program(_linreg(), state={"w": np.zeros((3, 1), np.float32)}, updates={1: "w"},
                backend="llvm", compile_options=CompileOptions(cache=False))
    compiled = p.compiled
    (dot,) = pydot.graph_from_dot_data(compiled.stage_text("dot"))
    clusters = {c.get_name(): c for c in dot.get_subgraphs()}
    kernels = compiled.kernels.kernels
    # every kernel computing at least one graph node of the optimized graph is a cluster
    assert len(clusters) == sum(1 for k in kernels if k.nodes)
    labels = {c.get("label").strip('"') for c in clusters.values()}
    assert {k.name for k in kernels if k.nodes} == labels
    # the matmul sits in the same cluster as the subtraction fused into its epilogue
    first = next(c for c in clusters.values() if c.get("label").strip('"') == kernels[0].name)
    ops = " ".join(str(n.get("label")) for n in first.get_nodes())
    assert "matmul" in ops and "sub" in ops


def test_kernels_computing_one_node_together_share_a_labelled_cluster():
    """A convolution's gradient is an im2col kernel and a GEMM kernel for one graph node: both
    names label its cluster, so every kernel is found in the picture."""
    import pydot

    b = GraphBuilder(name="conv_dot")
    x = b.input("x", (2, 9, 9, 3))
    w = b.param("w", (3, 3, 3, 4))
    loss = b.sum(b.square(b.conv2d(x, w)))
    (gw,) = gradients(b.graph, loss, [w])
    b.output(loss, b.sub(w, b.mul(gw, 0.1)))
    p = Program(b.graph, state={"w": np.ones((3, 3, 3, 4), np.float32)}, updates={1: "w"},
                backend="llvm", compile_options=CompileOptions(cache=False))
    (dot,) = pydot.graph_from_dot_data(p.compiled.stage_text("dot"))
    labels = [c.get("label").strip('"') for c in dot.get_subgraphs()]
    named = [name for label in labels for name in label.split(" + ")]
    kernels = [k.name for k in p.compiled.kernels.kernels if k.nodes]
    assert sorted(named) == sorted(kernels)          # each kernel in exactly one label
    assert any(" + " in label for label in labels)
