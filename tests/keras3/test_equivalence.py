"""The Keras 3 optimizers give the tf-keras optimizers' averages and flips on the same
gradients on JAX and PyTorch, within float32 rounding, for every entry of the conformance
registry (tests/registry.py), over 40 steps. (With Keras 3 on TensorFlow they are bit
for bit the same: tests/keras3/test_conformance.py checks it in this process.)"""

import numpy as np
import pytest

from tests.keras3.conftest import REPO, backends, require_tf_keras, run_under

require_tf_keras()  # the reference: the tf-keras optimizers

import tensorflow as tf  # noqa: E402

from tests.keras3.equivalence import CASES, problem  # noqa: E402
from tests.registry import CONFORMANCE  # noqa: E402

WEIGHTS, GRADIENTS = problem()


def tf_keras_trajectory(case):
    optimizer = CONFORMANCE[case].make("tf_keras")
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


@pytest.mark.parametrize("case", CASES)
@pytest.mark.slow
def test_same_flips_and_averages_within_float32_rounding_on_jax_and_torch(expected, elsewhere,
                                                                          case):
    got = elsewhere[case]
    assert got.keys() == expected[case].keys()
    assert expected[case]["flips"][-1] > 20  # the gradients make flips, several per weight
    np.testing.assert_array_equal(got["flips"], expected[case]["flips"])
    np.testing.assert_array_equal(got["weights"], expected[case]["weights"])
    for slot in set(got) - {"flips", "weights"}:
        np.testing.assert_allclose(got[slot], expected[case][slot], rtol=1e-6, atol=1e-7,
                                   err_msg=slot)
