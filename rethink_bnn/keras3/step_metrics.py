"""Per-step batch metrics for Keras 3 (any backend): `BatchMetricLogger`.

Keras' batch logs hold running means since the epoch's start, which hide the
step-to-step noise of the sec 5.1 study, and with `steps_per_execution=N` a callback sees
only every N-th step. So a `StepSums` metric, attached to the model once, records inside
the training step (its `train_step` wrapped) the running sums (`total`, `count`) of the
model's mean metrics and the optimizer's step into a ring of `history_steps` rows. It
is a metric so that its variables are among `metrics_variables`, which Keras threads
through JAX's stateless step as it does the metrics' own. The host reads the ring at
each epoch's end and before it could wrap: the increments of the sums over a window of
steps give the mean over exactly those steps' examples (one step's batch with
`update_freq=1`), whatever `steps_per_execution` is. As the tf-keras front end's
`rethink_bnn.callbacks.BatchMetricLogger` does with TensorFlow's own buffers.
"""

import os

import keras
import numpy as np
from keras import ops

from rethink_bnn.events import ScalarWriter
from rethink_bnn.keras3.binary import HISTORY_STEPS, flip_counter_dtype
from rethink_bnn.keras3.keras_internals import add_model_metric

__all__ = ["BatchMetricLogger", "MAX_METRICS", "StepSums"]

MAX_METRICS = 16  # mean metrics recorded per step (as the tf-keras recorder's)


def mean_metrics(model):
    """The model's metrics that keep a running sum and count (`keras.metrics.Mean` and
    its subclasses: the loss tracker, accuracy, ...), compiled metrics included."""
    found = []
    for metric in model.metrics:
        if isinstance(metric, StepSums):
            continue
        inner = getattr(metric, "metrics", None)  # Keras' CompileMetrics container
        for m in inner if isinstance(inner, list) else [metric]:
            if isinstance(m, keras.metrics.Mean):
                found.append(m)
    return found


class StepSums(keras.metrics.Metric):
    """The ring the training step writes: row (written % history_steps) holds the
    optimizer's step after the step (`steps`) and [epoch restarted, total_1, count_1,
    ...] of the model's mean metrics (`sums`, named in `metric_names` once the step is
    traced: TensorFlow builds the compiled metrics there). Reports nothing in the logs;
    Keras' `reset_metrics` (each epoch's start) only marks that the sums restart."""

    def __init__(self, history_steps=HISTORY_STEPS, name="rethink_bnn_steps"):
        super().__init__(name=name)
        self.metric_names, self.history_steps = [], history_steps
        counter = flip_counter_dtype()
        self.steps = self.add_variable((history_steps,), initializer="zeros", dtype=counter,
                                       name="steps")
        self.sums = self.add_variable((history_steps, 1 + 2 * MAX_METRICS),
                                      initializer="zeros", dtype="float32", name="sums")
        self.written = self.add_variable((), initializer="zeros", dtype=counter,
                                         name="written")
        self.restarted = self.add_variable((), initializer="zeros", dtype="float32",
                                           name="restarted")

    def update_state(self, *args, **kwargs):
        pass  # written by the wrapped train_step (`record`)

    def result(self):
        return {}

    def reset_state(self):
        self.restarted.assign(1.0)

    def record(self, ring, step, means, sums):
        """New values of (steps, sums, written, restarted) from their current ones
        (`ring`), the optimizer's step and the metrics `means`' [total, count, ...]."""
        if len(means) > MAX_METRICS:
            raise ValueError(f"BatchMetricLogger records at most {MAX_METRICS} mean metrics, "
                             f"the model has {len(means)}: compile it with fewer.")
        self.metric_names = [m.name for m in means]
        steps, table, written, restarted = ring
        row = ops.cast(ops.mod(written, steps.shape[0]), "int32")
        here = ops.equal(ops.arange(steps.shape[0], dtype="int32"), row)
        values = ops.concatenate([ops.reshape(restarted, (1,)),
                                  ops.stack([ops.cast(s, "float32") for s in sums]
                                            + [ops.zeros((), "float32")]
                                            * (2 * (MAX_METRICS - len(means))))])
        return (ops.where(here, ops.cast(step, steps.dtype), steps),
                ops.where(ops.expand_dims(here, 1), ops.expand_dims(values, 0), table),
                ops.add(written, ops.ones((), written.dtype)),
                ops.zeros((), restarted.dtype))

    @property
    def ring(self):
        return [self.steps, self.sums, self.written, self.restarted]


