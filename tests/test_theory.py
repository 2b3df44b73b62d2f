"""The theory experiments at CI size, on real Fashion-MNIST."""

import csv

import numpy as np
import pytest
from scipy import stats

from rethink_bnn.experiments.tasks.theory import ROWS, with_real_kernels
from rethink_bnn import models
from tests.conftest import APPROXIMATION_SLICE
from tests.test_experiments import run_task

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def test_latent_view_uses_real_kernels_and_keeps_sign_activations():
    model = models.mnist_net(weight_kind="latent", seed=0)
    real = with_real_kernels(model)
    layer = real.get_layer("conv_2")
    assert layer.kernel_quantizer is None and layer.kernel_constraint is None
    assert layer.input_quantizer is not None  # the sign activations stay
    for a, b in zip(model.get_weights(), real.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_approximation_viewpoint_table(approximation_run, tmp_path):
    # approximation_run (conftest): 2 seeds, 1 epoch, 2000 Fashion-MNIST examples; the
    # table's arithmetic is the same at any size, and one epoch is well above chance
    import json
    import shutil

    table = json.loads((approximation_run / "table.json").read_text())
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
        assert (approximation_run / name).is_file()
    assert "One-way ANOVA" in (approximation_run / "table.md").read_text()
    # a rerun with one more seed into the same folder (a copy) trains only that one
    folder = tmp_path / "run"
    shutil.copytree(approximation_run, folder)
    more = run_task("approximation_viewpoint", dataset="FashionMnist", epochs=1, seeds=3,
                    run_dir=str(folder), **APPROXIMATION_SLICE)
    assert [r["seed"] for r in more["per_seed"]] == [0, 1, 2]
    assert more["per_seed"][:2] == per_seed


def test_theorem_1_holds_exactly_at_every_step_and_the_unscaled_configuration_differs(
        arbitrary_lr_run):
    # arbitrary_lr_run (conftest): 2 epochs of 20 steps (200 examples, batch 10), every
    # step compared: the identity holds at every step, so 40 steps prove what 300 did
    import json

    summary = json.loads((arbitrary_lr_run / "summary.json").read_text())
    assert summary["scale"] == 2.0**-7
    assert len(summary["step_differ_2_3"]) == 40
    assert summary["step_differ_2_3"] == [0] * 40  # configurations 2 and 3: identical
    assert min(summary["step_differ_1_2"]) > 0  # configuration 1 is a different network
    assert sorted(summary["configurations"]) == sorted(
        ["glorot_sgd_scale", "glorot_sgd_1", "scaled_glorot_sgd_scale", "uniform_sgd_scale",
         "uniform_adam"])
    with open(arbitrary_lr_run / "identity.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["differ_2_3"]) for r in rows] == [0, 0]
    log = (arbitrary_lr_run / "configs" / "uniform_adam" / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "val_accuracy" in log[0]  # per-epoch train and test accuracy
