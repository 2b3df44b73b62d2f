"""Mixed precision on the Keras 3 front end, on the backend this process runs: under
`mixed_bfloat16` and `mixed_float16` (which `compile` wraps in Keras' LossScaleOptimizer,
around our MultiOptimizer), `fit` keeps binary kernels exactly ±1, Bop's state in
float32, and flips, with no step refused."""

import keras
import numpy as np
import pytest

from rethink_bnn import keras3 as rk
from rethink_bnn.data import digits_arrays


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_dtype_policy(request.param)
    yield request.param
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
@pytest.mark.slow
def test_fit_keeps_kernels_plus_minus_one_and_state_float32(policy):
    (x, y), _ = digits_arrays()
    x = x.reshape(len(x), -1).astype("float32") / 255.0
    model = keras.Sequential([
        keras.Input((64,)),
        rk.QuantDense(64, input_quantizer=None), keras.layers.BatchNormalization(),
        rk.QuantDense(10, input_quantizer="ste_sign"), keras.layers.BatchNormalization(),
        keras.layers.Activation("softmax", dtype="float32")])
    bop = rk.Bop(threshold=1e-6, gamma=1e-2)
    model.compile(keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        bop, keras.optimizers.Adam(1e-2))), loss="sparse_categorical_crossentropy")
    if policy == "mixed_float16":  # Keras' loss scaling wraps what we compiled with
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(x[:512], y[:512], batch_size=64, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, rk.QuantDense)]
    assert [k.dtype for k in kernels] == ["float32", "float32"]
    for kernel in kernels:
        np.testing.assert_array_equal(np.abs(keras.ops.convert_to_numpy(kernel)), 1.0)
        assert {str(s.dtype) for s in bop.state(kernel).values()} == {"float32"}
    assert int(keras.ops.convert_to_numpy(bop.invalid_hyperparameter_steps)) == 0
    assert keras.ops.convert_to_numpy(bop.flip_counts).sum() > 0
