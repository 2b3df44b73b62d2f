"""Per-step logs recorded on the device: the same series with any steps_per_execution, no
host read per step, and a resumed run's logs equal to the uninterrupted run's."""

import json

import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn import callbacks as callbacks_module
from rethink_bnn.events import read_scalars
from rethink_bnn.step_record import StepRecorder
from tests.helpers import binary_kernels, bop_adam, dense_bnn, toy_data

# 352 digits at batch 32: 11 steps an epoch, not a multiple of 5
DEMO = {"deterministic": True, "flip_log_freq": 1, "step_log_freq": 1,
        "dataset.train_limit": 352, "epochs": 2}


def _run(run_dir, **fields):
    from zookeeper import configure

    from rethink_bnn.experiments.tasks import Demo

    task = Demo()
    configure(task, {"run_dir": str(run_dir), **DEMO, **fields})
    return task.run()


def _series(run_dir):
    """Every per-step TensorBoard series of a run: {tag: (steps, values)}."""
    flips = run_dir / "tensorboard" / "flips"
    tags = ["batch_flips", "batch_pi"] + [
        f"batch_flips/{name}" for name in ("quant_dense", "quant_dense_1", "quant_dense_2")]
    found = read_scalars(flips, tags)
    found.update(read_scalars(run_dir / "tensorboard" / "steps",
                              ["batch_loss", "batch_accuracy"]))
    return found


def _kernels(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.startswith("model/")}


@pytest.fixture(scope="module")
def one_step_per_call(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("spe1") / "run"
    _run(run_dir)
    return run_dir


@pytest.mark.experiments
def test_steps_per_execution_keeps_every_step_of_every_series(one_step_per_call, tmp_path):
    _run(tmp_path / "run", steps_per_execution=5)
    ours, reference = _series(tmp_path / "run"), _series(one_step_per_call)
    assert len(reference["batch_flips"][0]) == 22  # every step of both epochs
    for tag, (steps, values) in reference.items():
        np.testing.assert_array_equal(ours[tag][0], steps, err_msg=tag)
        np.testing.assert_array_equal(ours[tag][1], values, err_msg=tag)
    for name, value in _kernels(one_step_per_call).items():
        np.testing.assert_array_equal(_kernels(tmp_path / "run")[name], value, err_msg=name)


@pytest.mark.experiments
def test_a_resumed_run_with_steps_per_execution_logs_what_an_uninterrupted_one_does(
        one_step_per_call, tmp_path):
    from rethink_bnn.experiments.runs.folder import write_json_atomically

    run_dir = tmp_path / "run"
    _run(run_dir, steps_per_execution=5, epochs=1)
    (run_dir / "summary.json").unlink()  # as if killed after epoch 1 of 2
    config = json.loads((run_dir / "config.json").read_text())
    write_json_atomically(run_dir / "config.json", {**config, "epochs": 2})
    _run(run_dir, steps_per_execution=5)
    ours, reference = _series(run_dir), _series(one_step_per_call)
    for tag, (steps, values) in reference.items():
        np.testing.assert_array_equal(ours[tag][0], steps, err_msg=tag)
        np.testing.assert_array_equal(ours[tag][1], values, err_msg=tag)


def test_per_step_logging_reads_the_host_a_few_times_per_epoch_not_every_step(
        tmp_path, monkeypatch):
    reads = []
    read_now = callbacks_module._read_now
    monkeypatch.setattr(callbacks_module, "_read_now",
                        lambda variables: reads.append("counters") or read_now(variables))
    model = dense_bnn()
    model.compile(rb.optimizers.SkipNonFinite(bop_adam()), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = toy_data(n=50 * 8)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[
        rb.callbacks.FlipLogger(str(tmp_path), update_freq=1),
        rb.callbacks.BatchMetricLogger(str(tmp_path), update_freq=1)])
    recorder = getattr(model, "_rethink_bnn_step_recorder")
    assert isinstance(recorder, StepRecorder)
    # 50 steps: the buffers read once, the flip counters at the start and the epoch's ends
    assert recorder.reads == 1
    assert len(reads) <= 3
    steps, values = read_scalars(tmp_path / "flips", ["batch_flips"])["batch_flips"]
    assert list(steps) == list(range(1, 51)) and values.sum() > 0
    steps, accuracy = read_scalars(tmp_path / "steps", ["batch_accuracy"])["batch_accuracy"]
    assert list(steps) == list(range(1, 51))
    # each value is one batch of 8's own accuracy
    assert set(np.round(accuracy * 8, 6)) <= set(range(9))


def test_read_every_bounds_the_buffers_and_gives_the_same_series(tmp_path):
    def fit(log_dir, read_every):
        model = dense_bnn()
        model.compile(bop_adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=3)
        x, y = toy_data(n=20 * 8)
        tf.keras.utils.set_random_seed(0)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[
            rb.callbacks.FlipLogger(str(log_dir), read_every=read_every),
            rb.callbacks.BatchMetricLogger(str(log_dir), read_every=read_every)])
        return getattr(model, "_rethink_bnn_step_recorder")

    whole, chunked = fit(tmp_path / "a", None), fit(tmp_path / "b", 7)
    assert whole.reads == 2 and chunked.reads > 2 and chunked.capacity < whole.capacity
    for folder, tag in (("flips", "batch_flips"), ("steps", "batch_loss")):
        a = read_scalars(tmp_path / "a" / folder, [tag])[tag]
        b = read_scalars(tmp_path / "b" / folder, [tag])[tag]
        assert list(a[0]) == list(range(1, 41))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.experiments
