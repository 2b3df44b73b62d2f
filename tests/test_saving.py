"""Every Keras format saves a model trained by each binary optimizer class (Bop,
Bop2ndOrder, CEMA) and reloads it in a fresh process after `import rethink_bnn.tf_keras` alone,
which then keeps training with the same routing. One process reloads them all."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import BINARY_OPTIMIZERS, ONE_PER_CLASS, binary_adam, dense_bnn, toy_data

REPO = Path(__file__).resolve().parents[1]
FORMATS = {"keras": "model.keras", "h5": "model.h5", "savedmodel": "model_savedmodel"}
# Keras' SavedModel loader starts a new optimizer, but the folder holds the saved one's
# state: `tf.train.Checkpoint(optimizer=...)` restores it (the model is the saved root).
RESTORED = "savedmodel+checkpoint"
# Loaded from `.keras`, saved as h5 in the fresh process and loaded from that: the
# `.keras` loader names Larq's kernels `kernel:0`, and h5 stores optimizer variables by
# name, so the binary optimizer's slots must have unique names.
RESAVED = "keras>h5"
LOADS = {**FORMATS, RESTORED: FORMATS["savedmodel"], RESAVED: FORMATS["keras"]}
# Bop2ndOrder unbiased: its config has one more argument than the biased one's.
OPTIMIZERS = ONE_PER_CLASS
FIT = dict(batch_size=32, epochs=1, shuffle=False, verbose=0)
STEPS = 4  # steps per fit: 128 examples, batches of 32

# Runs in a fresh process that imports only `rethink_bnn.tf_keras`, TensorFlow and NumPy.
RELOAD = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np
    import rethink_bnn.tf_keras, tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    folder = sys.argv[1]
    data = np.load(f"{folder}/data.npz")
    results = {}
    for key, name in json.loads(sys.argv[2]).items():
        fmt = key.split("/")[-1]
        caught = warnings.catch_warnings(record=True)
        seen = caught.__enter__()
        warnings.simplefilter("always")
        model = tf.keras.models.load_model(f"{folder}/{name}")
        if fmt.endswith(">h5"):
            model.save(f"{folder}/{key.replace('/', '_')}.h5")
            model = tf.keras.models.load_model(f"{folder}/{key.replace('/', '_')}.h5")
        opt = model.optimizer
        if fmt.endswith("+checkpoint"):  # the saving guide's recipe (docs/saving.md)
            tf.train.Checkpoint(optimizer=opt).restore(
                f"{folder}/{name}/variables/variables").expect_partial()
        before = [v.numpy() for v in model.trainable_variables]
        moving = [v for v in model.non_trainable_variables if "moving" in v.name]
        moving_before = [v.numpy() for v in moving]
        steps_at_load = int(opt.iterations)
        model.fit(data["x"], data["y"], batch_size=32, epochs=1, shuffle=False, verbose=0)
        caught.__exit__(None, None, None)
        binary = opt.optimizers[0]
        np.savez(f"{folder}/{key.replace('/', '_')}_after.npz",
                 *[v.numpy() for v in model.variables],
                 *[v.numpy() for v in opt.variables])
        results[key] = {
            "optimizer": type(opt).__name__,
            "sub_optimizers": [type(o).__name__ for o in opt.optimizers],
            "layers": [f"{type(l).__module__}.{type(l).__name__}" for l in model.layers],
            "initializers": [type(l.kernel_initializer).__name__
                             for l in model.layers if hasattr(l, "kernel_initializer")],
            "routes": [[v.name, rethink_bnn.is_binary_variable(v),
                        opt.optimizers.index(opt.optimizer_for(v))]
                       for v in model.trainable_variables],
            "changed": [not np.array_equal(b, v.numpy())
                        for b, v in zip(before, model.trainable_variables)],
            "moving_statistics_changed": [not np.array_equal(b, v.numpy())
                                          for b, v in zip(moving_before, moving)],
            "steps_at_load": steps_at_load,
            "steps": [int(opt.iterations)] + [int(o.iterations) for o in opt.optimizers],
            "flip_counts": binary.flip_counts.numpy().tolist(),
            "state_warnings": [str(w.message) for w in seen
                               if w.category.__name__ == "OptimizerStateNotRestored"],
        }
    print(json.dumps(results))
    """
)


