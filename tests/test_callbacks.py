import csv
import math

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import rethink_bnn as rb
from rethink_bnn.optimizers import SkipNonFinite
from tests.helpers import (
    BINARY_OPTIMIZERS,
    binary_adam,
    binary_kernels,
    bop_adam,
    dense_bnn,
    over_binary_classes,
    toy_data,
)

LOSS = "sparse_categorical_crossentropy"


class _TrueFlips(tf.keras.callbacks.Callback):
    """Counts flips independently, from kernel snapshots around every step."""

    def __init__(self):
        super().__init__()
        self.per_step = []  # per step: {layer: flips}
        self.batch_logs = []

    def on_train_batch_begin(self, batch, logs=None):
        self._before = [k.numpy() for k in binary_kernels(self.model)]

    def on_train_batch_end(self, batch, logs=None):
        after = [k.numpy() for k in binary_kernels(self.model)]
        names = [k.name.split("/")[0] for k in binary_kernels(self.model)]
        self.per_step.append(
            {n: int(np.sum(a != b)) for n, a, b in zip(names, after, self._before)}
        )
        self.batch_logs.append(dict(logs))


def _fit(callbacks, epochs=2, model=None, make=BINARY_OPTIMIZERS["bop"]):
    model = model or dense_bnn()
    if model.optimizer is None:
        model.compile(binary_adam(make), loss=LOSS)
    x, y = toy_data(n=160)
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0,
                        callbacks=callbacks)
    return model, history


def _step_scalars(folder, tag):
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}


@over_binary_classes
@pytest.mark.slow
def test_step_and_epoch_flips_match_the_weights(make, tmp_path):
    truth = _TrueFlips()
    csv_path = tmp_path / "log.csv"
    model, history = _fit([rb.FlipLogger(str(tmp_path), update_freq=1), truth,
                           tf.keras.callbacks.CSVLogger(csv_path)], make=make)
    sizes = {k.name.split("/")[0]: k.shape.num_elements() for k in binary_kernels(model)}
    n = sum(sizes.values())
    assert len(truth.per_step) == 10
    flips = _step_scalars(tmp_path / "flips", "batch_flips")
    pi = _step_scalars(tmp_path / "flips", "batch_pi")
    assert sorted(flips) == list(range(1, 11))  # against the optimizer step
    for step, true_flips in enumerate(truth.per_step, start=1):
        assert flips[step] == sum(true_flips.values())
        for layer, count in true_flips.items():
            assert _step_scalars(tmp_path / "flips", f"batch_flips/{layer}")[step] == count
            assert _step_scalars(tmp_path / "flips", f"batch_flip_ratio/{layer}")[step] == \
                pytest.approx(count / sizes[layer])
        assert pi[step] == pytest.approx(math.log(sum(true_flips.values()) / n + 1e-9))
    # per-step values stay out of the batch logs: Keras' progress bar would average them
    assert not any("flips" in logs for logs in truth.batch_logs)
    per_epoch = [sum(sum(f.values()) for f in truth.per_step[e * 5:(e + 1) * 5]) for e in range(2)]
    assert history.history["flips"] == per_epoch
    assert all(per_epoch)  # flips in each epoch
    assert history.history["flip_ratio"] == pytest.approx([f / n for f in per_epoch])
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["flips"]) for r in rows] == per_epoch
    assert "pi/binary_1" in rows[0]


@pytest.mark.slow
def test_update_freq_logs_the_mean_per_step_over_the_window(tmp_path):
    truth = _TrueFlips()
    _fit([rb.FlipLogger(str(tmp_path), update_freq=4, per_layer=False), truth], epochs=2)
    totals = [sum(f.values()) for f in truth.per_step]
    logged = _step_scalars(tmp_path / "flips", "batch_flips")
    assert sorted(logged) == [4, 8]
    assert logged[4] == pytest.approx(sum(totals[0:4]) / 4)
    assert logged[8] == pytest.approx(sum(totals[4:8]) / 4)
    events = EventAccumulator(str(tmp_path / "flips"))
    events.Reload()
    assert "batch_flips/binary_1" not in events.Tags()["tensors"]  # per_layer=False


@pytest.mark.slow
def test_a_second_fit_counts_only_its_own_flips():
    model, _ = _fit([rb.FlipLogger()], epochs=1)
    truth = _TrueFlips()
    _, history = _fit([rb.FlipLogger(), truth], epochs=1, model=model)
    assert history.history["flips"] == [sum(sum(f.values()) for f in truth.per_step)]


