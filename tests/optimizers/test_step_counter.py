"""One step count that every schedule reads, and hyperparameters reported for one step.

Regression tests for two defects of the design before `SkipNonFinite`: under Keras'
LossScaleOptimizer the sub-optimizers of a CaseOptimizer counted only the steps they
applied (so γ's and Adam's schedules fell one step behind per overflow, and no skipped
step was counted), and Bop reported γ of the latest step but τ of the next one.
"""

import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers import Bop, CaseOptimizer, SkipNonFinite, is_binary_variable
from tests.helpers import dense_bnn, toy_data

# A value per step, different at every step, for γ, τ and Adam's learning rate.
STEPS = 8
GAMMAS = [0.5 / (i + 1) for i in range(STEPS + 1)]
THRESHOLDS = [1e-3 * (i + 1) for i in range(STEPS + 1)]
RATES = [1e-2 / (i + 1) for i in range(STEPS + 1)]


def _per_step(values):
    return tf.keras.optimizers.schedules.PiecewiseConstantDecay(
        [i + 0.5 for i in range(len(values) - 1)], values)


def _case():
    return CaseOptimizer(
        (is_binary_variable, Bop(threshold=_per_step(THRESHOLDS), gamma=_per_step(GAMMAS))),
        default_optimizer=tf.keras.optimizers.Adam(_per_step(RATES)))


def _apply(optimizer, model, pattern):
    """Apply one step per character of `pattern`: good gradients ('g') or gradients that
    overflow ('o', an Inf in one gradient)."""
    for i, kind in enumerate(pattern):
        grads = [np.full(v.shape, 1e-3 * (i + 1), np.float32) for v in model.trainable_variables]
        if kind == "o":
            grads[-1].flat[0] = np.inf
        optimizer.apply_gradients(zip([tf.constant(g) for g in grads], model.trainable_variables))


@pytest.mark.parametrize("wrapped", [False, True], ids=["case", "case-in-skip-non-finite"])
def test_loss_scale_overflows_keep_every_counter_on_the_step(wrapped):
    model = dense_bnn()
    case = _case()
    inner = SkipNonFinite(case) if wrapped else case
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(inner)
    _apply(optimizer, model, "gogog")
    bop, adam = case.optimizers
    assert int(case.iterations) == int(optimizer.iterations) == 5
    assert int(bop.iterations) == int(adam.iterations) == 5  # were 3
    # The last step was step 4: its schedules' values, not step 2's.
    assert float(bop.gamma) == pytest.approx(GAMMAS[4])
    assert float(bop.threshold) == pytest.approx(THRESHOLDS[4])
    assert float(adam.learning_rate) == pytest.approx(RATES[4])
    if wrapped:
        assert int(inner.skipped_steps) == 2  # the overflows the LossScaleOptimizer skipped
        assert rb.optimizers.skipping_wrappers(optimizer) == [inner]


def test_skipped_steps_count_both_wrappers_skips_once_each():
    model = dense_bnn()
    case = _case()
    skipping = SkipNonFinite(case)
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(skipping)
    _apply(optimizer, model, "gog")
    _apply(skipping, model, "ogg")  # this overflow is skipped by SkipNonFinite itself
    assert int(case.iterations) == 6 and int(skipping.skipped_steps) == 2
    assert [int(o.iterations) for o in case.optimizers] == [6, 6]


@pytest.mark.slow
def test_adam_after_skipped_steps_matches_adam_that_counted_them():
    """Adam's bias correction reads the one step count: its moments and weights after
    'g o g' equal those of an Adam that applied the first step, had its counter
    advanced by one, then applied the third."""
    model, reference_model = dense_bnn(), dense_bnn()
    case = _case()
    _apply(tf.keras.mixed_precision.LossScaleOptimizer(SkipNonFinite(case)), model, "gog")
    bop = Bop(threshold=_per_step(THRESHOLDS), gamma=_per_step(GAMMAS))
    adam = tf.keras.optimizers.Adam(_per_step(RATES))
    reference = CaseOptimizer((is_binary_variable, bop), default_optimizer=adam)
    _apply(reference, reference_model, "g")
    reference.iterations.assign_add(1)  # the step a LossScaleOptimizer skipped
    grads = [np.full(v.shape, 3e-3, np.float32) for v in reference_model.trainable_variables]
    reference.apply_gradients(zip([tf.constant(g) for g in grads],
                                  reference_model.trainable_variables))
    for ours, theirs in zip(model.trainable_variables, reference_model.trainable_variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.name)


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
@pytest.mark.slow
def test_gamma_and_threshold_are_reported_for_the_same_step(mode):
    model = dense_bnn()
    case = _case()
    bop = case.optimizers[0]
    assert float(bop.gamma) == pytest.approx(GAMMAS[0])  # before any step: step 0's
    assert float(bop.threshold) == pytest.approx(THRESHOLDS[0])
    step = case.apply_gradients if mode == "eager" else tf.function(case.apply_gradients)
    for i in range(3):
        grads = [tf.fill(v.shape, 1e-3) for v in model.trainable_variables]
        step(list(zip(grads, model.trainable_variables)))
        # Both the values step i used (τ used to be step i + 1's).
        assert float(bop.gamma) == pytest.approx(GAMMAS[i])
        assert float(bop.threshold) == pytest.approx(THRESHOLDS[i])
        assert bop.hyperparameters == pytest.approx({"gamma": GAMMAS[i],
                                                     "threshold": THRESHOLDS[i]})


@pytest.mark.experiments  # the training loop's callbacks
@pytest.mark.slow
def test_the_epoch_log_holds_the_hyperparameters_of_the_epochs_last_step():
    from rethink_bnn.experiments.training.loop_callbacks import HyperparameterLogger

    model = dense_bnn()
    model.compile(SkipNonFinite(_case()), loss="sparse_categorical_crossentropy")
    x, y = toy_data(n=64)
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[HyperparameterLogger()])  # 4 steps per epoch
    assert history.history["step"] == [4, 8]
    assert history.history["gamma"] == pytest.approx([GAMMAS[3], GAMMAS[7]])
    assert history.history["threshold"] == pytest.approx([THRESHOLDS[3], THRESHOLDS[7]])
    assert history.history["learning_rate"] == pytest.approx([RATES[3], RATES[7]])
