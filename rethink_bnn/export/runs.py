"""What an export reads from a training run folder, and the network and test set it
rebuilds from it. `read_run` is the one place that knows the folder's layout.

    from rethink_bnn.export.runs import read_run, network
    run = read_run("runs/demo")
    run.weights_kind, run.precision  # ('best', 'float32')
    model = network(run)             # the run's network, its weights loaded
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from rethink_bnn.experiments.runs.layout import RunPaths

__all__ = ["ExportError", "Run", "network", "read_run", "test_set"]


class ExportError(ValueError):
    """The export cannot be made; the message says why and how to fix it.

    Examples:
        >>> import tempfile
        >>> from rethink_bnn.export import ExportError, export_run
        >>> try:
        ...     export_run(tempfile.mkdtemp())  # an empty folder: nothing is written
        ... except ExportError as error:  # a ValueError
        ...     print("is not a training run" in str(error))
        True
    """


@dataclass
class Run:
    path: Path
    config: dict          # the task's resolved fields (config.json)
    weights: Path         # best_weights.h5, or a checkpoint prefix (checkpoints/ckpt-N)
    weights_kind: str     # "best" (best validation epoch) or "last" (last checkpoint)

    @property
    def precision(self):
        return self.config.get("precision", "float32")  # runs from before the field


def read_run(path, last=False):
    """The run in folder `path` and the weights its reported test accuracy came from:
    the best-validation weights when there are some, else (or with `last`) the last
    checkpoint. ExportError for a folder that is no training run or has no weights."""
    from rethink_bnn.experiments.config.stored import StoredConfigError, read_stored_config

    path = Path(path)
    paths = RunPaths(path)
    config_file = paths.config_file
    if not config_file.is_file():
        raise ExportError(f"{path} is not a training run (no config.json of a task with a "
                          "model): pass the run_dir of a `python -m rethink_bnn.train` run.")
    try:
        config = read_stored_config(config_file)
    except StoredConfigError as error:
        raise ExportError(f"{error}: the run folder is damaged or is no training run.") from None
    if not isinstance(config.get("model"), dict):
        raise ExportError(f"{path} is not a training run (its config.json names no model): "
                          "pass the run_dir of a `python -m rethink_bnn.train` run.")
    if config.get("front_end", "tf_keras") != "tf_keras":
        raise ExportError(f"{path} was trained on front_end={config['front_end']}: the LCE "
                          "export converts tf-keras (Larq) runs only; train with "
                          "front_end=tf_keras to export.")
    best = paths.best_weights
    checkpoint = tf.train.latest_checkpoint(str(paths.checkpoints))
    if best.is_file() and not last:
        return Run(path, config, best, "best")
    if checkpoint:
        return Run(path, config, Path(checkpoint), "last")
    raise ExportError(f"{path} has no saved weights yet (no checkpoint in "
                      f"{paths.checkpoints}{'' if last else ', no best_weights.h5'}): "
                      "let the run finish at least one epoch.")


def _task(run):
    """The run's task, configured from its config.json."""
    from rethink_bnn.experiments.config.stored import task_from_config

    return task_from_config(run.config)


def network(run, precision=None):
    """The run's network under `precision` (default: the run's own Keras policy), with
    the run's weights."""
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(precision or run.precision)
    try:
        model = _task(run).model
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
    try:
        if run.weights_kind == "best":
            model.load_weights(str(run.weights))
        else:
            status = tf.train.Checkpoint(model=model).restore(str(run.weights))
            status.expect_partial()  # the optimizer's and the loop's state stay behind
            status.assert_existing_objects_matched()
    except (AssertionError, ValueError, OSError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()[0][:200]
        raise ExportError(f"cannot load {run.weights} into the network of {run.path}/"
                          f"config.json ({reason}): is the folder's config its own?") from error
    return model


def test_set(run, limit=None):
    """(images, labels) of the run's test set as its evaluation sees them (preprocessed),
    the first `limit` only if given."""
    from rethink_bnn.experiments.data import DatasetUnavailable
    from rethink_bnn.experiments.data import evaluation_stream

    task = _task(run)
    try:
        data, _ = task.dataset.test()
    except DatasetUnavailable as error:
        raise ExportError(f"{error} (or pass --limit 0 to export without the test-set "
                          "comparison)") from error
    if limit is not None:
        data = data.take(limit)
    images, labels = [], []
    for x, y in evaluation_stream(data, task.preprocessing, batch_size=256):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        return np.zeros((0, *run.config["input_shape"]), np.float32), np.zeros(0, np.int64)
    return np.concatenate(images), np.concatenate(labels)
