"""The paper's networks in Keras 3 layers (`rethink_bnn.keras3.networks`): the binary
weights the papers state, ±1 kernels marked for Bop, latent kernels clipped; where the
tf-keras front end is installed, layer for layer the Larq networks (names, output shapes,
parameter counts)."""

import keras
import numpy as np
import pytest

from rethink_bnn.keras3 import networks
from rethink_bnn.keras3.quantizers import is_binary_variable
from tests.keras3.conftest import needs_tf_keras

NETWORKS = {"binarynet": (networks.binarynet, (32, 32, 3), 10_352_000),
            "mnist_net": (networks.mnist_net, (28, 28, 1), 93_088),
            "binary_mlp": (networks.binary_mlp, (8, 8, 1), 64 * 256 + 256 * 256 + 256 * 10)}


def _binary_weights(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables
               if is_binary_variable(v))


@pytest.mark.parametrize("name", NETWORKS)
def test_bop_kernels_are_the_stated_binary_weights_all_plus_or_minus_one(name):
    build, shape, binary = NETWORKS[name]
    model = build(input_shape=shape, seed=3)
    assert _binary_weights(model) == binary
    kernels = [v for v in model.trainable_variables if is_binary_variable(v)]
    assert all(np.all(np.abs(keras.ops.convert_to_numpy(k)) == 1) for k in kernels)
    # each layer its own seed: kernels of equal shape differ
    values = [keras.ops.convert_to_numpy(k) for k in kernels]
    same = [(a, b) for i, a in enumerate(values) for b in values[i + 1:] if a.shape == b.shape]
    assert all(not np.array_equal(a, b) for a, b in same)
    assert tuple(model.output.shape) == (None, 10)


def test_latent_kernels_are_real_binarized_in_the_forward_pass_and_clipped():
    model = networks.binary_mlp(weight_kind="latent", seed=0)
    assert _binary_weights(model) == 0
    dense = model.get_layer("dense_2")
    assert dense.kernel_quantizer == "ste_sign"
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    assert np.any(np.abs(kernel) != 1)
    model.compile(keras.optimizers.SGD(1e4), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 1)).astype("float32")
    model.fit(x, np.arange(32) % 10, batch_size=32, verbose=0)  # a huge step
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    assert np.max(np.abs(kernel)) <= 1 and np.any(np.abs(kernel) == 1)


def test_an_unknown_weight_kind_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"weight_kind must be one of \('bop', 'latent'\)"):
        networks.binary_mlp(weight_kind="latent_unclipped")


@needs_tf_keras
@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("weight_kind", ["bop", "latent"])
def test_layer_for_layer_the_larq_network(name, weight_kind):
    from rethink_bnn import models

    build, shape, _ = NETWORKS[name]
    ours = build(input_shape=shape, weight_kind=weight_kind)
    theirs = getattr(models, name)(input_shape=shape, weight_kind=weight_kind)

    def layers(model, module):
        return [(layer.name, tuple(layer.output.shape)[1:],
                 sum(int(np.prod(w.shape)) for w in layer.trainable_weights),
                 sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights))
                for layer in model.layers if not layer.name.startswith(module)]

    def kinds(model):
        return [type(layer).__name__.replace("MaxPool2D", "MaxPooling2D")
                for layer in model.layers]

    strip = [(n if n.startswith(("conv_", "dense_")) else None, *rest)
             for n, *rest in layers(ours, "input")]
    assert strip == [(n if n.startswith(("conv_", "dense_")) else None, *rest)
                     for n, *rest in layers(theirs, "input")]
    assert kinds(ours) == kinds(theirs)
