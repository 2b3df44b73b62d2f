"""The private names of Keras 3 that the Keras 3 front end uses, in one place (as
`tf_internals.py` holds tf-keras's): each is read here and nowhere else, and
`tests/keras3/test_api.py` checks that the installed Keras still has them. One is
TensorFlow's (on its backend only), which Keras' own LossScaleOptimizer uses too:
whether a `tf.distribute` strategy updates through a merge call, for `SkipNonFinite`."""

__all__ = ["CHECKED_ON", "NAMES", "add_model_metric", "call_count", "missing",
           "strategy_needs_merge_call", "variable_index"]

# (class, attribute) of every private name below, for `missing()`.
NAMES = (("keras.optimizers.Optimizer", "_iterations"),
         ("keras.optimizers.Optimizer", "_get_variable_index"),
         ("keras.Model", "_metrics"))
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


def add_model_metric(model, metric):
    """Make `metric` one of `model.metrics` (its variables among `metrics_variables`,
    which Keras threads through JAX's stateless training step), also after the model is
    built, when setting it as an attribute is refused."""
    model._metrics.append(metric)


def strategy_needs_merge_call():
    """Whether the current `tf.distribute` strategy updates variables through a
    `merge_call` (a MirroredStrategy on CPUs does), which TensorFlow forbids inside a
    `tf.cond` in a replica context: a condition around an update is then taken in the
    cross-replica context, as Keras' LossScaleOptimizer does. (TensorFlow backend only.)"""
    import tensorflow as tf  # the backend: loaded already

    return not tf.__internal__.distribute.strategy_supports_no_merge_call()


def missing():
    """The names above that the installed Keras (checked on an SGD) and, on the
    TensorFlow backend, TensorFlow no longer have."""
    import keras

    probes = {"keras.optimizers.Optimizer": keras.optimizers.SGD(),
              "keras.Model": keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])}
    gone = [f"{owner}.{name}" for owner, name in NAMES if not hasattr(probes[owner], name)]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not hasattr(tf.__internal__.distribute, "strategy_supports_no_merge_call"):
            gone.append("tf.__internal__.distribute.strategy_supports_no_merge_call")
    return gone
