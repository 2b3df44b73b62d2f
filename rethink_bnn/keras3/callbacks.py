"""FlipLogger for Keras 3 (any backend)."""

import math

import keras
import numpy as np

from rethink_bnn.core.rules import PI_EPSILON
from rethink_bnn.keras3.binary import BinaryOptimizer

__all__ = ["FlipLogger", "binary_optimizers"]


def binary_optimizers(optimizer):
    """The binary optimizers inside `optimizer` (itself, a MultiOptimizer's, the inner
    one of a LossScaleOptimizer or a SkipNonFinite), in order."""
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

    It reads the binary optimizers' flip counts (one vector per optimizer, an entry per
    variable, updated inside the training step) at each epoch's start and end: nothing
    per step. (On JAX without x64 they are int32: an epoch's count is exact up to
    2**31 - 1 flips per variable.)
    """

    def __init__(self, per_layer=True):
        super().__init__()
        self.per_layer = per_layer

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
        self._check_routing()

    def on_train_batch_end(self, batch, logs=None):
        if not getattr(self, "_routing_checked", False):
            self._check_routing()

    def _check_routing(self):
        if getattr(self.model.optimizer, "built", False):
            self._routing_checked = True
            if not self._readings():
                self._nothing_routed()

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
        logs.update(_values("", *total))
        if self.per_layer:
            for layer, (flips, size) in per_layer.items():
                logs.update(_values(f"/{layer}", flips, size))

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
