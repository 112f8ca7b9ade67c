"""A PyTorch twin of a kiln model, for benchmarking against: same layers, same weights, same
loss and the equivalent optimizer.

:func:`build_mirror` walks the model's layers in order (a Sequential, or a subclassed or
functional model whose layers form a chain in the order they were created; the benchmark's
loss check catches a model for which that order is wrong) and builds the matching
``torch.nn`` modules, with the weights converted by :mod:`frontend.layers.torch_layout`.

Layout. kiln computes images channels-last (NHWC), PyTorch channels-first (NCHW): the mirror
takes NCHW input (the data is transposed once, before timing: each framework gets the layout
it prefers), and a Dense after a Flatten of NCHW activations gets its kernel rows permuted
from (h, w, c) order to (c, h, w) order, so that no permute is timed.

Losses. A final softmax (sigmoid) with a categorical (binary) crossentropy is computed from
the logits, as kiln does (:mod:`frontend.losses`): the mirror leaves that activation out of
the training forward and uses ``F.cross_entropy`` (``binary_cross_entropy_with_logits``);
predictions apply it. Otherwise probabilities are clipped to [1e-7, 1 - 1e-7] as in Keras.

Optimizers. SGD (momentum, Nesterov), Adam, AdamW, RMSprop and Adagrad map to their torch
counterparts with the same hyper-parameters. Two epsilons are placed differently and cannot be
matched exactly: Keras's Adam adds epsilon to the uncorrected ``sqrt(v)`` (torch: to the
bias-corrected one) and Keras's RMSprop/Adagrad put it inside the square root (torch: outside);
the effect on a step is of the order of epsilon. Clipping, Keras-style weight decay on
optimizers other than AdamW, and weight regularizers have no mapping here: the mirror refuses
them (:class:`TorchUnsupported`) rather than timing a different computation. The torch
optimizer starts with empty slots, like a freshly compiled kiln model.

Nothing here imports torch at module level; :func:`torch_available` says whether it can.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from frontend import activations as activations_mod
from frontend import losses as losses_mod
from frontend.layers.base import Layer
from frontend.layers.convolutional import Conv2D
from frontend.layers.core import Activation, Dense, Flatten, InputLayer
from frontend.layers.embedding import Embedding
from frontend.layers.normalization import BatchNormalization
from frontend.layers.pooling import AveragePooling2D, MaxPooling2D
from frontend.layers.recurrent import GRU, LSTM, SimpleRNN
from frontend.layers.regularization import Dropout
from frontend.layers.torch_layout import to_torch

__all__ = ["TorchMirror", "TorchUnsupported", "build_mirror", "torch_available", "torch_threads"]


class TorchUnsupported(Exception):
    """The model uses something this mirror cannot express in PyTorch (the reason is the
    message); the benchmark then reports no torch time."""


def torch_available() -> bool:
    """True if ``import torch`` works."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_threads() -> int:
    """The intra-op threads torch is given: the count kiln's generated code uses
    (``$KILN_NUM_THREADS`` if set, else the CPUs this process may run on, as
    ``compiler.llvm.parallel.Threading.host`` decides), so every backend gets the same cores."""
    raw = os.environ.get("KILN_NUM_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_ACTS = {"linear": None, "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh",
         "softmax": "softmax", "elu": "elu", "selu": "selu", "softplus": "softplus",
         "swish": "silu", "silu": "silu"}


def _act_name(layer: Layer, fn) -> str | None:
    name = activations_mod.serialize(fn)
    if name not in _ACTS:
        raise TorchUnsupported(f"layer '{layer.name}': activation {name!r} has no mapping")
    return _ACTS[name]


def _apply_act(torch, name: str | None, t):
    if name is None:
        return t
    if name == "softmax":
        return torch.softmax(t, dim=-1)
    return getattr(torch.nn.functional, name)(t)


class _Stage:
    """One kiln layer in torch: a module (or None), its activation, and how to call it."""

    def __init__(self, module, act: str | None = None, kind: str = "plain"):
        self.module, self.act, self.kind = module, act, kind


def _dense_weights(layer: Dense, nchw_shape: tuple[int, int, int] | None) -> dict:
    sd = to_torch(layer)
    if nchw_shape is not None:
        # rows of the kernel are in kiln's (h, w, c) flatten order; torch flattens (c, h, w)
        h, w, c = nchw_shape
        k = layer.kernel.numpy().reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
        sd["weight"] = np.ascontiguousarray(k.T)
    return sd


