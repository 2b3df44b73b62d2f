"""What `summary.json` records about a run besides its test: configuration, versions,
epochs, flips and skipped steps (the optimizer's counts come from the front end)."""

import platform
import time

import zookeeper

import rethink_bnn
from rethink_bnn.experiments.config.zookeeper_internals import convert_to_snake_case
from rethink_bnn.experiments.runs.folder import read_csv

__all__ = ["run_summary", "versions"]


def run_summary(task, session, history):
    """The summary of `task`'s run so far (a `Session` after `fit`)."""
    state, front = session.state, session.front_end
    best_epoch, epochs = state.get("best_epoch"), state.get("epoch")
    log = read_csv(session.folder.csv_log)
    return {
        "task": convert_to_snake_case(type(task).__name__),
        "config": session.config,
        "versions": versions(front.packages()),
        "epochs_run": epochs,
        "epochs_this_session": len(history.history.get("loss", [])),
        "stopped_without_flips": task.stopped_without_flips(state),
        "best_epoch": best_epoch + 1 if best_epoch >= 0 else None,  # 1-based, as log.csv
        "best_val_loss": state.get("best_val_loss") if best_epoch >= 0 else None,
        "best_val_accuracy": _at_epoch(log, "val_accuracy", best_epoch + 1),
        "flips_last_epoch": _at_epoch(log, "flips", epochs),
        # skipped_steps, invalid_hyperparameter_steps, flips_total, binary_weights
        **front.optimizer_counts(session),
        "wall_time_s_this_session": round(time.time() - session.started, 1),
    }


def _at_epoch(log, key, epoch):
    """A value from the CSV log's row of `epoch` (1-based, as the log), or None."""
    for row in log if epoch >= 1 else []:
        if int(row["epoch"]) == epoch and row.get(key) not in (None, ""):
            return float(row[key])
    return None


def versions(packages=("tensorflow", "tf_keras", "larq")):
    """The versions of Python, `packages` (the front end's: by default the tf-keras
    one's), zookeeper and rethink_bnn."""
    import importlib

    found = {"python": platform.python_version()}
    for name in packages:
        found[name] = importlib.import_module(name).__version__
    return {**found, "zookeeper": zookeeper.__version__,
            "rethink_bnn": rethink_bnn.__version__}
