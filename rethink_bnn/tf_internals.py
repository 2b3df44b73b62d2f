"""Every TensorFlow/tf-keras name we use that is not public API, in one place.

Checked on TensorFlow 2.19.1 with tf-keras 2.19.0 (requirements.lock) and TensorFlow
2.21.0 with tf-keras 2.21.0 (requirements-core.lock). Each of these can change in any
release without notice. `tests/test_tf_internals.py` checks every one on the installed
versions, and a look-up that fails here raises `TensorFlowInternalsChanged`, which names
this module and the versions, instead of an AttributeError deep in a training step.

Public API is used wherever one exists (`Optimizer.iterations`, `tf.train.Checkpoint`,
`tf.compat.v1.train.update_checkpoint_state`); what remains has no public form:
  - the optimizer's variable keys and variable list, which its `build` and slots use;
  - checkpoint tracking switches (`_no_dependency`, `_track_trackable`) and the cache of
    an optimizer's checkpoint children;
  - the one per-step hook of Keras' optimizer (`_distributed_apply_gradients_fn`);
  - `tf.__internal__`'s merge-call and cond helpers, used as Keras' own wrappers use them;
  - a model's steps per execution and the instance's `train_step` (the step recorder
    wraps it: Keras calls `self.train_step` from its train function);
  - a callback's `_supports_tf_logs` flag (`reads_tensor_logs`);
  - autograph's conversion rules, which gain one for this package (`skip_autograph`).
"""

import tempfile

from rethink_bnn._keras2 import ensure_keras2

# Every tf-keras module of ours imports this one: none runs on a TensorFlow wired to Keras 3.
ensure_keras2(__name__)

import tensorflow as tf  # noqa: E402

from tensorflow.python.autograph.core import config as _autograph  # noqa: E402

CHECKED_ON = "TensorFlow 2.19.1/tf-keras 2.19.0 and TensorFlow 2.21.0/tf-keras 2.21.0"

_internal = tf.__internal__


class TensorFlowInternalsChanged(RuntimeError):
    """A private TensorFlow/tf-keras name rethink_bnn relies on is gone or changed."""


def _versions():
    import tf_keras

    return f"TensorFlow {tf.__version__} with tf-keras {tf_keras.__version__}"


def _attribute(obj, name):
    try:
        return getattr(obj, name)
    except AttributeError:
        owner = obj if isinstance(obj, type) else type(obj)
        raise TensorFlowInternalsChanged(
            f"rethink_bnn/tf_internals.py: {owner.__module__}.{owner.__name__} has no "
            f"`{name}` in {_versions()} (checked on {CHECKED_ON}): install a tested version "
            "(pip install \"tensorflow<2.22\" \"tf-keras<2.22\") or report it.") from None


# --- autograph ----------------------------------------------------------------------------

def skip_autograph(package=__name__.partition(".")[0]):
    """Have autograph call this package's functions as written, as it calls TensorFlow's
    and Keras' own. Inside a traced step (Keras' train function, a strategy's update)
    autograph rewrites every function the step calls: 0.8 of the 5 CPU-seconds a short
    run takes, and again in every process. None of ours needs it: they write their
    control flow with TensorFlow's ops (tf.cond, tf.where). A tf.function of ours is still
    converted, as every tf.function asked for is."""
    rules = _attribute(_autograph, "CONVERSION_RULES")
    if not any(str(rule) == str(_autograph.DoNotConvert(package)) for rule in rules):
        _autograph.CONVERSION_RULES = (_autograph.DoNotConvert(package), *rules)


skip_autograph()


def as_users(function, in_graph=False):
    """`function` (a hook a user may write: a rule, a schedule, a binary optimizer's
    `update`, a preprocessing's `input`), called as autograph would have called it from
    converted code: inside a traced step a user's function is converted (its `if` on a
    tensor works), one of ours is not. Keras calls a layer's `call` so. `in_graph`: the
    caller only runs in a graph (a tf.data map, where autograph's status reads
    unspecified): convert there too. Ours, and any function outside a graph (eager
    steps call these per variable), come back as they are, at no cost."""
    target = getattr(function, "func", function)  # (a functools.partial's)
    ours = getattr(target, "__module__", None) or ""
    if ours.partition(".")[0] == __name__.partition(".")[0] or not (
            in_graph or tf.inside_function()):
        return function
    return _internal.autograph.tf_convert(
        function, _internal.autograph.control_status_ctx(), convert_by_default=in_graph)


# --- optimizers ---------------------------------------------------------------------------

def var_key(optimizer, variable):
    """The key Keras' optimizer gives `variable` (its slots and indices use it)."""
    return _attribute(optimizer, "_var_key")(variable)


def set_learning_rate(optimizer, value):
    """Store the lead rate as Keras' optimizers do in their `__init__` (a float becomes
    a variable, a schedule stays one): `learning_rate` and `lr` then read it. The
    variable is float32 whatever floatx is (Keras makes it in floatx)."""
    build = _attribute(optimizer, "_build_learning_rate")
    floatx = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx("float32")
    try:
        optimizer._learning_rate = build(value)
    finally:
        tf.keras.backend.set_floatx(floatx)


def learning_rate_as_stored(optimizer):
    return _attribute(optimizer, "_learning_rate")


def optimizer_variables(optimizer):
    """The optimizer's own tracked list of its variables (step counter and slots)."""
    return _attribute(optimizer, "_variables")


