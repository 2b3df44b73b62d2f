"""Every figure from small real run folders: what is drawn is what the runs logged."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from scipy import stats

from rethink_bnn import plot
from rethink_bnn.plot.runs import epoch_log, read_scalars
from rethink_bnn.experiments.tasks.theory import ROWS
from rethink_bnn.experiments.runs.folder import read_csv
from tests.plot.images import assert_real_png, assert_real_svg
from tests.test_experiments import run_task

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

FIGURES = {
    "sweep": lambda folder: plot.sweep_figure([folder], sigma=5),
    "training": lambda folder: plot.training_figure([folder]),
    "approximation": lambda folder: plot.approximation_figure([folder]),
    "arbitrary_lr": lambda folder: plot.arbitrary_lr_figure([folder]),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_is_written_as_a_real_png_and_svg(name, all_runs, tmp_path):
    figure = FIGURES[name](all_runs[name])
    assert_real_png(plot.save(figure, tmp_path / f"{name}.png"))
    assert_real_svg(plot.save(figure, tmp_path / f"{name}.svg"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.png", f"{name}.svg"]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_a_folder_of_another_kind_names_the_figure_that_draws_it(name, all_runs):
    other = {"sweep": "approximation", "training": "sweep"}.get(name, "training")
    with pytest.raises(plot.WrongRunError, match=f"python -m rethink_bnn.plot {other} "):
        FIGURES[name](all_runs[other])


def test_smoothing_is_a_gaussian_in_steps():
    rng = np.random.default_rng(0)
    values = rng.normal(size=400)
    np.testing.assert_array_equal(plot.smooth(values, 0), values)
    sigma = 10
    kernel = stats.norm.pdf(np.arange(-40, 41), scale=sigma)
    expected = np.convolve(values, kernel / kernel.sum(), mode="same")
    np.testing.assert_allclose(plot.smooth(values, sigma)[50:-50], expected[50:-50], atol=1e-12)
    # values logged every 5 steps: σ = 10 steps is 2 samples
    np.testing.assert_allclose(plot.smooth(values, 10, spacing=5), plot.smooth(values, 2))


def test_sweep_panels_split_the_grid_and_draw_the_logged_steps(sweep_run):
    figure = plot.sweep_figure([sweep_run], sigma=0)
    (acc_gamma, acc_tau), (pi_gamma, pi_tau) = np.reshape(figure.axes, (2, 2))
    assert acc_gamma.get_title() == "τ = 1e-06, γ varies"
    assert acc_tau.get_title() == "γ = 0.001, τ varies"
    assert [t.get_text() for t in acc_gamma.get_legend().get_texts()] == [
        "γ = 0.01", "γ = 0.001", "γ = 0.0001"]
    assert [t.get_text() for t in acc_tau.get_legend().get_texts()] == [
        "τ = 0", "τ = 1e-06", "τ = 1e-05"]
    point = sweep_run / "gamma=0.01_tau=1e-06"
    steps, accuracy = read_scalars(point / "tensorboard" / "steps", ["batch_accuracy"])[
        "batch_accuracy"]
    train, validation = acc_gamma.lines[:2]
    assert list(train.get_xdata()) == list(range(1, 31))  # 3 epochs of 10 steps, each logged
    np.testing.assert_array_equal(train.get_ydata(), accuracy)
    # each step's own batch accuracy: over an epoch they average to Keras' epoch value
    log = epoch_log(point)
    for epoch, row in enumerate(log):
        assert np.mean(accuracy[epoch * 10:(epoch + 1) * 10]) == pytest.approx(
            row["accuracy"], abs=1e-6)
    assert list(validation.get_xdata()) == [10, 20, 30]
    assert list(validation.get_ydata()) == [row["val_accuracy"] for row in log]
    _, pi = read_scalars(point / "tensorboard" / "flips", ["batch_pi"])["batch_pi"]
    np.testing.assert_array_equal(pi_gamma.lines[0].get_ydata(), pi)
    smoothed = plot.sweep_figure([sweep_run], sigma=3).axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(smoothed, plot.smooth(accuracy, 3))


def test_sweep_points_can_be_given_one_by_one(sweep_run):
    points = [sweep_run / "gamma=0.01_tau=1e-06", sweep_run / "gamma=0.001_tau=1e-06"]
    figure = plot.sweep_figure(points, sigma=0)
    assert len(figure.axes) == 2  # one column: only γ varies
    assert figure.axes[0].get_title() == "τ = 1e-06, γ varies"


def test_sweep_needs_per_step_logs(training_run, tmp_path):
    # `demo` logs flips per epoch only (flip_log_freq="epoch")
    with pytest.raises(plot.WrongRunError, match="logged no per-step batch_pi .* "
                                                 "flip_log_freq=1"):
        plot.sweep_figure([training_run])
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        plot.sweep_figure([training_run], sigma=-1)


def test_training_figure_marks_gamma_changes_and_draws_the_flip_ratio(training_run):
    figure = plot.training_figure([training_run])
    accuracy_ax, flips_ax = figure.axes
    log = read_csv(training_run / "log.csv")
    assert [float(r["gamma"]) for r in log] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4])
    changes = sorted({line.get_xdata()[0] for line in flips_ax.lines
                      if line.get_linestyle() == ":"})
    assert changes == [2.5, 4.5]  # between epochs 2 and 3, and 4 and 5
    assert [t.get_text() for t in flips_ax.texts] == ["γ → 0.001", "γ → 0.0001"]
    train = accuracy_ax.lines[0]
    assert list(train.get_xdata()) == [1, 2, 3, 4, 5]
    assert list(train.get_ydata()) == [float(r["accuracy"]) for r in log]
    ratio = flips_ax.lines[0]
    assert list(ratio.get_ydata()) == [float(r["flip_ratio"]) for r in log
                                       if float(r["flip_ratio"]) > 0]
    assert flips_ax.get_yscale() == "log"


def test_approximation_table_and_chart_show_the_per_seed_results(approximation_run):
    per_seed = read_csv(approximation_run / "per_seed.csv")
    assert len(per_seed) == 2
    markdown = plot.approximation_markdown([approximation_run])
    lines = markdown.splitlines()
    assert lines[2] == "| model | FashionMnist, 1 epochs (2 seeds) |"
    for row in ROWS:
        values = [float(r[row]) for r in per_seed]
        assert f"| {row} | {np.mean(values):.4f} ({np.std(values, ddof=1):.4f}) |" in lines
    assert "One-way ANOVA across the rows: FashionMnist, 1 epochs: F = " in markdown
    figure = plot.approximation_figure([approximation_run])
    bars = figure.axes[0].patches
    assert [b.get_height() for b in bars] == pytest.approx(
        [np.mean([float(r[row]) for r in per_seed]) for row in ROWS])


def test_approximation_runs_become_columns(approximation_run):
    markdown = plot.approximation_markdown([approximation_run, approximation_run])
    name = approximation_run.name
    assert (f"| model | FashionMnist, 1 epochs [{name}] (2 seeds) | "
            f"FashionMnist, 1 epochs [{name}] (2 seeds) |") in markdown
    assert len(plot.approximation_figure([approximation_run] * 2).axes[0].patches) == 6


def test_arbitrary_lr_figure_draws_configurations_2_and_3_as_one_curve(arbitrary_lr_run):
    figure = plot.arbitrary_lr_figure([arbitrary_lr_run])
    train_ax, test_ax = figure.axes
    labels = [t.get_text() for t in train_ax.get_legend().get_texts()]
    assert labels == ["1: Glorot, SGD $2^{-7}$", "2: Glorot, SGD 1",
                      "3: Glorot × $2^{-7}$, SGD $2^{-7}$", "4: uniform, SGD $2^{-7}$",
                      "5: uniform, Adam 0.01"]
    for ax, key in ((train_ax, "accuracy"), (test_ax, "val_accuracy")):
        assert len(ax.lines) == 5
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), ax.lines[2].get_ydata())
        log = read_csv(arbitrary_lr_run / "configs" / "uniform_adam" / "log.csv")
        assert list(ax.lines[4].get_ydata()) == [float(r[key]) for r in log]
    assert "configurations 2 and 3 differ in 0 binary weights at every epoch" in (
        test_ax.get_title())


def test_a_run_without_an_epoch_yet_is_a_clear_error(training_run, tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    (started / "config.json").write_text((training_run / "config.json").read_text())
    with pytest.raises(plot.WrongRunError, match="has not logged an epoch yet"):
        plot.training_figure([started])


def test_training_figure_adds_latent_weight_runs_which_have_no_flips(training_run, tmp_path):
    latent = tmp_path / "latent"
    with tfds.testing.mock_data(num_examples=20):
        run_task("mnist_latent_adam", epochs=2, batch_size=4, run_dir=str(latent),
                 **{"dataset.data_dir": str(tmp_path / "tfds")})
    figure = plot.training_figure([training_run, latent])
    accuracy_ax, flips_ax = figure.axes
    labels = [t.get_text() for t in accuracy_ax.get_legend().get_texts()]
    curves = [label for label in labels if ": test " not in label]
    assert curves == ["demo: train", "demo: validation", "latent: train", "latent: validation"]
    for run in (training_run, latent):  # the reported test accuracy, at its epoch's weights
        summary = json.loads((run / "summary.json").read_text())
        epoch = summary["best_epoch"] or summary["epochs_run"]
        label = f"{run.name}: test {summary['test_accuracy']:.4f} (epoch {epoch} weights)"
        star = next(line for line in accuracy_ax.lines if line.get_label() == label)
        assert list(star.get_xdata()) == [epoch]
        assert list(star.get_ydata()) == [summary["test_accuracy"]]
    train = next(line for line in accuracy_ax.lines if line.get_label() == "latent: train")
    assert list(train.get_ydata()) == [float(r["accuracy"]) for r in read_csv(latent / "log.csv")]
    assert [t.get_text() for t in flips_ax.get_legend().get_texts()] == ["demo"]
