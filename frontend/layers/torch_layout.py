"""Converting layer weights between kiln/Keras layouts and PyTorch's.

==================  ===========================================  =============================================
layer               kiln / Keras weights                         PyTorch module state_dict
==================  ===========================================  =============================================
Dense               kernel ``(in, out)``, bias ``(out,)``        nn.Linear ``weight (out, in)`` = kernel.T, ``bias``
Conv2D              kernel ``(kh, kw, in, out)`` (HWIO)          nn.Conv2d ``weight (out, in, kh, kw)`` (OIHW), ``bias``
Embedding           embeddings ``(n, d)``                        nn.Embedding ``weight (n, d)`` (same)
BatchNormalization  gamma, beta, moving_mean, moving_variance    nn.BatchNorm*d ``weight, bias, running_mean, running_var``
SimpleRNN           kernel ``(F, u)``, recurrent ``(u, u)``,      nn.RNN ``weight_ih_l0 (u, F)``, ``weight_hh_l0 (u, u)``,
                    bias ``(u,)``                                ``bias_ih_l0 + bias_hh_l0`` = bias
LSTM                kernel ``(F, 4u)`` gates i, f, c, o, ...       nn.LSTM rows i, f, g, o: the same order, transposed;
                                                                 one Keras bias = ``bias_ih_l0 + bias_hh_l0``
GRU (reset_after)   kernel ``(F, 3u)`` gates z, r, h,            nn.GRU rows r, z, n: reordered and transposed;
                    bias ``(2, 3u)`` (input row, recurrent row)  ``bias_ih_l0`` -> row 0, ``bias_hh_l0`` -> row 1
==================  ===========================================  =============================================

PyTorch's two RNN biases are only ever added, so converting to Keras sums them and
converting back puts the whole bias in ``bias_ih_l0`` and zeros in ``bias_hh_l0``. A GRU with
``reset_after=False`` has no PyTorch equivalent (PyTorch applies the reset gate after the
matmul) and is refused. Hyper-parameters differ too: BatchNormalization's momentum is
``1 - torch momentum`` and the epsilons differ (1e-3 vs 1e-5) unless set; a Dense after a
Flatten of NHWC activations sees features in (h, w, c) order where PyTorch's flatten of NCHW
gives (c, h, w), so that kernel's rows need the matching permutation.

:func:`from_torch` returns the layer's weights in Keras order (for ``layer.set_weights``);
:func:`to_torch` returns a state_dict of numpy arrays (``torch.from_numpy`` each, or
``module.load_state_dict({k: torch.tensor(v) ...})``). Neither imports torch.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from frontend.layers.base import Layer
from frontend.layers.convolutional import Conv2D
from frontend.layers.core import Dense
from frontend.layers.embedding import Embedding
from frontend.layers.normalization import BatchNormalization
from frontend.layers.recurrent import GRU, LSTM, SimpleRNN

__all__ = ["from_torch", "to_torch", "load_torch"]


def _arrays(module_or_state: Any) -> dict[str, np.ndarray]:
    sd = module_or_state.state_dict() if hasattr(module_or_state, "state_dict") else module_or_state
    if not isinstance(sd, Mapping):
        raise TypeError(f"expected a torch module or a state_dict mapping, got "
                        f"{type(module_or_state).__name__}")
    out = {}
    for k, v in sd.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        out[k] = np.asarray(v)
    return out


def _get(layer: Layer, sd: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in sd:
        raise KeyError(f"from_torch: layer '{layer.name}' ({type(layer).__name__}) needs torch "
                       f"weight '{key}'; the state_dict has {', '.join(sd) or 'nothing'}")
    v = sd[key]
    if v.shape != tuple(shape):
        raise ValueError(f"from_torch: layer '{layer.name}' ({type(layer).__name__}): torch "
                         f"weight '{key}' should have shape {tuple(shape)}, got {tuple(v.shape)}")
    return v.astype(np.float32)


def _gru_perm(u: int) -> np.ndarray:
    """Row indices taking PyTorch's (r, z, n) blocks to Keras's (z, r, h)."""
    r, z, n = np.arange(u), np.arange(u, 2 * u), np.arange(2 * u, 3 * u)
    return np.concatenate([z, r, n])


def from_torch(layer: Layer, module_or_state) -> list[np.ndarray]:
    """Keras-ordered weights for the built ``layer`` from a PyTorch module or state_dict."""
    if not layer.built:
        raise ValueError(f"from_torch: layer '{layer.name}' is not built; call it on an input "
                         f"first so its weight shapes are known")
    sd = _arrays(module_or_state)
    if isinstance(layer, Dense):
        i, o = layer.kernel.shape
        out = [_get(layer, sd, "weight", (o, i)).T]
        if layer.bias is not None:
            out.append(_get(layer, sd, "bias", (o,)))
        return out
    if isinstance(layer, Conv2D):
        kh, kw, i, o = layer.kernel.shape
        out = [_get(layer, sd, "weight", (o, i, kh, kw)).transpose(2, 3, 1, 0)]
        if layer.bias is not None:
            out.append(_get(layer, sd, "bias", (o,)))
        return out
    if isinstance(layer, Embedding):
        return [_get(layer, sd, "weight", layer.embeddings.shape)]
    if isinstance(layer, BatchNormalization):
        c = layer.moving_mean.shape
        out = []
        if layer.gamma is not None:
            out.append(_get(layer, sd, "weight", c))
        if layer.beta is not None:
            out.append(_get(layer, sd, "bias", c))
        return out + [_get(layer, sd, "running_mean", c), _get(layer, sd, "running_var", c)]
    if isinstance(layer, (SimpleRNN, LSTM, GRU)):
        f, g = layer.kernel.shape
        u = layer.units
        perm = _gru_perm(u) if isinstance(layer, GRU) else np.arange(g)
        if isinstance(layer, GRU) and not layer.reset_after:
            raise ValueError(f"from_torch: GRU '{layer.name}' has reset_after=False, which "
                             f"PyTorch's GRU cannot express")
        out = [_get(layer, sd, "weight_ih_l0", (g, f))[perm].T,
               _get(layer, sd, "weight_hh_l0", (g, u))[perm].T]
        if layer.bias is not None:
            b_ih = _get(layer, sd, "bias_ih_l0", (g,))[perm] if "bias_ih_l0" in sd else np.zeros(g)
            b_hh = _get(layer, sd, "bias_hh_l0", (g,))[perm] if "bias_hh_l0" in sd else np.zeros(g)
            if isinstance(layer, GRU):
                out.append(np.stack([b_ih, b_hh]).astype(np.float32))
            else:
                out.append((b_ih + b_hh).astype(np.float32))
        return [np.ascontiguousarray(w) for w in out]
    raise TypeError(f"from_torch: no PyTorch layout is defined for {type(layer).__name__} "
                    f"'{layer.name}'")


def to_torch(layer: Layer) -> dict[str, np.ndarray]:
    """The PyTorch state_dict (numpy arrays) equivalent to ``layer``'s current weights."""
    if not layer.built:
        raise ValueError(f"to_torch: layer '{layer.name}' is not built")
    if isinstance(layer, Dense):
        out = {"weight": layer.kernel.numpy().T.copy()}
        if layer.bias is not None:
            out["bias"] = layer.bias.numpy()
        return out
    if isinstance(layer, Conv2D):
        out = {"weight": np.ascontiguousarray(layer.kernel.numpy().transpose(3, 2, 0, 1))}
        if layer.bias is not None:
            out["bias"] = layer.bias.numpy()
        return out
    if isinstance(layer, Embedding):
        return {"weight": layer.embeddings.numpy()}
    if isinstance(layer, BatchNormalization):
        out = {}
        if layer.gamma is not None:
            out["weight"] = layer.gamma.numpy()
        if layer.beta is not None:
            out["bias"] = layer.beta.numpy()
        out["running_mean"] = layer.moving_mean.numpy()
        out["running_var"] = layer.moving_variance.numpy()
        return out
    if isinstance(layer, (SimpleRNN, LSTM, GRU)):
        if isinstance(layer, GRU) and not layer.reset_after:
            raise ValueError(f"to_torch: GRU '{layer.name}' has reset_after=False, which "
                             f"PyTorch's GRU cannot express")
        g = layer.kernel.shape[1]
        # inverse of the (r, z, n) -> (z, r, h) permutation: the same swap of two blocks
        perm = _gru_perm(layer.units) if isinstance(layer, GRU) else np.arange(g)
        out = {"weight_ih_l0": np.ascontiguousarray(layer.kernel.numpy().T[perm]),
               "weight_hh_l0": np.ascontiguousarray(layer.recurrent_kernel.numpy().T[perm])}
        if layer.bias is not None:
            bias = layer.bias.numpy()
            if isinstance(layer, GRU):
                out["bias_ih_l0"] = bias[0][perm].copy()
                out["bias_hh_l0"] = bias[1][perm].copy()
            else:
                out["bias_ih_l0"] = bias.copy()
                out["bias_hh_l0"] = np.zeros_like(bias)
        return out
    raise TypeError(f"to_torch: no PyTorch layout is defined for {type(layer).__name__} "
                    f"'{layer.name}'")


def load_torch(layer: Layer, module_or_state) -> None:
    """Set ``layer``'s weights from a PyTorch module or state_dict (see :func:`from_torch`)."""
    layer.set_weights(from_torch(layer, module_or_state))
