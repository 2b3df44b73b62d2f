"""The theory experiments at CI size, on real Fashion-MNIST."""

import csv

import numpy as np
import pytest
from scipy import stats

from rethink_bnn.theory import ROWS, with_real_kernels
from rethink_bnn import models
from tests.data.test_archives import needs_fashion
from tests.test_experiments import run_task


def test_latent_view_uses_real_kernels_and_keeps_sign_activations():
    model = models.mnist_net(weight_kind="latent", seed=0)
    real = with_real_kernels(model)
    layer = real.get_layer("conv_2")
    assert layer.kernel_quantizer is None and layer.kernel_constraint is None
    assert layer.input_quantizer is not None  # the sign activations stay
    for a, b in zip(model.get_weights(), real.get_weights()):
        np.testing.assert_array_equal(a, b)


@needs_fashion
def test_approximation_viewpoint_table(tmp_path):
    table = run_task("approximation_viewpoint", dataset="FashionMnist", epochs=2, seeds=2,
                     run_dir=str(tmp_path), **{"dataset.train_limit": 5000})
    assert [r["model"] for r in table["rows"]] == list(ROWS)
    per_seed = table["per_seed"]
    assert [r["seed"] for r in per_seed] == [0, 1]
    binary = [r["binary"] for r in per_seed]
    assert min(binary) > 0.5  # well above chance (0.1)
    for row in table["rows"]:  # the latent rows are measured, whatever they are
        values = [r[row["model"]] for r in per_seed]
        assert row["mean"] == pytest.approx(np.mean(values))
        assert row["std"] == pytest.approx(np.std(values, ddof=1))
    expected = stats.f_oneway(*[[r[m] for r in per_seed] for m in ROWS])
    assert table["anova"] == pytest.approx({"F": expected.statistic, "p": expected.pvalue})
    for name in ("table.csv", "table.json", "table.md", "per_seed.csv", "summary.json"):
        assert (tmp_path / name).is_file()
    assert "One-way ANOVA" in (tmp_path / "table.md").read_text()
    # a rerun with one more seed into the same folder trains only that one
    more = run_task("approximation_viewpoint", dataset="FashionMnist", epochs=2, seeds=3,
                    run_dir=str(tmp_path), **{"dataset.train_limit": 5000})
    assert [r["seed"] for r in more["per_seed"]] == [0, 1, 2]
    assert more["per_seed"][:2] == per_seed


@needs_fashion
def test_theorem_1_holds_exactly_at_every_step_and_the_unscaled_configuration_differs(tmp_path):
    summary = run_task("arbitrary_lr", dataset="FashionMnist", epochs=2, batch_size=10,
                       compare_every_step=True, run_dir=str(tmp_path),
                       **{"dataset.train_limit": 1500})
    assert summary["scale"] == 2.0**-7
    assert len(summary["step_differ_2_3"]) == 300
    assert summary["step_differ_2_3"] == [0] * 300  # configurations 2 and 3: identical
    assert min(summary["step_differ_1_2"]) > 0  # configuration 1 is a different network
    assert sorted(summary["configurations"]) == sorted(
        ["glorot_sgd_scale", "glorot_sgd_1", "scaled_glorot_sgd_scale", "uniform_sgd_scale",
         "uniform_adam"])
    with open(tmp_path / "identity.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["differ_2_3"]) for r in rows] == [0, 0]
    log = (tmp_path / "configs" / "uniform_adam" / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "val_accuracy" in log[0]  # per-epoch train and test accuracy
