"""The Keras 3 front end's conformance suite: every test here runs on each entry of the
registry (tests/registry.py) that the tf-keras suite runs over, on the backend of this
process (TensorFlow beside tf-keras in the full environment; JAX or PyTorch in the Keras 3
one). What every binary optimizer must do: refuse what it cannot take with the tf-keras
front end's messages, take schedules, step as its rule's numpy reference
(tests/core/test_rules.py) says with its weights exactly ±1, change nothing in a step with
an invalid hyperparameter, come back exactly from a `.keras` file, and, where tf-keras is
installed and Keras 3 runs on TensorFlow, step bit for bit as the tf-keras optimizer of
the same entry (tests/keras3/test_equivalence.py compares JAX and PyTorch with it)."""

import inspect
import math

import keras
import numpy as np
import pytest

from rethink_bnn import keras3 as rk
from tests.keras3.conftest import needs_tensorflow_backend, needs_tf_keras
from tests.keras3.equivalence import problem
from tests.registry import BAD_VALUES, CONFORMANCE, one_per_class, refusal

over_entries = pytest.mark.parametrize("key", list(CONFORMANCE))
CLASSES = one_per_class("keras3")  # {key: class}, the first entry of each class
over_classes = pytest.mark.parametrize("key", list(CLASSES))
FRONT_ENDS = ["keras3", pytest.param("tf_keras", marks=needs_tf_keras)]
schedules = keras.optimizers.schedules


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _declaration(entry, name):
    return next(h for h in entry.rule.hyperparameters if h.name == name)


# --- the registry covers the front end ---------------------------------------------------

def test_every_binary_optimizer_rethink_bnn_keras3_exports_is_in_the_registry():
    exported = {obj for obj in vars(rk).values() if isinstance(obj, type)
                and issubclass(obj, rk.BinaryOptimizer) and obj is not rk.BinaryOptimizer}
    listed = {entry.cls("keras3") for entry in CONFORMANCE.values()}
    assert exported and exported <= listed, (
        "binary optimizers rethink_bnn.keras3 exports that tests/registry.py does not "
        f"list: {sorted(c.__name__ for c in exported - listed)}")


@over_entries
def test_each_entry_is_its_rules_class_with_its_values(key):
    entry = CONFORMANCE[key]
    cls = entry.cls("keras3")
    assert issubclass(cls, rk.BinaryOptimizer) and cls.RULE is entry.rule
    optimizer = entry.make("keras3")
    for name, value in entry.hyperparameters.items():
        assert float(numpy(optimizer.hyperparameter(name))) == pytest.approx(value, rel=1e-6)
    assert {name: getattr(optimizer, name) for name in entry.options} == entry.options
    default = cls()  # the declared defaults, documented from the declarations
    for h in entry.rule.hyperparameters:
        assert float(numpy(default.hyperparameter(h.name))) == pytest.approx(h.default,
                                                                             rel=1e-6)
        assert f"{h.name} (" in cls.__doc__


@needs_tf_keras
@over_entries
def test_each_entry_has_one_declaration_and_signature_in_both_front_ends(key):
    entry = CONFORMANCE[key]
    ours, theirs = entry.cls("keras3"), entry.cls("tf_keras")
    assert ours.RULE is theirs.RULE is entry.rule and ours.__name__ == theirs.__name__
    assert (theirs.HYPERPARAMETERS, theirs.STATE, theirs.OPTIONS) == (
        entry.rule.hyperparameters, entry.rule.state, entry.rule.options)

    def signature(cls):
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(cls.__init__).parameters.values()]

    assert signature(ours) == signature(theirs)


# --- what it refuses, with the tf-keras front end's messages -----------------------------

HYPERPARAMETERS = [pytest.param(key, h.name, id=f"{key}-{h.name}")
                   for key, cls in CLASSES.items() for h in cls.RULE.hyperparameters]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
@pytest.mark.parametrize("key, name", HYPERPARAMETERS)
def test_a_bad_hyperparameter_is_refused_with_the_same_message_in_both(front_end, key, name):
    """Each value its kind refuses (tests/registry.py's BAD_VALUES), where it is given
    and where it is set later."""
    entry = CONFORMANCE[key]
    declaration = _declaration(entry, name)
    optimizer = entry.make(front_end)
    for value, error in BAD_VALUES[declaration.kind].values():
        with pytest.raises(error, match=refusal(declaration, value)):
            entry.make(front_end, **{name: value})
        with pytest.raises(error, match=refusal(declaration, value)):
            optimizer.set_hyperparameter(name, value)
    assert float(numpy(optimizer.hyperparameter(name))) == pytest.approx(entry.values[name],
                                                                         rel=1e-6)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
