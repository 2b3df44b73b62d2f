"""The command line: one-line errors with exit code 2, and what it refuses to overwrite."""


import errno
import os
import signal
import time

import pytest
import tensorflow as tf

from rethink_bnn.experiments.tasks import Demo
from rethink_bnn.train import main

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

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
                              "batch_size, binary_optimizer, dataset, deterministic, "),
        (["demo", "dataset.trainlimit=3"], "unknown key 'dataset.trainlimit': did you mean "
                                           "'dataset.train_limit'? 'dataset' has: seed, "),
        (["demo", "model.bar=2"], "'model' has: input_shape, num_classes, seed, units, "
                                 "weight_kind."),
        (["demo", "weights=latent"], "error: unknown key 'weights': did you mean "
                                     "'weight_kind'?"),
        (["demo", "weight_kind=ternary"], "error: weight_kind must be one of ('bop', 'latent', "
                                          "'latent_unclipped') on front_end=tf_keras, got "
                                          "'ternary'."),
        (["demo", "epochs"], "'epochs' is not of the form key=value"),
        (["demo", "epochs=abc"], "error: epochs must be an integer, got 'abc'."),
        (["demo", "model=Resnet"], "error: model must name one of BiRealNet, BinaryAlexNet, "
                                   "BinaryMLP, BinaryNet, MnistNet, XnorNet, got 'Resnet'."),
        (["demo", "dataset=Foo"], "dataset must name one of Cifar10, Digits, FashionMnist, "
                                  "ImageNet2012, Mnist, got 'Foo'."),
        (["demo", "batch_size=True"], "error: batch_size must be an integer, got True."),
        (["demo", "input_shape=5"], "input_shape must be a tuple of 3 integers, got 5."),
        (["demo", "dataset.train_limit=x"], "dataset.train_limit must be an integer or None, "
                                            "got 'x'."),
        (["demo", "flip_log_freq=1.5"], "flip_log_freq must be an integer or a string, got 1.5"),
        (["demo", "dataset.validation_fraction=True"], "dataset.validation_fraction must be a "
                                                       "number, got True."),
        (["demo", "epochs=3", "epochs=4"], "'epochs' is given twice (epochs=3 and epochs=4): "
                                           "give it once."),
        (["demo", "seed="], "'seed=' gives seed no value: write seed=VALUE"),
        (["demo", "=3"], "'=3' has no key: a key is a field's name or component.field"),
        (["demo", " =3"], "' =3' has no key: a key is"),
        (["demo", "dataset.=x"], "'dataset.=x' has a malformed key 'dataset.': a key is a "
                                 "field's name or component.field (letters, digits and _)"),
        (["demo", "dataset..train_limit=3"], "has a malformed key 'dataset..train_limit': "),
        (["demo", ".epochs=3"], "has a malformed key '.epochs': a key is"),
        (["demo", "epochs =3"], "has a malformed key 'epochs ': a key is"),
        (["demo", " epochs=3"], "has a malformed key ' epochs': a key is"),
        (["demo", "train-limit=3"], "has a malformed key 'train-limit': a key is"),
        (["epochs=3"], "no task given before epochs=3: write TASK key=value"),
        (["demo", "--foo"], "unknown option '--foo': the options are --help, --debug and "
                            "--config FILE."),
        (["--config"], "--config needs a file"),
        (["--config", "--help"], "--config needs a file"),
        (["--config", "epochs=3"], "--config needs a file before the key=value changes, got "
                                   "'epochs=3'"),
        (["--config", "a.json", "--config", "b.json"], "--config is given twice: give one "
                                                        "file"),
        (["--config=", "epochs=3"], "--config needs a file"),
        (["demo", "num_classes=0"], "num_classes must be at least 2, got 0."),
        (["demo", "num_classes=5"], "num_classes=5 does not match Digits, which has 10 "
                                    "classes: leave num_classes at 10."),
        (["demo", "loss=foo"], "loss must be a Keras loss name such as "
                               "sparse_categorical_crossentropy, got 'foo'."),
        (["demo", "input_shape=(16,4,1)"], "input_shape=(16, 4, 1) does not match Digits's "
                                           "images of shape (8, 8, 1)"),
        (["demo", "dataset.test_fraction=0"], "dataset.test_fraction must be in (0, 1)"),
        (["demo", "dataset.validation_fraction=0.9999"], "the training split of Digits is "
                                                         "empty"),
        (["demo", "seed=-1"], "seed must be in [0, 2**31), got -1."),
        (["demo", "learning_rate=1e999"], "learning_rate must be a finite number, got inf."),
        (["demo", "batch_size=100000000"], "batch_size=100000000 is larger than the 1294 "
                                           "training examples: use at most batch_size=1294."),
        (["demo", "binary_optimizer.gamma=nan"], "binary_optimizer.gamma must be finite and "
                                                 "in (0, 1], got nan"),
        (["demo", "binary_optimizer.threshold=1e999"], "binary_optimizer.threshold must be a "
                                                       "finite float >= 0, got inf"),
        (["approximation_viewpoint", "seeds=0"], "seeds must be at least 1, got 0."),
        (["approximation_viewpoint", "input_shape=(32,32,3)"], "input_shape=(32, 32, 3) does "
                                                               "not match Mnist's images"),
        (["bop_sweep", "grid=foo"], "grid must be one of authors, report, got 'foo'."),
        (["bop_sweep", "processes=0"], "processes must be an integer >= 1, got 0."),
        (["bop_sweep", "point=Foo"], "point must name one of "),
        (["demo", "binary_optimizer.gamma=2"], "binary_optimizer.gamma must be in (0, 1] (and "
                                               "not below float32's smallest normal, 1.2e-38), "
                                               "got 2.0"),
        (["demo", "binary_optimizer.threshold=-1e-6"], "binary_optimizer.threshold must be a "
                                                       "finite float >= 0, got -1e-06"),
        (["demo", "binary_optimizer=CEMA", "binary_optimizer.alpha=0"],
         "binary_optimizer.alpha must be in (0, 1]"),
        (["demo", "binary_optimizer=Bop3"], "binary_optimizer must name one of "),
        (["demo", "binary_optimizer.gamma_schedule=Linear"], "binary_optimizer.gamma_schedule.end"),
        (["demo", "binary_optimizer.gamma_schedule=Linear",
          "binary_optimizer.gamma_schedule.end=2"], "binary_optimizer.gamma_schedule.end must "
                                                    "be in (0, 1]"),
        (["demo", "binary_optimizer.gamma_schedule=StepDecay",
          "binary_optimizer.gamma_schedule.every_epochs=0"],
         "binary_optimizer.gamma_schedule.every_epochs must be >= 1, got 0."),
        (["demo", "learning_rate_schedule=Linear", "learning_rate_schedule.end=-1"],
         "learning_rate_schedule.end must be a finite float >= 0, got -1"),
        (["demo", "batch_size=0"], "batch_size must be at least 1, got 0."),
        (["demo", "epochs=0"], "epochs must be at least 1, got 0."),
        (["demo", "flip_log_freq=0"], "flip_log_freq must be a positive integer (log every N "
                                     "steps) or 'epoch', got 0."),
        (["demo", "step_log_freq=-3"], "step_log_freq must be a positive integer"),
        (["demo", "verbose=7"], "verbose must be 0 (silent), 1 (progress bar), 2 (a line per "
                                "epoch) or None (1 on a terminal), got 7."),
        (["demo", "model.units=(0,)"], "model.units must be widths of at least 1, got (0,)."),
        (["demo", "learning_rate=-1"], "learning_rate (Adam's) must be > 0, got -1."),
        (["demo", "dataset.validation_fraction=1.0"], "validation_fraction must be in [0, 1)"),
        (["demo", "dataset.train_limit=0"], "dataset.train_limit must be at least 1"),
        (["mnist_bop", "binary_optimizer.gamma_schedule.factor=2"],
         "binary_optimizer.gamma_schedule.factor must be in (0, 1], got 2"),
        (["mnist_latent_adam", "learning_rate=0"], "learning_rate (Adam's) must be > 0, got 0."),
        (["demo", "distribution=gpus"], "distribution must be one of auto, default, "
                                        "mirrored, multi_worker, tpu, got 'gpus'."),
        (["demo", "precision=float16"], "precision must be one of float32, mixed_float16, "
                                        "mixed_bfloat16, got 'float16'."),
        (["binary_alexnet_imagenet", "binary_optimizer.gamma_schedule.end=nan"],
         "binary_optimizer.gamma_schedule.end must be finite and in (0, 1], got nan"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line_and_touch_nothing(argv, message, capsys,
                                                                  tmp_path):
    run_dir = tmp_path / "run"
    assert main(argv + [f"run_dir={run_dir}"] if argv else argv) == 2
    assert message in _error(capsys)
    assert not run_dir.exists()


def test_a_class_name_picks_this_packages_component_not_larq_zoos():
    """larq-zoo (imported for the ImageNet networks) registers components named Cifar10
    and Mnist too; zookeeper picked its classes for dataset=Cifar10."""
    from zookeeper.core.component import base_getattr

    from rethink_bnn.experiments.cli.train import configured, task_class

    for name, value in [("cifar10_bop", "Cifar10"), ("demo", "mnist"), ("demo", "Digits")]:
        task = configured(task_class(name), {"dataset": value})
        assert type(base_getattr(task, "dataset")).__module__ == "rethink_bnn.experiments.data.datasets"


def test_a_task_help_lists_every_field_with_default_and_meaning(capsys):
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m rethink_bnn.train demo [key=value ...]")
    for line in ["  batch_size=32 ", "    binary_optimizer.gamma=0.01 ", "    dataset.validation_fraction=0.1 ",
                 "    model.units=(256,256) ", "  run_dir=runs/demo "]:
        assert line in out, line
    assert "examples per training step" in out


def test_a_task_help_shows_the_fields_of_the_components_the_command_line_picks(capsys):
    assert main(["demo", "binary_optimizer=CEMA", "--help"]) == 0
    out = capsys.readouterr().out
    assert "\n  binary_optimizer=CEMA " in out
    assert "binary_optimizer.alpha=0.001" in out and "CEMA's α, in (0, 1]" in out
    assert "binary_optimizer.threshold=" not in out  # CEMA has no τ
    assert main(["demo", "binary_optimizer=Nope", "--help"]) == 0  # a bad pair: defaults
    assert "binary_optimizer.threshold=1e-06" in capsys.readouterr().out


def test_every_field_of_every_task_has_a_meaning():
    from rethink_bnn.experiments.tasks import TASKS
    from rethink_bnn.experiments.cli.task_help import defaults
    from rethink_bnn.experiments.training.fields import describe_fields

    undocumented = {(name, key) for name, cls in TASKS.items()
                    for key, _, meaning in describe_fields(defaults(cls)) if not meaning}
    assert not undocumented


@pytest.mark.parametrize("flags", [["--config", "{f}", "--help"], ["--help", "--config", "{f}"],
                                   ["--config={f}", "-h", "epochs=3"],
                                   ["--debug", "--config", "{f}", "--help", "--debug"]])
def test_help_with_config_shows_the_files_tasks_fields(flags, tmp_path, capsys):
    path = tmp_path / "f.json"
    path.write_text('{"task": "mnist_latent_adam", "epochs": 3}')
    assert main([a.format(f=path) for a in flags]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m rethink_bnn.train "
                                              "mnist_latent_adam [key=value ...]")


def test_config_flag_in_any_order_and_debug_anywhere(tmp_path, capsys):
    path = tmp_path / "f.json"
    path.write_text('{"task": "demo", "dataset": {"class": "Foo"}}')
    for argv in (["--config", str(path), "--debug"], ["--debug", "--config", str(path)]):
        with pytest.raises(Exception, match=f"--config {path} is not a task configuration"):
            main(argv)
    assert main(["epochs=2", "--config", str(path)]) == 2  # the file first, then the rest
    assert "dataset.class must name one of" in _error(capsys)
    assert main(["--config"]) == 2
    assert _error(capsys) == "error: --config needs a file: --config FILE [key=value ...]."
    assert main(["demo", "--config", str(path)]) == 2
    assert _error(capsys) == (f"error: 'demo' with --config {path}: the file names the "
                              "task; give only key=value changes besides it.")


def test_help_lists_the_tasks(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "cifar10_bop" in out and "bop_sweep" in out and "demo" in out
    assert "…" not in out  # whole first sentences, never cut


def test_missing_dataset_exits_2_and_leaves_no_run_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["mnist_bop", f"run_dir={run_dir}", f"dataset.archive_dir={tmp_path}",
            f"dataset.data_dir={tmp_path / 'tfds'}", "dataset.download=False"]
    assert main(argv) == 2
    assert "dataset 'mnist' is not available" in _error(capsys)
    assert not run_dir.exists()
    with pytest.raises(Exception, match="not available"):
        main(argv + ["--debug"])


@pytest.mark.slow
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


@pytest.mark.parametrize("tf_config", ["not json", "[1, 2]", '{"cluster": 5}'])
def test_a_tf_config_that_is_no_cluster_description_names_tf_config(tf_config, monkeypatch,
                                                                    tmp_path, capsys):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    assert main(DEMO + [f"run_dir={tmp_path / 'run'}"]) == 2
    assert _error(capsys).startswith("error: the environment variable TF_CONFIG is not a "
                                     "valid cluster description (")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("pair, message", [
    ("binary_optimizer.gamma=inf", "binary_optimizer.gamma must be finite and in (0, 1], got inf"),
    ("binary_optimizer.gamma=-Infinity", "binary_optimizer.gamma must be finite and in (0, 1], "
                                         "got -inf"),
    ("binary_optimizer.gamma=nan", "binary_optimizer.gamma must be finite and in (0, 1], got nan"),
    ("binary_optimizer.threshold=inf", "binary_optimizer.threshold must be a finite float >= 0, "
                                       "got inf"),
    ("learning_rate=NaN", "learning_rate must be a finite number, got nan"),
    ("epochs=inf", "epochs must be an integer, got inf"),
])
def test_inf_and_nan_are_numbers_out_of_range_not_words(pair, message, tmp_path, capsys):
    assert main(["demo", pair, f"run_dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {message}") and "must be a number" not in err, err
    assert not (tmp_path / "r").exists()


def test_a_string_field_keeps_inf_as_its_text():
    from rethink_bnn.experiments.cli.train import configured, parse_pairs

    task = configured(Demo, parse_pairs(["run_dir=inf"], "demo"))
    assert task.run_dir == "inf" and isinstance(task.run_dir, str)


@pytest.mark.slow
def test_a_sigterm_whose_exception_python_dropped_still_stops_the_run(tmp_path, capsys):
    """The handler's exception can land in a `__del__`, where Python prints and drops it:
    the flag it sets stops the run at the next batch, resumable (exit 143)."""
    from rethink_bnn.experiments.cli.errors import TERMINATION
    from rethink_bnn.experiments.training.console import StopWhenTerminated

    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    batches = []
    TERMINATION.set()  # as after a dropped Terminated
    try:
        with pytest.raises(BaseException) as stopped:
            model.fit(tf.ones((8, 2)), tf.ones((8, 1)), batch_size=2, verbose=0,
                      callbacks=[StopWhenTerminated(), tf.keras.callbacks.LambdaCallback(
                          on_train_batch_end=lambda batch, logs: batches.append(batch))])
    finally:
        TERMINATION.clear()
    assert type(stopped.value).__name__ == "Terminated" and batches == []
    run_dir = tmp_path / "run"
    TERMINATION.set()  # main starts afresh: an earlier run's flag is not this one's
    assert main(DEMO + [f"run_dir={run_dir}"]) == 0


def test_the_programs_process_collects_garbage_less_often_and_main_leaves_a_callers_be():
    """Tracing makes objects by the hundred thousand: `python -m rethink_bnn.train`
    collects every 10,000 new objects, not Python's 700; `main` called in a notebook's
    process (as here) leaves its collector as it is."""
    import gc
    import subprocess
    import sys

    probe = ("import gc, runpy, sys\nsys.argv = ['train', '--help']\ntry:\n"
             "    runpy.run_module('rethink_bnn.train', run_name='__main__')\n"
             "except SystemExit:\n    print(gc.get_threshold()[0])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "10000", done.stderr[-2000:]
    before = gc.get_threshold()
    gc.set_threshold(1234, 10, 10)  # a caller's own
    try:
        assert main(["--help"]) == 0
        assert gc.get_threshold() == (1234, 10, 10)
    finally:
        gc.set_threshold(*before)
