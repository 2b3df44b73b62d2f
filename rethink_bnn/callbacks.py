"""Keras callbacks for binary networks: Bop's weight flips, per layer and in total."""

import math
import os

import numpy as np
import tensorflow as tf

from rethink_bnn.optimizers import Bop, CaseOptimizer

__all__ = ["FlipLogger", "flip_metrics"]

# π_t = ln(flips_t / n + 1e-9): the paper's flip metric (sec 5.1, report eq. 5).
PI_EPSILON = 1e-9


def flip_metrics(flips, n_params, prefix="", suffix=""):
    """`flips`, `flip_ratio` and `pi` for `flips` flipped weights out of `n_params`."""
    ratio = flips / n_params
    return {
        f"{prefix}flips{suffix}": float(flips),
        f"{prefix}flip_ratio{suffix}": float(ratio),
        f"{prefix}pi{suffix}": math.log(ratio + PI_EPSILON),
    }


class FlipLogger(tf.keras.callbacks.Callback):
    """Logs how many binary weights Bop flipped, per layer and in total.

    Bop counts its flips inside the update step (one reduction over the flip mask it
    already computes); this callback only reads those counters, a few scalars, so it
    adds next to nothing to a training step.

    Every epoch it adds to the Keras logs, for History, CSVLogger and TensorBoard to see
    (put it before those callbacks in the list):

    - `flips`, `flip_ratio` (flips / binary weights) and `pi` = ln(flip_ratio + 1e-9),
      over the epoch, for all binary weights;
    - the same per layer as `flips/<layer>`, `flip_ratio/<layer>`, `pi/<layer>`.

    Every `update_freq` steps it adds the same keys to the batch logs, as the mean
    over those steps per step (with `update_freq=1`, exactly π_t of the paper). With
    `log_dir`, both series are also written as TensorBoard scalars (`batch_*` against
    the optimizer step, `epoch_*` against the epoch) in `log_dir/flips`.

    Args:
        log_dir: folder for TensorBoard event files, or None for Keras logs only.
        update_freq: log per-step values every this many steps; "epoch" for none.
        per_layer: also log each layer's values, not only the total.
    """

    def __init__(self, log_dir=None, update_freq=1, per_layer=True):
        super().__init__()
        if update_freq != "epoch" and not (
            isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0
        ):
            raise ValueError(
                f"update_freq must be a positive int or 'epoch', got {update_freq!r}."
            )
        self.log_dir = log_dir
        self.update_freq = update_freq
        self.per_layer = per_layer
        self._writer = None

    def on_train_begin(self, logs=None):
        # Build the optimizer now (fit would on its first step, on the same variables)
        # so that the counters exist, restored values included, before any step.
        with self.model.distribute_strategy.scope():
            self.model.optimizer.build(self.model.trainable_variables)
        self._discover()
        self._step = self._window_step = int(self.model.optimizer.iterations.numpy())
        self._window_start = self._epoch_start = self._read()
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "flips"))

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._read()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.update_freq == "epoch" or self._step % self.update_freq:
            return
        totals = self._read()
        values = self._metrics(totals - self._window_start, self._step - self._window_step)
        self._window_start, self._window_step = totals, self._step
        if logs is not None:
            logs.update(values)
        self._write("batch_", values, self._step)

    def on_epoch_end(self, epoch, logs=None):
        values = self._metrics(self._read() - self._epoch_start, 1)
        if logs is not None:
            logs.update(values)
        self._write("epoch_", values, epoch)

    def _discover(self):
        bops = _find_bops(self.model.optimizer)
        pairs = [pair for bop in bops for pair in bop.flip_counters()]
        if not pairs:
            raise ValueError(
                "FlipLogger found no Bop-trained variables in the model's optimizer "
                f"({type(self.model.optimizer).__name__}): compile the model with "
                "rethink_bnn.optimizers.Bop or a CaseOptimizer that routes binary "
                "kernels to Bop."
            )
        self._counters = [counter for _, counter in pairs]
        self._read_counters = tf.function(lambda: tf.stack(self._counters))
        layers = [_layer_name(variable) for variable, _ in pairs]
        self._layers = sorted(set(layers))
        # membership[i, j] = 1 if counter j belongs to layer i
        self._membership = np.array(
            [[layer == name for layer in layers] for name in self._layers], np.int64
        )
        sizes = np.array([v.shape.num_elements() for v, _ in pairs], np.int64)
        self._layer_sizes = self._membership @ sizes
        self._n_params = int(sizes.sum())

    def _read(self):
        return self._read_counters().numpy()

    def _metrics(self, flips, steps):
        values = flip_metrics(flips.sum() / steps, self._n_params)
        if self.per_layer:
            per_layer = self._membership @ flips
            for name, layer_flips, size in zip(self._layers, per_layer, self._layer_sizes):
                values.update(flip_metrics(layer_flips / steps, size, suffix=f"/{name}"))
        return values

    def _write(self, prefix, values, step):
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(prefix + key, value)


def _find_bops(optimizer):
    inner = getattr(optimizer, "inner_optimizer", None)  # LossScaleOptimizer
    if inner is not None:
        return _find_bops(inner)
    if isinstance(optimizer, Bop):
        return [optimizer]
    if isinstance(optimizer, CaseOptimizer):
        return [bop for sub in optimizer.optimizers for bop in _find_bops(sub)]
    return []


def _layer_name(variable):
    # Display only: "binary_dense/kernel:0" -> "binary_dense".
    name = variable.name.split(":")[0]
    return name.rsplit("/", 1)[0] if "/" in name else name
