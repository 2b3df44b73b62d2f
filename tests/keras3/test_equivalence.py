"""The Keras 3 optimizers give the tf-keras optimizers' averages and flips on the same
gradients: bit for bit with Keras 3 on TensorFlow (CPU), and on JAX and PyTorch the same
flips and averages within float32 rounding."""

import numpy as np
import pytest

from tests.keras3.conftest import (REPO, backends, needs_tensorflow_backend, require_tf_keras,
                                   run_under)

require_tf_keras()  # the reference: the tf-keras optimizers

import tensorflow as tf  # noqa: E402

import rethink_bnn as rb  # noqa: E402
from tests.keras3.equivalence import CASES, problem, trajectory  # noqa: E402

WEIGHTS, GRADIENTS = problem()


def tf_keras_trajectory(case):
    name, arguments = CASES[case]
    optimizer = getattr(rb.optimizers, name)(**arguments)
    variable = tf.Variable(WEIGHTS)
    out = {"weights": [], "flips": []}
    for gradient in GRADIENTS:
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
        out["weights"].append(variable.numpy())
        out["flips"].append(int(optimizer.flip_counts.numpy()[0]))
        for slot, value in optimizer.state(variable).items():
            out.setdefault(slot, []).append(value.numpy())
    return {key: np.asarray(value) for key, value in out.items()}


@pytest.fixture(scope="module")
def expected():
    return {case: tf_keras_trajectory(case) for case in CASES}


@pytest.fixture(scope="module", params=backends("jax", "torch"))
def elsewhere(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("equivalence")
    np.savez(folder / "problem.npz", weights=WEIGHTS, gradients=GRADIENTS)
    result = run_under(request.param, REPO / "tests" / "keras3" / "equivalence.py",
                       folder / "problem.npz", folder / "out.npz")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(folder / "out.npz") as data:
        return {case: {key.partition("/")[2]: data[key] for key in data.files
                       if key.startswith(f"{case}/")} for case in CASES}


@needs_tensorflow_backend
@pytest.mark.parametrize("case", CASES)
@pytest.mark.slow
def test_bit_for_bit_with_the_tf_keras_optimizer_on_tensorflow(expected, case):
    import keras

    assert keras.backend.backend() == "tensorflow"
    got = trajectory(case, WEIGHTS, GRADIENTS)
    assert got.keys() == expected[case].keys()
    assert expected[case]["flips"][-1] > 20  # the gradients make flips, several per weight
    for key, value in expected[case].items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.slow
def test_same_flips_and_averages_within_float32_rounding_on_jax_and_torch(expected, elsewhere,
                                                                          case):
    got = elsewhere[case]
    assert got.keys() == expected[case].keys()
    np.testing.assert_array_equal(got["flips"], expected[case]["flips"])
    np.testing.assert_array_equal(got["weights"], expected[case]["weights"])
    for slot in set(got) - {"flips", "weights"}:
        np.testing.assert_allclose(got[slot], expected[case][slot], rtol=1e-6, atol=1e-7,
                                   err_msg=slot)


@needs_tensorflow_backend
@pytest.mark.parametrize("case", ["Bop2ndOrder", "CEMA"])
def test_hyperparameter_means_the_latest_steps_value_in_both(case):
    """`hyperparameter(name)` of a schedule: the value the latest step used (step 0's
    before any), in both front ends."""
    import keras

    from rethink_bnn import keras3

    name, _ = CASES[case]
    names = getattr(rb.optimizers, name).hyperparameter_names
    values = ([0.5, 0.25, 0.125, 0.0625] if n != "threshold" else [0.0, 1.0, 2.0, 3.0]
              for n in names)
    boundaries, values = [0, 1, 2], dict(zip(names, values))
    ours = getattr(rb.optimizers, name)(**{n: tf.keras.optimizers.schedules.
                                            PiecewiseConstantDecay(boundaries, v)
                                            for n, v in values.items()})
    theirs = getattr(keras3, name)(**{n: keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, v) for n, v in values.items()})
    variable, variable3 = tf.Variable(WEIGHTS), keras.Variable(WEIGHTS)
    for step in range(4):
        for n in names:
            a = float(ours.hyperparameter(n))
            b = float(keras.ops.convert_to_numpy(theirs.hyperparameter(n)))
            assert a == b == values[n][max(step - 1, 0)], (step, n)
        ours.apply_gradients([(tf.constant(GRADIENTS[step]), variable)])
        theirs.apply([keras.ops.convert_to_tensor(GRADIENTS[step])], [variable3])
