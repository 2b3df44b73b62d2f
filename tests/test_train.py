"""The command line: one-line errors with exit code 2, and what it refuses to overwrite."""


import errno
import os
import signal
import time

import pytest
import tensorflow as tf

from rethink_bnn.experiments import Demo
from rethink_bnn.train import main

DEMO = ["demo", "epochs=1", "dataset.train_limit=64"]


def _error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "no task given"),
        (["cifar10_bpo"], "unknown task 'cifar10_bpo': did you mean 'cifar10_bop'?"),
        (["demo", "epoch=3"], "unknown key 'epoch': did you mean 'epochs'? the task has: "
                              "batch_size, dataset, deterministic, distribution, epochs, "),
        (["demo", "dataset.trainlimit=3"], "unknown key 'dataset.trainlimit': did you mean "
                                           "'dataset.train_limit'? 'dataset' has: seed, "),
        (["demo", "model.bar=2"], "'model' has: input_shape, num_classes, seed, units, weights."),
        (["demo", "epochs"], "'epochs' is not of the form key=value"),
        (["demo", "epochs=abc"], "Field 'epochs' of component 'Demo' is annotated with type"),
        (["demo", "model=Resnet"], "model"),
        (["demo", "gamma=2"], "gamma must be in (0, 1], got 2"),
        (["demo", "threshold=-1e-6"], "threshold must be a finite float >= 0, got -1e-06"),
        (["demo", "batch_size=0"], "batch_size must be at least 1, got 0."),
        (["demo", "epochs=0"], "epochs must be at least 1, got 0."),
        (["demo", "flip_log_freq=0"], "flip_log_freq: update_freq must be a positive int"),
        (["demo", "learning_rate=-1"], "learning_rate (Adam's) must be > 0, got -1."),
        (["demo", "dataset.validation_fraction=1.0"], "validation_fraction must be in [0, 1)"),
        (["demo", "dataset.train_limit=0"], "dataset.train_limit must be at least 1"),
        (["mnist_bop", "gamma_decay=2"], "gamma_decay must be in (0, 1], got 2"),
        (["mnist_latent_adam", "learning_rate=0"], "learning_rate must be > 0, got 0."),
        (["demo", "distribution=gpus"], "distribution must be one of auto, default, "
                                        "mirrored, multi_worker, tpu, got 'gpus'."),
        (["demo", "precision=float16"], "precision must be one of float32, mixed_float16, "
                                        "mixed_bfloat16, got 'float16'."),
        (["binary_alexnet_imagenet", "final_gamma=1e-3"], "final_gamma must be in [0, "
                                                          "gamma=0.0001], got 0.001."),
    ],
)
def test_bad_command_lines_exit_2_with_one_line_and_touch_nothing(argv, message, capsys,
                                                                  tmp_path):
    run_dir = tmp_path / "run"
    assert main(argv + [f"run_dir={run_dir}"] if argv else argv) == 2
    assert message in _error(capsys)
    assert not run_dir.exists()


def test_help_lists_the_tasks(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "cifar10_bop" in out and "bop_sweep" in out and "demo" in out


def test_missing_dataset_exits_2_and_leaves_no_run_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["mnist_bop", f"run_dir={run_dir}", f"dataset.archive_dir={tmp_path}",
            f"dataset.data_dir={tmp_path / 'tfds'}", "dataset.download=False"]
    assert main(argv) == 2
    assert "dataset 'mnist' is not available" in _error(capsys)
    assert not run_dir.exists()
    with pytest.raises(Exception, match="not available"):
        main(argv + ["--debug"])


def test_a_finished_run_is_never_overwritten_by_another_config(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(DEMO + [f"run_dir={run_dir}"]) == 0
    summary = (run_dir / "summary.json").read_bytes()
    assert main(DEMO + [f"run_dir={run_dir}"]) == 0  # same config: reported, not redone
    assert "holds a finished run of this configuration" in capsys.readouterr().out
    assert main(["demo", "epochs=2", "dataset.train_limit=64", f"run_dir={run_dir}"]) == 2
    assert "different configuration (epochs: 1 there, 2 now)" in _error(capsys)
    assert (run_dir / "summary.json").read_bytes() == summary
    assert main(["demo", "epochs=2", "dataset.train_limit=64", f"run_dir={run_dir}",
                 "overwrite=True"]) == 0
    assert (run_dir / "summary.json").read_bytes() != summary


def _raises(error):
    def run(self):
        if error == "SIGTERM":
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises at the next bytecode
            time.sleep(5)
        raise error
    return run


@pytest.mark.parametrize("error, code, line", [
    (KeyboardInterrupt(), 130, "interrupted: {run} can be resumed with the same command."),
    ("SIGTERM", 143, "interrupted: {run} can be resumed with the same command."),
    (OSError(errno.ENOSPC, "No space left on device"), 1,
     "error: no space left on the device ([Errno 28] No space left on device): free some, then "
     "rerun the same command to resume {run}."),
    (tf.errors.ResourceExhaustedError(None, None, "ckpt-3_temp/part-0; No space left on device"),
     1, "error: no space left on the device (ckpt-3_temp/part-0; No space left on device): "),
])
def test_an_interrupt_or_a_full_disk_gives_one_line(error, code, line, monkeypatch, capsys,
                                                    tmp_path):
    """(The real Ctrl-C and SIGTERM of a training process: tests/training/test_run_folder.py.)"""
    monkeypatch.setattr(Demo, "run", _raises(error))
    handler = signal.getsignal(signal.SIGTERM)
    assert main(["demo", f"run_dir={tmp_path}"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(line.format(run=tmp_path)), err
    assert signal.getsignal(signal.SIGTERM) == handler  # main's own handler is gone
