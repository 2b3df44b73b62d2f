"""CaseOptimizer: each trainable variable to exactly one optimizer, chosen by predicate."""

import copy

import numpy as np
import tensorflow as tf

from rethink_bnn import tf_internals
from rethink_bnn.optimizers.serialization import (
    SAVED_STEP,
    describe_predicate,
    deserialize_optimizer,
    name_variables_under,
    registered_name,
    remember_saved_step,
    warn_if_state_lost,
    with_saved_step,
)

__all__ = ["CaseOptimizer"]

_Optimizer = tf.keras.optimizers.Optimizer
# Base-class options that act on gradients or weights; they belong on the sub-optimizers.
_PER_OPTIMIZER_OPTIONS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema")


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class CaseOptimizer(_Optimizer):
    """Trains each variable with the first optimizer whose predicate claims it.

    Modeled after `tf.case` (and `optax.multi_transform`): pass `(predicate, optimizer)`
    pairs and a `default_optimizer` for every variable no predicate claims. A predicate
    takes a variable and returns a bool. Routing is decided once, when the optimizer is
    built on the model's trainable variables, and is checked then:

    - a variable claimed by two predicates is an error;
    - an optimizer whose predicate claims no variable is an error;
    - a variable claimed by nobody, with no `default_optimizer`, is an error;
    - a variable routed to `Bop` must hold ±1 (Bop raises, naming it).

    Gradients are aggregated across replicas once, for all variables, and each
    sub-optimizer then applies its share, so under `tf.distribute` every replica sees
    the same gradient and Bop makes the same flips everywhere. To skip a step whose
    gradients hold a NaN or Inf, wrap the CaseOptimizer in `SkipNonFinite`.

    There is one step count, the CaseOptimizer's `iterations`: before each step every
    sub-optimizer's counter is set to it, so their schedules (Bop's γ and τ, Adam's
    learning rate and bias correction) read the step the user sees, also after steps
    that a wrapper skipped. Sub-optimizers keep their own state, their variables named
    under `<name>/<index>/`; all of it is saved by `tf.train.Checkpoint` and by
    `model.save` to `.keras` and h5 (Keras' SavedModel loader starts a new optimizer).
    Once built, the config records which sub-optimizer trains each variable, and a
    reloaded CaseOptimizer refuses to route a variable differently.

    A binary kernel to Bop, a bias to SGD (`model.compile(optimizer=case, ...)` routes a
    model's variables alike):

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import Bop, CaseOptimizer, is_binary_variable
        >>> kernel, bias = tf.Variable([1.0, -1.0]), tf.Variable([0.5, 0.5])
        >>> kernel.precision = 1  # marked binary, as Larq marks a NoOp(precision=1) kernel
        >>> case = CaseOptimizer((is_binary_variable, Bop(threshold=0.5, gamma=1.0)),
        ...                      default_optimizer=tf.keras.optimizers.SGD(0.5))
        >>> _ = case.apply_gradients([(tf.constant([1.0, 1.0]), v) for v in (kernel, bias)])
        >>> kernel.numpy().tolist(), bias.numpy().tolist()
        ([-1.0, -1.0], [0.0, 0.0])

    To be saved with `get_config` (and so with `model.save`), each predicate must be
    registered with `tf.keras.saving.register_keras_serializable`, as
    `is_binary_variable` is.

    Args:
        *predicate_optimizer_pairs: `(predicate, optimizer)` tuples; optimizers are
            current-API `tf.keras.optimizers.Optimizer` instances.
        default_optimizer: optimizer for every variable no predicate claims.
        name: name of the optimizer.
    """

    def __init__(self, *predicate_optimizer_pairs, default_optimizer=None,
                 name="CaseOptimizer", **kwargs):
        for option in _PER_OPTIMIZER_OPTIONS:
            if kwargs.pop(option, None):
                raise ValueError(f"CaseOptimizer does not take {option}: set it on the "
                                 "sub-optimizer that should use it.")
        if "skip_non_finite" in kwargs:
            raise TypeError("CaseOptimizer no longer takes skip_non_finite: wrap it in "
                            "rethink_bnn.optimizers.SkipNonFinite(...) instead.")
        kwargs.pop("ema_momentum", None)
        kwargs.pop("ema_overwrite_frequency", None)
        super().__init__(name=name, weight_decay=None, **kwargs)
        if not predicate_optimizer_pairs:
            raise ValueError(
                "CaseOptimizer needs at least one (predicate, optimizer) pair, e.g. "
                "(rethink_bnn.optimizers.is_binary_variable, rethink_bnn.optimizers.Bop())."
            )
        predicates, optimizers = [], []
        for i, pair in enumerate(predicate_optimizer_pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"CaseOptimizer argument {i} must be a (predicate, "
                                f"optimizer) pair, got {pair!r}.")
            predicate, optimizer = pair
            if not callable(predicate):
                raise TypeError(f"The predicate of pair {i} must be callable (variable -> "
                                f"bool), got {type(predicate).__name__}.")
            _check_optimizer(optimizer, f"the optimizer of pair {i}")
            predicates.append(predicate)
            optimizers.append(optimizer)
        if default_optimizer is not None:
            _check_optimizer(default_optimizer, "default_optimizer")
            optimizers.append(default_optimizer)
        if len({id(o) for o in optimizers}) != len(optimizers):
            raise ValueError("CaseOptimizer got the same optimizer instance twice: give each "
                             "predicate (and the default) its own optimizer.")
        self._predicates = tf_internals.untracked(self, predicates)
        self._has_default = default_optimizer is not None
        # Tracked, so checkpoints hold every sub-optimizer's slots and step count.
        self._optimizers = optimizers
        for index, optimizer in enumerate(optimizers):
            name_variables_under(optimizer, self._scope(index))

    @property
    def predicates(self):
        """The predicates, in pair order (the default optimizer has none)."""
        return list(self._predicates)

    @property
    def optimizers(self):
        """The sub-optimizers, in pair order, the default last."""
        return list(self._optimizers)

    @property
    def default_optimizer(self):
        return self._optimizers[-1] if self._has_default else None

    @property
    def learning_rate(self):
        """The default optimizer's learning rate (the first one's if there is none)."""
        return self._lead_optimizer().learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._lead_optimizer().learning_rate = value

    def _scope(self, index):
        # Absolute, so the names do not depend on where the optimizer is built.
        return f"{self.name}/{index}/"

    def _lead_optimizer(self):
        return self._optimizers[-1] if self._has_default else self._optimizers[0]

    @property
    def variables(self):
        """This optimizer's step counter, then every sub-optimizer's variables."""
        variables = list(tf_internals.optimizer_variables(self))
        for optimizer in self._optimizers:
            variables.extend(optimizer.variables)
        return variables

    def optimizer_for(self, variable):
        """The sub-optimizer that trains `variable` (after `build`)."""
        return self._optimizers[self._route_of(variable)]

    def build(self, var_list):
        """Route every variable to one sub-optimizer and build each on its share."""
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        var_list = list(var_list)
        routes = [self._claim(variable) for variable in var_list]
        self._check_saved_routes(var_list, routes)
        for index, optimizer in enumerate(self._optimizers[: len(self._predicates)]):
            if index not in routes:
                raise ValueError(
                    f"Optimizer {index} of the CaseOptimizer ({optimizer.name}) claimed "
                    f"none of the {len(var_list)} trainable variables: its predicate "
                    f"{describe_predicate(self._predicates[index])} was False for all of them. "
                    "For is_binary_variable, give binary layers "
                    "kernel_quantizer=larq.quantizers.NoOp(precision=1)."
                )
        self._routes = tf_internals.untracked(
            self, {tf_internals.var_key(self, v): r for v, r in zip(var_list, routes)})
        self._saved_routes = tf_internals.untracked(self, routes)
        for index, optimizer in enumerate(self._optimizers):
            share = [v for v, r in zip(var_list, routes) if r == index]
            if share:
                with tf.name_scope(self._scope(index)):
                    optimizer.build(share)
        self._built = True

    def _check_saved_routes(self, var_list, routes):
        # A reloaded model must route as the saved one did: a binary kernel that lost
        # its marking would otherwise be trained by Adam, silently, off ±1.
        saved = getattr(self, "_saved_routes", None)
        if saved is None or saved == routes:
            return
        if len(saved) != len(routes):
            raise ValueError(
                f"This CaseOptimizer was saved training {len(saved)} variables but is "
                f"built on {len(routes)}: build it on the model it was saved with, or "
                "give this model a new CaseOptimizer."
            )
        i = next(i for i, (a, b) in enumerate(zip(saved, routes)) if a != b)
        raise ValueError(
            f"Variable `{var_list[i].name}` was trained by optimizer {saved[i]} "
            f"({self._optimizers[saved[i]].name}) of the CaseOptimizer when it was "
            f"saved, but is now claimed by optimizer {routes[i]} "
            f"({self._optimizers[routes[i]].name}): its marking (e.g. `precision`) was "
            "lost; load the model after `import rethink_bnn.tf_keras`, which registers Larq's layers."
        )

    def _ask(self, index, variable):
        """Predicate `index`'s answer for `variable`, as a bool. A predicate that raises,
        or answers anything but a bool (None from a missing `return`, a string, which
        would be truthy), is an error naming the predicate and the variable."""
        predicate = self._predicates[index]
        where = (f"The predicate {describe_predicate(predicate)} of pair {index} of the "
                 f"CaseOptimizer, given variable `{variable.name}`,")
        try:
            answer = predicate(variable)
        except Exception as error:
            said = (str(error).strip().splitlines() or [""])[0][:200]  # one line
            raise ValueError(f"{where} raised {type(error).__name__}: {said} (a predicate "
                             "takes one variable and returns a bool).") from error
        if isinstance(answer, (bool, np.bool_)):
            return bool(answer)
        if tf.is_tensor(answer) and answer.dtype == tf.bool and answer.shape == ():
            return bool(answer)  # eager: routing is decided outside the traced step
        raise TypeError(f"{where} returned {type(answer).__name__} {answer!r}: a predicate "
                        "returns a bool (True to claim the variable).")

    def _claim(self, variable):
        claims = [i for i in range(len(self._predicates)) if self._ask(i, variable)]
        if len(claims) > 1:
            names = ", ".join(f"{i} ({self._optimizers[i].name})" for i in claims)
            raise ValueError(
                f"Variable `{variable.name}` is claimed by optimizers {names} of the "
                "CaseOptimizer: make their predicates exclusive."
            )
        if claims:
            return claims[0]
        if not self._has_default:
            raise ValueError(
                f"Variable `{variable.name}` is claimed by no optimizer of the "
                "CaseOptimizer and there is no default_optimizer: pass "
                "default_optimizer=... or make the variable non-trainable."
            )
        return len(self._optimizers) - 1

    def _route_of(self, variable):
        try:
            return self._routes[tf_internals.var_key(self, variable)]
        except (AttributeError, KeyError):
            raise KeyError(
                f"CaseOptimizer was built without variable `{variable.name}`: build it "
                "on all trainable variables (model.fit does) before applying gradients."
            ) from None

    def apply_gradients(
        self, grads_and_vars, name=None, skip_gradients_aggregation=False, **kwargs
    ):
        """Aggregate gradients once across replicas, then let each sub-optimizer apply its share."""
        grads_and_vars = list(grads_and_vars)
        if not grads_and_vars:
            return self.iterations
        with tf.init_scope():  # on every variable, as Keras builds: routing sees them all
            self.build([v for _, v in grads_and_vars])
        warn_if_state_lost(self)
        grads_and_vars = _without_missing_gradients(grads_and_vars)
        aggregate = kwargs.pop("experimental_aggregate_gradients", True)
        if aggregate and not skip_gradients_aggregation:
            grads_and_vars = self.aggregate_gradients(grads_and_vars)
        # The counters live on every replica: set and increment them where the base
        # class increments its own.
        self._in_cross_replica(self._set_sub_counters)
        with tf.name_scope(name or self.name):
            shares = [[] for _ in self._optimizers]
            for gradient, variable in grads_and_vars:
                shares[self._route_of(variable)].append((gradient, variable))
            for optimizer, share in zip(self._optimizers, shares):
                if share:
                    optimizer.apply_gradients(share, skip_gradients_aggregation=True)
        return self._in_cross_replica(lambda: self.iterations.assign_add(1))

    def _set_sub_counters(self):
        """The one step count: every sub-optimizer's schedules read this step's number,
        whatever steps a wrapper (SkipNonFinite, LossScaleOptimizer) skipped before."""
        return tf.group([o.iterations.assign(self.iterations) for o in self._optimizers])

    def _in_cross_replica(self, fn):
        return tf_internals.in_cross_replica(
            lambda _: fn(), tf_internals.distribution_strategy(self))

    def update_step(self, gradient, variable):
        raise NotImplementedError(
            "CaseOptimizer delegates updates to its sub-optimizers; call apply_gradients."
        )

    def finalize_variable_values(self, var_list):
        for optimizer in self._optimizers:
            share = [v for v in var_list if self._optimizers[self._route_of(v)] is optimizer]
            optimizer.finalize_variable_values(share)

    def set_weights(self, weights):
        """Set all of `variables`, the sub-optimizers' too (the h5 format restores this way)."""
        variables = self.variables
        if not getattr(self, "_built", False) or len(weights) != len(variables):
            raise ValueError(
                f"CaseOptimizer has {len(variables)} variables but got {len(weights)} "
                "values: build it on the model's trainable variables, routed as when "
                "the values were saved, before setting them."
            )
        for variable, weight in zip(variables, weights):
            if variable.shape != weight.shape:
                raise ValueError(
                    f"CaseOptimizer variable `{variable.name}` has shape {variable.shape} "
                    f"but got a value of shape {weight.shape}: the variables were routed "
                    "differently when the values were saved."
                )
            variable.assign(weight)

    def save_own_variables(self, store):
        # Only the step counter: `model.save` visits the sub-optimizers on its own.
        for i, variable in enumerate(tf_internals.optimizer_variables(self)):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        for i, variable in enumerate(tf_internals.optimizer_variables(self)):
            variable.assign(store[str(i)])

    def get_config(self):
        config = super().get_config()
        for key in _PER_OPTIMIZER_OPTIONS + ("ema_momentum", "ema_overwrite_frequency"):
            config.pop(key, None)
        n_pairs = len(self._predicates)
        config.update({
            "predicates": [registered_name(p) for p in self._predicates],
            "optimizers": [tf.keras.optimizers.serialize(o) for o in self._optimizers[:n_pairs]],
            # Once built: the sub-optimizer index of each variable, in build order, so
            # that a reloaded model is checked to be routed the same way.
            "routes": getattr(self, "_saved_routes", None),
            "default_optimizer": (tf.keras.optimizers.serialize(self.default_optimizer)
                                  if self._has_default else None),
        })
        return with_saved_step(self, config)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Keras' deserialize edits nested configs in place: work on a copy.
        config = copy.deepcopy(config)
        predicates = []
        for name in config.pop("predicates"):
            predicate = tf.keras.saving.get_registered_object(name, custom_objects)
            if predicate is None:
                raise ValueError(f"Unknown CaseOptimizer predicate {name!r}: import the "
                                 "module that registers it, or pass it in custom_objects.")
            predicates.append(predicate)
        optimizers = [deserialize_optimizer(c, custom_objects) for c in config.pop("optimizers")]
        default = config.pop("default_optimizer")
        if default is not None:
            default = deserialize_optimizer(default, custom_objects)
        routes = config.pop("routes", None)
        config.pop("skip_non_finite", None)  # written before skipping became a wrapper
        saved = {SAVED_STEP: config.pop(SAVED_STEP, None)}
        optimizer = cls(*zip(predicates, optimizers), default_optimizer=default, **config)
        optimizer._saved_routes = tf_internals.untracked(optimizer, routes)
        return remember_saved_step(optimizer, saved, inner=optimizers + [default])


def _without_missing_gradients(grads_and_vars):
    """The pairs with a gradient. A sub-optimizer given only None gradients (its layers
    are not on the loss's path this step) would raise Keras' error, whose message
    prints every variable's value: the rest of the model is trained, as by Keras."""
    kept = [(g, v) for g, v in grads_and_vars if g is not None]
    if not kept:
        raise ValueError(
            f"CaseOptimizer got no gradient for any of its {len(grads_and_vars)} variables "
            "(all None): compute the loss from the model's outputs inside the GradientTape.")
    if len(kept) < len(grads_and_vars):
        tf.get_logger().warning(
            "CaseOptimizer: no gradient for %s; those variables are left as they are.",
            [v.name for g, v in grads_and_vars if g is None])
    return kept


def _check_optimizer(optimizer, where):
    if not isinstance(optimizer, _Optimizer):
        legacy = isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer)
        hint = (" It is a legacy optimizer: use the current API, e.g. "
                "tf.keras.optimizers.Adam or rethink_bnn.optimizers.Bop." if legacy else "")
        raise TypeError(f"CaseOptimizer needs a tf.keras.optimizers.Optimizer for {where}, "
                        f"got {type(optimizer).__name__}.{hint}")