def set_optimizer_variables(optimizer, variables):
    _attribute(optimizer, "_variables")  # the list must exist: Keras saves it
    optimizer._variables = variables


def distribution_strategy(optimizer):
    """The strategy the optimizer was created under (None if Keras did not record one)."""
    return getattr(optimizer, "_distribution_strategy", None)


def uses_dtensor(optimizer):
    """Whether the optimizer lays its variables out on a DTensor mesh."""
    return getattr(optimizer, "_mesh", None) is not None


def forget_checkpoint_children(trackable):
    """Drop the checkpoint children Keras caches on an optimizer at a checkpoint's first
    visit, so that variables made later are saved under their own names."""
    vars(trackable).pop("_coalesced_children", None)


def slot_name(variable):
    """The variable's name without its device or replica suffix, for its slots' names."""
    return _attribute(variable, "_shared_name")


def is_placeholder_variable(variable):
    """Whether `variable` is a stand-in `model.save()` traces the optimizer with (it has
    no identity, and nothing to update)."""
    return getattr(variable, "_unique_id", None) is None


class PerStepHook:
    """Mixin for a Keras optimizer: Keras calls `_distributed_apply_gradients_fn` once per
    step in the cross-replica context with every (gradient, variable); a subclass
    defines `apply_in_cross_replica(distribution, grads_and_vars)` instead."""

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        return self.apply_in_cross_replica(distribution, grads_and_vars)


# --- checkpoint tracking --------------------------------------------------------------------

def untracked(trackable, value):
    """`value`, stored on `trackable` without becoming a checkpoint dependency."""
    return _attribute(trackable, "_no_dependency")(value)


def track(trackable, child, name):
    """Make `child` a checkpoint dependency of `trackable` under `name`."""
    return _attribute(trackable, "_track_trackable")(child, name)


DelegatingTrackableMixin = _internal.tracking.DelegatingTrackableMixin


# --- distribution and conditions ------------------------------------------------------------

def in_cross_replica(fn, strategy):
    """Run `fn(distribution)` in the cross-replica context (a merge call where the
    strategy needs one), as Keras counts `iterations`."""
    return _internal.distribute.interim.maybe_merge_call(fn, strategy)


def strategy_supports_no_merge_call():
    return _internal.distribute.strategy_supports_no_merge_call()


def smart_cond(pred, true_fn, false_fn):
    """`tf.cond`, or the branch itself when `pred` is known when tracing."""
    return _internal.smart_cond.smart_cond(pred, true_fn, false_fn)


# --- models --------------------------------------------------------------------------------

def steps_per_execution(model):
    """The model's `steps_per_execution` (1 when it was never compiled with one)."""
    value = getattr(model, "_steps_per_execution", None)
    return 1 if value is None else int(value.numpy())


def wrap_train_step(model, after):
    """Make `model.fit` call `after()` at the end of every training step, inside its
    traced function. Keras' train function calls `self.train_step`: an attribute of the
    instance wins over the class's method, whatever the model's class."""
    original = type(model).train_step.__get__(model)

    def train_step(data):
        logs = original(data)
        after()
        return logs

    object.__setattr__(model, "train_step", train_step)


def reads_tensor_logs(callback):
    """Tell `fit` that `callback` takes its logs as tensors (or reads none), so that it
    does not copy them to the host at every batch for it (tf-keras' private flag)."""
    callback._supports_tf_logs = True


def missing():
    """The private names above that the installed TensorFlow/tf-keras lack: [] when all
    are there. Made on fresh objects of the kinds we use them on."""
    import tf_keras

    with tf.init_scope():
        variable = tf.Variable(tf.zeros(2))
    optimizer = tf_keras.optimizers.Adam()
    optimizer.build([variable])
    model = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=2)
    expected = [
        (optimizer, "_var_key"), (optimizer, "_variables"), (optimizer, "_build_learning_rate"),
        (optimizer, "_learning_rate"), (optimizer, "_no_dependency"),
        (optimizer, "_track_trackable"), (optimizer, "_distribution_strategy"),
        (optimizer, "_distributed_apply_gradients_fn"),
        (variable, "_shared_name"), (variable, "_unique_id"),
        (model, "_steps_per_execution"), (model, "train_step"),
        (tf_keras.callbacks.Callback(), "_supports_tf_logs"),
        (tf, "_tf_uses_legacy_keras"),
        (_internal.tracking, "DelegatingTrackableMixin"),
        (_internal.distribute.interim, "maybe_merge_call"),
        (_internal.distribute, "strategy_supports_no_merge_call"),
        (_internal.smart_cond, "smart_cond"),
        (_autograph, "CONVERSION_RULES"), (_autograph, "DoNotConvert"),
        (_internal.autograph, "tf_convert"), (_internal.autograph, "control_status_ctx"),
    ]
    gone = [f"{getattr(obj, '__name__', type(obj).__name__)}.{name}"
            for obj, name in expected if not hasattr(obj, name)]
    if _coalesced_children_name_changed(optimizer, variable):
        gone.append("Optimizer._coalesced_children")
    return gone


def _coalesced_children_name_changed(optimizer, variable):
    # The cache appears when a checkpoint first visits the optimizer.
    with tempfile.TemporaryDirectory() as folder:
        tf.train.Checkpoint(optimizer=optimizer, v=variable).save(f"{folder}/ckpt")
    return "_coalesced_children" not in vars(optimizer)

