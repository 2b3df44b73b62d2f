"""The private names of Keras 3 that the Keras 3 front end uses, in one place (as
`tf_internals.py` holds tf-keras's): each is read here and nowhere else, and
`tests/keras3/test_api.py` checks that the installed Keras still has them. One is
TensorFlow's (on its backend only), which Keras' own LossScaleOptimizer uses too:
whether a `tf.distribute` strategy updates through a merge call, for `SkipNonFinite`."""

__all__ = ["CHECKED_ON", "NAMES", "add_model_metric", "call_count", "missing",
           "set_random_seed", "strategy_needs_merge_call", "variable_index"]

import random
import sys

# (class, attribute) of every private name below, for `missing()`.
NAMES = (("keras.optimizers.Optimizer", "_iterations"),
         ("keras.optimizers.Optimizer", "_get_variable_index"),
         ("keras.Model", "_metrics"))
# (module, attribute) of Keras' seed state, which `set_random_seed` sets as Keras does.
SEED_NAMES = (("keras.src.utils.rng_utils", "GLOBAL_RANDOM_SEED"),
              ("keras.src.random.seed_generator", "GLOBAL_SEED_GENERATOR"),
              ("keras.src.backend.common.global_state", "set_global_attribute"))
CHECKED_ON = "keras 3.15.1"


def set_random_seed(seed):
    """`keras.utils.set_random_seed(seed)`, but for its TensorFlow part where TensorFlow
    is neither the backend nor loaded: Keras seeds TensorFlow whenever it is installed,
    importing it (3 CPU-seconds and its start-up messages) into a JAX or PyTorch run
    that never uses it. The rest is Keras' own: its global seed, a fresh global
    SeedGenerator, Python's and numpy's seeds, and PyTorch's on its backend."""
    import importlib

    import keras
    import numpy as np

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    rng_utils, seed_generator, global_state = (importlib.import_module(module)
                                               for module, _ in SEED_NAMES)
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


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
    import importlib

    import keras

    probes = {"keras.optimizers.Optimizer": keras.optimizers.SGD(),
              "keras.Model": keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])}
    gone = [f"{owner}.{name}" for owner, name in NAMES if not hasattr(probes[owner], name)]
    for module, name in SEED_NAMES:
        try:
            found = hasattr(importlib.import_module(module), name)
        except ImportError:
            found = False
        if not found:
            gone.append(f"{module}.{name}")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not hasattr(tf.__internal__.distribute, "strategy_supports_no_merge_call"):
            gone.append("tf.__internal__.distribute.strategy_supports_no_merge_call")
    return gone