def test_steps_per_execution_auto_is_one_on_a_cpu_and_a_given_value_is_kept():
    from zookeeper import configure

    from rethink_bnn.experiments.tasks import TASKS

    for value, expected in (("auto", 1), (5, 5)):
        task = TASKS["demo"]()
        configure(task, {"steps_per_execution": value})
        front = task.front
        front.prepare(task)
        assert front.steps_per_execution(task, steps_per_epoch=41) == expected


@pytest.mark.experiments
@pytest.mark.parametrize("value", ["0", "-3", "1.5", "True", "fast"])
def test_steps_per_execution_must_be_a_positive_integer(value, tmp_path, capsys):
    from rethink_bnn.train import main

    assert main(["demo", f"steps_per_execution={value}", f"run_dir={tmp_path / 'r'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "steps_per_execution" in err and "\n" not in err
    assert not (tmp_path / "r").exists()


class _EpochFlips(tf.keras.callbacks.Callback):
    """Each epoch's flips counted from the kernels themselves, and the steps' batch
    logs (Keras' running means: the last one of an epoch is the epoch's loss)."""

    def __init__(self):
        super().__init__()
        self.flips = []

    def on_epoch_begin(self, epoch, logs=None):
        self._before = [k.numpy() for k in binary_kernels(self.model)]
        self._count = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._step_before = [k.numpy() for k in binary_kernels(self.model)]

    def on_train_batch_end(self, batch, logs=None):
        self._count += sum(int(np.sum(k.numpy() != b))
                           for k, b in zip(binary_kernels(self.model), self._step_before))

    def on_epoch_end(self, epoch, logs=None):
        self.flips.append(self._count)


def _loggers(spec, root):
    """'F:None' -> FlipLogger(read_every=None), 'B:3' -> BatchMetricLogger(read_every=3),
    each writing to its own folder under `root`."""
    made = []
    for i, item in enumerate(spec):
        kind, read_every = item.split(":")
        read_every = None if read_every == "None" else int(read_every)
        cls = rb.callbacks.FlipLogger if kind == "F" else rb.callbacks.BatchMetricLogger
        made.append(cls(str(root / f"{i}{kind}"), read_every=read_every))
    return made


def _check_complete(spec, root, steps, per_step_flips):
    """Every logger's per-step series holds every step, and the flip series sum to the
    flips counted from the kernels; the loss series are finite."""
    for i, item in enumerate(spec):
        if item[0] == "F":
            got, values = read_scalars(root / f"{i}F" / "flips", ["batch_flips"])["batch_flips"]
            assert list(got) == steps, item
            np.testing.assert_array_equal(values, per_step_flips, err_msg=item)
        else:
            got, values = read_scalars(root / f"{i}B" / "steps", ["batch_loss"])["batch_loss"]
            assert list(got) == steps, item
            assert np.isfinite(values).all(), item


# Orders, numbers and options of the per-step loggers: each writes every step, whatever
# the others (a logger that needs more room once replaced the recorder an earlier one read).
LOGGER_SETS = [("F:None", "B:100"), ("B:100", "F:None"), ("F:3", "B:None", "F:100"),
               ("B:2", "B:None", "F:7", "F:None"), ("F:None", "F:None")]


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_every_order_and_option_of_the_step_loggers_logs_every_step(
        steps_per_execution, tmp_path):
    x, y = toy_data(n=9 * 8)  # 9 steps an epoch
    model = dense_bnn()
    for fit, spec in enumerate(LOGGER_SETS):  # one model fit again and again, as users do
        if fit == 3:  # compiled again, with another optimizer: buffers of other widths
            model = tf.keras.Model(model.inputs, model.outputs)
        if fit in (0, 3):
            model.compile(bop_adam(gamma=0.05, threshold=1e-5),
                          loss="sparse_categorical_crossentropy",
                          steps_per_execution=steps_per_execution)
        first = int(model.optimizer.iterations.numpy())
        truth = _EpochFlips()
        step_flips = []

        class _PerStep(tf.keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.before = [k.numpy() for k in binary_kernels(self.model)]

            def on_train_batch_end(self, batch, logs=None):
                step_flips.append(sum(int(np.sum(k.numpy() != b)) for k, b in
                                      zip(binary_kernels(self.model), self.before)))

        root = tmp_path / f"fit{fit}"
        loggers = _loggers(spec, root)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                  callbacks=loggers + ([truth, _PerStep()] if steps_per_execution == 1
                                       else []))
        steps = list(range(first + 1, first + 19))
        if steps_per_execution == 1:
            assert len(step_flips) == 18 and sum(step_flips) == sum(truth.flips)
            _check_complete(spec, root, steps, step_flips)
        else:  # the callbacks see every 4th step only: compare with the flip series itself
            series = [read_scalars(root / f"{i}F" / "flips", ["batch_flips"])["batch_flips"]
                      for i, item in enumerate(spec) if item[0] == "F"]
            _check_complete(spec, root, steps, series[0][1])
            assert series[0][1].sum() > 0


def test_unknown_epoch_length_reads_as_it_goes_and_loses_no_step(tmp_path):
    """A dataset of unknown length (a generator): the loggers read every 1024 steps, so an
    epoch longer than that still keeps every step."""
    x, y = toy_data(n=1030)
    model = dense_bnn()
    model.compile(bop_adam(gamma=0.05, threshold=1e-5), loss="sparse_categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(1).filter(
        lambda a, b: True)  # filter: cardinality unknown
    logger = rb.callbacks.FlipLogger(str(tmp_path))
    history = model.fit(data, epochs=1, verbose=0, callbacks=[
        logger, rb.callbacks.BatchMetricLogger(str(tmp_path))])
    steps, values = read_scalars(tmp_path / "flips", ["batch_flips"])["batch_flips"]
    assert list(steps) == list(range(1, 1031))
    assert values.sum() == history.history["flips"][0]
    steps, _ = read_scalars(tmp_path / "steps", ["batch_loss"])["batch_loss"]
    assert list(steps) == list(range(1, 1031))


def test_a_recording_model_records_in_its_own_train_step_and_reloads(tmp_path):
    """What the tasks train: the per-step series of a wrapped model, with nothing set on
    the instance; saved to .keras, it reloads as a RecordingModel after import
    rethink_bnn alone and records again."""
    from rethink_bnn.step_record import RecordingModel

    series = {}
    for kind in ("wrapped", "recording"):
        model = dense_bnn() if kind == "wrapped" else RecordingModel.of(dense_bnn())
        model.compile(bop_adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = toy_data(n=8 * 12)
        logs = str(tmp_path / kind)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[
            rb.callbacks.FlipLogger(logs, update_freq=1),
            rb.callbacks.BatchMetricLogger(logs, update_freq=1)])
        assert ("train_step" in vars(model)) == (kind == "wrapped")
        series[kind] = {**read_scalars(tmp_path / kind / "flips", ["batch_flips"]),
                        **read_scalars(tmp_path / kind / "steps", ["batch_loss"])}
    for tag, (steps, values) in series["wrapped"].items():
        assert len(steps) == 12, tag
        np.testing.assert_array_equal(series["recording"][tag][0], steps)
        np.testing.assert_allclose(series["recording"][tag][1], values, rtol=1e-6)
    model.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    assert type(again) is RecordingModel and "train_step" not in vars(again)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
