"""Sec 5.3's ImageNet tasks build and train on tfds mock data at small resolution: Bop
and Adam decay linearly to their final values, every binary kernel stays ±1."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rethink_bnn.experiments.data import ImageNetPreprocessing
from rethink_bnn.models import imagenet_network
from rethink_bnn.optimizers import is_binary_variable
from rethink_bnn.experiments.runs.folder import read_csv
from tests.test_experiments import run_task

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

# XNOR-Net's sixth layer is a 6×6 "valid" convolution: it needs 212×212 or more.
SHAPES = {"binary_alexnet_imagenet": (64, 64, 3), "birealnet_imagenet": (64, 64, 3),
          "xnornet_imagenet": (224, 224, 3)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_imagenet_tasks_train_on_mock_data(name, tmp_path):
    run_dir = tmp_path / name
    with tfds.testing.mock_data(num_examples=8):
        summary = run_task(name, epochs=2, batch_size=4, input_shape=SHAPES[name],
                           run_dir=str(run_dir),
                           **{"dataset.data_dir": str(tmp_path / "tfds")})
    assert summary["epochs_run"] == 2 and summary["test_examples"] == 8
    assert summary["flips_total"] > 0 and np.isfinite(summary["test_loss"])
    log = read_csv(run_dir / "log.csv")
    # linear over the run's 4 steps; the log shows the value its epoch's last step used
    for row in log:
        done = (int(row["step"]) - 1) / 4
        assert float(row["gamma"]) == pytest.approx(1e-4 + done * (1e-6 - 1e-4))
        assert float(row["learning_rate"]) == pytest.approx(2.5e-3 + done * (5e-6 - 2.5e-3))
    assert [int(row["step"]) for row in log] == [2, 4]
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    kernels = [n for n in reader.get_variable_to_shape_map()
               if n.startswith("model/") and n.endswith("kernel/.ATTRIBUTES/VARIABLE_VALUE")]
    tensors = [reader.get_tensor(n) for n in kernels]
    binary = [k for k in tensors if np.all(np.abs(k) == 1.0)]  # every value -1 or 1
    assert sum(k.size for k in binary) == summary["binary_weights"]


def test_bop_networks_hold_binary_marked_kernels_of_plus_minus_one():
    # (the tasks' test checks all three networks' kernels through their checkpoints)
    network, shape = "birealnet", (64, 64, 3)
    model = imagenet_network(network, shape, num_classes=10, seed=0)
    binary = [v for v in model.trainable_variables if is_binary_variable(v)]
    assert len(binary) >= 5
    for v in binary:
        values = v.numpy()
        np.testing.assert_array_equal(np.abs(values), np.ones_like(values))
        assert 0.3 < np.mean(values > 0) < 0.7  # signs of a random init, not all +1
    latent = imagenet_network(network, shape, num_classes=10, weight_kind="latent", seed=0)
    assert not any(is_binary_variable(v) and set(np.unique(v.numpy())) <= {-1.0, 1.0}
                   for v in latent.trainable_variables)


def test_imagenet_preprocessing_crops_resizes_and_normalizes():
    pre = ImageNetPreprocessing()
    from zookeeper import configure
    configure(pre, {"input_shape": (32, 32, 3)})
    image = tf.cast(tf.random.stateless_uniform([50, 70, 3], [0, 1], maxval=256, dtype=tf.int32),
                    tf.uint8)
    example = {"image": image, "label": tf.constant(3, tf.int64),
               "seed": tf.constant([0, 5], tf.int64)}
    train = pre.input(example, training=True)
    again = pre.input(example, training=True)
    other = pre.input({**example, "seed": tf.constant([0, 6], tf.int64)}, training=True)
    assert train.shape == (32, 32, 3) and train.dtype == tf.float32
    np.testing.assert_array_equal(train, again)  # a function of the example's seed
    assert not np.array_equal(train, other)
    test = pre.input(example, training=False)
    assert test.shape == (32, 32, 3)
    assert abs(float(tf.reduce_mean(test))) < 0.5  # normalized: about zero mean
    with pytest.raises(ValueError, match="network must be one of"):
        imagenet_network("alexnet")
