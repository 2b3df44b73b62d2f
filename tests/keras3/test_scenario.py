"""On JAX, PyTorch and TensorFlow: a small binary network of
rethink_bnn.keras3 layers, compiled with MultiOptimizer(binary → Bop, rest → Adam),
trains with fit above chance on the bundled digits; its kernels stay ±1; flips are
logged; a `.keras` reload in a fresh process continues exactly; and neither TensorFlow
(but as the backend) nor Larq nor tf-keras is ever loaded."""

import json

import numpy as np
import pytest

from tests.keras3.conftest import REPO, TENSORFLOW, backends, run_under

SCENARIO = REPO / "tests" / "keras3" / "scenario.py"


@pytest.fixture(scope="module", params=backends("jax", "torch", "tensorflow"))
def scenario(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"keras3_{request.param}")
    for step in ("train", "reload"):
        result = run_under(request.param, SCENARIO, step, folder)
        assert result.returncode == 0, result.stderr[-3000:]
    reports = {step: json.loads((folder / f"{step}.json").read_text())
               for step in ("train", "reload")}
    return request.param, folder, reports


def test_trains_above_chance_on_the_digits(scenario):
    backend, _, reports = scenario
    train = reports["train"]
    assert train["backend"] == backend
    assert train["history"]["accuracy"][-1] > 0.8  # chance: 0.1
    assert train["test_accuracy"] > 0.6  # 297 held-out digits
    assert train["history"]["loss"][-1] < train["history"]["loss"][0]


def test_binary_kernels_go_to_bop_stay_plus_minus_one_and_their_flips_are_logged(scenario):
    _, _, reports = scenario
    train = reports["train"]
    assert train["kernel_values"] == [[-1.0, 1.0], [-1.0, 1.0]]
    assert [route for path, route in train["routes"] if path.endswith("kernel")] == ["Bop"] * 2
    assert {route for path, route in train["routes"] if not path.endswith("kernel")} == {"Adam"}
    flips = train["history"]["flips"]
    assert len(flips) == 4 and all(f > 0 for f in flips) and flips[-1] < flips[0]
    per_layer = [train["history"][f"flips/{layer}"] for layer in ("quant_dense", "quant_dense_1")]
    assert [a + b for a, b in zip(*per_layer)] == flips
    weights = 64 * 128 + 128 * 10
    assert train["history"]["flip_ratio"] == pytest.approx([f / weights for f in flips])
    assert train["history"]["pi"] == pytest.approx(
        [np.log(f / weights + 1e-9) for f in flips])


def test_a_reload_in_a_fresh_process_continues_exactly(scenario):
    _, folder, reports = scenario
    assert reports["reload"]["optimizers"] == ["Bop", "Adam"]
    assert reports["reload"]["iterations"] == [60, 60]  # 4 epochs of 15 steps
    assert reports["reload"]["continued"] == reports["train"]["continued"]
    with np.load(folder / "train.npz") as trained, np.load(folder / "reload.npz") as reloaded:
        assert trained.files == reloaded.files and len(trained.files) > 20
        for key in trained.files:  # the model's variables and every optimizer variable
            np.testing.assert_array_equal(trained[key], reloaded[key], err_msg=key)


def test_neither_larq_nor_tf_keras_is_loaded_nor_tensorflow_but_as_the_backend(scenario):
    backend, _, reports = scenario
    expected = ["tensorflow"] if backend == "tensorflow" else []
    for step in ("train", "reload"):
        report = reports[step]
        for moment in ("loaded_after_import", "loaded_at_end"):
            assert report[moment] == expected, (step, moment)
    assert reports["train"]["loaded_after_training"] == expected
    # nothing of ours stays in the import system either (it serves the tf-keras front end)
    assert reports["train"]["import_hooks"] == reports["reload"]["import_hooks"] == []


@pytest.mark.skipif(not TENSORFLOW, reason="keras.callbacks.TensorBoard writes with "
                                          "TensorFlow, not installed here")
def test_keras_tensorboard_writes_the_flip_logs_when_put_after_flip_logger(scenario):
    from rethink_bnn.events import read_scalars

    _, folder, reports = scenario
    flips = reports["reload"]["tensorboard_flips"]
    assert len(flips) == 2 and flips[0] > 0
    written = read_scalars(folder / "tb" / "train",
                           ["epoch_flips", "epoch_flips/quant_dense", "epoch_pi"])
    np.testing.assert_array_equal(written["epoch_flips"][1], flips)
    assert list(written["epoch_flips"][0]) == [0, 1]
    assert np.all(written["epoch_flips/quant_dense"][1] <= flips)
    assert len(written["epoch_pi"][1]) == 2


def test_the_readmes_jax_example_runs_as_written(tmp_path):
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## Keras 3: JAX, PyTorch, TensorFlow\n"):]
    example = section[section.index("```python\n") + 10:section.index("```\n\n")]
    result = run_under("jax", "-c", example, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.split("test accuracy")[1]) > 0.6  # chance: 0.1
    assert (tmp_path / "digits.keras").is_file()