def attach(model, history_steps):
    """The model's `StepSums`, made with `history_steps` rows and its `train_step`
    wrapped on first use (Keras remakes the training function then); a later logger
    shares it, and reads as often as its rows require."""
    for metric in model.metrics:
        if isinstance(metric, StepSums):
            return metric
    recorder = StepSums(history_steps)
    add_model_metric(model, recorder)
    _wrap_train_step(model, recorder)
    # Traced again: the training step with the recording, the test step (under a
    # distribution, its output layout) with the new metric variables.
    model.train_function = model.test_function = None
    return recorder


def _wrap_train_step(model, recorder):
    original = model.train_step

    if keras.backend.backend() == "jax":
        def train_step(state, data):
            logs, state = original(state, data)
            trainable, non_trainable, optimizer_values, metric_values = state
            means, optimizer = mean_metrics(model), model.optimizer  # compile may change it
            where = {id(v): i for i, v in enumerate(model.metrics_variables)}
            at = [where[id(v)] for v in recorder.ring]
            steps = [i for i, v in enumerate(optimizer.variables)
                     if v is optimizer.iterations]
            step = (optimizer_values[steps[0]] if steps else  # else: the recorder's count
                    metric_values[at[2]] + 1)
            sums = [metric_values[where[id(v)]] for m in means for v in (m.total, m.count)]
            metric_values = list(metric_values)
            for i, value in zip(at, recorder.record([metric_values[i] for i in at],
                                                    step, means, sums)):
                metric_values[i] = value
            return logs, (trainable, non_trainable, optimizer_values, metric_values)
    else:
        def train_step(data):
            logs = original(data)  # TensorFlow builds the compiled metrics here
            means = mean_metrics(model)
            sums = [v for m in means for v in (m.total, m.count)]
            new = recorder.record([ops.convert_to_tensor(v) for v in recorder.ring],
                                  model.optimizer.iterations, means, sums)
            for variable, value in zip(recorder.ring, new):
                variable.assign(value)
            return logs

    model.train_step = train_step


