"""The TF1-style graph API (frontend.graph): ops against numpy, static shapes, gradients against
finite differences, sessions (fetch forms, feeds, caching, state), variables, random ops,
optimizers against TensorFlow 1's update formulas, and the errors users get."""
from __future__ import annotations

import collections

import numpy as np
import pytest

import frontend.graph as tf
from frontend.graph.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def fresh_graph():
    """Every test builds into its own default graph."""
    g = tf.Graph()
    with g.as_default():
        yield g


def run(fn, *arrays):
    """Build ``fn`` on placeholders whose first dimension is unknown, feed ``arrays``."""
    phs = [tf.placeholder(tf.as_dtype(a.dtype), [None] + list(a.shape[1:]) if a.ndim else [])
           for a in arrays]
    out = fn(*phs)
    with tf.Session() as sess:
        return sess.run(out, dict(zip(phs, arrays)))


def f32(*shape, positive=False):
    a = RNG.normal(size=shape).astype(np.float32)
    return np.abs(a) + 0.5 if positive else a


def np_softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(z, axis=-1):
    return np.log(np_softmax(z, axis))


A, B, C = f32(3, 4), f32(4, 5), f32(3, 4)
POS = f32(3, 4, positive=True)
LABELS = np_softmax(f32(3, 4))
IDX = np.array([2, 0, 3], dtype=np.int64)
IMG, KER = f32(2, 5, 5, 3), f32(3, 3, 3, 4)


def np_conv_valid(x, w):
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    out = np.zeros((n, h - kh + 1, wd - kw + 1, o), np.float32)
    for i in range(h - kh + 1):
        for j in range(wd - kw + 1):
            out[:, i, j] = np.tensordot(x[:, i:i + kh, j:j + kw], w, axes=3)
    return out