def _load(torch, module, sd: dict) -> None:
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
                            for k, v in sd.items()})


def _check_no_regularizers(layer: Layer) -> None:
    if any(w.regularizer is not None for w in layer.weights) or layer.activity_regularizer:
        raise TorchUnsupported(f"layer '{layer.name}': regularizers are not mirrored")


def _stages(torch, layers: list[Layer]) -> tuple[list[_Stage], bool, bool]:
    """Torch stages for ``layers``; also whether the input is an image (NCHW in torch) and
    whether any layer is random in training (Dropout)."""
    nn = torch.nn
    stages: list[_Stage] = []
    image_input = False
    nchw = False                      # torch activations currently channels-first
    flat_from: tuple[int, int, int] | None = None   # (h, w, c) of a pending NCHW flatten
    random = False
    for i, layer in enumerate(layers):
        _check_no_regularizers(layer)
        if isinstance(layer, InputLayer):
            continue
        if i == 0 or all(isinstance(l, InputLayer) for l in layers[:i]):
            image_input = isinstance(layer, (Conv2D, MaxPooling2D, AveragePooling2D)) or (
                isinstance(layer, BatchNormalization) and len(layer.input_shape) == 4)
            nchw = image_input
        if isinstance(layer, Dense):
            m = nn.Linear(layer.kernel.shape[0], layer.units, bias=layer.bias is not None)
            _load(torch, m, _dense_weights(layer, flat_from))
            flat_from = None
            stages.append(_Stage(m, _act_name(layer, layer.activation)))
        elif isinstance(layer, Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            pad: Any = 0 if layer.padding == "valid" else "same"
            if pad == "same" and layer.strides != (1, 1):
                raise TorchUnsupported(f"Conv2D '{layer.name}': torch has no strided 'same'")
            m = nn.Conv2d(cin, cout, (kh, kw), stride=layer.strides, padding=pad,
                          dilation=layer.dilation_rate, bias=layer.bias is not None)
            _load(torch, m, to_torch(layer))
            stages.append(_Stage(m, _act_name(layer, layer.activation)))
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            if layer.padding != "valid":
                raise TorchUnsupported(f"{type(layer).__name__} '{layer.name}': 'same' padding")
            cls = nn.MaxPool2d if isinstance(layer, MaxPooling2D) else nn.AvgPool2d
            stages.append(_Stage(cls(layer.pool_size, stride=layer.strides)))
        elif isinstance(layer, Flatten):
            shape = layers[i - 1].output_shape if i > 0 else layer.input_shape
            if nchw:
                flat_from = tuple(int(d) for d in shape[1:])
                nchw = False
            stages.append(_Stage(nn.Flatten()))
        elif isinstance(layer, Dropout):
            random = True
            stages.append(_Stage(nn.Dropout(layer.rate)))
        elif isinstance(layer, Activation):
            stages.append(_Stage(None, _act_name(layer, layer.activation)))
        elif isinstance(layer, Embedding):
            if getattr(layer, "mask_zero", False):
                raise TorchUnsupported(f"Embedding '{layer.name}': mask_zero")
            m = nn.Embedding(layer.input_dim, layer.output_dim)
            _load(torch, m, to_torch(layer))
            stages.append(_Stage(m, kind="embedding"))
        elif isinstance(layer, (SimpleRNN, LSTM, GRU)):
            stages.append(_rnn_stage(torch, layer))
        elif isinstance(layer, BatchNormalization):
            rank = len(layer.input_shape)
            if layer.axis % rank != rank - 1 or rank not in (2, 4):
                raise TorchUnsupported(f"BatchNormalization '{layer.name}': only the channel "
                                       f"axis of 2-D or 4-D inputs")
            cls = nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d
            m = cls(layer.moving_mean.shape[0], eps=layer.epsilon, momentum=1.0 - layer.momentum,
                    affine=layer.gamma is not None and layer.beta is not None)
            sd = to_torch(layer)
            if not m.affine:
                if layer.gamma is not None or layer.beta is not None:
                    raise TorchUnsupported(f"BatchNormalization '{layer.name}': center xor scale")
            sd["num_batches_tracked"] = np.zeros((), np.int64)
            m.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()})
            stages.append(_Stage(m))
        else:
            raise TorchUnsupported(f"layer '{layer.name}' ({type(layer).__name__}) has no "
                                   f"PyTorch mapping in the benchmark")
    return stages, image_input, random