@pytest.mark.slow
def test_tensorboard_scalars(tmp_path):
    _, history = _fit([rb.FlipLogger(log_dir=str(tmp_path), update_freq=1)], epochs=2)
    events = EventAccumulator(str(tmp_path / "flips"), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"batch_flips", "batch_pi", "epoch_flips", "epoch_flip_ratio/binary_2"} <= tags
    epoch_flips = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("epoch_flips")]
    assert epoch_flips == history.history["flips"]
    assert [e.step for e in events.Tensors("batch_flips")] == list(range(1, 11))
    assert [e.step for e in events.Tensors("epoch_flips")] == [1, 2]  # epochs from 1


def test_a_model_without_bop_is_a_clear_error():
    model = dense_bnn()
    model.compile(tf.keras.optimizers.Adam(), loss=LOSS)
    with pytest.raises(ValueError, match="FlipLogger found no Bop"):
        _fit([rb.FlipLogger()], model=model)


@pytest.mark.parametrize("update_freq", [0, -1, "batch", 1.5, True])
@pytest.mark.parametrize("logger", [rb.FlipLogger, rb.BatchMetricLogger])
def test_bad_update_freq_is_refused(logger, update_freq):
    with pytest.raises(ValueError, match="update_freq must be a positive int or 'epoch'"):
        logger(log_dir=None, update_freq=update_freq)


class _RunningMeans(tf.keras.callbacks.Callback):
    """Keras' batch logs: running means since the epoch began, and each batch's size."""

    def __init__(self, sizes):
        super().__init__()
        self.sizes, self.logs = sizes, []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append((batch, {k: float(v) for k, v in logs.items()}))


def _per_batch(running, sizes, key):
    """Each batch's own mean, undone from the running means: M_k n_k - M_{k-1} n_{k-1}."""
    values, seen, previous = [], 0, 0.0
    for batch, logs in running.logs:
        if batch == 0:
            seen, previous = 0, 0.0
        size = sizes[batch]
        values.append((logs[key] * (seen + size) - previous * seen) / size)
        seen, previous = seen + size, logs[key]
    return values


def _scalars(folder, tag):
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]


@pytest.mark.parametrize("update_freq", [1, 3])
@pytest.mark.slow
def test_batch_metrics_are_each_window_of_batches_own_mean(tmp_path, update_freq):
    # 150 examples at batch 32: four batches of 32 and one of 22 per epoch, two epochs;
    # windows of 3 steps end at steps 3, 6, 9, the second across the epoch boundary.
    sizes = [32, 32, 32, 32, 22]
    running = _RunningMeans(sizes)
    model = dense_bnn()
    model.compile(bop_adam(threshold=1e-5, gamma=0.05), loss=LOSS, metrics=["accuracy"])
    x, y = toy_data(n=150)
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
              callbacks=[rb.BatchMetricLogger(str(tmp_path), update_freq=update_freq), running])
    examples = sizes * 2
    for key in ("loss", "accuracy"):
        truth = _per_batch(running, sizes, key)
        logged = _scalars(tmp_path / "steps", f"batch_{key}")
        ends = list(range(update_freq, 11, update_freq))
        assert [step for step, _ in logged] == ends
        for step, value in logged:
            window = range(step - update_freq, step)
            expected = (sum(truth[i] * examples[i] for i in window)
                        / sum(examples[i] for i in window))
            assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)
    accuracy = [v for _, v in _scalars(tmp_path / "steps", "batch_accuracy")]
    assert len(set(accuracy)) > 1  # not a running mean's slow drift: batches differ


class _NoMetrics(tf.keras.Model):
    """A model whose training step reports no loss or metric (e.g. a custom train_step)."""

    def __init__(self):
        super().__init__()
        self.inner = dense_bnn()

    def call(self, x):
        return self.inner(x)

    @property
    def metrics(self):
        return []


@pytest.mark.slow
def test_batch_metrics_need_a_loss_or_metric():
    model = _NoMetrics()
    model.compile(bop_adam(), loss=LOSS)
    with pytest.raises(ValueError, match="BatchMetricLogger found no loss"):
        model.fit(*toy_data(n=32), batch_size=32, verbose=0,
                  callbacks=[rb.BatchMetricLogger(None)])