OPS = {
    "matmul": (lambda a, b: tf.matmul(a, b), lambda a, b: a @ b, [A, B]),
    "matmul_transposed": (lambda a, c: tf.matmul(a, c, transpose_b=True),
                          lambda a, c: a @ c.T, [A, C]),
    "matmul_operator": (lambda a, b: a @ b, lambda a, b: a @ b, [A, B]),
    "add_broadcast": (lambda a, b: tf.add(a, b[0]), lambda a, b: a + b[0], [A, A]),
    "operators": (lambda a, c: (a + 1) * c - a / 2 - (-c) + 2 ** a + abs(a) ** 2,
                  lambda a, c: (a + 1) * c - a / 2 + c + 2 ** a + np.abs(a) ** 2, [A, C]),
    "rsub_rdiv": (lambda a: 1.0 - 3.0 / a, lambda a: 1.0 - 3.0 / a, [POS]),
    "relu": (tf.nn.relu, lambda a: np.maximum(a, 0), [A]),
    "relu6": (lambda a: tf.nn.relu6(a * 5), lambda a: np.clip(a * 5, 0, 6), [A]),
    "leaky_relu": (tf.nn.leaky_relu, lambda a: np.where(a > 0, a, 0.2 * a), [A]),
    "elu": (tf.nn.elu, lambda a: np.where(a > 0, a, np.expm1(a)), [A]),
    "softplus": (tf.nn.softplus, lambda a: np.logaddexp(0, a), [A]),
    "sigmoid": (tf.sigmoid, lambda a: 1 / (1 + np.exp(-a)), [A]),
    "nn.sigmoid": (tf.nn.sigmoid, lambda a: 1 / (1 + np.exp(-a)), [A]),
    "tanh": (tf.tanh, np.tanh, [A]),
    "softmax": (tf.nn.softmax, np_softmax, [A]),
    "softmax_axis0": (lambda a: tf.nn.softmax(a, axis=0), lambda a: np_softmax(a, 0), [A]),
    "log_softmax": (tf.nn.log_softmax, np_log_softmax, [A]),
    "square": (tf.square, np.square, [A]),
    "exp": (tf.exp, np.exp, [A]),
    "log": (tf.log, np.log, [POS]),
    "sqrt": (tf.sqrt, np.sqrt, [POS]),
    "rsqrt": (tf.rsqrt, lambda a: 1 / np.sqrt(a), [POS]),
    "pow": (lambda a, c: tf.pow(a, c), np.power, [POS, C]),
    "maximum": (tf.maximum, np.maximum, [A, C]),
    "minimum": (tf.minimum, np.minimum, [A, C]),
    "squared_difference": (tf.squared_difference, lambda a, c: (a - c) ** 2, [A, C]),
    "add_n": (lambda a, c: tf.add_n([a, c, a]), lambda a, c: 2 * a + c, [A, C]),
    "reduce_mean": (tf.reduce_mean, np.mean, [A]),
    "reduce_mean_axis": (lambda a: tf.reduce_mean(a, axis=1, keepdims=True),
                         lambda a: a.mean(1, keepdims=True), [A]),
    "reduce_sum": (lambda a: tf.reduce_sum(a, 0), lambda a: a.sum(0), [A]),
    "reduce_sum_ri": (lambda a: tf.reduce_sum(a, reduction_indices=[1], keep_dims=True),
                      lambda a: a.sum(1, keepdims=True), [A]),
    "reduce_max": (lambda a: tf.reduce_max(a, axis=-1), lambda a: a.max(-1), [A]),
    "reduce_min": (tf.reduce_min, np.min, [A]),
    "reduce_logsumexp": (lambda a: tf.reduce_logsumexp(a, axis=1),
                         lambda a: np.log(np.exp(a).sum(1)), [A]),
    "reshape": (lambda a: tf.reshape(a, [-1, 2]), lambda a: a.reshape(-1, 2), [A]),
    "reshape_shape_tensor": (lambda a: tf.reshape(a, tf.stack([tf.shape(a)[0], -1, 2])),
                             lambda a: a.reshape(3, -1, 2), [A]),
    "transpose": (tf.transpose, np.transpose, [A]),
    "concat": (lambda a, c: tf.concat([a, c], axis=1), lambda a, c: np.concatenate([a, c], 1),
               [A, C]),
    "stack": (lambda a, c: tf.stack([a, c], axis=1), lambda a, c: np.stack([a, c], 1), [A, C]),
    "unstack": (lambda a: tf.unstack(tf.transpose(a))[1], lambda a: a[:, 1], [A]),
    "split": (lambda a: tf.split(a, 2, axis=1)[1], lambda a: a[:, 2:], [A]),
    "expand_squeeze": (lambda a: tf.squeeze(tf.expand_dims(a, 1) * 2, axis=[1]),
                       lambda a: a * 2, [A]),
    "cast": (lambda a: tf.cast(a * 3, tf.int32), lambda a: (a * 3).astype(np.int32), [A]),
    "argmax": (lambda a: tf.argmax(a, axis=1), lambda a: a.argmax(1), [A]),
    "argmax_tf1_default_axis": (tf.argmax, lambda a: a.argmax(0), [A]),
    "argmin_int32": (lambda a: tf.argmin(a, 1, output_type=tf.int32),
                     lambda a: a.argmin(1).astype(np.int32), [A]),
    "equal": (lambda a: tf.equal(tf.argmax(a, 1), tf.argmax(a * 2, 1)),
              lambda a: np.ones(3, bool), [A]),
    "comparisons": (lambda a, c: tf.logical_and(a < c, tf.logical_not(a >= 0.5)),
                    lambda a, c: (a < c) & ~(a >= 0.5), [A, C]),
    "where": (lambda a, c: tf.where(a > c, a, c * 2), lambda a, c: np.where(a > c, a, 2 * c),
              [A, C]),
    "where_rows": (lambda a, c: tf.where(a[:, 0] > 0, a, c),
                   lambda a, c: np.where((a[:, 0] > 0)[:, None], a, c), [A, C]),
    "clip_by_value": (lambda a: tf.clip_by_value(a, -0.5, 0.5), lambda a: np.clip(a, -.5, .5),
                      [A]),
    "one_hot": (lambda i: tf.one_hot(i, 4), lambda i: np.eye(4, dtype=np.float32)[i], [IDX]),
    "gather": (lambda a, i: tf.gather(tf.transpose(a), i), lambda a, i: a.T[i], [A, IDX]),
    "tile": (lambda a: tf.tile(a, [2, 3]), lambda a: np.tile(a, (2, 3)), [A]),
    "pad": (lambda a: tf.pad(a, [[1, 0], [0, 2]], constant_values=7.0),
            lambda a: np.pad(a, [[1, 0], [0, 2]], constant_values=7), [A]),
    "getitem": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [A]),
    "getitem_int_newaxis": (lambda a: a[-1, None, 1:3], lambda a: a[-1, None, 1:3], [A]),
    "getitem_ellipsis": (lambda a: a[..., 0], lambda a: a[..., 0], [A]),
    "zeros_like_ones_like": (lambda a: tf.zeros_like(a) + tf.ones_like(a) * 2,
                             lambda a: np.full_like(a, 2), [A]),
    "zeros_dynamic_shape": (lambda a: tf.zeros(tf.shape(a)) + 1, lambda a: np.ones_like(a), [A]),
    "shape_size_rank": (lambda a: tf.stack([tf.size(a), tf.rank(a)]),
                        lambda a: np.array([12, 2], np.int32), [A]),
    "sigmoid_ce": (lambda y, z: tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z),
                   lambda y, z: np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))),
                   [LABELS, A]),
    "softmax_ce": (lambda y, z: tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z),
                   lambda y, z: -(y * np_log_softmax(z)).sum(-1), [LABELS, A]),
    "softmax_ce_v2": (lambda y, z: tf.nn.softmax_cross_entropy_with_logits_v2(labels=y,
                                                                               logits=z),
                      lambda y, z: -(y * np_log_softmax(z)).sum(-1), [LABELS, A]),
    "sparse_softmax_ce": (lambda i, z: tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=i, logits=z), lambda i, z: -np_log_softmax(z)[np.arange(3), i], [IDX, A]),
    "l2_loss": (tf.nn.l2_loss, lambda a: (a ** 2).sum() / 2, [A]),
    "bias_add": (lambda a, c: tf.nn.bias_add(a, c[0]), lambda a, c: a + c[0], [A, C]),
    "l2_normalize": (lambda a: tf.nn.l2_normalize(a, axis=1),
                     lambda a: a / np.sqrt((a ** 2).sum(1, keepdims=True)), [A]),
    "moments": (lambda a: tf.stack(tf.nn.moments(a, axes=[0])),
                lambda a: np.stack([a.mean(0), a.var(0)]), [A]),
    "conv2d": (lambda x, k: tf.nn.conv2d(x, k, strides=[1, 1, 1, 1], padding="VALID"),
               np_conv_valid, [IMG, KER]),
    "max_pool": (lambda x: tf.nn.max_pool(x[:, :4, :4], [1, 2, 2, 1], [1, 2, 2, 1], "VALID"),
                 lambda x: x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).max((2, 4)), [IMG]),
    "avg_pool": (lambda x: tf.nn.avg_pool(x[:, :4, :4], [1, 2, 2, 1], [1, 2, 2, 1], "VALID"),
                 lambda x: x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).mean((2, 4)), [IMG]),
    "embedding_lookup": (lambda a, i: tf.nn.embedding_lookup(tf.transpose(a), i),
                         lambda a, i: a.T[i], [A, IDX]),
    "clip_by_norm": (lambda a: tf.clip_by_norm(a, 1.0),
                     lambda a: a / max(np.sqrt((a ** 2).sum()), 1.0), [A]),
    "constant_mixed": (lambda a: a * tf.constant([1.0, 2.0, 3.0, 4.0]) + np.float32(1),
                       lambda a: a * np.array([1, 2, 3, 4], np.float32) + 1, [A]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_numpy(name):
    build, ref, arrays = OPS[name]
    got = run(build, *arrays)
    want = np.asarray(ref(*arrays))
    assert got.shape == want.shape
    if want.dtype.kind in "biu":
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


# -- static shapes --------------------------------------------------------------------------------
def test_static_shapes_with_unknown_batch():
    x = tf.placeholder(tf.float32, [None, 784])
    w = tf.Variable(tf.zeros([784, 10]))
    y = tf.matmul(x, w) + tf.zeros([10])
    assert y.shape.as_list() == [None, 10] and y.dtype == tf.float32
    assert tf.reshape(x, [-1, 28, 28, 1]).shape.as_list() == [None, 28, 28, 1]
    assert tf.reduce_mean(y).shape.as_list() == []
    assert tf.argmax(y, 1).dtype == tf.int64
    assert tf.concat([x, x], 0).shape.as_list() == [None, 784]
    assert x[1:].shape.as_list() == [None, 784]
    assert x[0].shape.as_list() == [784]
    assert tf.shape(x).shape.as_list() == [2]
    assert str(y.shape) == "(?, 10)" and "Add" in y.name


def test_static_shape_error_names_the_op():
    a = tf.zeros([3, 4])
    with pytest.raises(ValueError, match=r"MatMul.*contraction"):
        tf.matmul(a, tf.zeros([5, 6]))
    with pytest.raises(ValueError, match=r"cannot reshape"):
        tf.reshape(a, [5, -1])


def test_dtype_mismatch_asks_for_cast():
    with pytest.raises(TypeError, match=r"float32.*float64.*tf.cast"):
        tf.zeros([2]) + tf.zeros([2], tf.float64)
    with pytest.raises(TypeError, match=r"int32"):
        tf.zeros([2], tf.int32) + 1.5


def test_python_values_follow_tensorflow_defaults():
    assert tf.constant(1.0).dtype == tf.float32
    assert tf.constant([1, 2]).dtype == tf.int32
    assert tf.constant(np.arange(3.0)).dtype == tf.float64
    assert tf.constant(True).dtype == tf.bool_
    assert (tf.zeros([2], tf.float64) + 1).dtype == tf.float64
    assert tf.constant(7.0, shape=[2, 2]).shape.as_list() == [2, 2]
    assert tf.constant(np.zeros(3, np.uint8)).dtype == tf.int32  # widened: kiln has no uint8
    with pytest.raises(TypeError, match="uint8"):
        tf.placeholder(np.uint8, [3])
    with pytest.raises(TypeError, match="out of range"):
        tf.constant(np.array([2**63], np.uint64))


def test_integer_true_division_is_float64():
    q = run(lambda a: tf.cast(a * 10, tf.int32) / 4, A)
    assert q.dtype == np.float64
    np.testing.assert_allclose(q, (A * 10).astype(np.int32) / 4)


# -- gradients --------------------------------------------------------------------------------------
X64 = RNG.normal(size=(2, 3))
Y64 = np.abs(RNG.normal(size=(2, 3))) + 0.5
W64 = RNG.normal(size=(3, 3))

GRAD_CASES = {
    "tanh_matmul": lambda x: tf.tanh(tf.matmul(x, W64)),
    "softmax": lambda x: tf.nn.softmax(x * 2),
    "log_softmax": tf.nn.log_softmax,
    "sigmoid_ce": lambda x: tf.nn.sigmoid_cross_entropy_with_logits(labels=Y64 / 3, logits=x),
    "softmax_ce_v2": lambda x: tf.nn.softmax_cross_entropy_with_logits_v2(
        labels=np_softmax(Y64), logits=x),
    "sparse_ce": lambda x: tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=np.array([2, 0]), logits=x),
    "div_pow_sqrt": lambda x: tf.sqrt(x * x + 1) / (x ** 2 + 2),
    "reductions": lambda x: tf.reduce_max(x, 1) + tf.reduce_mean(x, 0)[0] + tf.reduce_sum(x),
    "logsumexp": lambda x: tf.reduce_logsumexp(x, axis=1),
    "reshape_transpose_concat": lambda x: tf.concat([tf.transpose(tf.reshape(x, [3, 2])),
                                                     x[:, 1:]], 1),
    "gather_where_pad": lambda x: tf.pad(tf.where(x > 0, x, x * x), [[1, 1], [0, 0]])
    + tf.reduce_sum(tf.gather(x, [1, 1, 0])),
    "tile_clip_maximum": lambda x: tf.tile(tf.clip_by_value(x, -0.5, 0.5), [2, 1])
    + tf.reduce_sum(tf.maximum(x, 0.1)),
    "l2_normalize": lambda x: tf.nn.l2_normalize(x, axis=1),
    "elu_softplus": lambda x: tf.nn.elu(x) * tf.nn.softplus(x),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradient_matches_finite_differences(name):
    x = tf.placeholder(tf.float64, [None, 3])
    y = GRAD_CASES[name](x)
    r = tf.constant(RNG.normal(size=y.shape.as_list() if y.shape.is_fully_defined() else None)
                    if y.shape.is_fully_defined() else 1.0, dtype=tf.float64)
    obj = tf.reduce_sum(y * r)
    (g,) = tf.gradients(obj, x)
    assert g.shape.as_list() == [None, 3]
    with tf.Session() as sess:
        got = sess.run(g, {x: X64})
        num = np.zeros_like(X64)
        eps = 1e-6
        for i in np.ndindex(*X64.shape):
            d = np.zeros_like(X64)
            d[i] = eps
            num[i] = (sess.run(obj, {x: X64 + d}) - sess.run(obj, {x: X64 - d})) / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-7)


