"""Training under tf.distribute: the strategy is chosen from the machine, and every
replica (two logical CPUs, or two worker processes) keeps the weights of one device at
the same global batch: every flip the same, Bop's averages to float tolerance. (Bop
only: that the replicas agree is tested for every binary optimizer class, on two logical
CPUs, in tests/optimizers/test_case.py; the update under any strategy is their base
class's.)"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.experiments.training.distribution import select_strategy, workers_in_tf_config
from tests.helpers import binary_kernels, bop_adam, toy_data

LOSS = "sparse_categorical_crossentropy"
GLOBAL_BATCH = 32


def _model(batch_norm):
    """A BinaryNet-style MLP: binary dense layers, BatchNorm (synchronized over the
    replicas, so it sees the global batch) or none, sign activations."""
    binary = dict(kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False,
                  kernel_initializer=rb.initializers.BinaryGlorotUniform(seed=0))
    inputs = tf.keras.Input((12,))
    x = lq.layers.QuantDense(32, **binary)(inputs)
    if batch_norm == "synchronized":
        x = tf.keras.layers.BatchNormalization(scale=False, synchronized=True)(x)
    x = lq.layers.QuantDense(3, input_quantizer="ste_sign", **binary)(x)
    if batch_norm == "synchronized":
        x = tf.keras.layers.BatchNormalization(scale=False, synchronized=True)(x)
    return tf.keras.Model(inputs, tf.keras.layers.Activation("softmax")(x))


class _Steps(tf.keras.callbacks.Callback):
    """After every step: this process's copy of each binary kernel and of Bop's state."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy, self.steps = strategy, []

    def on_train_batch_end(self, batch, logs=None):
        local = self.strategy.experimental_local_results
        bop = self.model.optimizer.optimizers[0]
        state = [slot for v in bop.binary_variables for slot in bop.state(v).values()]
        self.steps.append(([local(k)[0].numpy() for k in binary_kernels(self.model)],
                           [local(slot)[0].numpy() for slot in state]))
        self.replicas = [[r.numpy() for r in local(k)] for k in binary_kernels(self.model)]


def train(strategy, batch_norm, epochs=3):
    """Per step, (kernels, Bop's averages) of a 3-epoch run at global batch 32."""
    tf.keras.utils.set_random_seed(0)
    x, y = toy_data(n=128)
    with strategy.scope():
        model = _model(batch_norm)
        model.compile(bop_adam(threshold=1e-4, gamma=0.05), loss=LOSS)
    recorder = _Steps(strategy)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    model.fit(data, epochs=epochs, callbacks=[recorder], verbose=0)
    for replicas in recorder.replicas:  # every replica of this process holds the same
        for replica in replicas[1:]:
            np.testing.assert_array_equal(replica, replicas[0])
    return recorder.steps


def _assert_same_training(reference, other):
    assert len(reference) == len(other) == 12
    flips = 0
    for step, ((kernels, averages), (other_kernels, other_averages)) in enumerate(
            zip(reference, other)):
        for a, b in zip(kernels, other_kernels):
            np.testing.assert_array_equal(a, b, err_msg=f"step {step}: a flip differs")
        for a, b in zip(averages, other_averages):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        if step:
            flips += sum(int(np.sum(a != b)) for a, b in zip(kernels, reference[step - 1][0]))
    assert flips > 0  # real flips were compared


@pytest.mark.parametrize("batch_norm", ["none", "synchronized"])
def test_two_replicas_train_as_one_device(batch_norm):
    one = train(tf.distribute.OneDeviceStrategy("/cpu:0"), batch_norm)
    two = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    _assert_same_training(one, train(two, batch_norm))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.parametrize("batch_norm", ["synchronized"])  # (none: the in-process test)
def test_two_worker_processes_train_as_one_device(batch_norm, tmp_path):
    ports = _free_ports(2)
    script = Path(__file__).with_name("multi_worker.py")
    workers = [subprocess.Popen([sys.executable, str(script), str(i), *map(str, ports),
                                 str(tmp_path / f"worker{i}.npz"), batch_norm],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for i in range(2)]
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output[-3000:]
    one = train(tf.distribute.OneDeviceStrategy("/cpu:0"), batch_norm)
    for i in range(2):
        saved = np.load(tmp_path / f"worker{i}.npz")
        steps = [([saved[f"kernel_{s}_{k}"] for k in range(2)],
                  [saved[f"m_{s}_{k}"] for k in range(2)]) for s in range(int(saved["steps"]))]
        _assert_same_training(one, steps)


def test_auto_picks_the_strategy_in_scope_or_one_device(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert workers_in_tf_config() == 0
    assert select_strategy("auto") is tf.distribute.get_strategy()  # no GPU here
    mirrored = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    with mirrored.scope():
        assert select_strategy("auto") is mirrored
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "chief"}}))
    assert workers_in_tf_config() == 3
    with pytest.raises(ValueError, match="distribution must be one of auto, default, "
                                         "mirrored, multi_worker, tpu, got 'gpus'"):
        select_strategy("gpus")


@pytest.mark.experiments  # a task
def test_a_task_on_two_workers_writes_one_run_folder(tmp_path):
    """`python -m rethink_bnn.train demo` on two workers (TF_CONFIG): both train, the chief
    writes the run folder; the other worker's checkpoints go to a scratch folder, which
    it removes at the end."""
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    command = [sys.executable, "-m", "rethink_bnn.train", "demo", "epochs=2", "verbose=0",
               "dataset.train_limit=64", f"run_dir={tmp_path / 'run'}"]
    scratch = tmp_path / "scratch"  # where the non-chief worker's tempfile goes
    scratch.mkdir()
    workers = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(scratch),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                     "index": i}})}
        workers.append(subprocess.Popen(command, env=env, cwd=tmp_path, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "scratch"]
    assert not [p for p in scratch.iterdir() if p.name.startswith("rethink_bnn_")]  # removed
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["flips_total"] > 0
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-2")
