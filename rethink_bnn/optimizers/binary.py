"""The base of the latent-weight-free optimizers: what Bop and its successors share.

A subclass sets `RULE`, a `rethink_bnn.core.declarations.Rule` (Bop's and its
successors' are in `rethink_bnn.core.rules`, shared with the Keras 3 front end): its
`HYPERPARAMETERS` (range, default, neutral value; the first plays Keras' learning
rate's part; each becomes a keyword argument, a property and a config entry), `STATE`
(slot names, one float per weight each), `OPTIONS`, and the update, which `update`
applies in place (`flips.apply_rule`). A subclass may instead declare the three and
write `update(weight, gradient, state, hyperparameters)` itself.

From this base it gets:

- the ±1 check of every variable it is built on, and refusal of `weight_decay` and
  `use_ema` (both would move weights off ±1);
- its hyperparameters, each a float or a `LearningRateSchedule` of the step, checked
  where they enter, read once per step, and checked again at run time: a step in which
  one is invalid (NaN, ±∞, out of range, from a schedule or `set_value`) gets the
  neutral values, so it changes nothing, and is counted in `invalid_hyperparameter_steps`;
- its slots (in float32 for float16 and bfloat16 weights), `state(variable)`;
- one flip counter per variable (`flip_counts`), for `FlipLogger`;
- Keras' machinery for the rest: distribution (the update runs once per variable under
  `distribution.extended.update`), XLA (`jit_compile`), checkpoints and saving.

Skipping a step with non-finite gradients is not here: wrap the optimizer in
`SkipNonFinite` (`rethink_bnn.optimizers.finite`), as the tasks do.
"""

import tensorflow as tf

from rethink_bnn import tf_internals
from rethink_bnn.core.declarations import Option, checked_option, declare, valid_at_run_time
from rethink_bnn.optimizers.hyperparameters import (
    Schedule, as_stored, build_hyperparameter, check_value, current_value,
    deserialize_hyperparameter, hyperparameter_property, scalar_value, serialize_hyperparameter)
from rethink_bnn.optimizers.finite import step_counter
from rethink_bnn.optimizers.flips import TF_OPS, apply_rule, check_binary, state_dtype
from rethink_bnn.optimizers.serialization import (
    SAVED_STEP, remember_saved_step, warn_if_state_lost, with_saved_step)

__all__ = ["BinaryOptimizer", "hyperparameter_property"]

_REFUSED = ("weight_decay", "use_ema")
_DROPPED_FROM_CONFIG = ("weight_decay", "use_ema", "ema_momentum", "ema_overwrite_frequency")
# Names a declaration may not take: a hyperparameter `n` is kept as `self._n`, a slot
# `s` as `self._s`, an option `o` as `self.o`, beside the base's and Keras' attributes.
_TAKEN = ("flips", "index_of", "current", "last_invalid", "binary_variables", "binary_built",
          "invalid_hyperparameter_steps", "slot_names", "name", "clipnorm", "clipvalue",
          "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency",
          "jit_compile", "weight_decay", "shards", "mesh", "iterations", "variables",
          "distribution_strategy", "index_dict", "current_learning_rate", "run_with_dtensor",
          "coalesced_children", "exclude_from_weight_decay", "learning_rate",
          "model_variables_moving_average", "sharded_variable_builders", "declared")


