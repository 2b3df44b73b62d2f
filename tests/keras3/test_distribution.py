"""`keras.distribution.DataParallel` on JAX over two (CPU) devices trains the binary
kernels as one device does at the same global batch: the same flips, kernels and per-step
losses (BatchMetricLogger), Bop's state laid out like the weights it belongs to."""

import json

import numpy as np
import pytest

from tests.keras3.conftest import REPO, backends, run_under


@pytest.mark.parametrize("backend", backends("jax"))
@pytest.mark.slow
def test_two_devices_flip_as_one_device(backend, tmp_path):
    result = run_under(backend, REPO / "tests" / "keras3" / "data_parallel.py",
                       tmp_path / "out.json",
                       XLA_FLAGS="--xla_force_host_platform_device_count=2 "
                                 "--xla_cpu_multi_thread_eigen=false "
                                 "intra_op_parallelism_threads=1")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out.json").read_text())
    one, several = report["one"], report["several"]
    assert several["devices"] == 2 and several["kernel_devices"] == [2, 2]
    assert one["flips"] == several["flips"] and sum(one["flips"]) > 0
    # each step's loss, recorded in the step: the global batch's on both
    assert one["batch_loss"][0] == several["batch_loss"][0] == list(range(1, 17))
    np.testing.assert_allclose(one["batch_loss"][1], several["batch_loss"][1], rtol=1e-5)
    for a, b in zip(one["kernels"], several["kernels"]):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.abs(several["kernels"][0]) == 1)
    assert several["state_laid_out_as_kernel"] == [True, True]
