"""Per-step values recorded inside the training step, on the device.

`FlipLogger` and `BatchMetricLogger` log each step's flips and each batch's own loss and
accuracy. Reading them on the host after every step would make the host wait for each
step to finish before it could queue the next (an idle GPU between steps), and with
Keras' `steps_per_execution=N` the callbacks see only every N-th step. So a
`StepRecorder` records inside the model's `train_step` (a `RecordingModel`'s own, as the
tasks train; any other model's is wrapped): after each step it writes the binary
optimizers' cumulative flip counts, the metrics' running sums (`total`, `count`, summed
over replicas) and the step number into one row of device-side buffers. The host
reads the buffers whole, once per epoch or every `read_every` steps, and gets every
step's values, whatever `steps_per_execution` is.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import numpy as np
import tensorflow as tf

from rethink_bnn import tf_internals
from rethink_bnn.optimizers.walk import binary_optimizers

__all__ = ["ReadsRecordedSteps", "RecordingModel", "StepRecorder"]

_ATTRIBUTE = "_rethink_bnn_step_recorder"
MAX_METRICS = 16  # mean metrics (loss, accuracy, ...) recorded per step


class StepRecorder:
    """Device-side buffers of per-step values for one model, shared by the callbacks that
    log per step: one recorder per model for its whole life (`StepRecorder.of(model)`),
    which each reader joins for a fit (`start`) and leaves at its end (`finish`), each
    with its own cursor. A reader that needs more room grows the same recorder's buffers,
    so no reader is ever left reading buffers that the training step no longer writes.

    Rows (one per training step, in order):
        step: the optimizer's step count after the step (int64);
        flips: the binary optimizers' cumulative flip counts, one per binary variable;
        sums: each mean metric's (total, count) after the step, summed over replicas
            (Keras resets them at every epoch's start).
    """

    def __init__(self, model):
        self.model = model
        self.capacity = 0  # steps the buffers hold between two reads (grown by `start`)
        self._buffers = None  # made on the first trace of the wrapped train_step
        self._rows = []  # read from the device, not yet consumed by every reader
        self._cursors = {}  # reader of this fit -> index in _rows of its next row
        self._fit_start = self._read_upto = None  # optimizer steps (the host's count)
        self._optimizer = None  # the optimizer the buffers were made for
        self.reads = 0  # host reads of the buffers (what the tests and benchmark count)
        self.metric_count = 0  # mean metrics recorded (known once the step is traced)
        if not isinstance(model, RecordingModel):  # a user's model: its train_step wrapped
            tf_internals.wrap_train_step(model, self._record)

    @classmethod
    def of(cls, model):
        """The model's recorder, made and installed on first use."""
        recorder = getattr(model, _ATTRIBUTE, None)
        if recorder is None:
            recorder = cls(model)
            object.__setattr__(model, _ATTRIBUTE, recorder)
        return recorder

    def start(self, reader, step, capacity):
        """`reader` reads the rows of the steps after `step` (the optimizer's step now),
        at most `capacity` steps apart. Called from `on_train_begin`: the first reader of
        a fit starts it afresh (rows an earlier fit left unread are dropped), the others
        join it; a reader still registered from a fit that ended without
        `on_train_end` starts a new fit too."""
        joining = (self._cursors and reader not in self._cursors
                   and step == self._fit_start == self._read_upto and not self._rows)
        if not joining:
            self._fit_start = self._read_upto = step
            self._rows, self._cursors = [], {}
            if self._buffers is not None:
                self._buffers[3].assign(0)
        self._cursors[reader] = 0
        # buffers made for another optimizer (a model compiled again) have other widths
        if capacity > self.capacity or self._optimizer is not self.model.optimizer:
            self._grow(max(int(capacity), self.capacity))

    def finish(self, reader):
        """`reader` reads no more rows in this fit (from `on_train_end`)."""
        self._cursors.pop(reader, None)
        self._drop_consumed()

    def _grow(self, capacity):
        """Buffers of `capacity` rows, and fit's train function made again to write them
        (fit made it before the callbacks began; a new trace captures the new buffers)."""
        self.capacity = capacity
        model = self.model
        self._optimizer = model.optimizer
        if model.built:  # else on the first trace (not under a multi-replica strategy)
            with model.distribute_strategy.scope():
                model.optimizer.build(model.trainable_variables)
                self._make_buffers(self._flip_width())
        else:
            self._buffers = None
        model.train_function = model.make_train_function(force=True)

    def rows(self, reader, step):
        """The rows `reader` has not seen, up to optimizer step `step` (the host's own
        count), reading the device once if they are not all read yet:
        (steps [n], flips [n, binary variables], sums [n, metrics, 2])."""
        if step > self._read_upto:
            self._read(step - self._read_upto)
            self._read_upto = step
        start = self._cursors.get(reader, len(self._rows))
        self._cursors[reader] = len(self._rows)
        rows = self._rows[start:]
        self._drop_consumed()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.int64), np.zeros((0, 0, 2))
        steps, flips, sums = (np.stack(column) for column in zip(*rows))
        return steps, flips, sums[:, : self.metric_count]

    def _drop_consumed(self):
        """Forget the rows every reader of the fit has seen."""
        if not self._cursors:
            self._rows = []
            return
        done = min(self._cursors.values())
        if done:
            self._rows = self._rows[done:]
            self._cursors = {r: c - done for r, c in self._cursors.items()}

    def _read(self, count):
        """One read of each buffer: rows 0..count-1 go to the readers, the index to 0."""
        if count > self.capacity:
            raise RuntimeError(
                f"the step recorder holds {self.capacity} steps, but {count} ran between "
                "two reads: give the logging callbacks a smaller read_every.")
        # Rows are written by model.train_step: a custom training loop (apply_gradients
        # on its own) writes none, and the rows read would be zeros, logged as NaN.
        recorded = 0 if self._buffers is None else int(self._buffers[3].numpy())
        if recorded < count:
            raise RuntimeError(
                f"{count} training steps ran since the last read of the per-step "
                f"records, but model.train_step recorded {recorded}: FlipLogger's per-step "
                "values and BatchMetricLogger are recorded by model.fit's train step; in "
                "a custom training loop give FlipLogger update_freq='epoch' (or no "
                "log_dir) and leave BatchMetricLogger out.")
        self.reads += 1
        steps, flips, sums = (v.numpy() for v in self._buffers[:3])
        self._buffers[3].assign(0)
        self._rows += list(zip(steps[:count], flips[:count], sums[:count]))

    # --- inside the training step ------------------------------------------------------

    def _flip_width(self):
        return sum(int(b.flip_counts.shape[0]) for b in binary_optimizers(self.model.optimizer)
                   if b.flip_counts is not None)

    def _record(self):
        counters = [b.flip_counts for b in binary_optimizers(self.model.optimizer)
                    if b.flip_counts is not None]
        metrics = [m for m in self.model.metrics if hasattr(m, "total") and hasattr(m, "count")]
        if len(metrics) > MAX_METRICS:
            raise ValueError(f"the step recorder holds {MAX_METRICS} mean metrics, the model "
                             f"has {len(metrics)}: log fewer per step.")
        self.metric_count = len(metrics)
        if self._buffers is None:
            self._optimizer = self.model.optimizer
            self._make_buffers(self._flip_width())
        step_buffer, flip_buffer, sum_buffer, index = self._buffers
        flips = (tf.concat([tf.convert_to_tensor(c) for c in counters], 0) if counters
                 else tf.zeros([0], tf.int64))
        sums = (tf.stack([tf.stack([tf.cast(m.total, tf.float64), tf.cast(m.count, tf.float64)])
                          for m in metrics]) if metrics else tf.zeros([0, 2], tf.float64))
        sums = tf.pad(sums, [[0, MAX_METRICS - len(metrics)], [0, 0]])
        # Each replica holds its own share of the metrics' sums.
        sums = tf.distribute.get_replica_context().all_reduce("sum", sums)
        row = tf.minimum(index, self.capacity - 1)
        written = []
        for buffer, value in ((step_buffer, self.model.optimizer.iterations),
                              (flip_buffer, flips), (sum_buffer, sums)):
            if buffer.shape.num_elements() == 0:  # no binary optimizer
                continue
            # one row, in place: the step copies nothing of the rest of the buffer
            written.append(buffer.scatter_update(
                tf.IndexedSlices(tf.cast(value, buffer.dtype)[None], row[None])))
        # After the row: the index counts rows written. (Else it may run before the
        # step's data, and count a step that an exhausted dataset then never ran.)
        with tf.control_dependencies(written):
            index.assign_add(1)

    def _make_buffers(self, flip_width):
        def variable(shape, dtype, name):
            return tf.Variable(tf.zeros(shape, dtype), trainable=False, name=name,
                               synchronization=tf.VariableSynchronization.ON_WRITE,
                               aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

        with tf.init_scope():
            self._buffers = (
                variable([self.capacity], tf.int64, "recorded_steps"),
                variable([self.capacity, flip_width], tf.int64, "recorded_flips"),
                variable([self.capacity, MAX_METRICS, 2], tf.float64, "recorded_sums"),
                variable([], tf.int64, "recorded_index"),
            )


class ReadsRecordedSteps(tf.keras.callbacks.Callback):
    """What FlipLogger and BatchMetricLogger share: the host's own count of steps (Keras'
    batch index, which skips ahead with steps_per_execution) and, every `read_every`
    steps (else at the epoch's end), the rows the StepRecorder kept on the device."""

    def _start_recording(self, step):
        """From `on_train_begin`, at the optimizer's `step`: join the model's recorder for
        this fit, with room for the steps between two of our reads."""
        self._step = self._read_step = step
        # every `read_every` steps, else once an epoch (every 1024 steps if its length
        # is unknown): any reader's read empties the device buffers, so each reader
        # only needs room for its own interval and one execution of steps_per_execution
        self._interval = self.read_every or self.params.get("steps") or 1024
        self._recorder = StepRecorder.of(self.model)
        self._recorder.start(
            self, step, self._interval + tf_internals.steps_per_execution(self.model))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_step = self._step

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the epoch's last step so far (several with steps_per_execution)
        self._step = self._epoch_step + batch + 1
        if self._recorder is not None and self._step - self._read_step >= self._interval:
            self._log_recorded_steps()

    def on_train_end(self, logs=None):
        if self._recorder is not None:
            self._recorder.finish(self)
            self._recorder = None

    def _recorded_rows(self):
        self._read_step = self._step
        return self._recorder.rows(self, self._step)


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class RecordingModel(tf.keras.Model):
    """A functional Keras model whose training step also writes its StepRecorder's row
    (the per-step flips and metric sums that FlipLogger and BatchMetricLogger log), so
    nothing replaces its `train_step`: what the tasks train (`RecordingModel.of(net)`).
    Without a recorder (no per-step logger in the fit) its step is Keras' own."""

    def train_step(self, data):
        logs = super().train_step(data)
        recorder = getattr(self, _ATTRIBUTE, None)
        if recorder is not None:
            recorder._record()
        return logs

    @classmethod
    def of(cls, model):
        """`model`'s layers, as a RecordingModel of the same name (they share weights)."""
        return cls(inputs=model.inputs, outputs=model.outputs, name=model.name)
