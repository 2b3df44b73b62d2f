import numpy as np
import pytest
import tensorflow as tf

from rethink_bnn.initializers import BinaryGlorotUniform, BinaryHeNormal, Scaled, SignOf


@pytest.mark.parametrize(
    "initializer", [BinaryHeNormal(seed=3), BinaryGlorotUniform(seed=3), SignOf("glorot_normal")]
)
def test_values_are_exactly_plus_or_minus_one_and_balanced(initializer):
    values = initializer((3, 3, 64, 128)).numpy()
    assert values.dtype == np.float32
    assert set(np.unique(values)) == {-1.0, 1.0}
    assert abs(values.mean()) < 0.02  # sign of a symmetric distribution: p(+1) = 1/2


def test_zero_maps_to_plus_one():
    values = SignOf("zeros")((4, 4)).numpy()
    np.testing.assert_array_equal(values, np.ones((4, 4)))


def test_seed_gives_the_same_weights_and_differs_across_seeds():
    a, b, c = BinaryHeNormal(seed=1), BinaryHeNormal(seed=1), BinaryHeNormal(seed=2)
    np.testing.assert_array_equal(a((32, 32)), b((32, 32)))
    assert not np.array_equal(a((32, 32)), c((32, 32)))


def test_sign_of_the_underlying_initializer():
    real = tf.keras.initializers.HeNormal(seed=5)((16, 16)).numpy()
    np.testing.assert_array_equal(BinaryHeNormal(seed=5)((16, 16)).numpy(), np.where(real >= 0, 1, -1))


@pytest.mark.parametrize(
    "initializer", [BinaryHeNormal(seed=7), BinaryGlorotUniform(), SignOf("he_uniform")]
)
def test_serialization_round_trip(initializer):
    config = tf.keras.initializers.serialize(initializer)
    clone = tf.keras.initializers.deserialize(config)
    assert type(clone) is type(initializer)
    assert clone.get_config() == initializer.get_config()
    assert config["registered_name"] == f"rethink_bnn>{type(initializer).__name__}"


def test_usable_by_name_in_a_layer():
    layer = tf.keras.layers.Dense(8, kernel_initializer="rethink_bnn>BinaryHeNormal")
    layer.build((None, 4))
    assert set(np.unique(layer.kernel.numpy())) <= {-1.0, 1.0}


@pytest.mark.parametrize(
    "initializer",
    [BinaryHeNormal(seed=7), BinaryGlorotUniform(), SignOf("he_uniform"), Scaled("ones", 0.5)],
)
def test_the_legacy_formats_plain_class_name_resolves(initializer):
    # h5 and SavedModel files name our initializers `BinaryHeNormal`, not `rethink_bnn>...`.
    config = {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    clone = tf.keras.initializers.deserialize(config, use_legacy_format=True)
    assert type(clone) is type(initializer)
    assert clone.get_config() == initializer.get_config()


def test_a_layer_with_our_initializer_reloads_from_h5(tmp_path):
    model = tf.keras.Sequential(
        [tf.keras.Input((4,)), tf.keras.layers.Dense(3, kernel_initializer=Scaled(BinaryHeNormal(1), 2.0))]
    )
    model.save(tmp_path / "model.h5")
    loaded = tf.keras.models.load_model(tmp_path / "model.h5")
    initializer = loaded.layers[0].kernel_initializer
    assert isinstance(initializer, Scaled) and isinstance(initializer.initializer, BinaryHeNormal)
    np.testing.assert_array_equal(loaded.layers[0].kernel.numpy(), model.layers[0].kernel.numpy())
