"""Keras callbacks for binary networks: Bop's weight flips (per layer and in total), the
loss and accuracy of each training batch, and the steps skipped for non-finite gradients
or invalid hyperparameters."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import logging
import os

import numpy as np
import tensorflow as tf

from rethink_bnn import tf_internals
from rethink_bnn.core.declarations import describe_invalid
from rethink_bnn.core.rules import PI_EPSILON
from rethink_bnn.optimizers.walk import binary_optimizers, skipping_wrappers
from rethink_bnn.step_record import ReadsRecordedSteps
from rethink_bnn.step_scalars import StepScalars as _StepScalars
from rethink_bnn.step_scalars import read_now as _read_now  # (a test counts the reads)

__all__ = ["BatchMetricLogger", "FlipLogger", "SkippedStepLogger"]

_log = logging.getLogger("rethink_bnn")


class FlipLogger(ReadsRecordedSteps):
    """Logs how many binary weights Bop flipped, per layer and in total.

    Bop counts its flips inside the update step (one reduction over the flip factor it
    already computes); this callback only reads those counts, one small int64 vector
    per step, and writes its per-step TensorBoard scalars once per epoch, so it adds
    next to nothing to a training step (`bench/flip_logging.py` measures it).

    Every epoch it adds to the Keras logs, for History, CSVLogger and TensorBoard to see
    (put it before those callbacks in the list):

    - `flips`, `flip_ratio` (flips / binary weights) and `pi` = ln(flip_ratio + 1e-9),
      over the epoch, for all binary weights;
    - the same per layer as `flips/<layer>`, `flip_ratio/<layer>`, `pi/<layer>`.

    With `log_dir`, every `update_freq` steps it writes the same values, as the mean
    over those steps per step (with `update_freq=1`, exactly π_t of the paper), as
    TensorBoard scalars `batch_*` against the optimizer step, and the epoch values as
    `epoch_*` against the epoch (from 1), in `log_dir/flips`. The per-step counts are
    recorded inside the training step, on the device (`rethink_bnn.step_record`), and
    read once per epoch (or every `read_every` steps): no host read per step, and every
    step's values also with `steps_per_execution` > 1. Per-step values stay out
    of the batch logs: Keras' progress bar would average them over the epoch, so that
    a total would show as a mean. One value, one meaning: the epoch logs (History,
    CSV, TensorBoard, the console) hold each epoch's totals.

    Args:
        log_dir: folder for TensorBoard event files, or None for Keras logs only.
        update_freq: log per-step values every this many steps; "epoch" for none.
        per_layer: also log each layer's values, not only the total.
        read_every: read the recorded steps every this many steps (None: once per
            epoch); only bounds the device buffers' size.

    Examples:
        >>> import larq as lq, numpy as np, tensorflow as tf
        >>> from rethink_bnn import Bop, FlipLogger
        >>> binary = lq.quantizers.NoOp(precision=1)  # a ±1 kernel for Bop, all +1 here
        >>> model = tf.keras.Sequential([tf.keras.Input((3,)), lq.layers.QuantDense(
        ...     2, kernel_quantizer=binary, kernel_initializer="ones", use_bias=False)])
        >>> model.compile(Bop(threshold=0.0, gamma=1.0), "mse", run_eagerly=True)
        >>> logs = model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0,  # all 6 weights flip
        ...                  callbacks=[FlipLogger(per_layer=False)]).history
        >>> sorted(logs), logs["flips"], logs["flip_ratio"]
        (['flip_ratio', 'flips', 'loss', 'pi'], [6.0], [1.0])

    Reference:
        π is the measure of flips of Helwegen et al., "Latent Weights Do Not Exist:
        Rethinking Binarized Neural Network Optimization", NeurIPS 2019, sec 5.1.
    """

    def __init__(self, log_dir=None, update_freq=1, per_layer=True, read_every=None):
        super().__init__()
        self.log_dir = log_dir
        self.update_freq = _checked_update_freq(update_freq)
        self.per_layer = per_layer
        self.read_every = _checked_read_every(read_every)
        self._writer = None
        # Batch logs may stay tensors for us: we add plain floats.
        tf_internals.reads_tensor_logs(self)

    def on_train_begin(self, logs=None):
        if not binary_optimizers(self.model.optimizer):
            self._no_bop()
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "flips"))
        self._step = self._window_step = int(self.model.optimizer.iterations.numpy())
        self._counters = self._recorder = None
        # The counters exist, restored values included, before any step once the
        # optimizer is built; a model not built yet gets them in its first step, from 0,
        # and is discovered after it (`on_train_batch_end`).
        if _build_optimizer(self.model):
            self._discover(fresh=False)
        elif self._step:  # restored counters would arrive with the first step's flips
            raise ValueError(
                f"{type(self).__name__} cannot tell this fit's flips from those restored "
                f"(the optimizer is at step {self._step}) on a model built by its first "
                "step: build it before fit (a tf.keras.Input, or model.build(shape)).")
        if self._writer is not None and self.update_freq != "epoch":
            self._start_recording(self._step)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self._counters is not None:
            self._epoch_start = self._read()

    def on_train_batch_end(self, batch, logs=None):
        if self._counters is None:  # built by this first step
            self._discover(fresh=True)
        super().on_train_batch_end(batch, logs)

    def _log_recorded_steps(self):
        steps, flips, _ = self._recorded_rows()
        for step, totals in zip(steps.tolist(), flips):
            if step % self.update_freq:
                continue
            values = self._values(totals - self._window_start, step - self._window_step)
            self._window_start, self._window_step = totals, step
            self._steps.add(step, values)

    def on_epoch_end(self, epoch, logs=None):
        if self._counters is None:  # an epoch of no step
            return
        if self._recorder is not None:
            self._log_recorded_steps()
        values = self._values(self._read() - self._epoch_start, 1)
        if logs is not None:
            logs.update(zip(self._keys, values))
        if self._writer is not None:
            self._steps.flush()
            with self._writer.as_default(step=epoch + 1):  # 1-based, as log.csv
                for key, value in zip(self._keys, values):
                    tf.summary.scalar("epoch_" + key, value)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._writer is not None:
            self._steps.flush()
            self._writer.flush()

    def _no_bop(self):
        raise ValueError(
            "FlipLogger found no Bop-trained variables in the model's optimizer "
            f"({type(self.model.optimizer).__name__}): compile the model with "
            "rethink_bnn.optimizers.Bop or a CaseOptimizer that routes binary "
            "kernels to Bop."
        )

    def _discover(self, fresh):
        """The built binary optimizers' counters and what is logged of them, from their
        values now, or from 0 if `fresh` (made in this fit's first step, which they count)."""
        bops = [bop for bop in binary_optimizers(self.model.optimizer) if bop.binary_variables]
        variables = [v for bop in bops for v in bop.binary_variables]
        if not variables:
            self._no_bop()
        self._counters = [bop.flip_counts for bop in bops]
        # One row per reported group: the total, then each layer (display names).
        layers = [_layer_name(variable) for variable in variables]
        groups = [("", [True] * len(variables))]
        if self.per_layer:
            groups += [(f"/{name}", [n == name for n in layers]) for name in sorted(set(layers))]
        self._rows = np.array([members for _, members in groups], np.float64)
        self._sizes = self._rows @ np.array([v.shape.num_elements() for v in variables], np.float64)
        self._keys = [f"{metric}{suffix}" for metric in ("flips", "flip_ratio", "pi")
                      for suffix, _ in groups]
        if self._writer is not None:
            self._steps = _StepScalars.reuse(getattr(self, "_steps", None), self._writer,
                                             ["batch_" + key for key in self._keys])
        start = self._read()
        self._window_start = self._epoch_start = np.zeros_like(start) if fresh else start

    def _read(self):
        return np.concatenate(_read_now(self._counters))

    def _values(self, flips, steps):
        """flips, flip_ratio and pi per group, for counter increments over `steps` steps."""
        flips = self._rows @ flips / steps
        ratio = flips / self._sizes
        return np.concatenate([flips, ratio, np.log(ratio + PI_EPSILON)]).tolist()


class BatchMetricLogger(ReadsRecordedSteps):
    """Logs the loss and metrics of the training batches themselves, every `update_freq`
    steps, as TensorBoard scalars `batch_loss`, `batch_accuracy`, ... in `log_dir/steps`
    against the optimizer step.

    Keras' batch logs hold running means since the start of the epoch, which hide the
    step-to-step noise the sec 5.1 study is about. This callback uses the metrics'
    running sums (`total`, `count`) instead, recorded after every step inside the
    training step, on the device (`rethink_bnn.step_record`), and read once per epoch
    (or every `read_every` steps): their increments over a window of steps give the
    mean over exactly those steps' examples (one step's batch when `update_freq=1`),
    with any `steps_per_execution`.

    Args:
        log_dir: folder for TensorBoard event files (written to `log_dir/steps`).
        update_freq: log every this many steps; "epoch" logs nothing.
        read_every: read the recorded steps every this many steps (None: once per epoch).

    Examples:
        >>> import numpy as np, tempfile, tensorflow as tf
        >>> from rethink_bnn import BatchMetricLogger
        >>> from rethink_bnn.events import read_scalars
        >>> model = tf.keras.Sequential([tf.keras.layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(tf.keras.optimizers.SGD(0.0), "mse", run_eagerly=True)
        >>> log_dir = tempfile.mkdtemp()
        >>> _ = model.fit(np.zeros((3, 1)), np.array([1.0, 2.0, 3.0]), batch_size=1, shuffle=False,
        ...               verbose=0, callbacks=[BatchMetricLogger(log_dir)])
        >>> read_scalars(f"{log_dir}/steps", ["batch_loss"])  # each batch's, not running means
        {'batch_loss': (array([1, 2, 3]), array([1., 4., 9.]))}
    """

    def __init__(self, log_dir, update_freq=1, read_every=None):
        super().__init__()
        self.log_dir = log_dir
        self.update_freq = _checked_update_freq(update_freq)
        self.read_every = _checked_read_every(read_every)
        self._writer = None
        # We never read the logs: Keras need not turn them into numbers for us.
        tf_internals.reads_tensor_logs(self)

    def on_train_begin(self, logs=None):
        self._step = int(self.model.optimizer.iterations.numpy())
        self._recorder = None
        if self.update_freq == "epoch":
            return
        self._start_recording(self._step)
        self._window = self._carried = None  # sized by the first rows

    def _log_recorded_steps(self):
        steps, _, sums = self._recorded_rows()
        if not len(steps):
            return
        if self._window is None:
            self._discover(sums.shape[1])
        for step, epoch_sums in zip(steps.tolist(), sums):
            totals = self._carried + epoch_sums  # since training began
            if step % self.update_freq == 0:
                delta = totals - self._window
                self._steps.add(step, (delta[:, 0] / delta[:, 1]).tolist())
                self._window = totals
            self._last = totals

    def on_epoch_end(self, epoch, logs=None):
        if self._recorder is None:
            return
        self._log_recorded_steps()
        if self._window is not None:
            self._carried = self._last  # the sums restart every epoch
            self._steps.flush()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._writer is not None:
            self._steps.flush()
            self._writer.flush()

    def _discover(self, count):
        metrics = [m for m in self.model.metrics if hasattr(m, "total") and hasattr(m, "count")]
        if not metrics:
            raise ValueError("BatchMetricLogger found no loss or mean metric in the model: "
                             "compile it with a loss (and metrics such as 'accuracy').")
        self._window = self._carried = self._last = np.zeros((count, 2))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "steps"))
        self._steps = _StepScalars.reuse(getattr(self, "_steps", None), self._writer,
                                         ["batch_" + m.name for m in metrics][:count])


