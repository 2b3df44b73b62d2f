import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn import models
from tests.helpers import assert_all_binary


def _binary_weights(model):
    return sum(v.shape.num_elements() for v in model.trainable_variables if rb.is_binary_variable(v))


@pytest.mark.slow
def test_binarynet_has_the_papers_10352000_binary_weights():
    model = models.binarynet(weight_kind="bop")
    assert _binary_weights(model) == 10_352_000
    assert_all_binary([v for v in model.trainable_variables if rb.is_binary_variable(v)])
    assert model.output_shape == (None, 10)
    first = model.get_layer("conv_1")
    assert first.input_quantizer is None and first.padding == "valid"
    assert all(model.get_layer(f"conv_{i}").input_quantizer is not None for i in range(2, 7))


@pytest.mark.slow
def test_latent_binarynet_has_clipped_sign_kernels():
    model = models.binarynet(weight_kind="latent")
    kernels = [v for v in model.trainable_variables if "kernel" in v.name]
    assert sum(k.shape.num_elements() for k in kernels) == 10_352_000
    layer = model.get_layer("dense_2")
    assert layer.kernel_quantizer.__class__.__name__ == "SteSign"
    clipped = layer.kernel_constraint(tf.constant([2.0, -3.0, 0.5]))
    np.testing.assert_array_equal(clipped, [1.0, -1.0, 0.5])
    assert not np.all(np.abs(layer.kernel.numpy()) == 1)  # real latent weights


@pytest.mark.parametrize("build", [models.mnist_net, models.binary_mlp])
@pytest.mark.parametrize("weight_kind", ["bop", "latent"])
@pytest.mark.slow
def test_small_networks_run_forward_and_backward(build, weight_kind):
    shape = (28, 28, 1) if build is models.mnist_net else (8, 8, 1)
    model = build(input_shape=shape, weight_kind=weight_kind, seed=1)
    x = tf.random.normal((4, *shape))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert model.output_shape == (None, 10)


def test_unknown_weight_kind_is_refused():
    with pytest.raises(ValueError, match=r"weight_kind must be one of \('bop', 'latent', "
                                         r"'latent_unclipped'\), got 'ternary'"):
        models.binarynet(weight_kind="ternary")


@pytest.mark.experiments  # larq-zoo's networks
def test_unknown_weight_kind_is_refused_for_the_imagenet_networks():
    with pytest.raises(ValueError, match="weight_kind must be one of .'bop', 'latent'. for "
                                         "the ImageNet networks, got 'latent_unclipped'"):
        models.imagenet_network("xnornet", weight_kind="latent_unclipped")


@pytest.mark.parametrize("build", [models.binarynet, models.mnist_net, models.binary_mlp])
def test_weights_is_not_an_argument_of_our_networks(build):
    # Keras and larq-zoo mean pretrained weights by `weights`; ours are `weight_kind`.
    with pytest.raises(TypeError, match="unexpected keyword argument 'weights'"):
        build(weights="bop")


@pytest.mark.parametrize("seed", [None, 3])
@pytest.mark.slow
def test_layers_of_equal_shape_get_different_kernels(seed):
    model = models.binary_mlp(units=(32, 32, 32), seed=seed)
    second, third = model.get_layer("dense_2").kernel, model.get_layer("dense_3").kernel
    assert second.shape == third.shape
    assert not np.array_equal(second.numpy(), third.numpy())
    again = models.binary_mlp(units=(32, 32, 32), seed=seed)
    if seed is not None:  # a seed makes the whole network reproducible
        np.testing.assert_array_equal(again.get_layer("dense_3").kernel.numpy(), third.numpy())


def test_the_mnist_net_is_built_as_the_reports_code_builds_it():
    """Pooling after the first two convolutions only, 'valid' padding: 28 → 26 → 13 →
    11 → 5 → 3, so 3×3×64 = 576 features reach the first dense layer."""
    model = models.mnist_net(weight_kind="bop", seed=0)
    convs = [model.get_layer(f"conv_{i}") for i in (1, 2, 3)]
    assert [c.output_shape[1:3] for c in convs] == [(26, 26), (11, 11), (3, 3)]
    assert all(c.padding == "valid" and c.kernel_size == (3, 3) for c in convs)
    pools = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.MaxPool2D)]
    assert [p.output_shape[1:3] for p in pools] == [(13, 13), (5, 5)]
    assert model.get_layer("dense_1").input_shape == (None, 576)
    assert _binary_weights(model) == 93_088
    assert convs[0].input_quantizer is None and convs[1].input_quantizer is not None


@pytest.mark.experiments
@pytest.mark.slow
def test_larq_zoo_and_scipy_stats_load_only_when_first_used():
    # Every process of ours pays for what the tasks import: larq-zoo (Keras 3's
    # applications, 2.4 s) only for the ImageNet networks, scipy.stats only for the ANOVA;
    # the digits without scikit-learn (which loads scipy.stats); tensorflow-datasets only
    # for a dataset read through it.
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys, rethink_bnn.experiments.tasks\n"
        "from rethink_bnn.models import IMAGENET_NETWORKS\n"
        "assert sorted(IMAGENET_NETWORKS) == ['binary_alexnet', 'birealnet', 'xnornet']\n"
        "assert not {'larq_zoo', 'keras', 'scipy.stats', 'tensorflow_datasets'} & set(\n"
        "    sys.modules), sys.modules.keys()\n"
        "from rethink_bnn.data import digits_arrays\n"
        "assert len(digits_arrays()[0][0]) == 1438\n"
        "assert not {'sklearn', 'scipy.stats', 'tensorflow_datasets'} & set(sys.modules)\n"
        "assert IMAGENET_NETWORKS['xnornet'].__name__ == 'XNORNetFactory'\n"
        "assert 'larq_zoo' in sys.modules\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