def _weights(model):
    return [v.numpy() for v in model.variables] + [v.numpy() for v in model.optimizer.variables]


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    """{optimizer: (what the fresh process saw per format, the uninterrupted run's
    weights, the model)}."""
    folder = tmp_path_factory.mktemp("saving")
    x, y = toy_data(n=STEPS * 32)
    np.savez(folder / "data.npz", x=x, y=y)
    runs = {}
    for optimizer in OPTIMIZERS:
        (folder / optimizer).mkdir()
        model = dense_bnn()
        model.compile(binary_adam(BINARY_OPTIMIZERS[optimizer]),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, **FIT)
        saved = _weights(model)
        for name in FORMATS.values():
            model.save(folder / optimizer / name)
        np.testing.assert_equal(_weights(model), saved)  # saving changes nothing
        model.fit(x, y, **FIT)  # the uninterrupted run
        runs[optimizer] = model
    loads = {f"{optimizer}/{fmt}": f"{optimizer}/{name}"
             for optimizer in OPTIMIZERS for fmt, name in LOADS.items()}
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.run(
        [sys.executable, "-c", RELOAD, str(folder), json.dumps(loads)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    results = json.loads(process.stdout.strip().splitlines()[-1])
    for key in loads:
        results[key]["stderr"] = process.stderr
        with np.load(folder / f"{key.replace('/', '_')}_after.npz") as after:
            results[key]["after"] = [after[f"arr_{i}"] for i in range(len(after.files))]
    return {optimizer: ({fmt: results[f"{optimizer}/{fmt}"] for fmt in LOADS},
                        _weights(model), model)
            for optimizer, model in runs.items()}


over_optimizers = pytest.mark.parametrize("optimizer", OPTIMIZERS)


@pytest.mark.parametrize("fmt", FORMATS)
@over_optimizers
def test_reloads_with_our_classes_after_import_rethink_bnn_tf_keras_alone(reloaded, optimizer, fmt):
    result = reloaded[optimizer][0][fmt]
    assert result["optimizer"] == "CaseOptimizer"
    assert result["sub_optimizers"] == [BINARY_OPTIMIZERS[optimizer].cls.__name__, "Adam"]
    assert "larq.layers.QuantDense" in result["layers"]
    assert result["initializers"].count("BinaryHeNormal") == 2


@pytest.mark.parametrize("fmt", LOADS)
@over_optimizers
def test_keeps_training_binary_kernels_with_the_binary_optimizer_and_the_rest_with_adam(
        reloaded, optimizer, fmt):
    results, _, model = reloaded[optimizer]
    result = results[fmt]
    # Variables are compared by position: the `.keras` loader names kernels `kernel:0`.
    binary = ["binary" in v.name for v in model.trainable_variables]
    assert [r[1:] for r in result["routes"]] == [[b, 0 if b else 1] for b in binary]
    assert sum(binary) == 2
    assert all(result["changed"])  # the binary optimizer flipped each kernel, Adam moved the rest
    assert min(result["flip_counts"]) > 0
    for i, variable in enumerate(model.variables):
        if "binary" in variable.name:
            assert set(np.unique(result["after"][i])) == {-1.0, 1.0}, variable.name
    assert result["moving_statistics_changed"] == [True, True]


@pytest.mark.parametrize("fmt", ["keras", "h5", RESTORED, RESAVED])
@over_optimizers
def test_the_optimizer_state_is_kept_and_training_continues_bit_identically(reloaded, optimizer,
                                                                            fmt):
    results, uninterrupted, _ = reloaded[optimizer]
    assert results[fmt]["steps_at_load"] == STEPS
    assert results[fmt]["steps"] == [2 * STEPS] * 3
    after = results[fmt]["after"]
    assert len(after) == len(uninterrupted)
    for a, b in zip(after, uninterrupted):
        np.testing.assert_array_equal(a, b)


@over_optimizers
def test_savedmodel_restarts_the_optimizer(reloaded, optimizer):
    # Keras' SavedModel loader compiles a new optimizer from the saved config: the
    # model's weights are kept, the binary optimizer's state and Adam's moments start from zero.
    results, uninterrupted, model = reloaded[optimizer]
    result = results["savedmodel"]
    assert result["steps_at_load"] == 0
    assert result["steps"] == [STEPS] * 3
    n = len(model.variables)
    assert not all(np.array_equal(a, b) for a, b in zip(result["after"][:n], uninterrupted))


@pytest.mark.parametrize("fmt", LOADS)
@over_optimizers
def test_only_a_savedmodel_reload_that_lost_the_optimizer_state_warns_once(
        reloaded, optimizer, fmt):
    result = reloaded[optimizer][0][fmt]
    if fmt == "savedmodel":
        [message] = result["state_warnings"]  # once, though three optimizers were reloaded
        assert message.startswith(f"CaseOptimizer was saved at step {STEPS} but trains from "
                                  "step 0") and "tf.train.Checkpoint(optimizer=" in message
    else:  # restored by the format itself, or by the saving guide's recipe
        assert result["state_warnings"] == []


def test_the_saving_guides_restore_recipe_exits_cleanly(reloaded):
    # The recipe's restore status is partial by design (the model's own values stay
    # unread): without expect_partial() it printed an ignored TypeError at exit.
    stderr = reloaded[OPTIMIZERS[0]][0][RESTORED]["stderr"]
    assert "Exception ignored" not in stderr and "TypeError" not in stderr
    assert "could not be found in the restored object" not in stderr
    guide = (REPO / "docs" / "saving.md").read_text()
    assert ("tf.train.Checkpoint(optimizer=model.optimizer).restore("
            '"m/variables/variables").expect_partial()') in guide
