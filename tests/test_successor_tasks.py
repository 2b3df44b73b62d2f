"""Bop2ndOrder's and CEMA's tasks: their published recipes, and a few steps of each on
tfds mock data (CIFAR-10, ImageNet) or a slice of Fashion-MNIST, with every rate following
its linear schedule in the log."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from zookeeper import configure

from rethink_bnn.experiments.tasks import TASKS
from rethink_bnn.optimizers import Bop2ndOrder, CEMA, binary_optimizers
from rethink_bnn.experiments.runs.folder import read_csv
from tests.data.test_archives import needs_fashion
from tests.test_experiments import run_task

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

# (τ, final τ, γ, final γ, σ, final σ, Adam, final Adam, batch, epochs): the papers' values
RECIPES = {
    "cifar10_bop2nd_order": (1e-5, 1e-8, 1e-2, 1e-5, 1e-7, 1e-2, 1e-2, 1e-3, 50, 500),
    "xnornet_imagenet_bop2nd_order": (1e-8, 1e-5, 1e-4, 1e-9, 1e-5, 1e-2, 2.5e-3, 5e-6, 1024, 100),
    "birealnet_imagenet_bop2nd_order": (1e-8, 1e-5, 1e-4, 1e-9, 1e-5, 1e-2, 2.5e-3, 5e-6, 1024,
                                        150),
}


def _values(task):
    """The task's recipe in the order of RECIPES."""
    bop2, values = task.binary_optimizer, []
    for name in ("threshold", "gamma", "sigma"):
        values += [getattr(bop2, name), getattr(bop2, f"{name}_schedule").end]
    return (*values, task.learning_rate, task.learning_rate_schedule.end, task.batch_size,
            task.epochs)


def _task(name, **config):
    task = TASKS[name]()
    configure(task, config)
    return task


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_are_the_published_ones(name):
    task = _task(name)
    assert _values(task) == RECIPES[name]
    assert task.binary_optimizer.unbiased is False
    unbiased = _task("cifar10_bop2nd_order_unbiased")
    assert unbiased.binary_optimizer.unbiased is True and _values(unbiased) == RECIPES[
        "cifar10_bop2nd_order"]
    steps = 1000
    bop2 = binary_optimizers(task.make_optimizer(steps_per_epoch=steps))[0]
    assert isinstance(bop2, Bop2ndOrder)
    total = task.epochs * steps
    for key, start, end in (("threshold", 0, 1), ("gamma", 2, 3), ("sigma", 4, 5)):
        schedule = getattr(bop2, f"_{key}" if key != "gamma" else "_learning_rate")
        recipe = RECIPES[name]
        # exact at both ends (in float32), also where σ ramps up 5 orders of magnitude
        assert float(schedule(0)) == pytest.approx(recipe[start], rel=1e-7)
        assert float(schedule(total // 2)) == pytest.approx((recipe[start] + recipe[end]) / 2,
                                                            rel=1e-6)
        assert float(schedule(total)) == pytest.approx(recipe[end], rel=1e-7)
        assert float(schedule(2 * total)) == pytest.approx(recipe[end], rel=1e-7)


def _assert_linear(log, key, start, end, total_steps):
    for row in log:  # the value the epoch's last step (step - 1) used
        done = (int(row["step"]) - 1) / total_steps
        assert float(row[key]) == pytest.approx(start + done * (end - start), rel=1e-4), key


@pytest.mark.parametrize("name,shape", [("cifar10_bop2nd_order_unbiased", None),
                                        ("birealnet_imagenet_bop2nd_order", (64, 64, 3))])
def test_tasks_train_on_mock_data(name, shape, tmp_path):
    run_dir = tmp_path / name
    extra = {"input_shape": shape} if shape else {}
    with tfds.testing.mock_data(num_examples=8):
        summary = run_task(name, epochs=2, batch_size=4, run_dir=str(run_dir),
                           **{"dataset.data_dir": str(tmp_path / "tfds")}, **extra)
    assert summary["epochs_run"] == 2 and np.isfinite(summary["test_loss"])
    assert summary["flips_total"] > 0
    log = read_csv(run_dir / "log.csv")
    assert [int(row["step"]) for row in log] == [2, 4]
    recipe = RECIPES[name.replace("_unbiased", "")]
    for key, start, end in (("threshold", 0, 1), ("gamma", 2, 3), ("sigma", 4, 5),
                            ("learning_rate", 6, 7)):
        _assert_linear(log, key, recipe[start], recipe[end], 4)


@needs_fashion
@pytest.mark.parametrize("name,kind", [("fashion_mnist_bop2nd_order", Bop2ndOrder),
                                       ("fashion_mnist_cema", CEMA)])
def test_cpu_scale_tasks_learn_on_a_slice(name, kind, tmp_path):
    task = _task(name)
    assert isinstance(binary_optimizers(task.make_optimizer(100))[0], kind)
    summary = run_task(name, epochs=1, run_dir=str(tmp_path), **{"dataset.train_limit": 2000})
    # 20 steps on 2,000 images: far above chance (0.1) already
    assert summary["test_accuracy"] > 0.4 and summary["flips_total"] > 0
    log = read_csv(tmp_path / "log.csv")
    assert set(kind.hyperparameter_names) <= set(log[0])


@pytest.mark.parametrize("config,message", [
    ({"binary_optimizer.sigma": 0.0}, r"^binary_optimizer.sigma must be in \(0, 1\]"),
    ({"binary_optimizer.sigma_schedule": "Linear", "binary_optimizer.sigma_schedule.end": 2.0},
     r"^binary_optimizer.sigma_schedule.end must be in \(0, 1\]"),
    ({"binary_optimizer.threshold_schedule": "Linear",
      "binary_optimizer.threshold_schedule.end": -1.0},
     "^binary_optimizer.threshold_schedule.end must be a finite float >= 0"),
])
def test_out_of_range_rates_are_refused_before_anything_loads(config, message, tmp_path):
    task = _task("fashion_mnist_bop2nd_order", run_dir=str(tmp_path / "x"), **config)
    with pytest.raises(ValueError, match=message):
        task.validate()
    assert not (tmp_path / "x").exists()