@over_classes
def test_what_would_move_weights_off_plus_minus_one_is_refused(front_end, key):
    entry, cls = CONFORMANCE[key], CLASSES[key]
    for refused, value, unset in (("weight_decay", 1e-4, None), ("use_ema", True, False)):
        with pytest.raises(ValueError, match=f"^{cls.__name__} does not support {refused}"
                                             ".*would move binary weights off ±1"):
            entry.make(front_end, **{refused: value})
        entry.make(front_end, **{refused: unset})  # unset: taken


@pytest.mark.parametrize("front_end", FRONT_ENDS)
@over_classes
def test_an_unknown_hyperparameter_and_a_bad_option_are_named(front_end, key):
    entry, cls = CONFORMANCE[key], CLASSES[key]
    with pytest.raises(ValueError, match=f"^{cls.__name__} has no hyperparameter 'beta': "
                                         f"it has {', '.join(cls.hyperparameter_names)}"):
        entry.make(front_end).set_hyperparameter("beta", 0.5)
    for option, declared in entry.rule.options.items():
        if isinstance(declared.default, bool):
            assert getattr(entry.make(front_end, **{option: np.bool_(True)}), option) is True
            with pytest.raises(TypeError, match=f"^{cls.__name__}'s {option} is True or "
                                                "False, got 'no'"):
                entry.make(front_end, **{option: "no"})


@over_classes
def test_the_learning_rate_is_the_first_hyperparameter_by_its_own_name(key):
    entry, cls = CONFORMANCE[key], CLASSES[key]
    lead = entry.rule.hyperparameters[0].name
    with pytest.raises(TypeError, match=f"^{cls.__name__}'s learning rate is its {lead}: "
                                        f"pass {lead}="):
        entry.make("keras3", learning_rate=0.1)
    optimizer = entry.make("keras3")
    optimizer.learning_rate = 0.5
    assert float(numpy(optimizer.hyperparameter(lead))) == 0.5
    with pytest.raises(ValueError, match=f"^{lead} must be in"):
        optimizer.learning_rate = 1.5


# --- schedules ---------------------------------------------------------------------------

def _kinds_of_schedule(entry):
    """A schedule of another kind for each hyperparameter, from the entry's value."""
    kinds = [lambda v: schedules.ExponentialDecay(v, 100, 0.1, staircase=True),
             lambda v: schedules.PolynomialDecay(v, 1000, v / 100, power=1.0),
             lambda v: schedules.PiecewiseConstantDecay([10], [v, v / 2]),
             lambda v: schedules.CosineDecay(v, 50)]
    return {name: kinds[i % len(kinds)](value)
            for i, (name, value) in enumerate(entry.hyperparameters.items())}


@pytest.mark.parametrize("scheduled", [False, True], ids=["floats", "schedules"])
@over_entries
def test_the_config_round_trips_floats_schedules_and_options(key, scheduled):
    entry = CONFORMANCE[key]
    optimizer = entry.make("keras3", name="mine",
                           **(_kinds_of_schedule(entry) if scheduled else {}))
    config = keras.optimizers.serialize(optimizer)
    assert config["registered_name"].endswith(f">{type(optimizer).__name__}")
    again = keras.optimizers.deserialize(config)
    assert type(again) is type(optimizer) and again.get_config() == optimizer.get_config()
    mine = optimizer.get_config()
    assert mine["name"] == "mine" and not {"learning_rate", "weight_decay", "use_ema"} & set(mine)
    for name, value in entry.hyperparameters.items():
        assert isinstance(mine[name], dict) if scheduled else mine[name] == value
    assert {name: mine[name] for name in entry.options} == entry.options


def _piecewise(value):
    """Steps 0 and 1: value; 2 and 3: value / 2; then value / 4."""
    return schedules.PiecewiseConstantDecay([1, 3], [value, value / 2, value / 4])


def _piecewise_at(value, step):
    return value if step <= 1 else value / 2 if step <= 3 else value / 4


# --- each step is the rule's ---------------------------------------------------------

