"""The base of the Keras 3 binary optimizers: what Bop and its successors share.

A subclass names its `RULE` (a `rethink_bnn.core.declarations.Rule`, the one the
tf-keras optimizer of the same name is built from), whose update, a pure function of
tensors (`rethink_bnn.core.rules`), returns the new state and a bool tensor: which
weights flip. Run in `keras.ops`, it runs on every backend; the base applies it with
`Optimizer.assign`, so that JAX's stateless training step works as TensorFlow's does.

From this base it gets what the tf-keras `BinaryOptimizer` gives: each declared
hyperparameter as a keyword argument (a float in its range or a Keras 3
`LearningRateSchedule`), the first one as Keras' learning rate; the ±1 check of every
variable it is built on; the state in float32 for float16 and bfloat16 weights; one
integer vector of flip counts (`flip_counts`, entry i for `binary_variables[i]`); a
step whose hyperparameters are invalid (NaN, out of range: from a schedule, a
callback) changes nothing and is counted in `invalid_hyperparameter_steps`; and
`get_config`/`from_config` for `.keras` saving.

Skipping a step with non-finite gradients is not here: a NaN or an Inf would stay in
the averages for good, so wrap the optimizer in `SkipNonFinite`
(`rethink_bnn.keras3.finite`), which skips the whole step, as the tf-keras front end's
wrapper of that name does.

It finds a variable's state and its schedules' step with two private names of Keras'
optimizers, both in `keras_internals.py`.
"""

import keras
import numpy as np
from keras import ops

from rethink_bnn.core.declarations import Rule, checked_option, valid_at_run_time
from rethink_bnn.keras3.counting import count_true
from rethink_bnn.keras3.hyperparameters import Schedule, as_float, float32, scalar, shortest
from rethink_bnn.keras3.keras_internals import call_count, variable_index

__all__ = ["BinaryOptimizer", "flip_counter_dtype"]

_REFUSED = ("weight_decay", "use_ema")
_DROPPED_FROM_CONFIG = ("weight_decay", "use_ema", "ema_momentum",
                        "ema_overwrite_frequency", "learning_rate")
_NARROW = ("float16", "bfloat16")


def flip_counter_dtype():
    """int64 where the backend has it; int32 on JAX without x64 (`FlipLogger` takes the
    difference of two readings modulo 2**32, exact for up to 2**31 - 1 flips per
    epoch and variable)."""
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            return "int32"
    return "int64"