def _rnn_stage(torch, layer) -> _Stage:
    nn = torch.nn
    if layer.return_state or layer.go_backwards or getattr(layer, "stateful", False):
        raise TorchUnsupported(f"{type(layer).__name__} '{layer.name}': return_state, "
                               f"go_backwards and stateful are not mirrored")
    if activations_mod.serialize(layer.activation) != "tanh":
        raise TorchUnsupported(f"{type(layer).__name__} '{layer.name}': torch RNNs use tanh")
    if isinstance(layer, (LSTM, GRU)) and \
            activations_mod.serialize(layer.recurrent_activation) != "sigmoid":
        raise TorchUnsupported(f"{type(layer).__name__} '{layer.name}': torch gates use sigmoid")
    f = layer.kernel.shape[0]
    cls = {SimpleRNN: nn.RNN, LSTM: nn.LSTM, GRU: nn.GRU}[type(layer)]
    m = cls(f, layer.units, batch_first=True, bias=layer.bias is not None)
    _load(torch, m, to_torch(layer))  # GRU reset_after=False is refused by to_torch
    return _Stage(m, kind="rnn_seq" if layer.return_sequences else "rnn_last")


class _Net:
    """The stages as one torch module (built lazily so that torch is imported on demand)."""

    def __new__(cls, torch, stages: list[_Stage], final_act_in_loss: bool):
        nn = torch.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.mods = nn.ModuleList([s.module for s in stages if s.module is not None])

            def forward(self, x, logits: bool = False):
                it = iter(self.mods)
                last = len(stages) - 1
                for i, s in enumerate(stages):
                    if s.module is not None:
                        m = next(it)
                        x = m(x)
                        if s.kind in ("rnn_seq", "rnn_last"):
                            x = x[0] if s.kind == "rnn_seq" else x[0][:, -1]
                    if not (logits and final_act_in_loss and i == last):
                        x = _apply_act(torch, s.act, x)
                return x

        return Net()


class TorchMirror:
    """The torch twin of one model: ``train_step(x, y)`` and ``predict(x)`` on torch tensors
    made by :meth:`inputs` / :meth:`targets` from the same numpy arrays kiln gets."""

    def __init__(self, torch, net, loss_kind: str, from_logits: bool, optimizer,
                 image_input: bool, index_input: bool, random: bool):
        self.torch = torch
        self.net = net
        self.loss_kind = loss_kind
        self.from_logits = from_logits
        self.optimizer = optimizer
        self.image_input = image_input
        self.index_input = index_input
        self.random = random          # Dropout: training losses differ from kiln's by design

    def inputs(self, x: np.ndarray):
        """kiln's input batch as the tensor the mirror takes (NCHW images, int64 indices)."""
        if self.index_input:
            return self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))
        if self.image_input:
            x = x.transpose(0, 3, 1, 2)
        return self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def targets(self, y: np.ndarray):
        if self.loss_kind == "sparse_ce":
            return self.torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
        return self.torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))

    def _loss(self, out, y):
        F = self.torch.nn.functional
        torch = self.torch
        eps = losses_mod.EPSILON
        if self.loss_kind == "mse":
            return F.mse_loss(out, y)
        if self.loss_kind == "sparse_ce":
            c = out.shape[-1]
            out2, y2 = out.reshape(-1, c), y.reshape(-1)
            if self.from_logits:
                return F.cross_entropy(out2, y2)
            p = torch.clamp(out2, eps, 1 - eps)
            return -torch.log(p.gather(1, y2[:, None])).mean()
        if self.loss_kind == "ce":
            if self.from_logits:
                return -(y * torch.log_softmax(out, dim=-1)).sum(-1).mean()
            p = torch.clamp(out, eps, 1 - eps)
            return -(y * torch.log(p)).sum(-1).mean()
        if self.loss_kind == "bce":
            if self.from_logits:
                return F.binary_cross_entropy_with_logits(out, y)
            p = torch.clamp(out, eps, 1 - eps)
            return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
        raise AssertionError(self.loss_kind)

    def train_step(self, x, y) -> float:
        """One optimizer step in training mode; returns the loss before the update."""
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(self.net(x, logits=True), y)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def predict(self, x):
        """The model's outputs in inference mode (final activation applied)."""
        self.net.eval()
        with self.torch.no_grad():
            return self.net(x)