@pytest.mark.parametrize("scheduled", [False, True], ids=["floats", "schedules"])
@over_entries
def test_each_step_flips_what_the_rules_numpy_reference_flips(key, scheduled):
    """Five steps on a drift plus noise, each compared with the reference from the same
    weights and state: the flips exactly, the state within float32 rounding; with the
    hyperparameters the step used (a schedule's at that step), as `hyperparameter` says."""
    entry = CONFORMANCE[key]
    weights, gradients = problem(shape=(8, 6), steps=5)
    optimizer = entry.make("keras3", **({name: _piecewise(value) for name, value
                                         in entry.hyperparameters.items()} if scheduled else {}))
    variable = keras.Variable(weights)
    optimizer.build([variable])
    flips = 0
    for step, gradient in enumerate(gradients):
        before = numpy(variable)
        state = {slot: numpy(v).astype("float64") for slot, v in optimizer.state(variable).items()}
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
        used = {name: float(np.float32(_piecewise_at(value, step) if scheduled else value))
                for name, value in entry.hyperparameters.items()}
        expected, flip = entry.reference(before.astype("float64"), gradient.astype("float64"),
                                         state, used, **entry.options)
        after = numpy(variable)
        assert np.array_equal(np.abs(after), np.ones_like(after)), step  # exactly ±1
        np.testing.assert_array_equal(after != before, flip, err_msg=f"step {step}")
        for slot, value in optimizer.state(variable).items():
            np.testing.assert_allclose(numpy(value), expected[slot], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{slot}, step {step}")
        for name, value in used.items():
            assert float(numpy(optimizer.hyperparameter(name))) == value, (name, step)
        flips += int(flip.sum())
    assert 0 < flips < 5 * weights.size
    assert int(numpy(optimizer.flip_counts)[0]) == flips
    assert int(numpy(optimizer.invalid_hyperparameter_steps)) == 0


class _InvalidAt(schedules.LearningRateSchedule):
    """`value`, but `bad` at step `at`."""

    def __init__(self, value, bad, at):
        self.value, self.bad, self.at = value, bad, at

    def __call__(self, step):
        return keras.ops.where(keras.ops.equal(step, self.at), keras.ops.cast(self.bad, "float32"),
                               keras.ops.cast(self.value, "float32"))

    def get_config(self):
        return {"value": self.value, "bad": self.bad, "at": self.at}


INVALID = [pytest.param(key, h.name, id=f"{key}-{h.name}")
           for key, entry in CONFORMANCE.items() for h in entry.rule.hyperparameters]


@pytest.mark.parametrize("key, name", INVALID)
def test_a_step_with_an_invalid_hyperparameter_changes_nothing(key, name):
    """Step 2 of four has one hyperparameter NaN or out of its range: no weight, state
    or flip count changes and the step is counted; step 3 is valid again."""
    entry = CONFORMANCE[key]
    rate = _declaration(entry, name).kind == "rate"
    for value in (math.nan, 2.0 if rate else -1.0):
        _invalid_at_step_2(entry, name, value)


def _invalid_at_step_2(entry, name, value):
    optimizer = entry.make("keras3", **{name: _InvalidAt(entry.values[name], value, 2)})
    weights, gradients = problem(shape=(8, 6), steps=4)
    variable = keras.Variable(weights)
    for gradient in gradients[:2]:
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
    assert int(numpy(optimizer.flip_counts)[0]) > 0

    def everything():  # the weights, their state, the flip counts
        return {v.path: numpy(v) for v in [variable, *optimizer.state(variable).values(),
                                           optimizer.flip_counts]}

    counter = optimizer.invalid_hyperparameter_steps
    before = everything()
    optimizer.apply([keras.ops.convert_to_tensor(gradients[2])], [variable])
    for path, after in everything().items():
        np.testing.assert_array_equal(after, before[path], err_msg=f"{path}, {name} = {value}")
    assert (int(numpy(counter)), int(numpy(optimizer.iterations))) == (1, 3)
    optimizer.apply([keras.ops.convert_to_tensor(gradients[3])], [variable])  # valid again
    assert int(numpy(counter)) == 1
    first = optimizer.state(variable)[entry.rule.state[0]]
    assert not np.array_equal(numpy(first), before[first.path])


# --- saving ------------------------------------------------------------------------------

def _binary_model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), rk.QuantDense(4, use_bias=False,
                                                                name="binary")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("scheduled", [False, True], ids=["floats", "schedules"])
