"""Skipping a training step whose gradients are not all finite, on any Keras 3 backend:
`SkipNonFinite`, the counterpart of the tf-keras front end's wrapper of that name.

One NaN or Inf in a gradient would turn Bop's moving average into NaN for good (and
Adam's moments likewise). Wrapped in `SkipNonFinite`, an optimizer (a binary one, a
`MultiOptimizer` of a `BinaryOptimizerMap`, any other) gets the step only if every
gradient is finite; else nothing it holds changes, but its step counters advance, so
that every schedule stays on the step the user sees, and `skipped_steps` counts the
step. It is modelled on Keras' own `LossScaleOptimizer`: `stateless_apply` (JAX's
training step) and `apply` (TensorFlow's, PyTorch's) take one `ops.cond` (eager on
JAX, a Python `if`).
"""

import keras
from keras import ops

from rethink_bnn.keras3.binary import _Untracked
from rethink_bnn.keras3.callbacks import binary_optimizers
from rethink_bnn.keras3.keras_internals import (call_count, strategy_needs_merge_call,
                                                variable_index)

__all__ = ["SkipNonFinite", "all_finite", "step_counters"]


def all_finite(grads):
    """Whether every value of every gradient (None ones left out) is finite: a scalar
    bool tensor."""
    checks = [ops.all(ops.isfinite(g)) for g in grads if g is not None]
    return ops.all(ops.stack(checks)) if checks else ops.convert_to_tensor(True)


def step_counters(optimizer):
    """The step counters a call of `optimizer.apply` advances: its own and, in a
    `MultiOptimizer`, those of its optimizers that train a variable (the ones it calls)."""
    inner = [o for o in getattr(optimizer, "optimizers", None) or () if o.built]
    return [call_count(optimizer)] + [c for o in inner for c in step_counters(o)]


def _no_learning_rate():
    return 0.0  # the wrapper's own: unused, `learning_rate` is the wrapped optimizer's


def _traced(tensor):
    import jax  # the backend: loaded already

    return isinstance(tensor, jax.core.Tracer)


