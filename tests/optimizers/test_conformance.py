"""The BinaryOptimizer contract: an optimizer is its declarations and its rule.

The conformance suite itself is every test over `BINARY_OPTIMIZERS` (tests/helpers.py),
made from the registry (tests/registry.py) that the Keras 3 suite
(tests/keras3/test_conformance.py) runs over too; this module checks that each binary
optimizer we export is listed there, and that a new one written as ARCHITECTURE.md says
(declarations and `update` only) gets the rest from the base.
"""

import numpy as np
import pytest
import tensorflow as tf

import rethink_bnn as rb
from rethink_bnn.optimizers import BinaryOptimizer, bop_update
from rethink_bnn import declarations as hp
from tests import registry
from tests.helpers import BINARY_OPTIMIZERS, dense_bnn, toy_data
from tests.registry import CONFORMANCE


class SameAsBop(BinaryOptimizer):
    """Bop's rule, declared the way a new optimizer is."""

    HYPERPARAMETERS = (hp.rate("gamma", "the rate", default=1e-4),
                       hp.non_negative("threshold", "the threshold", default=1e-8))
    STATE = ("m",)

    def update(self, weight, gradient, state, hyperparameters):
        return bop_update(weight, state["m"], gradient, hyperparameters["gamma"],
                          hyperparameters["threshold"])


def test_every_exported_binary_optimizer_is_in_the_conformance_list():
    """(tests/keras3/test_conformance.py checks the same of rethink_bnn.keras3.)"""
    exported = {obj for obj in vars(rb.optimizers).values()
                if isinstance(obj, type) and issubclass(obj, BinaryOptimizer)
                and obj is not BinaryOptimizer}
    listed = {make.cls for make in BINARY_OPTIMIZERS.values()}
    assert exported <= listed, ("binary optimizers rethink_bnn.optimizers exports that "
                                "tests/registry.py does not list: "
                                f"{sorted(c.__name__ for c in exported - listed)}")
    assert exported == registry.exported_binary_optimizers("tf_keras")


@pytest.mark.parametrize("key", list(CONFORMANCE))
def test_each_entry_is_its_rules_tf_keras_class_with_its_values(key):
    entry, make = CONFORMANCE[key], BINARY_OPTIMIZERS[key]
    assert make.cls.RULE is entry.rule and make.defaults == entry.values
    optimizer = make()
    assert optimizer.hyperparameters == pytest.approx(entry.hyperparameters, rel=1e-6)
    assert {name: getattr(optimizer, name) for name in entry.options} == entry.options


def _train(optimizer, epochs=2):
    x, y = toy_data(n=128)
    model = dense_bnn()
    model.compile(rb.CaseOptimizer((rb.is_binary_variable, optimizer),
                                   default_optimizer=tf.keras.optimizers.Adam(1e-2)),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    return model


@pytest.mark.slow
def test_declarations_and_a_rule_are_a_whole_optimizer():
    ours = _train(SameAsBop(threshold=1e-5, gamma=0.05))
    bop = _train(rb.Bop(threshold=1e-5, gamma=0.05))
    for a, b in zip(ours.variables, bop.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    optimizer = ours.optimizer.optimizers[0]
    assert int(tf.reduce_sum(optimizer.flip_counts)) > 0
    assert [set(s) for s in map(optimizer.state, optimizer.binary_variables)] == [{"m"}] * 2
    # a property per hyperparameter, its config, its neutral values, its name
    assert float(optimizer.threshold) == pytest.approx(1e-5) and optimizer.name == "SameAsBop"
    config = optimizer.get_config()
    assert config["gamma"] == 0.05 and config["threshold"] == 1e-5
    again = SameAsBop.from_config(config)
    assert (float(again.gamma), float(again.threshold)) == pytest.approx((0.05, 1e-5))
    assert SameAsBop.neutral_hyperparameters() == {"gamma": 0.0, "threshold": np.inf}


@pytest.mark.slow
def test_an_invalid_step_gets_the_declared_neutral_values():
    model = _train(SameAsBop(threshold=1e-5, gamma=0.05), epochs=1)
    optimizer = model.optimizer.optimizers[0]
    before = [v.numpy() for v in model.variables if "binary" in v.name]
    tf.keras.backend.set_value(optimizer.learning_rate, np.nan)
    x, y = toy_data(n=32)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert int(optimizer.invalid_hyperparameter_steps) == 1
    after = [v.numpy() for v in model.variables if "binary" in v.name]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_options_are_arguments_and_config_entries():
    class WithOption(SameAsBop):
        OPTIONS = {"scale": hp.option(1.0, "a scale")}

    optimizer = WithOption(scale=2)
    assert optimizer.scale == 2.0 and optimizer.get_config()["scale"] == 2.0
    assert WithOption.from_config(optimizer.get_config()).scale == 2.0


def test_a_declaration_the_base_cannot_honour_is_refused_where_it_is_written():
    with pytest.raises(TypeError, match="state slot 'flips'"):
        class Clash(SameAsBop):  # noqa: F841
            STATE = ("flips",)
    with pytest.raises(TypeError, match="hyperparameter 'name', a name the optimizer has"):
        class Named(BinaryOptimizer):  # noqa: F841
            HYPERPARAMETERS = (hp.rate("name", "a rate", default=0.5),)
    with pytest.raises(ValueError, match="gamma must be in"):
        hp.rate("gamma", "the rate", default=2.0)

    class NoDefault(BinaryOptimizer):
        HYPERPARAMETERS = (hp.rate("gamma", "the rate"),)
        STATE = ("m",)

    with pytest.raises(TypeError, match="NoDefault needs gamma"):
        NoDefault()
    assert float(NoDefault(gamma=0.5).gamma) == pytest.approx(0.5)


def test_slots_of_variables_with_one_name_get_distinct_names():
    # What the `.keras` loader gives Larq's layers: every kernel is `kernel:0`.
    first = tf.Variable(tf.ones((2, 2)), name="kernel")
    second = tf.Variable(-tf.ones((2, 2)), name="kernel")
    optimizer = rb.Bop()
    optimizer.build([first, second])
    names = [v.name for v in optimizer.variables]
    assert len(names) == len(set(names)), names


def test_a_bop_subclass_with_its_own_rule_runs_that_rule():
    """Bop's in-place update serves Bop's rule only: a subclass that names another
    (here: Bop, then m = 0 where the weight flipped) gets it applied by the base."""
    from rethink_bnn.core import rules

    def bop_reset(ops, weight, gradient, state, hyperparameters):
        new, flip = rules.bop(ops, weight, gradient, state, hyperparameters)
        return {"m": ops.where(flip, ops.multiply(new["m"], 0.0), new["m"])}, flip

    class BopReset(rb.optimizers.Bop):
        RULE = hp.Rule("BopReset", rules.BOP.hyperparameters, state=("m",), update=bop_reset)

    optimizer, w = BopReset(threshold=0.5, gamma=1.0), tf.Variable([1.0, 1.0, -1.0])
    optimizer.apply_gradients([(tf.constant([2.0, 0.1, 2.0]), w)])
    np.testing.assert_array_equal(w.numpy(), [-1.0, 1.0, -1.0])
    np.testing.assert_array_equal(optimizer.averages[0].numpy(), np.float32([0.0, 0.1, 2.0]))
