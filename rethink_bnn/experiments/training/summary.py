"""What `summary.json` records about a run besides its test: configuration, versions,
epochs, flips and skipped steps."""

import platform
import time

import larq
import tensorflow as tf
import tf_keras
import zookeeper

import rethink_bnn
from rethink_bnn.experiments.config.zookeeper_internals import convert_to_snake_case
from rethink_bnn.optimizers import binary_optimizers, is_binary_variable, skipping_wrappers
from rethink_bnn.experiments.runs.folder import read_csv

__all__ = ["run_summary", "versions"]


def run_summary(task, session, history):
    """The summary of `task`'s run so far (a `Session` after `fit`)."""
    state, optimizer = session.state, session.optimizer
    best_epoch, epochs = int(state.best_epoch.numpy()), int(state.epoch.numpy())
    log = read_csv(session.folder.csv_log)
    binaries = binary_optimizers(optimizer)
    return {
        "task": convert_to_snake_case(type(task).__name__),
        "config": session.config,
        "versions": versions(),
        "epochs_run": epochs,
        "epochs_this_session": len(history.history.get("loss", [])),
        "stopped_without_flips": task.stopped_without_flips(state),
        "best_epoch": best_epoch + 1 if best_epoch >= 0 else None,  # 1-based, as log.csv
        "best_val_loss": float(state.best_val_loss.numpy()) if best_epoch >= 0 else None,
        "best_val_accuracy": _at_epoch(log, "val_accuracy", best_epoch + 1),
        "flips_last_epoch": _at_epoch(log, "flips", epochs),
        "skipped_steps": sum(int(w.skipped_steps) for w in skipping_wrappers(optimizer)),
        "invalid_hyperparameter_steps": sum(
            int(b.invalid_hyperparameter_steps.numpy()) for b in binaries
            if b.invalid_hyperparameter_steps is not None) if binaries else None,
        "flips_total": sum(int(tf.reduce_sum(b.flip_counts)) for b in binaries
                           if b.flip_counts is not None) if binaries else None,
        "binary_weights": sum(v.shape.num_elements() for v in session.model.trainable_variables
                              if is_binary_variable(v)),
        "wall_time_s_this_session": round(time.time() - session.started, 1),
    }


def _at_epoch(log, key, epoch):
    """A value from the CSV log's row of `epoch` (1-based, as the log), or None."""
    for row in log if epoch >= 1 else []:
        if int(row["epoch"]) == epoch and row.get(key) not in (None, ""):
            return float(row[key])
    return None


def versions():
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
        "larq": larq.__version__,
        "zookeeper": zookeeper.__version__,
        "rethink_bnn": rethink_bnn.__version__,
    }
