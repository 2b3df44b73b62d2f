"""The private TensorFlow/tf-keras names we rely on are all in rethink_bnn/tf_internals.py,
and all exist in the installed versions (this test is what fails on an upgrade that
removes one)."""

import re
from pathlib import Path

import pytest
import tensorflow as tf
import tf_keras

from rethink_bnn import tf_internals

PACKAGE = Path(__file__).parents[1] / "rethink_bnn"
# _keras2.py reads TensorFlow's Keras 2 flag before any tf-keras module may be imported.
ADAPTERS = {"tf_internals.py", "zookeeper_internals.py", "_keras2.py", "keras_internals.py"}
# Written anywhere else, each of these is a private name of TensorFlow, tf-keras or zookeeper.
PRIVATE = re.compile(
    r"tensorflow\.python|tf\.__internal__|keras\.src|zookeeper\.core|tf_keras\.src"
    r"|\._(var_key|variables|iterations|distributed_apply_gradients_fn|no_dependency"
    r"|track_trackable|distribution_strategy|mesh|shared_name|unique_id|deferred_dependencies"
    r"|coalesced_children|steps_per_execution|build_learning_rate|learning_rate"
    r"|tf_uses_legacy_keras|get_variable_index|supports_tf_logs)\b"
    r"|__component_configured_field_values__"
    r"|[\"'](_var_key|_variables|_iterations|_no_dependency|_deferred_dependencies|_mesh"
    r"|_coalesced_children|_distribution_strategy|_steps_per_execution|_unique_id"
    r"|_tf_uses_legacy_keras)[\"']"
    r"|[\"']train_step[\"']")


def test_every_private_name_exists_in_the_installed_tensorflow():
    gone = tf_internals.missing()
    assert not gone, (
        f"rethink_bnn/tf_internals.py relies on names that TensorFlow {tf.__version__} / "
        f"tf-keras {tf_keras.__version__} no longer have: {', '.join(gone)} (checked on "
        f"{tf_internals.CHECKED_ON}); adapt that module, and only it.")


def test_no_other_module_uses_a_private_name():
    found = [f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name not in ADAPTERS
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if PRIVATE.search(line) and not line.lstrip().startswith("#")]
    assert not found, "private names outside the adapters:\n" + "\n".join(found)


def test_a_name_that_is_gone_is_an_error_naming_the_module_and_the_versions():
    class NotAnOptimizer:
        pass

    with pytest.raises(tf_internals.TensorFlowInternalsChanged,
                       match=r"^rethink_bnn/tf_internals\.py: .*NotAnOptimizer has no "
                             r"`_var_key` in TensorFlow .* \(checked on TensorFlow 2\.19\.1"):
        tf_internals.var_key(NotAnOptimizer(), tf.Variable(1.0))


def test_autograph_calls_our_functions_as_written_inside_a_traced_step():
    """Inside a tf.function a user's function is rewritten by autograph (its `if` on a
    tensor becomes a tf.cond); ours are called as written, as TensorFlow's own are (no
    second of rewriting per process), and a tf.function of ours is still converted."""
    from tensorflow.python.autograph.impl import conversion

    from rethink_bnn.optimizers import bop
    from rethink_bnn.step_scalars import StepScalars

    assert conversion.is_allowlisted(bop.bop_update)
    assert conversion.is_allowlisted(bop.Bop.update)

    def users(x):  # converted: a Python `if` on a tensor works in graph mode
        if x > 0:
            return x
        return -x

    assert not conversion.is_allowlisted(users)
    assert float(tf.function(lambda x: users(x))(tf.constant(-2.0))) == 2.0
    tf_internals.skip_autograph()  # a second call adds no second rule
    rules = [str(r) for r in tf_internals._autograph.CONVERSION_RULES]
    assert rules.count("DoNotConvert rule for rethink_bnn") == 1
    writer = tf.summary.create_noop_writer()
    # its `for i in tf.range(...)` needs conversion: it traces and runs
    StepScalars(writer, ["a"])._write(tf.constant([1, 2], tf.int64),
                                      tf.constant([[1.0], [2.0]], tf.float64))


def test_a_users_hooks_are_still_converted_inside_a_traced_step():
    """What autograph converted before our functions were left as written still is: a
    user's schedule and a user's binary optimizer's `update`, each with an `if` on a
    tensor (a user's preprocessing: the next test)."""
    import numpy as np

    from rethink_bnn.optimizers import Bop

    class Warmup(tf.keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            if step < 1:
                return tf.constant(1e-8)
            return tf.constant(1e-6)

        def get_config(self):
            return {}

    class SkipsZeroGradients(Bop):
        def update(self, weight, gradient, state, hyperparameters):
            if tf.reduce_all(gradient == 0):
                return tf.constant(0, tf.int64)
            return super().update(weight, gradient, state, hyperparameters)

    weight = tf.Variable(np.ones((2, 2), np.float32))
    optimizer = SkipsZeroGradients(threshold=Warmup(), gamma=1.0)
    step = tf.function(lambda g: optimizer.apply_gradients([(g, weight)]))
    step(tf.ones((2, 2)))  # the average has the weights' sign: every weight flips
    assert np.array_equal(weight.numpy(), -np.ones((2, 2)))
    step(tf.zeros((2, 2)))
    assert int(tf.reduce_sum(optimizer.flip_counts)) == 4


@pytest.mark.experiments
def test_a_users_preprocessing_is_still_converted_in_a_tf_data_map():
    from rethink_bnn.experiments.data.bases import Preprocessing

    class Scales(Preprocessing):
        def input(self, data, training):
            x = data["image"]
            if tf.reduce_max(x) > 1.0:
                x = x / 255.0
            return x

        def output(self, data, training):
            return data["label"]

    data = tf.data.Dataset.from_tensor_slices({"image": [[255.0], [0.5]], "label": [0, 1]})
    assert [float(x[0]) for x, _ in data.map(Scales()).as_numpy_iterator()] == [1.0, 0.5]
