"""What a training run prints: a few numbers a person reads at a glance, per epoch.

Everything else (flips and π per layer, flip ratios, skipped steps, the step) goes to
`log.csv` and TensorBoard. Keras' own progress bar prints every key of the logs, ~20 for
a BinaryNet, and averages per-step values over the epoch, so that a total such as the
epoch's flips showed as flips per step; this console shows each value once, with one
meaning, the one History, the CSV log and TensorBoard hold.
"""

import sys
import time

import tensorflow as tf

from rethink_bnn import tf_internals
from rethink_bnn.experiments.cli.errors import TERMINATION, Terminated

__all__ = ["Console", "StopWhenTerminated", "console_verbosity"]

# (key in the epoch logs, label, format): what the epoch line shows, when present.
EPOCH_LINE = (
    ("loss", "loss", "{:.4f}"),
    ("accuracy", "accuracy", "{:.4f}"),
    ("val_loss", "val_loss", "{:.4f}"),
    ("val_accuracy", "val_accuracy", "{:.4f}"),
    ("flips", "flips in epoch", "{:,.0f}"),
    ("pi", "π", "{:.2f}"),
    ("gamma", "γ", "{:.3g}"),
    ("skipped_steps", "skipped steps", "{:.0f}"),
    ("invalid_hyperparameter_steps", "steps with invalid γ/τ", "{:.0f}"),
)
# Shown only when not zero: a healthy run has none.
ONLY_WHEN_NOT_ZERO = ("skipped_steps", "invalid_hyperparameter_steps")


def console_verbosity(verbose):
    """Keras' convention: 0 silent, 1 progress bar, 2 one line per epoch; None picks 1
    on a terminal and 2 otherwise (a log file gets no progress bars)."""
    if verbose is None:
        return 1 if sys.stdout.isatty() else 2
    return verbose


class StopWhenTerminated(tf.keras.callbacks.Callback):
    """Raises `cli.Terminated` at the first batch or epoch end after a SIGTERM whose
    exception Python dropped (raised inside a `__del__`): the run stops, resumable."""

    def __init__(self):
        super().__init__()
        tf_internals.reads_tensor_logs(self)  # reads no logs: no per-step sync

    def on_train_batch_end(self, batch, logs=None):
        if TERMINATION.is_set():
            raise Terminated()

    on_epoch_end = on_test_batch_end = on_train_batch_end


class Console(tf.keras.callbacks.Callback):
    """Prints `Epoch N/E: <values>` after every epoch (verbosity 1 or 2); with verbosity
    1 also a progress bar of the running loss and accuracy during the epoch.

    Use it with `model.fit(..., verbose=0)`, which leaves Keras' progress bar out. Put
    it after the callbacks that add to the epoch logs. Skipped steps and steps with an
    invalid γ or τ are shown only when there were some."""

    def __init__(self, verbose=2):
        super().__init__()
        self.verbose = verbose
        self._bar = None
        # Batch logs stay tensors unless the progress bar reads them: no per-step sync.
        tf_internals.reads_tensor_logs(self)

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.time()
        if self.verbose == 1:
            self._bar = tf.keras.utils.Progbar(self.params.get("steps"), unit_name="step",
                                               stateful_metrics=["loss", "accuracy"])

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            shown = [(k, float(logs[k])) for k in ("loss", "accuracy") if k in (logs or {})]
            self._bar.update(batch + 1, shown)

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose not in (1, 2):
            return
        if self._bar is not None:
            self._bar = None
            sys.stdout.write("\n")
        print(epoch_line(epoch, self.params.get("epochs"), logs or {},
                         time.time() - self._started), flush=True)


def epoch_line(epoch, epochs, logs, seconds):
    """'Epoch 4/30 (2.1 s): loss 0.4120, accuracy 0.8810, ..., γ 0.01' (1-based epoch)."""
    values = [f"{label} {fmt.format(float(logs[key]))}" for key, label, fmt in EPOCH_LINE
              if key in logs and not (key in ONLY_WHEN_NOT_ZERO and not logs[key])]
    return f"Epoch {epoch + 1}/{epochs} ({seconds:.1f} s): " + ", ".join(values)
