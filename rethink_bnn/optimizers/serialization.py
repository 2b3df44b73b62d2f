"""Saving optimizers: names and registered names of optimizers that hold optimizers
(`CaseOptimizer`, `SkipNonFinite`), their configs, and the step count a config records
so that a reload that lost the optimizer's state says so."""

import warnings

import tensorflow as tf

from rethink_bnn import tf_internals

__all__ = ["OptimizerStateNotRestored", "deserialize_optimizer", "describe_predicate",
           "name_variables_under", "remember_saved_step", "warn_if_state_lost", "with_saved_step",
           "registered_name"]


def name_variables_under(optimizer, scope):
    """Re-create the variables `optimizer` already has (its step counters) named under `scope`.

    Keras names every optimizer's step counter `iteration`, and the h5 format stores
    optimizer variables by name, so two sub-optimizers' counters would collide there.
    Variables created later, in `build`, get the scope from `CaseOptimizer.build`.
    Checkpoints key variables by attribute, not name, so they are unaffected.
    """
    if tf_internals.uses_dtensor(optimizer):  # leave its layout alone
        return
    strategy = tf_internals.distribution_strategy(optimizer) or tf.distribute.get_strategy()
    renamed = {}
    with tf.init_scope(), strategy.scope(), tf.name_scope(scope):
        for variable in tf_internals.optimizer_variables(optimizer):
            if variable.name.startswith(scope):
                continue  # already named by a CaseOptimizer
            name = variable.name.split(":")[0].rsplit("/", 1)[-1]
            renamed[id(variable)] = tf.Variable(
                variable.read_value(), name=name, dtype=variable.dtype, trainable=False
            )
    if not renamed:
        return
    # A new list: replacing items of the tracked one would make it unsaveable.
    tf_internals.set_optimizer_variables(
        optimizer, [renamed.get(id(v), v) for v in tf_internals.optimizer_variables(optimizer)])
    for attribute, value in list(vars(optimizer).items()):
        if id(value) in renamed:
            setattr(optimizer, attribute, renamed[id(value)])


def describe_predicate(predicate):
    """A predicate's name for messages."""
    return getattr(predicate, "__name__", repr(predicate))


def deserialize_optimizer(config, custom_objects=None):
    """A current-API optimizer from its config; ours by their registered names."""
    # The h5 and SavedModel formats deserialize by class name alone, and Larq registers
    # its own `Bop` under that name: look ours up by its registered name instead.
    if config.get("registered_name"):
        config = {**config, "class_name": config["registered_name"]}
    return tf.keras.optimizers.deserialize(config, custom_objects=custom_objects,
                                           use_legacy_optimizer=False)


def registered_name(predicate):
    """The name `predicate` is registered under with Keras (ValueError if it is not)."""
    name = tf.keras.saving.get_registered_name(predicate)
    if tf.keras.saving.get_registered_object(name) is not predicate:
        raise ValueError(
            f"CaseOptimizer cannot serialize predicate {describe_predicate(predicate)}: register "
            "it with @tf.keras.saving.register_keras_serializable() so that saved "
            "models can route variables again."
        )
    return name


# --- optimizer state that a reload may lose ----------------------------------------------

SAVED_STEP = "saved_at_step"  # config key: the step count when the config was written
_SAVED_STEP_ATTRIBUTE = "_rethink_bnn_saved_at_step"


class OptimizerStateNotRestored(UserWarning):
    """A reloaded optimizer trains from step 0 with fresh state, though it was saved later."""


def with_saved_step(optimizer, config):
    """`config` with the optimizer's step count (only once it has stepped: a fresh
    optimizer's config stays as Keras writes it), so that a reload can tell whether its
    state came back (`warn_if_state_lost`)."""
    try:
        with tf.init_scope():
            step = int(optimizer.iterations.numpy())
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        return config  # no eager value to read (e.g. a symbolic counter)
    if step > 0:
        config[SAVED_STEP] = step
    return config


def remember_saved_step(optimizer, config, inner=()):
    """From `from_config` (`config` a copy): pop the saved step into `optimizer`, for its
    first step to check; the `inner` optimizers it holds leave the check to it."""
    object.__setattr__(optimizer, _SAVED_STEP_ATTRIBUTE, config.pop(SAVED_STEP, None))
    for child in inner:
        if child is not None:
            object.__setattr__(child, _SAVED_STEP_ATTRIBUTE, None)
    return optimizer


def warn_if_state_lost(optimizer):
    """At an optimizer's first step after a reload: warn once if it was saved after some
    steps but starts from step 0, as after `tf.keras.models.load_model` of a SavedModel
    folder (Keras' SavedModel loader makes a fresh optimizer from its config)."""
    saved = vars(optimizer).get(_SAVED_STEP_ATTRIBUTE)
    if not saved:
        return
    object.__setattr__(optimizer, _SAVED_STEP_ATTRIBUTE, None)  # once
    with tf.init_scope():
        step = int(optimizer.iterations.numpy())
    if step == 0:
        warnings.warn(
            f"{type(optimizer).__name__} was saved at step {saved} but trains from step 0 "
            "with fresh averages: a SavedModel folder reloads without optimizer state. "
            "Restore it right after loading with tf.train.Checkpoint(optimizer="
            "model.optimizer).restore('FOLDER/variables/variables').expect_partial() "
            "(the docs' 'Saving and resuming'), or save as .keras or .h5.",
            OptimizerStateNotRestored, stacklevel=3)