def test_gradients_of_variables_sum_over_ys_and_grad_ys():
    w = tf.Variable(np.array([1.0, 2.0, 3.0]))
    y1, y2 = w * w, tf.reduce_sum(3.0 * w)
    g_sum = tf.gradients([y1, y2], w)[0]
    g_weighted = tf.gradients(y1, w, grad_ys=tf.constant([1.0, 0.0, 2.0], tf.float64))[0]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(g_sum), 2 * np.array([1, 2, 3.0]) + 3)
        np.testing.assert_allclose(sess.run(g_weighted), [2.0, 0.0, 12.0])


def test_second_order_gradient():
    x = tf.placeholder(tf.float64, [3])
    (dx,) = tf.gradients(tf.reduce_sum(x ** 3), x)
    (ddx,) = tf.gradients(tf.reduce_sum(dx), x)
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(ddx, {x: [1.0, -2.0, 0.5]}), [6.0, -12.0, 3.0])


def test_unconnected_gradients():
    a, b = tf.Variable(1.0), tf.Variable(2.0)
    loss = a * 3.0 + tf.stop_gradient(b)
    assert tf.gradients(loss, [a, b])[1] is None
    ga, gb = tf.gradients(loss, [a, b], unconnected_gradients="zero")
    n = tf.cast(tf.argmax(tf.stack([a, b])), tf.float32)
    assert tf.gradients(n, a) == [None]  # integer paths carry no gradient
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run([ga, gb]) == [3.0, 0.0]


