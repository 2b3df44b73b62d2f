"""The private names of Keras 3 that the Keras 3 front end uses, in one place (as
`tf_internals.py` holds tf-keras's): each is read here and nowhere else, and
`tests/keras3/test_keras_internals.py` checks that the installed Keras still has them."""

__all__ = ["CHECKED_ON", "NAMES", "call_count", "missing", "variable_index"]

# (class, attribute) of every private name below, for `missing()`.
NAMES = (("keras.optimizers.Optimizer", "_iterations"),
         ("keras.optimizers.Optimizer", "_get_variable_index"))
CHECKED_ON = "keras 3.15.1"


def call_count(optimizer):
    """The optimizer's count of `apply` calls: the step Keras evaluates a learning-rate
    schedule at (`Optimizer._get_current_learning_rate`). Under
    `gradient_accumulation_steps` it runs ahead of `iterations`, the count of updates."""
    return optimizer._iterations


def variable_index(optimizer, variable):
    """The position of `variable` in the list the optimizer was built on, from the form
    `update_step` gets (each backend's own: TensorFlow's tf.Variable inside), which only
    Keras' own key maps back; as Keras' optimizers find their state."""
    return optimizer._get_variable_index(variable)


def missing():
    """The names above that the installed Keras no longer has (checked on an SGD)."""
    import keras

    probe = keras.optimizers.SGD()
    return [f"keras.optimizers.Optimizer.{name}" for _, name in NAMES
            if not hasattr(probe, name)]
