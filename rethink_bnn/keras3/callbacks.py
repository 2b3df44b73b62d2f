"""FlipLogger for Keras 3 (any backend)."""

import math
import os

import keras
import numpy as np

from rethink_bnn.core.rules import PI_EPSILON
from rethink_bnn.events import ScalarWriter
from rethink_bnn.keras3.binary import BinaryOptimizer
from rethink_bnn.keras3.step_flips import StepFlips

__all__ = ["FlipLogger", "binary_optimizers"]


def binary_optimizers(optimizer):
    """The binary optimizers inside `optimizer` (itself, a MultiOptimizer's, the inner
    one of a LossScaleOptimizer or a SkipNonFinite), in order.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import BinaryOptimizerMap, Bop, SkipNonFinite
        >>> from rethink_bnn.keras3 import binary_optimizers
        >>> bop = Bop()
        >>> routing = BinaryOptimizerMap(bop, keras.optimizers.Adam())
        >>> binary_optimizers(SkipNonFinite(keras.optimizers.MultiOptimizer(routing))) == [bop]
        True
    """
    if isinstance(optimizer, BinaryOptimizer):
        return [optimizer]
    found = []
    for inner in getattr(optimizer, "optimizers", None) or [
            getattr(optimizer, "inner_optimizer", None)]:
        if inner is not None and inner is not optimizer:
            found += binary_optimizers(inner)
    return found