# -- sessions -------------------------------------------------------------------------------------
def test_fetch_forms():
    x = tf.placeholder(tf.float32, [None], name="x")
    y = tf.identity(x * 2, name="y")
    z = x + 1
    init = tf.global_variables_initializer()
    Pair = collections.namedtuple("Pair", "a b")
    feed = {x: [1.0, 2.0]}
    with tf.Session() as sess:
        assert sess.run(init) is None
        np.testing.assert_array_equal(sess.run(y, feed), [2, 4])
        a, b = sess.run([y, z], feed)
        np.testing.assert_array_equal(b, [2, 3])
        t = sess.run((y, [z, {"k": y}]), feed)
        assert isinstance(t, tuple) and isinstance(t[1], list)
        np.testing.assert_array_equal(t[1][1]["k"], [2, 4])
        d = sess.run({"y": y, "nothing": init, "z": z}, feed)
        assert d["nothing"] is None and set(d) == {"y", "nothing", "z"}
        p = sess.run(Pair(a=y, b=z), feed)
        assert isinstance(p, Pair) and p.b[0] == 2
        np.testing.assert_array_equal(sess.run("y:0", {"x:0": [5.0]}), [10])
        np.testing.assert_array_equal(sess.run(y, {"x": [5.0]}), [10])
        np.testing.assert_array_equal(sess.run(x, feed), [1, 2])  # a fed tensor
        np.testing.assert_array_equal(sess.run(z, {x: [1.0], y: [0.0]}), [2])


