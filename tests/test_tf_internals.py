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
