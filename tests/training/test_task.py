"""TrainingTask as a library: the CLI's checks raise ValueError with the same message;
a resumed run's log keeps every value under its own column."""

import json

import pytest
import tensorflow as tf
from zookeeper import configure

from rethink_bnn.experiments.tasks import Demo
from rethink_bnn.train import main
from rethink_bnn.experiments.runs.folder import read_csv, write_csv_atomically, write_json_atomically
from rethink_bnn.experiments.training.task import ConfigError

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def _demo(tmp_path, **fields):
    task = Demo()
    configure(task, {"run_dir": str(tmp_path / "run"), **fields})
    return task


@pytest.mark.parametrize("field, value", [("binary_optimizer.gamma", 2.0),
                                          ("binary_optimizer.threshold", -1.0), ("epochs", 0),
                                          ("flip_log_freq", "step")])
def test_a_library_call_raises_value_error_with_the_cli_message(field, value, tmp_path, capsys):
    with pytest.raises(ValueError) as raised:
        _demo(tmp_path, **{field: value}).run()
    assert isinstance(raised.value, ConfigError)
    assert main(["demo", f"{field}={value}", f"run_dir={tmp_path / 'run'}"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {raised.value}"
    assert not (tmp_path / "run").exists()


def test_the_global_batch_must_split_evenly_over_the_replicas(tmp_path):
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        with pytest.raises(ConfigError, match=r"batch_size=33 is the global batch and must "
                                              r"split evenly over the 2 replicas: use a "
                                              r"multiple of 2"):
            _demo(tmp_path, batch_size=33).run()
        _demo(tmp_path, batch_size=32).validate()  # a multiple passes
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_resumed_run_keeps_every_logged_value_under_its_own_column(tmp_path):
    """A log written by a version that logged other values (here: without `step`) is
    widened, not shifted; logging frequencies may change on resume."""
    _demo(tmp_path, epochs=2, **{"dataset.train_limit": 64}).run()
    log = tmp_path / "run" / "log.csv"
    old = read_csv(log)
    steps = [row.pop("step") for row in old]
    assert steps == ["2", "4"]  # 64 examples at batch 32: two steps per epoch
    write_csv_atomically(log, old)
    # as if killed after epoch 2 of 3: the next run resumes
    (tmp_path / "run" / "summary.json").unlink()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    write_json_atomically(tmp_path / "run" / "config.json", {**config, "epochs": 3})
    _demo(tmp_path, epochs=3, step_log_freq=2, flip_log_freq=1,
          **{"dataset.train_limit": 64}).run()
    rows = read_csv(log)
    assert rows[:2] == [{**row, "step": ""} for row in old]
    assert rows[2]["step"] == "6" and rows[2]["epoch"] == "3"  # 1-based, as the console
    assert set(rows[2]) == set(old[0]) | {"step"}
    assert all(0 <= float(row["accuracy"]) <= 1 for row in rows)


@pytest.mark.slow
def test_a_resume_whose_log_lost_rows_says_so(tmp_path, capsys):
    """A log emptied by hand cannot be rebuilt from checkpoints: the resume warns."""
    _demo(tmp_path, epochs=2, **{"dataset.train_limit": 64}).run()
    run = tmp_path / "run"
    (run / "summary.json").unlink()
    config = json.loads((run / "config.json").read_text())
    write_json_atomically(run / "config.json", {**config, "epochs": 3})
    (run / "log.csv").write_text("")
    capsys.readouterr()
    _demo(tmp_path, epochs=3, **{"dataset.train_limit": 64}).run()
    err = capsys.readouterr().err
    assert "log.csv holds 0 of the 2 restored epochs' rows" in err
    assert [row["epoch"] for row in read_csv(run / "log.csv")] == ["3"]