@over_entries
def test_a_keras_file_restores_the_state_exactly_and_training_goes_on_as_before(
        key, scheduled, tmp_path):
    entry = CONFORMANCE[key]
    values = {name: _piecewise(value) for name, value in entry.hyperparameters.items()}
    model = _binary_model(entry.make("keras3", **(values if scheduled else {})))
    _, gradients = problem(shape=(6, 4), steps=5)
    gradients = [[keras.ops.convert_to_tensor(g)] for g in gradients]
    for gradient in gradients[:2]:  # the schedules change after the save
        model.optimizer.apply(gradient, model.trainable_variables)
    assert int(numpy(model.optimizer.flip_counts)[0]) > 0
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()

    def everything(m):  # in order (a loaded model's paths lose the model's name)
        return [(v.path, numpy(v)) for v in [*m.trainable_variables, *m.optimizer.variables]]

    for (path, saved), (_, restored) in zip(everything(model), everything(loaded), strict=True):
        np.testing.assert_array_equal(restored, saved, err_msg=path)
    for gradient in gradients[2:]:
        for m in (model, loaded):
            m.optimizer.apply(gradient, m.trainable_variables)
    for (path, ours), (_, theirs) in zip(everything(model), everything(loaded), strict=True):
        np.testing.assert_array_equal(theirs, ours, err_msg=path)


# --- training ----------------------------------------------------------------------------

@pytest.mark.slow
@over_entries
def test_fit_keeps_the_binary_kernels_plus_minus_one_and_flips_them(key):
    """A compiled training step (tf.function, jax.jit, torch) with Adam on the rest."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), rk.QuantDense(8), rk.QuantDense(
        3, input_quantizer="ste_sign"), keras.layers.Dense(3)])
    binary = CONFORMANCE[key].make("keras3")
    model.compile(optimizer=keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        binary, keras.optimizers.Adam(1e-2))), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    model.fit(x, x[:, :3] - x[:, 3:6], batch_size=16, epochs=2, verbose=0)
    kernels = [layer.kernel for layer in model.layers[:2]]
    assert [id(k) for k in binary.binary_variables] == [id(k) for k in kernels]
    for kernel in kernels:
        values = numpy(kernel)
        assert np.array_equal(np.abs(values), np.ones_like(values))
    assert np.all(numpy(binary.flip_counts) > 0)
    assert int(numpy(binary.iterations)) == 8


# --- the tf-keras optimizer of the same entry ------------------------------------------

@needs_tf_keras
@needs_tensorflow_backend
@pytest.mark.parametrize("scheduled", [False, True], ids=["floats", "schedules"])
@over_entries
def test_bit_for_bit_the_tf_keras_optimizer_of_the_entry(key, scheduled):
    """Weights, every state slot, flip counts and each hyperparameter of the latest step,
    after every step (schedules: each hyperparameter piecewise constant, in both)."""
    import tensorflow as tf

    entry = CONFORMANCE[key]

    def values(piecewise):
        return {name: piecewise([1, 3], [value, value / 2, value / 4])
                for name, value in entry.hyperparameters.items()} if scheduled else {}

    ours = entry.make("keras3", **values(schedules.PiecewiseConstantDecay))
    theirs = entry.make("tf_keras", **values(tf.keras.optimizers.schedules.PiecewiseConstantDecay))
    weights, gradients = problem(shape=(16, 8), steps=12)
    variable, reference = keras.Variable(weights), tf.Variable(weights)
    for step, gradient in enumerate(gradients):
        ours.apply([keras.ops.convert_to_tensor(gradient)], [variable])
        theirs.apply_gradients([(tf.constant(gradient), reference)])
        np.testing.assert_array_equal(numpy(variable), reference.numpy(), err_msg=str(step))
        mine, its = ours.state(variable), theirs.state(reference)
        assert list(mine) == list(its) == list(entry.rule.state)
        for slot in mine:
            np.testing.assert_array_equal(numpy(mine[slot]), its[slot].numpy(),
                                          err_msg=f"{slot}, step {step}")
        np.testing.assert_array_equal(numpy(ours.flip_counts), theirs.flip_counts.numpy())
        for name in entry.hyperparameters:
            assert float(numpy(ours.hyperparameter(name))) == float(
                theirs.hyperparameter(name)), (name, step)
    assert int(theirs.flip_counts.numpy()[0]) > weights.size // 2
