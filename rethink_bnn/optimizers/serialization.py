"""Saving optimizers that hold optimizers: names, registered names, configs.

Shared by `CaseOptimizer` and `SkipNonFinite`.
"""

import tensorflow as tf

__all__ = ["deserialize_optimizer", "describe_predicate", "name_variables_under",
           "registered_name"]


def name_variables_under(optimizer, scope):
    """Re-create the variables `optimizer` already has (its step counters) named under `scope`.

    Keras names every optimizer's step counter `iteration`, and the h5 format stores
    optimizer variables by name, so two sub-optimizers' counters would collide there.
    Variables created later, in `build`, get the scope from `CaseOptimizer.build`.
    Checkpoints key variables by attribute, not name, so they are unaffected.
    """
    if getattr(optimizer, "_mesh", None) is not None:  # DTensor: leave its layout alone
        return
    strategy = getattr(optimizer, "_distribution_strategy", None) or tf.distribute.get_strategy()
    renamed = {}
    with tf.init_scope(), strategy.scope(), tf.name_scope(scope):
        for variable in optimizer._variables:
            if variable.name.startswith(scope):
                continue  # already named by a CaseOptimizer
            name = variable.name.split(":")[0].rsplit("/", 1)[-1]
            renamed[id(variable)] = tf.Variable(
                variable.read_value(), name=name, dtype=variable.dtype, trainable=False
            )
    if not renamed:
        return
    # A new list: replacing items of the tracked one would make it unsaveable.
    optimizer._variables = [renamed.get(id(v), v) for v in optimizer._variables]
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
