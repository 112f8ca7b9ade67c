"""``kiln predict MODEL --weights W --input X.npy``: predictions of trained weights, as .npy.

The model is built from its file, the weights (``kiln train``'s ``weights.npz``, or any
:meth:`Model.save_weights` file) are loaded into it with every key and shape checked first,
and the inputs are read with ``allow_pickle=False`` (an .npy cannot run code). A model with
several inputs takes an ``.npz`` with one array per input name (the model's input names: a
Sequential model's one input is named after its first layer, e.g. ``dense``; not the ``%x``
of ``kiln ir``, which names the graph's argument); a model with several outputs writes an
``.npz`` with one array per output name.

Inputs are taken as they are: the model file's ``[dataset]`` preprocessing (MNIST's
``scale``, ``reshape``, ``standardize``) is not applied, so save them preprocessed as the
model trained on them. Integer inputs to a float model (raw pixels, say) are accepted
(converted, not scaled) with a one-line warning on stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
import zipfile

import numpy as np

from frontend.cli.errors import CliError, UsageError
from frontend.cli.loading import DEFAULT_BATCH, LoadedModel, load
from frontend.npz import NPY_MAGIC, ZIP_MAGICS, pickle_free

__all__ = ["add_parser", "run", "read_inputs", "check_inputs", "write_predictions"]



def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Register ``predict`` on the subcommand set ``sub``."""
    p = sub.add_parser(
        "predict", parents=[common], help="predict with trained weights, write .npy",
        description="Build MODEL, load WEIGHTS (.npz from kiln train or save_weights), run "
                    "inference on the input array and write the predictions. Inputs are taken "
                    "as they are: the model file's [dataset] preprocessing (scaling, reshape, "
                    "standardize) is not applied; integer inputs to a float model get a "
                    "warning. An .npz input holds one array per model input, keyed by the "
                    "model's input names (a Sequential model's input is named after its first "
                    "layer, e.g. 'dense'; not the %x that kiln ir shows).")
    p.add_argument("model", metavar="MODEL", help="model file (.toml, .json, or .py)")
    p.add_argument("--weights", required=True, metavar="W", help="weights file (.npz)")
    p.add_argument("--input", required=True, metavar="X",
                   help="inputs, preprocessed as for training: .npy (one model input, a batch "
                        "of samples) or .npz (one array per input name)")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="where predictions go (default: X with .pred.npy, .pred.npz for "
                        "several outputs)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help=f"batch size (default: the model file's, else {DEFAULT_BATCH})")
    p.add_argument("--backend", choices=["llvm", "eager"], default=None,
                   help="run compiled (llvm, the default) or op by op on numpy (eager)")
    p.set_defaults(run=run)


def read_inputs(path: str):
    """The array in an .npy, or a dict of the arrays in an .npz; never unpickles."""
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise CliError(f"{path}: cannot read ({e.strerror})") from None
    # Decide by content: numpy would try to unpickle anything else, then suggest allowing it.
    if magic != NPY_MAGIC and not magic.startswith(ZIP_MAGICS):
        raise CliError(f"{path}: not an .npy or .npz array file (save inputs with np.save)")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise CliError(f"{path}: cannot load: {pickle_free(str(e))}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise CliError(f"{path}: damaged array file ({e})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            return {k: data[k] for k in data.files}
    return data


def check_inputs(loaded: LoadedModel, x, path: str) -> None:
    """Check the input file's arrays against the model's inputs before predicting.

    An ``.npz`` must hold exactly the model's input names (an error names them and the file's
    keys). An integer array for a float input is accepted (``predict`` converts it) with a
    one-line warning on stderr: the inputs are used as they are, and the declared data set's
    preprocessing (e.g. MNIST's ``scale``) is not applied, so raw pixels would be predicted
    unscaled."""
    model = loaded.model
    specs = model.input_specs()
    if specs is None:   # a subclassed model: its inputs are known once called
        return
    names = [s.name for s in specs]
    if isinstance(x, dict):
        if set(x) != set(names):
            raise CliError(f"{path}: model '{model.name}' takes "
                           f"{'inputs' if len(names) > 1 else 'input'} "
                           f"{', '.join(map(repr, names))} (an .npz input has one array per "
                           f"model input name); the file has "
                           f"{', '.join(map(repr, x)) or 'no arrays'}")
        arrays = [(n, x[n]) for n in names]
    elif isinstance(x, np.ndarray) and len(names) == 1:
        arrays = [(names[0], x)]
    else:
        return   # predict reports the mismatch
    from compiler.ir import dtypes
    for spec, (name, a) in zip(specs, arrays):
        if a.dtype.kind in "iu" and dtypes.is_float(spec.dtype):
            what = f"{path}" if not isinstance(x, dict) else f"{path}: '{name}'"
            print(f"kiln predict: warning: {what} holds {a.dtype} values and model "
                  f"'{model.name}' takes {dtypes.to_numpy(spec.dtype).name}: they are used as "
                  f"they are (converted, not scaled); {_preprocessing(loaded)}",
                  file=sys.stderr)


def _preprocessing(loaded: LoadedModel) -> str:
    """The scaling the model file declares for its data, which predict does not apply."""
    decl = getattr(loaded.model, "declaration", None)
    spec = getattr(decl, "dataset", None)
    if spec is not None and spec.name == "mnist" and spec.scale:
        return ("the file's [dataset] scaling (scale = true: pixels / 255) is not applied; "
                "scale the inputs as for training")
    if spec is not None and spec.standardize:
        return ("the file's [dataset] scaling (standardize = true) is not applied; "
                "standardize the inputs as for training")
    return "no dataset scaling is applied; preprocess the inputs as for training"


def write_predictions(path: str, preds, names: list[str]) -> str:
    """Save ``preds`` (an array, or a list per output) to ``path``; returns what was written."""
    if isinstance(preds, (list, tuple)):
        if not path.endswith(".npz"):
            raise UsageError(f"{path}: the model has {len(preds)} outputs; name an .npz output")
        np.savez(path, **dict(zip(names, preds)))
        return ", ".join(f"{n} {_describe(p)}" for n, p in zip(names, preds))
    if not path.endswith(".npy"):
        raise UsageError(f"{path}: predictions of one output are written as .npy; name a .npy "
                         f"output")
    np.save(path, preds)
    return _describe(preds)


def _describe(a: np.ndarray) -> str:
    return f"{a.dtype}{list(a.shape)}"


def run(args) -> int:
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    loaded = load(args.model, backend=args.backend)
    model = loaded.model
    if not os.path.exists(args.weights):
        raise CliError(f"{args.weights}: no such file")
    x = read_inputs(args.input)
    if not model.built and isinstance(x, np.ndarray):
        # A subclassed model makes its weights when first called: build it for these inputs
        # so that there is something to load the weights into.
        model.build((None,) + x.shape[1:])
    try:
        model.load_weights(args.weights)
    except ValueError as e:
        msg = str(e).removeprefix("load_weights: ")
        raise CliError(msg if args.weights in msg else f"{args.weights}: {msg}") from e
    check_inputs(loaded, x, args.input)
    from frontend.models.data import DataError
    try:
        preds = model.predict(x, batch_size=args.batch_size or loaded.settings.batch_size
                              or DEFAULT_BATCH, verbose=0)
    except DataError as e:
        # the arrays came from a file, not a dict the user built
        raise CliError(f"{args.input}: {str(e).replace('; the dict has ', '; the file has ')}"
                       ) from e
    several = isinstance(preds, (list, tuple))
    out = args.output or _default_output(args.input, several)
    what = write_predictions(out, preds, model.output_names)
    print(f"wrote predictions {what} to {out}")
    return 0


def _default_output(input_path: str, several: bool) -> str:
    stem = os.path.splitext(input_path)[0]
    return stem + (".pred.npz" if several else ".pred.npy")