def _checked_read_every(read_every):
    if read_every is not None and not (
        isinstance(read_every, int) and not isinstance(read_every, bool) and read_every > 0
    ):
        raise ValueError(f"read_every must be a positive int or None, got {read_every!r}.")
    return read_every


def _checked_update_freq(update_freq):
    if update_freq != "epoch" and not (
        isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0
    ):
        raise ValueError(f"update_freq must be a positive int or 'epoch', got {update_freq!r}.")
    return update_freq


class SkippedStepLogger(tf.keras.callbacks.Callback):
    """Logs the training steps skipped because a gradient held a NaN or Inf, and those
    in which a binary optimizer's hyperparameter (Bop's γ or τ) was invalid.

    `SkipNonFinite` skips steps whose gradients are not finite and counts them (with
    those a LossScaleOptimizer around it skipped); the binary optimizers leave their
    weights and state as they are in a step whose hyperparameter is NaN, infinite or out
    of range (a schedule, `tf.keras.backend.set_value` or a callback can put such a
    value there) and count it. Every epoch this callback adds the counts for the epoch
    to the Keras logs (for CSVLogger and TensorBoard: put it before them),
    `skipped_steps` when the optimizer is wrapped in `SkipNonFinite` and
    `invalid_hyperparameter_steps` when there is a binary optimizer,
    and logs one warning line for each count that is not zero, the second naming the
    invalid hyperparameter and its latest value.

    Examples:
        >>> import numpy as np, tensorflow as tf
        >>> from rethink_bnn import SkippedStepLogger
        >>> from rethink_bnn.optimizers import SkipNonFinite
        >>> model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        >>> model.compile(SkipNonFinite(tf.keras.optimizers.SGD()), "mse", run_eagerly=True)
        >>> history = model.fit(np.array([[1.0], [np.nan]]), np.zeros(2), batch_size=1,
        ...                     shuffle=False, verbose=0, callbacks=[SkippedStepLogger()])
        >>> history.history["skipped_steps"]  # the NaN input's step
        [1]
    """

    def on_train_begin(self, logs=None):
        self._counters = skipping_wrappers(self.model.optimizer)
        self._bops = binary_optimizers(self.model.optimizer)
        if self._bops or self._counters:
            _build_optimizer(self.model)  # else its counters are made in the first step
        if not self._counters and not self._bops:
            raise ValueError(
                "SkippedStepLogger found no optimizer that skips non-finite steps in "
                f"{type(self.model.optimizer).__name__}: wrap it in "
                "rethink_bnn.optimizers.SkipNonFinite(...), or train with a binary optimizer."
            )
        self._start, self._invalid_start = self._read()

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._invalid_start = self._read()

    def on_epoch_end(self, epoch, logs=None):
        total, invalid = self._read()
        skipped = total - self._start
        if logs is not None and self._counters:
            logs["skipped_steps"] = skipped
        if skipped:
            _log.warning("epoch %d: skipped %d training step(s) whose gradients held NaN "
                         "or Inf; no weight changed in them.", epoch + 1, skipped)
        invalid = invalid - self._invalid_start
        if logs is not None and self._bops:
            logs["invalid_hyperparameter_steps"] = int(invalid.sum())
        if invalid.any():
            named = len(self._bops) > 1
            values = "; ".join(
                (f"{bop.name}: " if named else "")
                + (describe_invalid(bop.HYPERPARAMETERS, bop.last_invalid_hyperparameters)
                   or "valid now")
                for bop, n in zip(self._bops, invalid) if n
            )
            _log.warning("epoch %d: %d training step(s) left the binary weights and Bop's "
                         "averages unchanged for an invalid hyperparameter, at the latest "
                         "%s; fix the schedule, callback or set_value that set it.",
                         epoch + 1, invalid.sum(), values)

    def _read(self):
        skipped = sum(int(wrapper.skipped_steps) for wrapper in self._counters)
        counters = [bop.invalid_hyperparameter_steps for bop in self._bops]
        built = _read_now([c for c in counters if c is not None])
        invalid = [built.pop(0) if c is not None else 0 for c in counters]
        return skipped, np.array(invalid, np.int64).reshape(-1)


def _build_optimizer(model):
    """Build the model's optimizer now, as fit would in its first step (on the same
    variables), so that its counters exist, with any restored values, before the first
    step. False if the model is not built yet: Keras builds it, and then the optimizer,
    in the first step (a `Sequential` without an `Input`), whose counters start from 0."""
    if not model.built:
        return False
    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
    return True


def _layer_name(variable):
    # Display only: "binary_dense/kernel:0" -> "binary_dense".
    name = variable.name.split(":")[0]
    return name.rsplit("/", 1)[0] if "/" in name else name