def _loss_kind(model, last_act: str | None) -> tuple[str, bool, bool]:
    """(kind, loss computed from logits, final activation folded into the loss)."""
    cfg = model._compile_config.get("loss", model.loss)
    if isinstance(cfg, (list, tuple, dict)):
        raise TorchUnsupported("several losses / outputs are not mirrored")
    loss = losses_mod.get(cfg)
    if loss.reduction not in ("sum_over_batch_size", "mean"):
        raise TorchUnsupported(f"loss reduction {loss.reduction!r}")
    name = type(loss).__name__
    fn = getattr(loss, "fn", None)
    fn_name = getattr(fn, "__name__", "")
    kw = getattr(loss, "kwargs", {}) or {}
    from_logits = bool(getattr(loss, "from_logits", kw.get("from_logits", False)))
    if getattr(loss, "label_smoothing", kw.get("label_smoothing", 0.0)):
        raise TorchUnsupported("label smoothing")
    if name == "MeanSquaredError" or fn_name == "mean_squared_error":
        return "mse", False, False
    kinds = {"SparseCategoricalCrossentropy": ("sparse_ce", "softmax"),
             "sparse_categorical_crossentropy": ("sparse_ce", "softmax"),
             "CategoricalCrossentropy": ("ce", "softmax"),
             "categorical_crossentropy": ("ce", "softmax"),
             "BinaryCrossentropy": ("bce", "sigmoid"),
             "binary_crossentropy": ("bce", "sigmoid")}
    hit = kinds.get(name) or kinds.get(fn_name)
    if hit is None:
        raise TorchUnsupported(f"loss {name} has no mapping in the benchmark")
    kind, act = hit
    if not from_logits and last_act == act:
        return kind, True, True   # kiln computes it from the logits too (frontend.losses)
    return kind, from_logits, False


def _optimizer(torch, opt, params):
    name = type(opt).__name__
    if opt.clipnorm or opt.clipvalue or opt.global_clipnorm:
        raise TorchUnsupported("gradient clipping is not mirrored")
    lr = float(opt.learning_rate)
    wd = opt.weight_decay
    if wd and name != "AdamW":
        raise TorchUnsupported(f"{name} with Keras weight_decay is not mirrored")
    o = torch.optim
    if name == "SGD":
        return o.SGD(params, lr=lr, momentum=opt.momentum, nesterov=opt.nesterov)
    if name in ("Adam", "AdamW"):
        cls = o.AdamW if name == "AdamW" else o.Adam
        kw = {"weight_decay": wd or 0.0} if name == "AdamW" else {}
        return cls(params, lr=lr, betas=(opt.beta_1, opt.beta_2), eps=opt.epsilon,
                   amsgrad=opt.amsgrad, **kw)
    if name == "RMSprop":
        return o.RMSprop(params, lr=lr, alpha=opt.rho, eps=opt.epsilon, momentum=opt.momentum,
                         centered=opt.centered)
    if name == "Adagrad":
        return o.Adagrad(params, lr=lr, eps=opt.epsilon,
                         initial_accumulator_value=opt.initial_accumulator_value)
    raise TorchUnsupported(f"optimizer {name} has no mapping in the benchmark")


def build_mirror(model, need_train: bool = True) -> TorchMirror:
    """The torch twin of ``model`` (built, compiled) with its current weights.

    Raises :class:`TorchUnsupported` (with the reason) when some layer, the loss or the
    optimizer has no faithful mapping, and ImportError when torch is not installed.
    """
    import torch

    layers = [l for l in model.layers if not isinstance(l, InputLayer)]
    if not layers:
        raise TorchUnsupported("the model has no layers")
    stages, image_input, random = _stages(torch, layers)
    kind, from_logits, fold = "mse", False, False
    if need_train:
        kind, from_logits, fold = _loss_kind(model, stages[-1].act)
    net = _Net(torch, stages, fold)
    opt = _optimizer(torch, model.optimizer, list(net.parameters())) if need_train else None
    index_input = isinstance(layers[0], Embedding)
    return TorchMirror(torch, net, kind, from_logits, opt, image_input, index_input, random)