@pytest.mark.slow
def test_batch_metrics_over_two_replicas_are_the_global_batchs(tmp_path):
    """Under MirroredStrategy the metrics' sums are per replica; the logger reads them
    summed, so each step's values are those of one device at the same global batch
    (no BatchNorm: each example's output is independent of the batch)."""
    x, y = toy_data(n=128)
    logged = {}
    for name, strategy in [
        ("one", tf.distribute.get_strategy()),
        ("two", tf.distribute.MirroredStrategy(
            ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())),
    ]:
        tf.keras.utils.set_random_seed(0)
        with strategy.scope():
            model = dense_bnn(batch_norm=False)
            model.compile(bop_adam(threshold=1e-5, gamma=0.05), loss=LOSS,
                          metrics=["accuracy"])
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
        model.fit(data, epochs=2, verbose=0,
                  callbacks=[rb.BatchMetricLogger(str(tmp_path / name))])
        logged[name] = {key: _scalars(tmp_path / name / "steps", f"batch_{key}")
                        for key in ("loss", "accuracy")}
    for key in ("loss", "accuracy"):
        one, two = logged["one"][key], logged["two"][key]
        assert [s for s, _ in one] == [s for s, _ in two] == list(range(1, 9))
        np.testing.assert_allclose([v for _, v in two], [v for _, v in one], rtol=1e-5)



@pytest.mark.slow
def test_a_model_built_by_its_first_step_logs_what_a_built_one_logs(tmp_path):
    """A Sequential without an Input is built (and its optimizer with it, the flip
    counters from 0) in fit's first step, after on_train_begin: the loggers find the
    counters after the first execution (here of 2 steps, each recorded, read at once),
    and log the first epoch as for a model built before."""
    steps_per_execution = 2
    x, y = toy_data(n=64)
    logged = {}
    for built in (True, False):
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential(([tf.keras.Input((12,))] if built else []) + [
            lq.layers.QuantDense(3, kernel_quantizer=lq.quantizers.NoOp(precision=1),
                                 kernel_initializer=rb.initializers.BinaryHeNormal(seed=0),
                                 use_bias=False, name="binary_1"),
            tf.keras.layers.Activation("softmax")])
        assert model.built == built
        model.compile(SkipNonFinite(bop_adam()), loss=LOSS, metrics=["accuracy"],
                      steps_per_execution=steps_per_execution)
        folder = tmp_path / str(built)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[
            rb.FlipLogger(str(folder), read_every=steps_per_execution),
            rb.BatchMetricLogger(str(folder)), rb.SkippedStepLogger()])
        logged[built] = {"history": history.history, **{
            tag: _scalars(folder / kind, tag) for kind, tag in (
                ("flips", "batch_flips"), ("flips", "batch_pi/binary_1"),
                ("flips", "epoch_flips"), ("steps", "batch_loss"))}}
    assert logged[False] == logged[True]
    assert [step for step, _ in logged[True]["batch_flips"]] == list(range(1, 9))
    assert all(logged[True]["history"]["flips"])


def test_a_model_built_by_its_first_step_with_a_restored_optimizer_is_refused(tmp_path):
    """Its flip counters are made in the first step with the restored totals in them:
    counted from 0 they would log this fit's flips and the restored ones together."""
    def model(built):
        return tf.keras.Sequential(([tf.keras.Input((3,))] if built else []) + [
            lq.layers.QuantDense(2, kernel_quantizer=lq.quantizers.NoOp(precision=1),
                                 kernel_initializer="ones", use_bias=False)])

    x, y = np.ones((4, 3)), -np.ones((4, 2))
    trained = model(True)
    trained.compile(rb.Bop(threshold=0.0, gamma=1.0), "mse")
    trained.fit(x, y, verbose=0)
    path = tf.train.Checkpoint(model=trained, optimizer=trained.optimizer).save(
        str(tmp_path / "ckpt"))
    resumed = model(False)
    resumed.compile(rb.Bop(threshold=0.0, gamma=1.0), "mse")
    tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).restore(path)
    with pytest.raises(ValueError, match="cannot tell this fit's flips from those restored "
                                         r"\(the optimizer is at step 1\)"):
        resumed.fit(x, y, verbose=0, callbacks=[rb.FlipLogger(per_layer=False)])