class BinaryOptimizer(tf_internals.PerStepHook, tf.keras.optimizers.Optimizer):
    """Base class of optimizers that flip ±1 weights in place (see the module docstring).

    `learning_rate` *is* the first declared hyperparameter (so `LearningRateScheduler`
    and TensorBoard act on it); each other one `n` is stored as `self._n`, a variable
    or a schedule, and each slot `s` as the list `self._s`, one per variable.

    What every subclass gets, here Bop's (one step of γ = 0.5: m = 0.25, which reaches τ):

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import Bop
        >>> bop, w = Bop(threshold=0.25, gamma=0.5), tf.Variable([1.0, -1.0])
        >>> _ = bop.apply_gradients([(tf.constant([0.5, 0.5]), w)])
        >>> bop.hyperparameters, bop.state(w)["m"].numpy().tolist(), w.numpy().tolist()
        ({'gamma': 0.5, 'threshold': 0.25}, [0.25, 0.25], [-1.0, -1.0])
    """

    RULE = None  # a `Rule`: its declarations and update (or declare and write them here)
    HYPERPARAMETERS = ()
    STATE = ()
    OPTIONS = {}
    hyperparameter_names = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if vars(cls).get("RULE") is not None and "HYPERPARAMETERS" not in vars(cls):
            cls.HYPERPARAMETERS, cls.STATE, cls.OPTIONS = (
                cls.RULE.hyperparameters, cls.RULE.state, cls.RULE.options)
            cls.__doc__ = cls.RULE.documented(cls.__doc__, "Keras 3", (
                "Keras' clipnorm, clipvalue, global_clipnorm and jit_compile (weight_decay "
                "and use_ema are refused: both would move weights off ±1)."))
        if "HYPERPARAMETERS" in vars(cls):
            cls.HYPERPARAMETERS = declare(cls.__name__, cls.HYPERPARAMETERS)
            cls.hyperparameter_names = tuple(h.name for h in cls.HYPERPARAMETERS)
        cls._declared = {h.name: h for h in cls.HYPERPARAMETERS}
        cls.STATE, cls.OPTIONS = tuple(cls.STATE), dict(cls.OPTIONS)
        for name, value in cls.OPTIONS.items():
            if not isinstance(value, Option):
                raise TypeError(f"{cls.__name__} declares the option {name!r} as {value!r}: "
                                "declare it with rethink_bnn.declarations.option(default, "
                                "about).")
        declared = [("state slot", s) for s in cls.STATE] + [
            ("option", o) for o in cls.OPTIONS] + [("hyperparameter", h.name)
                                                   for h in cls.HYPERPARAMETERS]
        seen = set()
        for what, name in declared:
            if (not (isinstance(name, str) and name.isidentifier()) or name in _TAKEN
                    or name in seen or hasattr(BinaryOptimizer, name)):
                raise TypeError(f"{cls.__name__} declares the {what} {name!r}, a name the "
                                "optimizer has already (or not an identifier): give it "
                                "another.")
            seen.add(name)
        for h in cls.HYPERPARAMETERS:  # a property each, unless the class writes its own
            if not hasattr(cls, h.name):
                setattr(cls, h.name, hyperparameter_property(
                    h.name, f"{h.name} of the latest step (step 0's before any)."))

    @classmethod
    def check_hyperparameter(cls, name, value):
        """`value` unchanged if valid for this optimizer's hyperparameter `name` (a float
        in its declared range, or a schedule); ValueError naming the optimizer for a
        name it does not declare. A schedule's kind of value is checked at step 0."""
        value = check_value(cls._declaration(name), value)
        if isinstance(value, Schedule):
            scalar_value(value(0), cls.__name__, name)
        return value

    @classmethod
    def _declaration(cls, name):
        if not isinstance(name, str) or name not in cls._declared:
            raise ValueError(f"{cls.__name__} has no hyperparameter {name!r}: it has "
                             f"{', '.join(cls.hyperparameter_names)}.")
        return cls._declared[name]

    def __init__(self, name=None, **kwargs):
        """Each declared hyperparameter and option by keyword (default: its declared
        default), `name` (default: the class's name), and Keras' `clipnorm`,
        `clipvalue`, `global_clipnorm`, `jit_compile`."""
        cls = type(self)
        if "skip_non_finite" in kwargs:  # Bop's argument before SkipNonFinite
            raise TypeError(f"{cls.__name__} does not take skip_non_finite: wrap the optimizer "
                            "that applies the gradients in rethink_bnn.optimizers."
                            "SkipNonFinite(...) instead.")
        for refused in _REFUSED:
            if kwargs.get(refused):
                raise ValueError(f"{cls.__name__} does not support {refused}="
                                 f"{kwargs[refused]!r}: it would move binary weights off "
                                 "±1. Leave it unset.")
            kwargs.pop(refused, None)
        values = {h.name: kwargs.pop(h.name, h.default) for h in cls.HYPERPARAMETERS}
        missing = [n for n, v in values.items() if v is None]
        if missing:
            raise TypeError(f"{cls.__name__} needs {', '.join(missing)} (no default declared).")
        options = {n: kwargs.pop(n, o.default) for n, o in cls.OPTIONS.items()}
        super().__init__(name=name or cls.__name__, weight_decay=None, **kwargs)
        for name, value in options.items():
            setattr(self, name, checked_option(cls.__name__, name, cls.OPTIONS[name], value))
        lead, *others = self.hyperparameter_names
        check = self.check_hyperparameter
        tf_internals.set_learning_rate(self, as_stored(check(lead, values[lead])))
        for other in others:  # `_threshold` is the checkpoint key Bop always had
            setattr(self, f"_{other}", build_hyperparameter(check(other, values[other]), other))

    @property
    def learning_rate(self):
        """The first hyperparameter (Bop's γ) at the latest step."""
        return super().learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        value = as_stored(self.check_hyperparameter(self.hyperparameter_names[0], value))
        super(BinaryOptimizer, BinaryOptimizer).learning_rate.fset(self, value)

    def hyperparameter(self, name):
        """The value of hyperparameter `name` that the latest step used (step 0's before
        any): the learning rate as Keras keeps it, a schedule at the latest step."""
        self._declaration(name)
        if name == self.hyperparameter_names[0]:
            return self.learning_rate
        value = getattr(self, f"_{name}")
        if not isinstance(value, Schedule):
            return value
        current = getattr(self, "_current", None)
        if current is not None:  # what the latest step computed and used, bit for bit
            return current[name]
        # The step counter has advanced past the latest step since it ran.
        return value(tf.maximum(self.iterations - 1, 0))

    def set_hyperparameter(self, name, value):
        """Set a hyperparameter created as a float to another float (checked)."""
        self._declaration(name)
        if name == self.hyperparameter_names[0]:
            self.learning_rate = value
            return
        current = getattr(self, f"_{name}")
        if isinstance(current, Schedule) or isinstance(value, Schedule):
            raise TypeError(
                f"{type(self).__name__}'s {name} can be set only when it was created as a "
                f"float and is set to a float: create a new {type(self).__name__} to use a schedule."
            )
        current.assign(as_stored(self.check_hyperparameter(name, value)))

    @property
    def hyperparameters(self):
        """{name: float} of every hyperparameter at the latest step, for the logs."""
        return {name: float(tf.convert_to_tensor(self.hyperparameter(name)))
                for name in self.hyperparameter_names}

    def build(self, var_list):
        """Check that every variable holds ±1; create the flip and invalid-step
        counters and the declared slots (a subclass that overrides `build` calls this)."""
        super().build(var_list)
        if getattr(self, "_binary_built", False):
            return
        for variable in var_list:
            check_binary(variable, type(self).__name__)
        self._binary_built = True
        self._index_of = tf_internals.untracked(
            self, {tf_internals.var_key(self, v): i for i, v in enumerate(var_list)})
        # Cumulative flips of each variable, in one vector: `FlipLogger` reads it with
        # one op per step however many layers there are.
        self._flips = self.add_variable((len(var_list),), tf.int64, name="flips")
        # Made here, not in __init__, and kept out of `variables` (the h5 and .keras
        # layouts): a checkpoint saved before it existed still restores, also under
        # `assert_existing_objects_matched` (a resumed run restores before build).
        self._invalid_hyperparameter_steps = step_counter("invalid_hyperparameter_steps")
        with tf.init_scope():  # the hyperparameters of the latest invalid step; not saved
            self._last_invalid = tf_internals.untracked(self, tf.Variable(
                tf.zeros(len(self.hyperparameter_names), tf.float64),
                name="last_invalid_hyperparameters", trainable=False))
        # Each scheduled hyperparameter's value in the latest step, as Keras keeps the
        # learning rate's: what is reported is what was used. Not saved: recomputed.
        latest = tf.maximum(self.iterations - 1, 0)
        with tf.init_scope():
            self._current = tf_internals.untracked(self, {
                name: tf.Variable(scalar_value(getattr(self, f"_{name}")(latest), type(
                    self).__name__, name), trainable=False, name=f"current_{name}")
                for name in self.hyperparameter_names[1:]
                if isinstance(getattr(self, f"_{name}"), Schedule)})
        # Not a checkpoint dependency: the model owns these variables.
        self._binary_variables = tf_internals.untracked(self, list(var_list))
        self._slot_names = tf_internals.untracked(self, set())
        for slot in self.STATE:
            setattr(self, f"_{slot}", [self.add_state(v, slot) for v in var_list])
        # Keras caches an optimizer's checkpoint children the first time a checkpoint
        # visits it. A run that restored a checkpoint before this build would keep the
        # children of an unbuilt optimizer and save the flip counter under
        # `_variables/N`, where an uninterrupted run saves `_flips`. Forgetting the cache
        # gives every run one layout.
        tf_internals.forget_checkpoint_children(self)

    def add_state(self, variable, name):
        """A zero slot like `variable`, in float32 if `variable` is float16 or bfloat16:
        neither holds the small averages these rules keep (see `state_dtype`).

        Slot names are unique within the optimizer (`m/kernel`, then `m_1/kernel`):
        a model loaded from `.keras` may have several variables named `kernel`, and the
        h5 format stores an optimizer's variables by name."""
        prefix, n = name, 0
        while f"{prefix}/{tf_internals.slot_name(variable)}" in self._slot_names:
            n += 1
            prefix = f"{name}_{n}"
        self._slot_names.add(f"{prefix}/{tf_internals.slot_name(variable)}")
        dtype = state_dtype(variable)
        if dtype == getattr(variable, "true_dtype", variable.dtype):
            return self.add_variable_from_reference(variable, prefix)
        with tf.init_scope():
            slot = tf.Variable(tf.zeros(variable.shape, dtype), trainable=False,
                               name=f"{prefix}/{tf_internals.slot_name(variable)}")
        tf_internals.optimizer_variables(self).append(slot)
        return slot

    def index(self, variable):
        """The position of `variable` in `binary_variables` (KeyError if not trained here)."""
        return self._index_of[tf_internals.var_key(self, variable)]

    @property
    def binary_variables(self):
        """The variables trained here, in the order of `flip_counts` (empty until built)."""
        return list(getattr(self, "_binary_variables", []))

    @property
    def flip_counts(self):
        """int64 vector variable: flips of each of `binary_variables` since creation."""
        return getattr(self, "_flips", None)

    @property
    def invalid_hyperparameter_steps(self):
        """int64 variable: steps in which a hyperparameter was invalid, so that nothing
        changed; None until built."""
        return getattr(self, "_invalid_hyperparameter_steps", None)

    @property
    def last_invalid_hyperparameters(self):
        """{name: float} of the latest step counted in `invalid_hyperparameter_steps` by
        this Python object; None until built."""
        if not hasattr(self, "_last_invalid"):
            return None
        return dict(zip(self.hyperparameter_names,
                        (float(v) for v in self._last_invalid.numpy())))

    def state(self, variable):
        """{slot name: variable} of `variable`'s state, in the order of `STATE`."""
        index = self.index(variable)
        return {slot: getattr(self, f"_{slot}")[index] for slot in self.STATE}

    def update(self, weight, gradient, state, hyperparameters):
        """The rule: update `weight` (±1) and its `state` in place from `gradient`, with
        this step's `hyperparameters`; return the number of weights flipped (int64
        scalar tensor). `RULE`'s update, unless a subclass writes its own."""
        if self.RULE is None or self.RULE.update is None:
            raise NotImplementedError(f"{type(self).__name__} defines no update rule.")
        return apply_rule(self.RULE.update, weight, gradient, state, hyperparameters,
                          {option: getattr(self, option) for option in self.OPTIONS})

    @classmethod
    def neutral_hyperparameters(cls):
        """{name: value} for which `update` changes no state and flips nothing (Bop:
        γ = 0, τ = ∞), as declared."""
        return {h.name: h.neutral for h in cls.HYPERPARAMETERS}

    def _read_hyperparameters(self):
        """Each hyperparameter at this step, and whether all are valid."""
        lead, *others = self.hyperparameter_names
        owner = type(self).__name__
        # Keras computed the lead
        values = {lead: scalar_value(self.learning_rate, owner, lead)}
        for other in others:
            values[other] = scalar_value(
                current_value(getattr(self, f"_{other}"), self.iterations), owner, other)
            if other in self._current:
                self._current[other].assign(values[other])
        return values, valid_at_run_time(TF_OPS, self.HYPERPARAMETERS, values)

    def apply_in_cross_replica(self, distribution, grads_and_vars):
        """Keras' loop over the variables (no EMA here), with the hyperparameters read
        and checked once per step rather than once per variable."""
        warn_if_state_lost(self)
        values, valid = self._read_hyperparameters()
        # Counted where Keras counts `iterations` (cross-replica, under a strategy that
        # needs merge calls): once per step, the same on every replica.
        invalid = tf.logical_not(valid)
        self._invalid_hyperparameter_steps.assign_add(tf.cast(invalid, tf.int64))
        stacked = tf.stack([tf.cast(v, tf.float64) for v in values.values()])
        self._last_invalid.assign(tf.where(invalid, stacked, self._last_invalid))
        neutral = self.neutral_hyperparameters()
        values = {n: tf.where(valid, v, tf.cast(neutral[n], v.dtype)) for n, v in values.items()}
        for gradient, variable in grads_and_vars:
            distribution.extended.update(
                variable, self._apply_to, args=(gradient, values), group=False)
        return self.iterations.assign_add(1)

    def _apply_to(self, variable, gradient, values):
        if self.jit_compile:  # the key gives each variable its own trace, as in Keras
            key = id(tf_internals.var_key(self, variable))
            return self._apply_xla(variable, gradient, values, key)
        return self._apply_one(variable, gradient, values)

    @tf.function(jit_compile=True)
    def _apply_xla(self, variable, gradient, values, key):
        return self._apply_one(variable, gradient, values)

    def _apply_one(self, variable, gradient, values):
        if tf_internals.is_placeholder_variable(variable):
            return  # traced by model.save(): nothing to update
        if isinstance(gradient, tf.IndexedSlices):
            # The averages decay everywhere, so a sparse gradient is a dense one with zeros.
            gradient = tf.convert_to_tensor(gradient)
        dtype = state_dtype(variable)  # no op for float32 weights: Larq's arithmetic
        flips = tf_internals.as_users(self.update)(  # a subclass' own update: converted
            variable, gradient, self.state(variable),
            {n: tf.cast(v, dtype) for n, v in values.items()})
        # this variable's entry of the flip vector: one add for all layers' counts
        self._flips.assign_add(flips * tf.one_hot(self.index(variable),
                                                  len(self._binary_variables), dtype=tf.int64))

    def get_config(self):
        config = super().get_config()
        for key in _DROPPED_FROM_CONFIG:
            config.pop(key, None)
        lead, *others = self.hyperparameter_names
        config.pop("learning_rate", None)
        config[lead] = serialize_hyperparameter(tf_internals.learning_rate_as_stored(self))
        for other in others:
            config[other] = serialize_hyperparameter(getattr(self, f"_{other}"))
        config.update({option: getattr(self, option) for option in self.OPTIONS})
        return with_saved_step(self, config)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        saved = {SAVED_STEP: config.pop(SAVED_STEP, None)}
        config.pop("skip_non_finite", None)  # written before skipping became a wrapper
        config.pop("learning_rate", None)  # the first hyperparameter, under its own name
        for name in cls.hyperparameter_names:
            if name in config:
                config[name] = deserialize_hyperparameter(config[name], custom_objects)
        return remember_saved_step(cls(**config), saved)