def test_feeding_an_intermediate_tensor():
    x = tf.placeholder(tf.float32, [2])
    h = x * 10
    out = h + 1
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(out, {h: [1.0, 2.0]}), [2, 3])


def test_one_program_per_fed_shape_sharing_variables():
    x = tf.placeholder(tf.float32, [None, 2])
    w = tf.Variable(tf.ones([2, 1]))
    loss = tf.reduce_mean(tf.matmul(x, w))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {x: np.ones((4, 2))})
        np.testing.assert_allclose(sess.run(w), [[0.5], [0.5]])
        sess.run(train, {x: np.ones((7, 2))})
        np.testing.assert_allclose(sess.run(w), [[0.0], [0.0]])
        sess.run(train, {x: np.ones((4, 2))})
        n = len(sess._compiled)
        assert n == 4  # init, fetch w, train@4, train@7
        sess.run(train, {x: np.ones((7, 2))})
        assert len(sess._compiled) == n


def test_default_session_eval_and_run():
    v = tf.Variable([1.0, 2.0])
    with tf.Session() as sess:
        tf.global_variables_initializer().run()
        np.testing.assert_array_equal((v * 2).eval(), [2, 4])
        assert tf.get_default_session() is sess
    s2 = tf.Session()
    with s2.as_default():
        v.initializer.run()
        np.testing.assert_array_equal(v.eval(), [1, 2])
    np.testing.assert_array_equal(v.eval(session=s2), [1, 2])
    s2.close()


def test_explicit_backend_and_graph():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(3.0) * 2
    with tf.Session(graph=g, backend="eager") as sess:
        assert sess.backend == "eager" and sess.run(c) == 6.0
    with pytest.raises(ValueError, match="unknown backend"):
        tf.Session(backend="gpu")


def test_results_do_not_alias_state_or_feeds():
    v = tf.Variable(np.arange(4.0, dtype=np.float32))
    r = tf.reshape(v, [2, 2])
    step = v.assign_add(tf.ones([4]))
    with tf.Session() as sess:
        sess.run(v.initializer)
        before = sess.run(r)
        fetched_var = sess.run(v)
        sess.run(step)
        np.testing.assert_array_equal(before, [[0, 1], [2, 3]])
        np.testing.assert_array_equal(fetched_var, [0, 1, 2, 3])
        np.testing.assert_array_equal(sess.run(v), [1, 2, 3, 4])
        x = tf.placeholder(tf.float32, [4])
        batch = np.zeros(4, np.float32)
        got = sess.run(tf.reshape(x, [2, 2]), {x: batch})
        batch[:] = 9
        np.testing.assert_array_equal(got, np.zeros((2, 2)))


# -- variables and writes ---------------------------------------------------------------------------
def test_variables_assign_and_reinitialize():
    v = tf.Variable(tf.zeros([2]), name="counter")
    inc = tf.assign_add(v, [1.0, 2.0])
    dec = v.assign_sub([0.5, 0.5])
    to7 = tf.assign(v, [7.0, 7.0])
    assert v.name == "counter:0" and v in tf.trainable_variables()
    frozen = tf.Variable(1, trainable=False)
    assert frozen not in tf.trainable_variables() and frozen in tf.global_variables()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(inc), [1, 2])
        np.testing.assert_array_equal(sess.run(inc), [2, 4])
        np.testing.assert_array_equal(sess.run(dec), [1.5, 3.5])
        sess.run(to7)
        np.testing.assert_array_equal(sess.run(v), [7, 7])
        sess.run(v.initializer)
        np.testing.assert_array_equal(sess.run(v), [0, 0])
        v.load([3.0, 4.0], sess)
        np.testing.assert_array_equal(sess.run(v * 1), [3, 4])


