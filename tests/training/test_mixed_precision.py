"""Binary optimizers under Keras mixed precision: kernels stay exactly ±1 and float32,
the optimizer's state float32, and loss scaling changes no flip."""

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import BINARY_OPTIMIZERS, binary_adam, binary_kernels, bop_adam, dense_bnn, digits

LOSS = "sparse_categorical_crossentropy"


class _Trace(tf.keras.callbacks.Callback):
    """Kernels and the binary optimizer's state after every step."""

    def __init__(self, binary):
        super().__init__()
        self.binary, self.kernels, self.averages = binary, [], []

    def on_train_batch_end(self, batch, logs=None):
        self.kernels.append([k.numpy() for k in binary_kernels(self.model)])
        self.averages.append([slot.numpy() for k in binary_kernels(self.model)
                              for slot in self.binary.state(k).values()])


def _small_loss_scale(optimizer):
    # 2**8 does not overflow float16 on the first step (Keras' default, 2**15, does, and
    # skips it), so the first steps are comparable with float32's.
    return tf.keras.mixed_precision.LossScaleOptimizer(optimizer, initial_scale=2.0**8)


def _train(optimizer_wrapper=lambda o: o, policy="float32", epochs=2, optimizer="bop"):
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        tf.keras.utils.set_random_seed(0)
        (x, y), _ = digits()
        model = dense_bnn(n_in=64, n_classes=10, units=64)
        # Bop's τ for digits' gradients; the others' rules do not depend on their scale
        case = (bop_adam(threshold=1e-6, gamma=1e-2) if optimizer == "bop"
                else binary_adam(BINARY_OPTIMIZERS[optimizer]))
        model.compile(optimizer_wrapper(case), loss=LOSS, metrics=["accuracy"])
        bop = case.optimizers[0]
        trace = _Trace(bop)
        history = model.fit(x.reshape(len(x), -1), y, batch_size=64, epochs=epochs,
                            shuffle=False, verbose=0, callbacks=[trace])
        return model, bop, trace, history
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)


@pytest.fixture(scope="module")
def unscaled():
    """The float32 run without loss scaling, which both scaled runs are compared with."""
    return _train()[2]


@pytest.mark.parametrize("dynamic", [True, False])
def test_loss_scaling_changes_no_flip(dynamic, unscaled):
    """A power-of-two loss scale is undone exactly before Bop sees the gradients: every
    flip and every moving average is the unscaled run's, bit for bit."""
    plain = unscaled
    scale = 2.0**12 if dynamic else 2.0**10
    model, _, scaled, _ = _train(
        lambda o: tf.keras.mixed_precision.LossScaleOptimizer(o, dynamic=dynamic,
                                                              initial_scale=scale))
    assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    flips = 0
    for step, (a, b) in enumerate(zip(plain.kernels, scaled.kernels)):
        for k_plain, k_scaled in zip(a, b):
            np.testing.assert_array_equal(k_plain, k_scaled, err_msg=f"step {step}")
        if step:
            flips += sum(int(np.sum(k != p)) for k, p in zip(a, plain.kernels[step - 1]))
    for a, b in zip(plain.averages, scaled.averages):
        for m_plain, m_scaled in zip(a, b):
            np.testing.assert_array_equal(m_plain, m_scaled)
    assert len(plain.kernels) == 46 and flips > 0


@pytest.mark.parametrize("optimizer, policy", [
    ("bop", "mixed_float16"), ("bop", "mixed_bfloat16"),
    # The others under loss scaling (their rules run on the unscaled float32 gradient
    # either way; float16 and bfloat16 weights: tests/optimizers/test_bop.py).
    ("bop2-unbiased", "mixed_float16"), ("cema", "mixed_float16")],
    ids=["mixed_float16", "mixed_bfloat16", "bop2-unbiased-mixed_float16", "cema-mixed_float16"])
def test_mixed_precision_keeps_kernels_binary_and_the_state_float32(optimizer, policy):
    wrapper = _small_loss_scale if policy == "mixed_float16" else (lambda o: o)
    epochs = 4 if optimizer == "bop" else 2  # (Bop's τ = 1e-6 flips fewer weights)
    model, binary, trace, history = _train(wrapper, policy=policy, epochs=epochs,
                                           optimizer=optimizer)
    assert type(binary) is type(BINARY_OPTIMIZERS[optimizer]())
    kernels = binary_kernels(model)
    assert kernels and all(k.dtype == tf.float32 for k in kernels)
    for step_kernels in trace.kernels:
        for k in step_kernels:
            np.testing.assert_array_equal(np.abs(k), np.ones_like(k))
    assert all(slot.dtype == tf.float32 for k in kernels for slot in binary.state(k).values())
    assert model.layers[1].compute_dtype == policy.split("_")[1]  # it ran in low precision
    flips = sum(int(np.sum(a != b)) for a, b in zip(trace.kernels[0], trace.kernels[-1]))
    assert flips > 0
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["accuracy"][-1] > 0.5  # digits: chance is 0.1
    # the same flips as in float32 for nearly every weight after the first step. (From
    # zero state the others' first step flips every weight whose gradient has its sign,
    # however small: a gradient near 0 that float16 rounds to 0 or the other sign flips
    # differently; 91% of the weights agree.)
    _, _, reference, _ = _train(epochs=1, optimizer=optimizer)
    first = np.concatenate([k.ravel() for k in trace.kernels[0]])
    expected = np.concatenate([k.ravel() for k in reference.kernels[0]])
    assert np.mean(first == expected) > (0.95 if optimizer == "bop" else 0.85)


@pytest.mark.experiments
def test_a_task_in_mixed_float16_checkpoints_the_loss_scale_and_restores_the_policy(tmp_path):
    from tests.training.test_task import _demo

    summary = _demo(tmp_path, epochs=2, precision="mixed_float16",
                    **{"dataset.train_limit": 64}).run()
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    assert summary["flips_total"] > 0 and np.isfinite(summary["test_loss"])
    reader = tf.train.load_checkpoint(str(tmp_path / "run" / "checkpoints"))
    names = reader.get_variable_to_shape_map()
    assert any("loss_scale" in n for n in names)
    kernel = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"  # dense_1's
    values = reader.get_tensor(kernel)
    assert values.dtype == np.float32 and values.size == 64 * 256
    np.testing.assert_array_equal(np.abs(values), np.ones_like(values))


@pytest.mark.experiments
def test_an_unknown_precision_is_refused(tmp_path):
    from tests.training.test_task import _demo

    with pytest.raises(ValueError, match="precision must be one of float32, mixed_float16, "
                                         "mixed_bfloat16, got 'float16'"):
        _demo(tmp_path, precision="float16").run()
    assert not (tmp_path / "run").exists()