class BinaryOptimizer(keras.optimizers.Optimizer):
    """Base class of the Keras 3 optimizers that flip ±1 weights (see the module).

    What every subclass gets, here Bop's (one step of γ = 0.5: m = 0.25, which reaches τ):

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import Bop
        >>> bop, w = Bop(threshold=0.25, gamma=0.5), keras.Variable([1.0, -1.0])
        >>> _ = bop.apply_gradients([(keras.ops.convert_to_tensor([0.5, 0.5]), w)])
        >>> [float(bop.hyperparameter(name)) for name in bop.hyperparameter_names]
        [0.5, 0.25]
        >>> [keras.ops.convert_to_numpy(v).tolist() for v in (bop.state(w)["m"], w)]
        [[0.25, 0.25], [-1.0, -1.0]]
    """

    RULE = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.RULE, Rule) or not callable(cls.RULE.update):
            raise TypeError(f"{cls.__name__} must set RULE to a rethink_bnn.declarations.Rule "
                            "with its update= (see rethink_bnn.core.rules).")
        if "rule" in vars(cls):  # the extension point before the rules were shared
            raise TypeError(f"{cls.__name__} defines rule(): write the rule as its Rule's "
                            "update= function (rethink_bnn.core.rules) instead.")
        cls.hyperparameter_names = tuple(h.name for h in cls.RULE.hyperparameters)
        cls._declared = {h.name: h for h in cls.RULE.hyperparameters}
        cls.__doc__ = cls.RULE.documented(cls.__doc__, "tf-keras", (
            "Keras' clipnorm, clipvalue, global_clipnorm, gradient_accumulation_steps."))

    @classmethod
    def declaration(cls, name):
        """The declaration of hyperparameter `name`; ValueError naming the ones it has."""
        if name not in cls._declared:
            raise ValueError(f"{cls.__name__} has no hyperparameter {name!r}: it has "
                             f"{', '.join(cls.hyperparameter_names)}.")
        return cls._declared[name]

    @classmethod
    def check_hyperparameter(cls, name, value):
        """`value` as stored (a float or a schedule) if valid for hyperparameter
        `name`; ValueError or TypeError otherwise."""
        declaration = cls.declaration(name)
        value = as_float(value, name)
        return value if isinstance(value, Schedule) else declaration.checked(value)

    def __init__(self, name=None, **kwargs):
        cls, rule = type(self), self.RULE
        for refused in _REFUSED:
            if kwargs.pop(refused, None):
                raise ValueError(f"{cls.__name__} does not support {refused}: it would move "
                                 "binary weights off ±1. Leave it unset.")
        if "learning_rate" in kwargs:
            raise TypeError(f"{cls.__name__}'s learning rate is its "
                            f"{self.RULE.hyperparameters[0].name}: pass "
                            f"{self.RULE.hyperparameters[0].name}=, not learning_rate=.")
        for key in ("ema_momentum", "ema_overwrite_frequency"):  # only with use_ema
            kwargs.pop(key, None)
        history_steps = _checked_history_steps(kwargs.pop("history_steps", HISTORY_STEPS))
        values = {h.name: self.check_hyperparameter(h.name, kwargs.pop(h.name, h.default))
                  for h in rule.hyperparameters}
        options = {n: kwargs.pop(n, o.default) for n, o in rule.options.items()}
        lead, *others = self.hyperparameter_names
        with float32():  # Keras' schedules and its learning-rate variable use floatx
            for hyperparameter, value in values.items():  # a schedule's kind of value, now
                if isinstance(value, Schedule):
                    scalar(value(0), cls.__name__, hyperparameter)
            super().__init__(learning_rate=values[lead], name=name or rule.name, **kwargs)
        self.history_steps = history_steps
        for option_name, value in options.items():
            setattr(self, option_name, checked_option(cls.__name__, option_name,
                                                      rule.options[option_name], value))
        # The others: a float becomes a variable when built (saved with the state).
        self._values = {n: values[n] for n in others}
        self._lead_schedule = values[lead] if isinstance(values[lead], Schedule) else None

    @property
    def learning_rate(self):
        """The first hyperparameter (Bop's γ) at this step."""
        return super().learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        value = self.check_hyperparameter(self.hyperparameter_names[0], value)
        super(BinaryOptimizer, BinaryOptimizer).learning_rate.fset(self, value)
        self._lead_schedule = value if isinstance(value, Schedule) else None

    def hyperparameter(self, name):
        """The value of hyperparameter `name` that the latest step used (step 0's before
        any), as in the tf-keras front end: a float (its variable once built), or a
        schedule at the latest call of `apply` (under `gradient_accumulation_steps`, a
        call may have only accumulated). Keras' `learning_rate` of a schedule is the
        next call's.

        Every schedule runs on the clock Keras evaluates the learning rate on: the
        optimizer's calls (`apply`), which under `gradient_accumulation_steps` are
        more than its updates (`iterations`). One clock, so that the values an update
        uses are those of one step."""
        self.declaration(name)
        lead = name == self.hyperparameter_names[0]
        value = self._lead_schedule if lead else self._values[name]
        with float32():
            if isinstance(value, Schedule):
                latest = ops.maximum(ops.subtract(self._schedule_step, 1), 0)
                return scalar(value(latest), type(self).__name__, name)
            return self.learning_rate if lead else value

    @property
    def _schedule_step(self):
        return call_count(self)  # what Keras calls its learning-rate schedule with

    def set_hyperparameter(self, name, value):
        """Set a hyperparameter created as a float to another float (checked)."""
        self.declaration(name)
        if name == self.hyperparameter_names[0]:
            self.learning_rate = value
            return
        current = self._values[name]
        if isinstance(current, Schedule) or isinstance(value, Schedule):
            raise TypeError(f"{type(self).__name__}'s {name} can be set only when it was "
                            "created as a float and is set to a float.")
        value = self.check_hyperparameter(name, value)
        if isinstance(current, keras.Variable):
            current.assign(value)
        else:
            self._values[name] = value

    def build(self, var_list):
        if self.built:
            return
        for variable in var_list:  # first: a refused build leaves it unbuilt
            values = _current_values(variable)
            if not np.all(np.abs(values) == 1):
                raise ValueError(
                    f"{type(self).__name__} got variable `{variable.path}` whose values are "
                    "not all ±1: give binary kernels a binary initializer (the default of "
                    "rethink_bnn.keras3's layers, or rethink_bnn.keras3.initializers."
                    "SignOf(...)) or route this variable to another optimizer.")
        super().build(var_list)
        for name, value in list(self._values.items()):
            if not isinstance(value, Schedule):  # float32 whatever floatx is
                self._values[name] = self.add_variable(
                    (), initializer=keras.initializers.Constant(value), dtype="float32",
                    name=name)
        self._state = [[self.add_variable(v.shape, dtype=self.state_dtype(v),
                                          name=f"{slot}_{v.path.replace('/', '_')}")
                        for slot in self.RULE.state] for v in var_list]
        counter = flip_counter_dtype()
        # Updated with the state, per variable (each replica's copy alike): aggregation
        # "none", as the state's.
        self._flips = self.add_variable((len(var_list),), dtype=counter, name="flip_counts")
        # flip_counts after each of the last `history_steps` updates, row (step - 1) %
        # history_steps: FlipLogger's per-step series, read between steps, not per step.
        self._history = self.add_variable((self.history_steps, len(var_list)), dtype=counter,
                                          name="flip_history")
        # Counted where Keras counts its steps, so every replica's copy agrees.
        self._invalid_steps = self.add_variable((), dtype=counter,
                                                name="invalid_hyperparameter_steps",
                                                aggregation="only_first_replica")
        self._binary_variables = _Untracked(var_list)  # the model's: not our state

    @staticmethod
    def state_dtype(variable):
        """The weight's dtype, but float32 for float16 and bfloat16 weights (neither
        holds these rules' small averages)."""
        dtype = keras.backend.standardize_dtype(variable.dtype)
        return "float32" if dtype in _NARROW else dtype

    @property
    def binary_variables(self):
        """The variables trained here, in the order of `flip_counts` (empty until built)."""
        return list(getattr(self, "_binary_variables", _Untracked()).variables)

    @property
    def flip_counts(self):
        """Integer vector variable: entry i, the flips of `binary_variables[i]` since
        creation (int64, or int32 on JAX without x64; None until built)."""
        return getattr(self, "_flips", None)

    @property
    def flip_history(self):
        """Integer variable (history_steps, variables): `flip_counts` after each of the
        last `history_steps` updates, the update of step t (from 1) in row
        (t - 1) % history_steps (None until built)."""
        return getattr(self, "_history", None)

    @property
    def invalid_hyperparameter_steps(self):
        """Integer variable: steps in which a hyperparameter was invalid (None until built)."""
        return getattr(self, "_invalid_steps", None)

    def state(self, variable):
        """{slot name: variable} of `variable`'s state, in the order of `RULE.state`."""
        return dict(zip(self.RULE.state, self._state[variable_index(self, variable)]))

    def _step_values(self, learning_rate, dtype):
        """Each hyperparameter at this step, in `dtype` (the state's: float32 or wider),
        and whether all are valid."""
        lead, *others = self.hyperparameter_names
        owner = type(self).__name__
        values = {lead: ops.cast(scalar(learning_rate, owner, lead), dtype)}
        for name in others:
            value = self._values[name]
            if isinstance(value, Schedule):
                value = scalar(value(self._schedule_step), owner, name)
            values[name] = ops.cast(value, dtype)
        valid = valid_at_run_time(ops, self.RULE.hyperparameters, values)
        neutral = {n: ops.cast(self._declared[n].neutral, dtype) for n in values}
        return {n: ops.where(valid, v, neutral[n]) for n, v in values.items()}, valid

    def update_step(self, gradient, variable, learning_rate):
        index = variable_index(self, variable)
        slots = self._state[index]
        dtype = slots[0].dtype
        values, valid = self._step_values(learning_rate, dtype)
        weight = ops.cast(variable, dtype)
        gradient = ops.cast(gradient, dtype)
        new_state, flip = self.RULE.update(
            ops, weight, gradient, dict(zip(self.RULE.state, slots)), values,
            **{option: getattr(self, option) for option in self.RULE.options})
        for name, slot in zip(self.RULE.state, slots):
            self.assign(slot, new_state[name])
        self.assign(variable, ops.cast(ops.where(flip, -weight, weight), variable.dtype))
        counts = self._flips
        entry = np.zeros(counts.shape, counts.dtype)  # this variable's entry: a constant
        entry[index] = 1
        self.assign_add(counts, ops.convert_to_tensor(entry) * count_true(flip, counts.dtype))

    def apply(self, grads, trainable_variables=None):
        if len(grads) == 0:
            return super().apply(grads, trainable_variables)
        with float32():  # Keras' schedules of the learning rate compute in floatx
            # Before Keras advances its counter: this update's clock and values.
            _, valid = self._step_values(self.learning_rate, "float32")
            updates = ops.cast(ops.logical_not(valid), "int32")
            if self.gradient_accumulation_steps:  # a call that only accumulates
                updates = updates * ops.cast(
                    (call_count(self) + 1) % self.gradient_accumulation_steps == 0, "int32")
            result = super().apply(grads, trainable_variables)
        # Once per step, where Keras counts its steps (in replica context, like
        # `iterations`): no Python flag, so every replica counts the same.
        self._invalid_steps.assign_add(ops.cast(updates, self._invalid_steps.dtype))
        self.record_flips()
        return result

    def record_flips(self):
        """Write `flip_counts` into `flip_history`'s row of the latest step, (iterations
        - 1) % history_steps: after each update, and for a step a wrapper skipped (its
        counts unchanged), so that every step has its row (a call that only accumulates
        rewrites the last row with the same counts)."""
        iterations = ops.convert_to_tensor(self.iterations)
        row = ops.mod(ops.subtract(ops.cast(iterations, "int32"), 1), self.history_steps)
        here = ops.expand_dims(ops.equal(ops.arange(self.history_steps, dtype="int32"), row), 1)
        counts = ops.expand_dims(ops.convert_to_tensor(self._flips), 0)
        self.assign(self._history, ops.where(here, counts, ops.convert_to_tensor(self._history)))

    def get_config(self):
        config = super().get_config()
        lead = config.get("learning_rate")
        for key in _DROPPED_FROM_CONFIG:
            config.pop(key, None)
        config[self.hyperparameter_names[0]] = shortest(lead)
        for name, value in self._values.items():
            config[name] = (keras.optimizers.schedules.serialize(value)
                            if isinstance(value, Schedule) else
                            shortest(float(ops.convert_to_numpy(value))))
        config.update({option: getattr(self, option) for option in self.RULE.options})
        config["history_steps"] = self.history_steps
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for name in cls.hyperparameter_names:
            if isinstance(config.get(name), dict):
                config[name] = keras.optimizers.schedules.deserialize(
                    config[name], custom_objects=custom_objects)
        return cls(**config)


HISTORY_STEPS = 1024


def _checked_history_steps(value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"history_steps must be an integer >= 1, got {value!r}: the steps "
                         "of flip counts kept for FlipLogger between its reads.")
    return int(value)


def _current_values(variable):
    """A variable's values as numpy, also while TensorFlow traces the first step (Keras
    may build the optimizer there): read outside the graph."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the backend: loaded already

        with tf.init_scope():
            return np.asarray(variable.numpy())
    return np.asarray(ops.convert_to_numpy(variable))


class _Untracked:
    """Variables held without Keras tracking them as the optimizer's own."""

    def __init__(self, variables=()):
        self.variables = tuple(variables)
