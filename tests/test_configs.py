"""Stored configurations (a run folder's config.json, a sweep point's file) are checked
whole, in one place, before anything is built: anything else gets one line naming what
is wrong, and `--config FILE` gets it with the file's name, exit code 2."""

import json

import pytest
from zookeeper import configure

from rethink_bnn.experiments.config.stored import (
    StoredConfigError,
    check_stored_config,
    read_stored_config,
    task_from_config,
)
from rethink_bnn.experiments.tasks import TASKS
from rethink_bnn.train import main
from rethink_bnn.experiments.training.task import fields_of

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def _resolved(name, **config):
    """A task's resolved configuration, as its run folder's config.json holds it."""
    task = TASKS[name]()
    configure(task, config)
    resolved = (task.resolved_config() if hasattr(task, "resolved_config")  # the theory
                else {"task": name, "kind": name, **fields_of(task)})  # tasks' own form
    return json.loads(json.dumps(resolved))


def _error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


DEMO = _resolved("demo")
NOT_CONFIGS = [
    ("[1, 2]", "it holds a list, not an object"),
    ("5", "it holds a number, not an object"),
    ('"demo"', "it holds a string, not an object"),
    ("null", "it holds null, not an object"),
    ("{}", 'it names no task (no "task" key)'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}',
     '"task" must be the name of a task, got {'),
    ('{"task": 5}', '"task" must be the name of a task, got 5'),
    ('{"task": null}', '"task" must be the name of a task, got None'),
    ('{"task": ["demo"]}', '"task" must be the name of a task, got ['),
    ('{"task": "dmeo"}', "unknown task 'dmeo' (did you mean 'demo'?)"),
    ('{"task": "demo", "kind": 3}', "\"kind\" of a demo run is 'bop', got 3"),
    ('{"task": "demo", "kind": "latent"}', "\"kind\" of a demo run is 'bop', got 'latent'"),
    ('{"task": "demo", "epoch": 3}', "unknown key 'epoch': Demo has no such field (did you "
                                     "mean 'epochs'?)"),
    ('{"task": "demo", "epochs": "abc"}', "epochs must be an integer, got 'abc'"),
    ('{"task": "demo", "epochs": 2.5}', "epochs must be an integer, got 2.5"),
    ('{"task": "demo", "epochs": true}', "epochs must be an integer, got True"),
    ('{"task": "demo", "binary_optimizer": {"class": "Bop", "gamma": false}}',
     "binary_optimizer.gamma must be a number, got False"),
    ('{"task": "demo", "binary_optimizer": {"class": "Bop3"}}', "binary_optimizer.class must "
                                                               "name one of Bop, Bop2ndOrder"),
    ('{"task": "demo", "binary_optimizer": {"class": "CEMA", "threshold": 1e-6}}',
     "unknown key 'binary_optimizer.threshold': CEMA has no such field"),
    ('{"task": "demo", "binary_optimizer": {"class": "Bop", "gamma_schedule": {"class": '
     '"Linear"}}}', "binary_optimizer.gamma_schedule.end has no value"),
    ('{"task": "demo", "epochs": {"class": "Foo"}}', "epochs must be an integer, got {"),
    ('{"task": "demo", "input_shape": [8, 8]}', "input_shape must be a tuple of 3 integers"),
    ('{"task": "demo", "dataset": {"class": "Foo"}}', "dataset.class must name one of "
                                                      "Cifar10, Digits, FashionMnist, "),
    ('{"task": "demo", "dataset": {"class": 5}}', "dataset.class must name one of "),
    ('{"task": "demo", "dataset": {"seed": 1}}', 'dataset must be a component {"class": '
                                                 'NAME, ...} with NAME one of Cifar10, '),
    ('{"task": "demo", "dataset": null}', "dataset must be a component"),
    ('{"task": "demo", "dataset": 7}', "dataset must be a component"),
    ('{"task": "demo", "dataset": "Foo"}', "dataset must name one of "),
    ('{"task": "demo", "dataset": {"class": "Digits", "bogus": 1}}',
     "unknown key 'dataset.bogus': Digits has no such field"),
    ('{"task": "demo", "dataset": {"class": "Digits", "train_limit": "all"}}',
     "dataset.train_limit must be an integer or None, got 'all'"),
    ('{"task": "demo", "model": {"class": "BinaryMLP", "units": "wide"}}',
     "model.units must be a tuple of integers, got 'wide'"),
    ('{"task": "bop_sweep", "point": {"class": "MnistLatentAdam"}}', "point.class must name "
                                                                     "one of "),
    ('{"task": "bop_sweep", "point": {"class": "Demo", "epochs": "x"}}',
     "point.epochs must be an integer, got 'x'"),
]