def test_assign_initializes_and_fetches_see_values_before_writes():
    v = tf.Variable(5.0)
    w = tf.Variable(tf.zeros([]))
    with tf.Session() as sess:
        sess.run(tf.assign(v, 2.0))  # assigning initializes, as in TensorFlow
        sess.run(w.initializer)
        old, new = sess.run([v, tf.assign(v, v * 10)])
        assert (old, new) == (2.0, 20.0) and sess.run(v) == 20.0


def test_train_step_fetch_returns_loss_before_update():
    w = tf.Variable(3.0)
    loss = tf.square(w)
    train = tf.train.GradientDescentOptimizer(0.25).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        _, l0 = sess.run([train, loss])
        assert l0 == 9.0 and sess.run(w) == 1.5


def test_two_writes_of_one_variable_in_a_run_are_an_error():
    v = tf.Variable(0.0, name="v")
    both = tf.group(v.assign(1.0), v.assign(2.0))
    with tf.Session() as sess:
        sess.run(v.initializer)
        with pytest.raises(InvalidArgumentError, match=r"variable 'v' is written twice"):
            sess.run(both)


def test_get_variable_and_scopes():
    with tf.variable_scope("layer"):
        w = tf.get_variable("w", [4, 3], initializer=tf.glorot_uniform_initializer(seed=1))
        b = tf.get_variable("b", [3], initializer=tf.zeros_initializer())
        with tf.name_scope("inner"):
            y = tf.add(w, b, name="y")
    assert w.name == "layer/w:0" and y.name == "layer/inner/y:0"
    with pytest.raises(ValueError, match="already exists"):
        with tf.variable_scope("layer"):
            tf.get_variable("w", [4, 3])
    with tf.variable_scope("layer", reuse=True):
        assert tf.get_variable("w") is w
    with tf.variable_scope("layer", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("w", [4, 3]) is w
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        wv = sess.run(w)
    limit = np.sqrt(6 / 7)
    assert wv.shape == (4, 3) and np.all(np.abs(wv) <= limit) and np.std(wv) > 0.1


# -- random ops -------------------------------------------------------------------------------------
def test_random_ops_draw_per_run_and_agree_within_a_run():
    tf.set_random_seed(7)
    r = tf.random_normal([2000])
    u = tf.random_uniform([2000], minval=-1, maxval=3)
    with tf.Session() as sess:
        a, a_again = sess.run([r, r * 1.0])
        b = sess.run(r)
        uu = sess.run(u)
    np.testing.assert_array_equal(a, a_again)
    assert not np.array_equal(a, b)
    assert abs(a.mean()) < 0.1 and abs(a.std() - 1) < 0.1
    assert uu.min() >= -1 and uu.max() < 3 and abs(uu.mean() - 1) < 0.1


def test_graph_seed_makes_initialization_reproducible():
    def init_values():
        with tf.Graph().as_default():
            tf.set_random_seed(42)
            v1 = tf.Variable(tf.random_normal([5]))
            v2 = tf.Variable(tf.truncated_normal([500], stddev=0.5))
            v3 = tf.Variable(tf.random_uniform([3], maxval=10, dtype=tf.int32))
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                return sess.run([v1, v2, v3])
    a, b = init_values(), init_values()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert np.abs(a[1]).max() <= 1.0 + 1e-6 and a[2].dtype == np.int32
    assert a[2].min() >= 0 and a[2].max() < 10


def test_dropout_keep_prob_placeholder():
    tf.set_random_seed(3)
    keep = tf.placeholder(tf.float32)
    x = tf.ones([4000])
    y = tf.nn.dropout(x, keep_prob=keep)
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {keep: 1.0}), np.ones(4000))
        d = sess.run(y, {keep: 0.5})
    assert set(np.unique(d)) <= {0.0, 2.0} and abs((d > 0).mean() - 0.5) < 0.05


# -- optimizers ---------------------------------------------------------------------------------------
TARGET = np.array([1.0, -2.0, 0.5], np.float32)
W0 = np.array([0.3, 0.7, -1.0], np.float32)


def reference(name, steps, lr):
    """TensorFlow 1's update formulas on loss = 0.5 * ||w - target||^2 (gradient w - t)."""
    w, a, m, v = W0.astype(np.float64), np.zeros(3), np.zeros(3), np.zeros(3)
    ms, acc = np.ones(3), np.full(3, 0.1)
    for t in range(1, steps + 1):
        g = w - TARGET
        if name == "sgd":
            w = w - lr * g
        elif name == "momentum":
            a = 0.9 * a + g
            w = w - lr * a
        elif name == "nesterov":
            a = 0.9 * a + g
            w = w - lr * (g + 0.9 * a)
        elif name == "adam":
            lr_t = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w = w - lr_t * m / (np.sqrt(v) + 1e-8)
        elif name == "rmsprop":
            ms = 0.9 * ms + 0.1 * g * g
            w = w - lr * g / np.sqrt(ms + 1e-10)
        elif name == "adagrad":
            acc = acc + g * g
            w = w - lr * g / np.sqrt(acc)
    return w


