"""The Keras 3 optimizers' trajectories on given gradients (any backend), one per entry
of the conformance registry (tests/registry.py), for the equivalence tests:
`python tests/keras3/equivalence.py IN.npz OUT.npz` under a KERAS_BACKEND, or
`trajectory(...)` in a process whose Keras 3 runs on TensorFlow."""

import sys

import numpy as np

from tests.registry import CONFORMANCE

CASES = list(CONFORMANCE)  # every entry of the conformance registry, by its key


def problem(seed=0, shape=(16, 8), steps=40):
    """±1 starting weights and a gradient per step: a drift per weight plus noise, so
    that some weights flip, some twice, and some never."""
    rng = np.random.default_rng(seed)
    weights = np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype("float32")
    drift = rng.normal(0, 1, shape).astype("float32")
    gradients = (drift + rng.normal(0, 2, (steps, *shape))).astype("float32")
    return weights, gradients


def trajectory(case, weights, gradients):
    """Weights, every state slot and the flip count after each step."""
    import keras

    optimizer = CONFORMANCE[case].make("keras3")
    variable = keras.Variable(weights, name="kernel")
    optimizer.build([variable])
    out = {"weights": [], "flips": []}
    for gradient in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
        out["weights"].append(keras.ops.convert_to_numpy(variable))
        out["flips"].append(int(keras.ops.convert_to_numpy(optimizer.flip_counts)[0]))
        for slot, value in optimizer.state(variable).items():
            out.setdefault(slot, []).append(keras.ops.convert_to_numpy(value))
    return {key: np.asarray(value) for key, value in out.items()}


if __name__ == "__main__":
    problem_in, result_out = sys.argv[1:3]
    with np.load(problem_in) as data:
        weights, gradients = data["weights"], data["gradients"]
    np.savez(result_out, **{f"{case}/{key}": value for case in CASES
                            for key, value in trajectory(case, weights, gradients).items()})
