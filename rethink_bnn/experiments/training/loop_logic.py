"""What the loop's callbacks do, for both front ends: each front end makes its callbacks
from these and its Keras' `Callback` (`class EpochLog(EpochLogging, keras.callbacks.Callback)`),
so that the run folder's log, the console and the stopping rules are written once.
Plain Python: the loop's state is read with `state.get(name)` and written with
`state.set(name, value)` (tf-keras: variables in a `tf.Module`; Keras 3: numbers)."""

import sys
import time
from pathlib import Path

from rethink_bnn.experiments.cli.errors import TERMINATION, Terminated
from rethink_bnn.experiments.runs.folder import read_csv, write_csv_atomically

__all__ = ["ConsolePrinting", "EpochLogging", "FliplessStopping", "LOOP_STATE",
           "TerminationChecking", "console_verbosity", "epoch_line"]

# The loop's state, saved in every checkpoint: epochs done, the best validation loss and
# its (0-based) epoch, epochs in a row without a flip; with their initial values.
LOOP_STATE = {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": -1,
              "flipless_epochs": 0}

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


def epoch_line(epoch, epochs, logs, seconds):
    """'Epoch 4/30 (2.1 s): loss 0.4120, accuracy 0.8810, ..., γ 0.01' (1-based epoch)."""
    values = [f"{label} {fmt.format(float(logs[key]))}" for key, label, fmt in EPOCH_LINE
              if key in logs and not (key in ONLY_WHEN_NOT_ZERO and not logs[key])]
    return f"Epoch {epoch + 1}/{epochs} ({seconds:.1f} s): " + ", ".join(values)


class TerminationChecking:
    """Raises `cli.Terminated` at the first batch or epoch end after a SIGTERM whose
    exception Python dropped (raised inside a `__del__`): the run stops, resumable."""

    def on_train_batch_end(self, batch, logs=None):
        if TERMINATION.is_set():
            raise Terminated()

    on_epoch_end = on_test_batch_end = on_train_batch_end


class ConsolePrinting:
    """Prints `Epoch N/E: <values>` after every epoch (verbosity 1 or 2); with verbosity
    1 also a progress bar of the running loss and accuracy during the epoch (the front
    end's Keras' `utils.Progbar`, from `progress_bar`).

    Use it with `model.fit(..., verbose=0)`, which leaves Keras' progress bar out. Put
    it after the callbacks that add to the epoch logs. Skipped steps and steps with an
    invalid γ or τ are shown only when there were some."""

    progress_bar = None  # Progbar's class, set by the front end's callback

    def __init__(self, verbose=2):
        super().__init__()
        self.verbose = verbose
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.time()
        if self.verbose == 1:
            self._bar = self.progress_bar(self.params.get("steps"), unit_name="step",
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


class EpochLogging:
    """One CSV row per epoch: `epoch` (1-based: the row of the Nth epoch says N, as the
    console, the checkpoints and summary.json do) and the epoch logs (put it after the
    callbacks that add to them).

    Unlike Keras' CSVLogger, every epoch rewrites the file (write-then-rename), so a kill
    never leaves half a row; and a run resumed by a version that logs other values gets
    the union of the columns, not values shifted under the old header.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: _plain(v) for k, v in sorted((logs or {}).items())}}
        write_csv_atomically(self.path, read_csv(self.path) + [row])


def _plain(value):
    if isinstance(value, (int, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class FliplessStopping:
    """Stops training after `patience` epochs in a row in which no weight flipped (the
    report's stopping rule for sec 5.2). Reads `flips` from the flip logger's epoch logs."""

    def __init__(self, state, patience):
        super().__init__()
        self.state, self.patience = state, patience

    def on_epoch_end(self, epoch, logs=None):
        flipless = logs is not None and logs.get("flips") == 0
        self.state.set("flipless_epochs",
                       self.state.get("flipless_epochs") + 1 if flipless else 0)
        if self.state.get("flipless_epochs") >= self.patience:
            self.model.stop_training = True