OPTIMIZERS = {
    "sgd": lambda lr: tf.train.GradientDescentOptimizer(lr),
    "momentum": lambda lr: tf.train.MomentumOptimizer(lr, 0.9),
    "nesterov": lambda lr: tf.train.MomentumOptimizer(lr, 0.9, use_nesterov=True),
    "adam": lambda lr: tf.train.AdamOptimizer(lr),
    "rmsprop": lambda lr: tf.train.RMSPropOptimizer(lr),
    "adagrad": lambda lr: tf.train.AdagradOptimizer(lr),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_follows_tensorflow1(name):
    w = tf.Variable(W0)
    loss = 0.5 * tf.reduce_sum(tf.square(w - TARGET))
    train = OPTIMIZERS[name](0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(4):
            sess.run(train)
        np.testing.assert_allclose(sess.run(w), reference(name, 4, 0.1), rtol=1e-5, atol=1e-6)


def test_tensor_learning_rate_global_step_and_compute_apply():
    w = tf.Variable(W0)
    lr = tf.placeholder(tf.float32, [])
    step = tf.train.get_or_create_global_step()
    loss = 0.5 * tf.reduce_sum(tf.square(w - TARGET))
    opt = tf.train.GradientDescentOptimizer(lr)
    grads_and_vars = opt.compute_gradients(loss, var_list=[w])
    clipped = [(tf.clip_by_value(g, -0.1, 0.1), v) for g, v in grads_and_vars]
    train = opt.apply_gradients(clipped, global_step=step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, {lr: 0.0})
        np.testing.assert_allclose(sess.run(w), W0)
        sess.run(train, {lr: 1.0})
        np.testing.assert_allclose(sess.run(w), W0 - np.clip(W0 - TARGET, -0.1, 0.1), rtol=1e-6)
        assert sess.run(step) == 2


def test_minimize_reports_variables_without_gradients():
    a = tf.Variable(1.0)
    with pytest.raises(ValueError, match="no gradients"):
        tf.train.AdamOptimizer().minimize(tf.stop_gradient(a) * 2.0, var_list=[a])


# -- errors ---------------------------------------------------------------------------------------------
def test_uninitialized_variable_is_a_failed_precondition():
    v = tf.Variable(tf.zeros([2]), name="weights")
    with tf.Session() as sess:
        with pytest.raises(FailedPreconditionError, match=r"uninitialized value.*weights"):
            sess.run(v * 2)


def test_missing_feed_names_the_placeholder():
    x = tf.placeholder(tf.float32, [None, 10], name="images")
    with tf.Session() as sess:
        with pytest.raises(InvalidArgumentError,
                           match=r"must feed.*'images'.*float32.*\[\?, 10\]"):
            sess.run(x * 2)


def test_bad_feeds_say_expected_and_got():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    i = tf.placeholder(tf.int32, [2], name="ids")
    y = x * 2
    other = tf.Graph()
    with other.as_default():
        foreign = tf.placeholder(tf.float32, [3])
    with tf.Session() as sess:
        with pytest.raises(InvalidArgumentError, match=r"shape \[2, 4\].*x:0.*\[\?, 3\]"):
            sess.run(y, {x: np.zeros((2, 4))})
        with pytest.raises(InvalidArgumentError, match=r"bool values for x:0.*float32"):
            sess.run(y, {x: np.zeros((1, 3), bool)})
        with pytest.raises(InvalidArgumentError, match=r"float64 values for ids:0.*int32"):
            sess.run(i + 1, {i: [1.5, 2.0]})
        np.testing.assert_array_equal(sess.run(i + 1, {i: [1.0, 2.0]}), [2, 3])
        with pytest.raises(InvalidArgumentError, match=r"<U1 values for x:0"):
            sess.run(y, {x: [["a", "b", "c"]]})
        with pytest.raises(TypeError, match="not a tensor"):
            sess.run(y, {object(): 1.0})
        with pytest.raises(NotFoundError, match="nope"):
            sess.run(y, {"nope:0": 1.0})
        with pytest.raises(ValueError, match="another graph"):
            sess.run(y, {foreign: np.zeros(3)})
        with pytest.raises(TypeError, match="symbolic"):
            sess.run(y, {x: y})


def test_run_time_shape_error_names_the_op():
    a = tf.placeholder(tf.float32, [None])
    b = tf.placeholder(tf.float32, [None])
    s = tf.add(a, b, name="the_sum")
    with tf.Session() as sess:
        with pytest.raises(InvalidArgumentError, match=r"the_sum.*do not broadcast"):
            sess.run(s, {a: np.zeros(3), b: np.zeros(4)})


def test_bad_fetches_and_closed_session():
    other = tf.Graph()
    with other.as_default():
        c = tf.constant(1.0)
    sess = tf.Session()
    with pytest.raises(TypeError, match="invalid type"):
        sess.run(None)
    with pytest.raises(TypeError, match="invalid type"):
        sess.run([1.0])
    with pytest.raises(ValueError, match="another graph"):
        sess.run(c)
    sess.close()
    with pytest.raises(RuntimeError, match="closed"):
        sess.run(tf.constant(2.0))


def test_tensor_misuse_is_explained():
    x = tf.placeholder(tf.float32, [3])
    with pytest.raises(TypeError, match="Python bool"):
        bool(x)
    with pytest.raises(TypeError, match="numpy"):
        np.asarray(x)
    with pytest.raises(TypeError, match="tf.gather"):
        x[x]
    with pytest.raises(ValueError, match="no default session"):
        x.eval()


def test_views_of_a_variable_fetched_with_its_update_show_the_old_value():
    v = tf.Variable(np.arange(4.0, dtype=np.float32))
    r = tf.reshape(v, [2, 2])
    step = v.assign_add(tf.ones([4]))
    with tf.Session() as sess:
        sess.run(v.initializer)
        before, _ = sess.run([r, step])
    np.testing.assert_array_equal(before, [[0, 1], [2, 3]])


def test_kiln_program_shows_what_run_calls():
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(tf.ones([3, 2]), name="dense/kernel")
    y = tf.matmul(x, w, name="logits")
    with tf.Session() as sess:
        sess.run(w.initializer)
        prog = sess.kiln_program(y, {x: np.ones((5, 3))})
        text = str(prog.graph)
        assert "%x: f32[5,3]" in text and "param f32[3,2]" in text and "dense.kernel" in text
        assert "logits@test_graph_api.py" in text
        assert sess.kiln_program(y, {x: np.ones((5, 3))}) is prog
        np.testing.assert_array_equal(sess.run(y, {x: np.ones((5, 3))}), np.full((5, 2), 3.0))


# -- tf.losses ------------------------------------------------------------------------------------
def test_losses_reduce_weight_and_collect():
    y = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    p = tf.constant([[1.5, 0.0], [1.0, 2.0]])
    mse = tf.losses.mean_squared_error(y, p)
    weighted = tf.losses.absolute_difference(y, p, weights=tf.constant([[1.0], [0.0]]))
    summed = tf.losses.mean_squared_error(y, p, reduction=tf.losses.Reduction.SUM)
    sparse = tf.losses.sparse_softmax_cross_entropy(labels=[0, 1], logits=p)
    huber = tf.losses.huber_loss(y, p * 3.0)
    w = tf.get_variable("w", [2], initializer=tf.ones_initializer(),
                        regularizer=lambda v: 0.5 * tf.reduce_sum(v))
    total = tf.losses.get_total_loss()
    assert tf.losses.get_losses() == [mse, weighted, summed, sparse, huber]
    with tf.Session() as sess:
        sess.run(w.initializer)
        got = sess.run([mse, weighted, summed, sparse, huber, total])
    pn = np.array([[1.5, 0.0], [1.0, 2.0]])
    err = np.abs(np.array([[4.5, 0.0], [3.0, 6.0]]) - [[1, 0], [0, 2]])
    hub = np.where(err <= 1, 0.5 * err ** 2, err - 0.5).mean()
    want = [1.25 / 4, 0.25, 1.25, -np_log_softmax(pn)[[0, 1], [0, 1]].mean(), hub]
    np.testing.assert_allclose(got[:5], want, rtol=1e-6)
    np.testing.assert_allclose(got[5], sum(want) + 1.0, rtol=1e-6)


def test_shape_dimensions_work_in_tf1_and_tf2_styles():
    x = tf.placeholder(tf.float32, [None, 784])
    assert x.shape[0] is None and x.get_shape()[1].value == 784 and x.shape[1] == 784
    assert [d for d in x.shape] == [None, 784] and x.shape.as_list() == [None, 784]
    assert tf.reshape(x, [-1, x.shape[1] // 28, 28]).shape.as_list() == [None, 28, 28]


def test_interactive_session_is_the_default():
    v = tf.Variable(2.0)
    sess = tf.InteractiveSession()
    try:
        v.initializer.run()
        assert (v * 3).eval() == 6.0 and tf.get_default_session() is sess
    finally:
        sess.close()
    assert tf.get_default_session() is not sess