@pytest.mark.parametrize("text, problem", NOT_CONFIGS)
def test_anything_but_a_task_configuration_is_one_clear_error(text, problem):
    with pytest.raises(StoredConfigError) as caught:
        check_stored_config(json.loads(text))
    assert str(caught.value).startswith(problem), caught.value
    assert "\n" not in str(caught.value)
    with pytest.raises(StoredConfigError) as rebuilt:
        task_from_config(json.loads(text))  # what export rebuilds a run's network with
    assert str(rebuilt.value) == str(caught.value)


@pytest.mark.parametrize("text, problem", NOT_CONFIGS[::3] + [
    ("not json", "is not JSON (Expecting value"),
    ("[" * 100_000, "is not JSON ("),
    ('{"task": "demo", "dataset": {"class": "Foo"}}', "dataset.class must name one of "),
])
def test_config_flag_names_the_file_and_what_is_wrong(text, problem, tmp_path, capsys):
    """Even with a key=value that would replace the bad field: the file is refused."""
    path = tmp_path / "f.json"
    path.write_text(text)
    before = sorted(tmp_path.iterdir())
    for extra in ([], ["dataset=Mnist", "epochs=2", "task=demo"]):
        assert main(["--config", str(path), *extra]) == 2
        line = _error(capsys)
        assert line.startswith(f"error: --config {path} ") and problem in line, line
    assert sorted(tmp_path.iterdir()) == before


def test_config_flag_refuses_an_unreadable_file_or_a_folder(tmp_path, capsys):
    (tmp_path / "bytes.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(DEMO))
    for path, problem in [(tmp_path / "none.json", "cannot be read (No such file"),
                          (tmp_path / "bytes.json", "is not a task configuration (not a JSON "
                                                    "text file)"),
                          (tmp_path / "run", "is a folder, not a configuration file (give "
                                             "its config.json)")]:
        assert main(["--config", str(path)]) == 2
        assert _error(capsys).startswith(f"error: --config {path} {problem}")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_tasks_own_configuration_passes_and_rebuilds_the_task(name):
    config = _resolved(name)
    check_stored_config(config)
    assert {"task": name, "kind": config["kind"],
            **json.loads(json.dumps(fields_of(task_from_config(config))))} == config


def test_a_run_folders_config_trains_again_with_its_values_as_values(tmp_path):
    """The file's values go in as values, not as text parsed again: a run_dir named
    "123" stays a string; overriding a component drops the file's fields of it."""
    from zookeeper.core.component import base_getattr

    from rethink_bnn.experiments.cli.train import _from_config_file, configured

    path = tmp_path / "config.json"
    path.write_text(json.dumps(_resolved("demo", run_dir="123", **{"model.units": (7,)})))
    cls, config = _from_config_file(str(path), ["epochs=2"])
    task = configured(cls, config)
    units = tuple(base_getattr(task, "model").units)  # the factory, not the network it builds
    assert (task.run_dir, task.epochs, units) == ("123", 2, (7,))
    cls, config = _from_config_file(str(path), ["dataset=Mnist", "input_shape=(28,28,1)"])
    task = configured(cls, config)
    assert type(base_getattr(task, "dataset")).__name__ == "Mnist"
    assert read_stored_config(path)["run_dir"] == "123"
