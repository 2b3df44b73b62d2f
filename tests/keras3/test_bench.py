"""The Keras 3 benchmarks run where no GPU is, at tiny sizes (CI), so that they work the
day one is there: `bench/keras3_throughput.py` trains the recipe's model (uint8 images
augmented on the device, Bop and Adam) and reports a throughput per variant."""

import json
import os

import keras
import pytest

from tests.keras3.conftest import REPO, run_under


@pytest.mark.slow
def test_the_throughput_bench_trains_each_variant_at_a_tiny_size(tmp_path):
    out = tmp_path / "throughput.json"
    result = run_under(keras.backend.backend(), REPO / "bench" / "keras3_throughput.py",
                       "--network", "binary_mlp", "--batch-sizes", "4", "--steps", "2", "--rounds", "1",
                       "--precisions", "float32", "mixed_bfloat16", "--out", out,
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["backend"] == os.environ["KERAS_BACKEND"]
    assert set(report["variants"]) == {"batch 4, float32, spe 1",
                                       "batch 4, mixed_bfloat16, spe 1"}
    for variant in report["variants"].values():
        assert all(rate > 0 for rate in variant["images_per_s"].values())
