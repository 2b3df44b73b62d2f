"""The binary optimizers as task components and the schedules: every optimizer of the
conformance list is a `binary_optimizer` component with its declared fields, and the
component makes the optimizer its fields describe."""

import json

import pytest
from zookeeper import configure

from rethink_bnn.experiments.tasks import Demo
from rethink_bnn.optimizers import Bop, binary_optimizers
from rethink_bnn.optimizers.schedules import Linear as LinearSchedule
from rethink_bnn.experiments.training.checks import ConfigError
from rethink_bnn.experiments.training.optimizer_components import binary_optimizer_components, component_for
from rethink_bnn.experiments.training.schedules import SCHEDULES, Constant, Linear, StepDecay
from tests.helpers import BINARY_CLASSES, BINARY_OPTIMIZERS

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

CLASSES = sorted({cls.__name__: cls for cls in BINARY_CLASSES.values()}.items())


def test_every_exported_binary_optimizer_is_a_component_of_its_name():
    assert {name: c.optimizer_class for name, c in binary_optimizer_components().items()} \
        == dict(CLASSES)


@pytest.mark.parametrize("name, cls", CLASSES)
def test_a_component_has_a_field_and_a_schedule_per_hyperparameter_and_its_options(name, cls):
    fields = set(component_for(cls).__component_fields__)
    declared = {h.name for h in cls.HYPERPARAMETERS}
    assert fields == declared | {f"{h}_schedule" for h in declared} | set(cls.OPTIONS)
    assert component_for(cls) is component_for(cls) and component_for(cls).__name__ == name
    # each field has a meaning for --help
    assert set(component_for(cls).field_help) == fields


@pytest.mark.parametrize("key", list(BINARY_OPTIMIZERS))
def test_a_task_makes_the_optimizer_its_fields_describe(key):
    make = BINARY_OPTIMIZERS[key]
    task = Demo()
    configure(task, {"binary_optimizer": make.cls.__name__,
                     **{f"binary_optimizer.{k}": v for k, v in make.defaults.items()}})
    task.validate()
    made = binary_optimizers(task.make_optimizer(steps_per_epoch=10))
    assert len(made) == 1 and type(made[0]) is make.cls
    expected = make().get_config()
    assert {k: made[0].get_config()[k] for k in expected if k != "name"} == \
        {k: v for k, v in expected.items() if k != "name"}


def test_schedules_turn_the_start_value_into_what_the_optimizer_takes():
    assert Constant()(1e-3, 10, 5) == 1e-3
    linear = Linear()
    configure(linear, {"end": 1e-6})
    ramp = linear(1e-4, 10, 5)
    assert isinstance(ramp, LinearSchedule)
    assert float(ramp(0)) == pytest.approx(1e-4) and float(ramp(50)) == pytest.approx(1e-6)
    same = Linear()
    configure(same, {"end": 1e-4})
    assert same(1e-4, 10, 5) == 1e-4  # no ramp: a float, as Constant
    decay = StepDecay()
    configure(decay, {"every_epochs": 2, "factor": 0.5})
    steps = decay(1.0, 10, 5)
    assert [float(steps(s)) for s in (0, 19, 20, 40)] == [1.0, 1.0, 0.5, 0.25]
    assert set(SCHEDULES) == {"Constant", "Linear", "StepDecay"}


def test_a_schedules_values_are_checked_against_the_hyperparameters_range():
    task = Demo()
    configure(task, {"binary_optimizer.gamma_schedule": "Linear",
                     "binary_optimizer.gamma_schedule.end": 1.5})
    with pytest.raises(ConfigError, match=r"^binary_optimizer\.gamma_schedule\.end must be in"):
        task.validate()
    ok = Demo()  # a rate may decay to 0: the last step uses start / steps
    configure(ok, {"binary_optimizer.gamma_schedule": "Linear",
                   "binary_optimizer.gamma_schedule.end": 0.0})
    ok.validate()


@pytest.mark.slow
def test_demo_trains_with_cema_and_records_it(tmp_path):
    from tests.test_experiments import run_task

    summary = run_task("demo", binary_optimizer="CEMA", epochs=1, run_dir=str(tmp_path),
                       **{"dataset.train_limit": 320, "binary_optimizer.alpha": 1e-3})
    assert summary["epochs_run"] == 1 and summary["flips_total"] > 0
    recorded = json.loads((tmp_path / "config.json").read_text())["binary_optimizer"]
    assert recorded["class"] == "CEMA" and recorded["alpha"] == 1e-3
    assert recorded["gamma_schedule"] == {"class": "Constant"}
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert {"gamma", "alpha", "flips"} <= set(header)
    # the same folder with another optimizer is another run: refused, nothing touched
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(Exception, match="binary_optimizer"):
        run_task("demo", epochs=1, run_dir=str(tmp_path), **{"dataset.train_limit": 320})
    assert (tmp_path / "config.json").read_text() == before


def test_the_default_binary_optimizer_is_bop():
    task = Demo()
    configure(task, {})
    assert type(binary_optimizers(task.make_optimizer(10))[0]) is Bop


def test_a_step_decay_that_would_leave_the_range_is_refused_before_the_run():
    task = Demo()  # 30 epochs: 29 decays by 1e-30 take γ = 1e-2 below float32's normals
    configure(task, {"binary_optimizer.gamma_schedule": "StepDecay",
                     "binary_optimizer.gamma_schedule.factor": 1e-30,
                     "binary_optimizer.gamma_schedule.every_epochs": 1})
    with pytest.raises(ConfigError, match=r"^binary_optimizer\.gamma_schedule takes the value "
                                          r"to 0 in the last epoch \(29 decays by 1e-30\)"):
        task.validate()
    short = Demo()  # one epoch: no decay happens
    configure(short, {"epochs": 1, "binary_optimizer.gamma_schedule": "StepDecay",
                      "binary_optimizer.gamma_schedule.factor": 1e-30,
                      "binary_optimizer.gamma_schedule.every_epochs": 1})
    short.validate()


def test_naming_the_tasks_own_optimizer_keeps_its_settings():
    from rethink_bnn.experiments.cli.train import configured, task_class

    bop = configured(task_class("mnist_bop"), {"binary_optimizer": "Bop"}).binary_optimizer
    assert (bop.gamma, bop.threshold, type(bop.gamma_schedule)) == (1e-3, 1e-6, StepDecay)
    cema = configured(task_class("mnist_bop"), {"binary_optimizer": "CEMA"}).binary_optimizer
    assert cema.optimizer_class.__name__ == "CEMA" and cema.gamma == 0.1  # CEMA's own


def test_a_hyperparameter_without_a_default_must_be_given():
    from rethink_bnn.declarations import rate

    class NoDefaultRho(Bop):
        HYPERPARAMETERS = (*Bop.HYPERPARAMETERS, rate("rho", "a rate without a default"))

    assert not component_for(NoDefaultRho).__component_fields__["rho"].has_default