class FlipLogger(keras.callbacks.Callback):
    """Adds how many binary weights flipped in the epoch to the epoch's logs, for
    History, CSVLogger and `keras.callbacks.TensorBoard` to see (put it before them in
    the callback list):

    - `flips`, `flip_ratio` (flips / binary weights) and `pi` = ln(flip_ratio + 1e-9),
      over the epoch, for all binary weights;
    - with `per_layer`, the same per layer as `flips/<layer>`, `flip_ratio/<layer>`,
      `pi/<layer>` (by layer name; in a nested model `<model>/<layer>`).

    With `log_dir`, it also writes TensorBoard event files to `log_dir/flips`, with
    `tensorboard`'s writer (no TensorFlow needed): every `update_freq` steps the same
    values as the mean per step over those steps (`update_freq=1`: each step's, π_t of
    the paper), as `batch_*` against the optimizer's step, and each epoch's as
    `epoch_*` against the epoch (from 1), as the tf-keras FlipLogger writes them. The
    optimizers keep the counts after each of their last `history_steps` updates on the
    device (`flip_history`), written inside the training step: this callback reads them
    at each epoch's end (and every `history_steps` steps in a longer epoch), never per
    step, and logs the same series whatever `steps_per_execution` is.

    It reads the flip counts (one vector per optimizer, an entry per variable) at each
    epoch's start and end. (On JAX without x64 they are int32: an epoch's count is
    exact up to 2**31 - 1 flips per variable.)

    Args:
        log_dir: folder for TensorBoard event files, or None for the epoch logs only.
        update_freq: log per-step values every this many steps; "epoch" for none.
        per_layer: also log each layer's values, not only the total.

    Examples:
        >>> import keras, numpy as np
        >>> from rethink_bnn.keras3 import Bop, FlipLogger, QuantDense
        >>> model = keras.Sequential([keras.Input((3,)),  # a ±1 kernel for Bop, all +1 here
        ...                           QuantDense(2, kernel_initializer="ones", use_bias=False)])
        >>> model.compile(Bop(threshold=0.0, gamma=1.0), "mse", run_eagerly=True)
        >>> logs = model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0,  # all 6 weights flip
        ...                  callbacks=[FlipLogger(per_layer=False)]).history
        >>> sorted(logs), logs["flips"], logs["flip_ratio"]
        (['flip_ratio', 'flips', 'loss', 'pi'], [6.0], [1.0])

    Reference:
        π is the measure of flips of Helwegen et al., "Latent Weights Do Not Exist:
        Rethinking Binarized Neural Network Optimization", NeurIPS 2019, sec 5.1.
    """

    def __init__(self, log_dir=None, update_freq=1, per_layer=True):
        super().__init__()
        if isinstance(log_dir, bool):
            raise TypeError(f"FlipLogger's first argument is log_dir, got {log_dir}: pass "
                            "per_layer= by name (FlipLogger(per_layer=False)).")
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(
                update_freq, (int, np.integer)) or update_freq < 1):
            raise ValueError(f"update_freq must be an integer >= 1 or 'epoch', got "
                             f"{update_freq!r}.")
        self.update_freq = update_freq
        self.per_layer = per_layer
        self._writer = self._steps = None

    def _readings(self):
        """[(layer, cumulative flips, weights, counter bits)], one per binary variable."""
        layers = _layer_names(self.model)
        readings = []
        for optimizer in binary_optimizers(self.model.optimizer):
            counts = optimizer.flip_counts  # one vector per optimizer: one read
            if counts is None:  # not built yet
                continue
            bits = 32 if keras.backend.standardize_dtype(counts.dtype) == "int32" else 64
            readings += [(layers.get(id(variable), variable.path), int(count),
                          int(np.prod(variable.shape)), bits)
                         for variable, count in zip(optimizer.binary_variables, np.asarray(
                             keras.ops.convert_to_numpy(counts)))]
        return readings

    def on_train_begin(self, logs=None):
        # Say at once, not after an epoch, that nothing goes to the binary optimizer:
        # JAX and PyTorch build it before training, TensorFlow in the first step.
        self._routing_checked = False
        self._steps = None
        # Built in the first step (TensorFlow): its steps count from a fresh optimizer.
        self._fresh = not getattr(self.model.optimizer, "built", False)
        if self.log_dir is not None and self._writer is None:
            self._writer = ScalarWriter(os.path.join(self.log_dir, "flips"))
        self._check_routing()

    def on_train_batch_end(self, batch, logs=None):
        if not getattr(self, "_routing_checked", False):
            self._check_routing()
        steps = self._steps
        if steps is not None:  # read before the next execution could overwrite a row
            self._done += self._spe
            if self._done + self._spe > steps.history_steps:
                self._read_steps()

    def _read_steps(self):
        # `self.model` syncs JAX's training state into the variables: only before a read
        if self.model is not None and self._steps is not None:
            self._steps.read()
        self._done = 0

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._read_steps()
            self._writer.flush()

    def _start_steps(self, optimizers):
        """Per-step logging from now (the optimizers are built)."""
        if self._writer is None or self.update_freq == "epoch" or self._steps is not None:
            return
        spe = self._spe = int(getattr(self.model, "steps_per_execution", 1) or 1)
        shortest = min(o.history_steps for o in optimizers)
        if shortest < 2 * spe:
            raise ValueError(f"FlipLogger: the binary optimizer keeps {shortest} steps of "
                             f"flips, fewer than 2 x steps_per_execution ({spe}): create it "
                             f"with history_steps={2 * spe} or more.")
        layers = _layer_names(self.model)
        names = [layers.get(id(v), v.path) for o in optimizers for v in o.binary_variables]
        sizes = np.array([np.prod(v.shape) for o in optimizers for v in o.binary_variables],
                         np.float64)
        groups = [("", [True] * len(names))]
        if self.per_layer:
            groups += [(f"/{layer}", [n == layer for n in names])
                       for layer in dict.fromkeys(names)]
        self._steps = StepFlips(optimizers, groups,
                                [sizes[np.array(mask)].sum() for _, mask in groups],
                                self.update_freq, self._writer, fresh=self._fresh)
        self._done = self._steps.unread()

    def _check_routing(self):
        if getattr(self.model.optimizer, "built", False):
            self._routing_checked = True
            if not self._readings():
                self._nothing_routed()
            self._start_steps([o for o in binary_optimizers(self.model.optimizer)
                               if o.flip_counts is not None])

    def on_epoch_begin(self, epoch, logs=None):
        self._before = self._readings()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        after = self._readings()
        if not after:
            self._nothing_routed()
        before = getattr(self, "_before", None)
        if before is None or len(before) != len(after):  # built during this epoch
            before = [(layer, 0, size, bits) for layer, _, size, bits in after]
        per_layer = {}
        for (layer, now, size, bits), (_, then, _, _) in zip(after, before):
            flips, weights = per_layer.get(layer, (0, 0))
            # a counter of 32 bits wraps around: its difference is exact modulo 2**32
            per_layer[layer] = (flips + (now - then) % 2**bits, weights + size)
        total = (sum(f for f, _ in per_layer.values()), sum(s for _, s in per_layer.values()))
        values = _values("", *total)
        if self.per_layer:
            for layer, (flips, size) in per_layer.items():
                values.update(_values(f"/{layer}", flips, size))
        logs.update(values)
        if self._writer is not None:
            self._read_steps()
            self._writer.add(epoch + 1, {"epoch_" + k: v for k, v in values.items()})
            self._writer.flush()

    def _nothing_routed(self):
        found = binary_optimizers(self.model.optimizer)
        raise ValueError(
            f"FlipLogger: {found[0].name} trains no variable: mark the binary kernels "
            "(rethink_bnn.keras3 layers with kernel_quantizer='binary', or "
            "mark_binary(variable)) so that the optimizer map routes them to it."
            if found else
            "FlipLogger found no rethink_bnn.keras3 binary optimizer in the model's "
            f"optimizer ({type(self.model.optimizer).__name__}): compile with e.g. "
            "MultiOptimizer(BinaryOptimizerMap(Bop(), Adam())).")


def _layer_names(model, prefix=""):
    """{id(variable): name of the innermost layer that holds it}, prefixed by the names
    of the nested models it is in (`encoder/dense`); names, unlike variable paths, are
    the same in a model loaded from `.keras`."""
    names = {}
    for layer in getattr(model, "layers", []):
        names.update({id(v): f"{prefix}{layer.name}" for v in layer.weights})
        names.update(_layer_names(layer, f"{prefix}{layer.name}/"))
    return names


def _values(suffix, flips, size):
    ratio = flips / size if size else 0.0
    return {f"flips{suffix}": float(flips), f"flip_ratio{suffix}": ratio,
            f"pi{suffix}": math.log(ratio + PI_EPSILON)}
