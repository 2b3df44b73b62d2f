"""The Keras 3 benchmarks run where no GPU is, at tiny sizes (CI), so that they work the
day one is there: `bench/keras3_throughput.py` trains the recipe's model (uint8 images
augmented on the device, Bop and Adam) and reports a throughput per variant, and
`bench/gpu.sh tiny` runs what a GPU machine runs."""

import importlib.util
import json
import statistics

import keras
import pytest

from tests.keras3.conftest import REPO


def _bench(name):
    """A module of bench/ (a folder of scripts, not a package), loaded by its path."""
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_throughput_bench_trains_each_variant_at_a_tiny_size(tmp_path):
    out = tmp_path / "throughput.json"
    _bench("keras3_throughput").main([
        "--network", "binary_mlp", "--batch-sizes", "4", "--steps", "2", "--rounds", "1",
        "--precisions", "mixed_bfloat16", "--out", str(out)])  # float32: the scenarios
    report = json.loads(out.read_text())
    assert report["backend"] == keras.backend.backend()
    assert list(report["variants"]) == ["batch 4, mixed_bfloat16, spe 1"]
    for variant in report["variants"].values():
        assert all(rate > 0 for rate in variant["images_per_s"].values())
    assert keras.mixed_precision.dtype_policy().name == "float32"  # left as it was


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="its workers run JAX: checked once, where Keras 3 runs on JAX")
def test_throughput_times_the_front_ends_in_turns_in_one_run(tmp_path):
    """`bench/throughput.py`: a worker process per front end, asked in turns; a front end
    not installed here is left out and said so (tf-keras, in CI's Keras 3 environment)."""
    import subprocess
    import sys

    from tests.keras3.conftest import TF_KERAS

    out = tmp_path / "throughput.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "throughput.py"), "--front-ends", "tf_keras",
         "keras3-jax", "--network", "binary_mlp", "--batch-sizes", "4", "--steps", "32",
         "--rounds", "2", "--variants", "cpu", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["front_ends"] == (["tf_keras"] if TF_KERAS else []) + ["keras3-jax"]
    if not TF_KERAS:
        assert "tf_keras: not installed here" in result.stdout
    measured = report["batch_sizes"]["4"]
    assert measured["workers"]["keras3-jax"]["data_on_device"] is True
    jax_runs = {k: v for k, v in measured["seconds_by_round"].items() if "keras3-jax" in k}
    assert set(jax_runs) == {"keras3-jax: ours", "keras3-jax: ours + logging"}
    assert all(len(times) == 2 and min(times) > 0 for times in jax_runs.values())
    on, off = jax_runs["keras3-jax: ours + logging"], jax_runs["keras3-jax: ours"]
    assert measured["ratios"]["keras3-jax: logging on / off"] == pytest.approx(
        statistics.median(a / b for a, b in zip(on, off)))  # paired, round by round


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="the GPU machines run JAX: checked where Keras 3 runs on JAX")
def test_the_gpu_script_runs_at_a_tiny_size(tmp_path):
    """`bash bench/gpu.sh tiny`: what the GPU machine runs, at a smoke-test size, with
    this environment's Keras (no wheels to install)."""
    import os
    import subprocess
    import sys

    environment = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path),
                   "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh"), "tiny"], cwd=REPO,
                            env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    update = json.loads((tmp_path / "keras3_update.json").read_text())
    assert set(update["median_ms"]) == {"Bop", "Bop2ndOrder", "CEMA", "SGD momentum", "Adam"}
    throughput = json.loads((tmp_path / "keras3_throughput.json").read_text())
    assert set(throughput["variants"]) == {"batch 4, float32, spe 1", "batch 4, float32, spe 2"}