class BatchMetricLogger(keras.callbacks.Callback):
    """Logs the loss and metrics of the training batches themselves, every `update_freq`
    steps, as TensorBoard scalars `batch_loss`, `batch_accuracy`, ... in `log_dir/steps`
    against the optimizer's step, with tensorboard's writer (no TensorFlow needed): the
    mean over exactly those steps' examples (`update_freq=1`: each batch's own). Recorded
    on the device inside the training step and read at each epoch's end (and every
    `history_steps` steps in a longer epoch), never per step: the same series whatever
    `steps_per_execution` is. The Keras 3 form of the tf-keras
    `rethink_bnn.callbacks.BatchMetricLogger`.

    Args:
        log_dir: folder for TensorBoard event files (written to `log_dir/steps`).
        update_freq: log every this many steps (an integer >= 1).
        history_steps: steps the device keeps between two reads (at least twice
            `steps_per_execution`), for the model's first logger: later ones share its
            record.

    Examples:
        >>> import keras, numpy as np, tempfile
        >>> from rethink_bnn.events import read_scalars
        >>> from rethink_bnn.keras3 import BatchMetricLogger
        >>> model = keras.Sequential([keras.Input((1,)),
        ...                           keras.layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(keras.optimizers.SGD(0.0), "mse", run_eagerly=True)
        >>> log_dir = tempfile.mkdtemp()
        >>> _ = model.fit(np.zeros((3, 1)), np.array([1.0, 2.0, 3.0]), batch_size=1, shuffle=False,
        ...               verbose=0, callbacks=[BatchMetricLogger(log_dir)])
        >>> read_scalars(f"{log_dir}/steps", ["batch_loss"])  # each batch's, not running means
        {'batch_loss': (array([1, 2, 3]), array([1., 4., 9.]))}
    """

    def __init__(self, log_dir, update_freq=1, history_steps=HISTORY_STEPS):
        super().__init__()
        if log_dir is None or isinstance(log_dir, bool):
            raise TypeError(f"BatchMetricLogger needs log_dir, a folder, got {log_dir!r}.")
        self.log_dir = os.fspath(log_dir)
        for name, value in (("update_freq", update_freq), ("history_steps", history_steps)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"BatchMetricLogger's {name} must be an integer >= 1, got "
                                 f"{value!r}.")
        self.update_freq, self.history_steps = int(update_freq), int(history_steps)
        self.reads = 0  # host reads of the ring (what the tests count)
        self._writer = self._recorder = None

    def set_model(self, model):
        super().set_model(model)
        # Before Keras makes the training function (fit calls this first): the step
        # records only if it is traced with the wrapper.
        if getattr(model, "compiled", False):
            self._recorder = attach(model, self.history_steps)

    def on_train_begin(self, logs=None):
        if self._recorder is None:  # set on a model compiled since: fit made its function
            self._recorder = attach(self.model, self.history_steps)
            self.model.make_train_function()
        spe = self._spe = int(getattr(self.model, "steps_per_execution", 1) or 1)
        if self._recorder.history_steps < 2 * spe:
            raise ValueError(f"BatchMetricLogger: the model records {self._recorder.history_steps}"
                             f" steps, fewer than 2 x steps_per_execution ({spe}): pass "
                             f"history_steps={2 * spe} or more to the model's first "
                             "BatchMetricLogger (later ones share its record).")
        if self._writer is None:
            self._writer = ScalarWriter(os.path.join(self.log_dir, "steps"))
        self._read_upto = self._written()  # rows before this fit are not ours
        self._window = None  # (sums so far, examples so far) of the open window
        self._previous = None  # the latest row's running sums
        self._done = 0

    def _written(self):
        self.model  # on JAX, syncs the training state into the variables  # noqa: B018
        return int(ops.convert_to_numpy(self._recorder.written))

    def on_train_batch_end(self, batch, logs=None):
        self._done += self._spe
        if self._done + self._spe > self._recorder.history_steps:
            self._read()

    def on_epoch_end(self, epoch, logs=None):
        self._read()
        self._writer.flush()

    def on_train_end(self, logs=None):
        self._read()
        self._writer.flush()

    def _read(self):
        written = self._written()
        self._done = 0
        if written == self._read_upto:
            return
        self.reads += 1
        steps = np.asarray(ops.convert_to_numpy(self._recorder.steps)).astype(np.int64)
        table = np.asarray(ops.convert_to_numpy(self._recorder.sums), np.float64)
        size = len(steps)
        for index in range(max(self._read_upto, written - size), written):
            self._log_row(int(steps[index % size]), table[index % size])
        self._read_upto = written

    def _log_row(self, step, row):
        restarted, sums = row[0], row[1:]
        before = np.zeros_like(sums) if restarted or self._previous is None else self._previous
        increment, self._previous = sums - before, sums
        window = increment if self._window is None else self._window + increment
        if step % self.update_freq:
            self._window = window
            return
        self._window = None
        totals, counts = window[0::2], window[1::2]
        self._writer.add(step, {f"batch_{name}": total / count
                                for name, total, count in zip(self._recorder.metric_names,
                                                              totals, counts) if count})
