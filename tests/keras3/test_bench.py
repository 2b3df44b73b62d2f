"""The Keras 3 benchmarks run where no GPU is, at tiny sizes (CI), so that they work the
day one is there: `bench/keras3_throughput.py` trains the recipe's model (uint8 images
augmented on the device, Bop and Adam) and reports a throughput per variant."""

import importlib.util
import json

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