def _value(x):
    return x.value if isinstance(x, keras.Variable) else x


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class SkipNonFinite(keras.optimizers.Optimizer):
    """Wraps an optimizer so that a step whose gradients hold a NaN or an Inf changes no
    weight and no state of it (nor of the optimizers inside a `MultiOptimizer`).

    A skipped step still advances the wrapped optimizer's step counter, and, in a
    `MultiOptimizer`, the counter of each optimizer inside it that trains a variable,
    exactly as an applied step does: every schedule (Bop's γ and τ, Adam's learning
    rate) and Adam's bias correction read the step the user sees, as with the tf-keras
    `SkipNonFinite`. `iterations` and `learning_rate` are the wrapped optimizer's;
    `skipped_steps` (an integer variable, None until built) counts the steps skipped
    here. Under `gradient_accumulation_steps` a skipped call counts as a call whose
    gradients are dropped: a skipped update call leaves what was accumulated to the
    next one, whose mean then divides more micro-batches than it holds by the same
    number (skip whole windows, or avoid NaNs, where that matters).

    Mixed precision: put it inside Keras' `LossScaleOptimizer`, which unscales the
    gradients before the check; `model.compile` does so by itself under the
    `mixed_float16` policy (`compile(optimizer=SkipNonFinite(...))` trains with
    `LossScaleOptimizer(SkipNonFinite(...))`). A step that one skips for an overflow of
    the scaled gradients never reaches this wrapper: Keras 3's LossScaleOptimizer then
    advances no step counter (tf-keras's does), and `skipped_steps` does not count it.
    Inside a `MultiOptimizer` it would guard one optimizer's part of a step only: wrap
    the `MultiOptimizer` instead.

    The decision is one for all replicas: on JAX the gradients are global; under a
    `tf.distribute` strategy, the step is skipped if any replica's gradients are not
    all finite.

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import SkipNonFinite
        >>> v, optimizer = keras.Variable([1.0]), SkipNonFinite(keras.optimizers.SGD(1.0))
        >>> _ = optimizer.apply_gradients([(keras.ops.convert_to_tensor([float("nan")]), v)])
        >>> keras.ops.convert_to_numpy(v).tolist(), int(optimizer.skipped_steps)
        ([1.0], 1)

    Example:
        ```python
        optimizer = SkipNonFinite(keras.optimizers.MultiOptimizer(
            BinaryOptimizerMap(Bop(), keras.optimizers.Adam(1e-2))))
        ```

    Args:
        inner_optimizer: a `keras.optimizers.Optimizer` (not a LossScaleOptimizer:
            that one goes outside).
        name: the wrapper's name.
    """

    def __init__(self, inner_optimizer, name=None, **kwargs):
        if isinstance(inner_optimizer, keras.optimizers.LossScaleOptimizer):
            raise TypeError("SkipNonFinite goes inside the LossScaleOptimizer, which unscales "
                            "the gradients first: LossScaleOptimizer(SkipNonFinite(optimizer)) "
                            "(model.compile wraps it so by itself under mixed_float16).")
        if isinstance(inner_optimizer, SkipNonFinite):
            raise TypeError("The optimizer is already wrapped in SkipNonFinite: wrap it once.")
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise TypeError("SkipNonFinite needs a keras.optimizers.Optimizer (Keras 3), got "
                            f"{type(inner_optimizer).__module__}."
                            f"{type(inner_optimizer).__qualname__}.")
        if kwargs:
            raise ValueError(f"SkipNonFinite takes no {', '.join(sorted(kwargs))}: set it on "
                             "the optimizer it wraps.")
        super().__init__(learning_rate=_no_learning_rate, name=name)
        self.inner_optimizer = inner_optimizer

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def loss_scale_factor(self):
        """The wrapped optimizer's (it unscales the gradients; a LossScaleOptimizer
        outside sets it to None)."""
        inner = vars(self).get("inner_optimizer")
        return None if inner is None else inner.loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        inner = vars(self).get("inner_optimizer")
        if inner is not None:  # before, Optimizer.__init__ sets the wrapper's None
            inner.loss_scale_factor = value

    @property
    def skipped_steps(self):
        """Integer variable: steps skipped for a gradient that was not all finite (None
        until built)."""
        return getattr(self, "_skipped", None)

    @property
    def variables(self):
        return super().variables + list(self.inner_optimizer.variables)

    def build(self, var_list):
        if self.built:
            return
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        # Counted where Keras counts its steps, so every replica's copy agrees.
        self._skipped = self.add_variable((), dtype="int", aggregation="only_first_replica",
                                          name="skipped_steps")
        super().build(var_list)
        self._built_on = _Untracked(var_list)  # the model's: not our state

    def _skip(self):
        for counter in step_counters(self.inner_optimizer):
            counter.assign_add(1)
        self._skipped.assign_add(1)
        for binary in binary_optimizers(self.inner_optimizer):  # the step's row: no flips
            if binary.built:
                binary.record_flips()

    def _apply_inner(self, grads, trainable_variables):
        self.inner_optimizer.apply(grads, trainable_variables)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Keras' stateless step (JAX's `fit`): the wrapped optimizer's, if all
        gradients are finite; else the counters advanced, the rest as it was."""
        if keras.backend.backend() == "tensorflow" or not self.built:
            return super().stateless_apply(optimizer_variables, grads, trainable_variables)
        values = [_value(v) for v in optimizer_variables]  # a LossScaleOptimizer outside
        trainable = [_value(v) for v in trainable_variables]  # passes variables
        if len(values) != len(self.variables):
            raise ValueError(f"SkipNonFinite has {len(self.variables)} variables, got "
                             f"{len(values)} values: pass optimizer.variables' values.")
        own = len(super().variables)

        def apply_inner():
            new_trainable, new_inner = self.inner_optimizer.stateless_apply(
                values[own:], grads, trainable)
            return list(new_trainable), values[:own] + list(new_inner)

        def skip():
            with keras.StatelessScope(state_mapping=list(zip(self.variables, values))) as scope:
                self._skip()
            return list(trainable), [scope.get_current_value(v) for v in self.variables]

        return ops.cond(all_finite(grads), apply_inner, skip)

    def apply_gradients(self, grads_and_vars):
        super().apply_gradients(grads_and_vars)
        return self.iterations  # the wrapped optimizer's, as Keras' returns its own

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is not None:
            trainable_variables = list(trainable_variables)
        if not self.built:
            if trainable_variables is None:
                raise ValueError("SkipNonFinite is not built: pass trainable_variables or "
                                 "call optimizer.build(variables) first.")
            self.build(trainable_variables)
        if keras.backend.backend() == "tensorflow":
            self._tf_apply(grads, trainable_variables)
            return
        finite = all_finite(grads)
        if keras.backend.backend() != "jax":
            ops.cond(finite, lambda: self._apply_inner(grads, trainable_variables), self._skip)
        elif _traced(finite):  # in a stateless step: stateful branches would leak tracers
            self._apply_through_stateless(grads, trainable_variables)
        elif bool(finite):  # eager: the unwrapped optimizer's own arithmetic
            self._apply_inner(grads, trainable_variables)
        else:
            self._skip()

    def _apply_through_stateless(self, grads, trainable_variables):
        built_on = self._built_on.variables
        if trainable_variables is not None:
            full = [None] * len(built_on)
            for grad, variable in zip(grads, trainable_variables):
                full[variable_index(self, variable)] = grad
            grads = full
        new_trainable, new_values = self.stateless_apply(
            [v.value for v in self.variables], grads, [v.value for v in built_on])
        for variable, value in zip([*built_on, *self.variables], [*new_trainable, *new_values]):
            variable.assign(value)

    def _tf_apply(self, grads, trainable_variables):
        """One decision for every replica; where the strategy updates through a
        `merge_call`, taken in the cross-replica context (as LossScaleOptimizer does)."""
        import tensorflow as tf  # the backend: loaded already

        if tf.distribute.in_cross_replica_context():
            raise ValueError("SkipNonFinite.apply must be called in a replica context "
                             "(inside strategy.run), as Keras' optimizers are.")
        if not strategy_needs_merge_call():
            finite, context = all_finite(grads), tf.distribute.get_replica_context()
            if context.num_replicas_in_sync > 1:  # each replica holds its own gradients
                finite = context.all_reduce(tf.distribute.ReduceOp.MIN,
                                            tf.cast(finite, tf.float32)) > 0
            ops.cond(finite, lambda: self._apply_inner(grads, trainable_variables),
                     self._skip)
            return

        def in_cross_replica_context(distribution, grads):
            finite = tf.reduce_all(distribution.experimental_local_results(
                distribution.extended.call_for_each_replica(all_finite, args=(grads,))))

            def apply_on_every_replica():  # the variables travel by closure
                distribution.extended.call_for_each_replica(
                    lambda g: self._apply_inner(g, trainable_variables), args=(grads,))

            ops.cond(finite, apply_on_every_replica, self._skip)

        tf.distribute.get_replica_context().merge_call(in_cross_replica_context,
                                                       args=(grads,))

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def set_weights(self, weights):
        """Set all of `variables`: the wrapper's own, then the wrapped optimizer's."""
        variables = self.variables
        if not self.built or len(weights) != len(variables):
            raise ValueError(f"SkipNonFinite has {len(variables)} variables but got "
                             f"{len(weights)} values: build it on the model's trainable "
                             "variables before setting them.")
        own = len(super().variables)
        for variable, weight in zip(variables[:own], weights[:own]):
            variable.assign(weight)
        self.inner_optimizer.set_weights(weights[own:])

    def get_config(self):
        return {"name": self.name,
                "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"),
                                                      custom_objects=custom_objects)
        return cls(inner, **config)
