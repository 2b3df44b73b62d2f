"""Test set-up: Keras 2, two logical CPU devices (for MirroredStrategy), quiet logs; small
real run folders of every kind the figures read, made once per session when asked for.
Without TensorFlow (./setup.sh keras3: the Keras 3 front end on JAX or PyTorch), only
the Keras 3 front end's tests run, and none of this TensorFlow set-up."""

import functools
import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One thread per op (two for independent ops, which two logical devices' collectives
# need at once): the workers already fill the cores, and idle pool threads that spin
# cost CPU time. The tests' processes inherit it.
for _variable, _threads in (("TF_NUM_INTRAOP_THREADS", "1"), ("TF_NUM_INTEROP_THREADS", "2"),
                            ("OMP_NUM_THREADS", "1"),  # PyTorch, OpenBLAS
                            ("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                          "intra_op_parallelism_threads=1")):  # JAX
    os.environ.setdefault(_variable, _threads)
TENSORFLOW = importlib.util.find_spec("tensorflow") is not None


def pytest_configure(config):
    # xdist's controller only hands out tests: TensorFlow is for the processes running them.
    if config.getoption("numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        return
    if not TENSORFLOW:
        return
    import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
    import tensorflow as tf

    # Before TensorFlow initializes its devices, i.e. before any op runs.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    # Bit-for-bit comparisons between runs need deterministic kernels.
    tf.config.experimental.enable_op_determinism()


def pytest_collection_finish(session):
    # Tracing makes objects by the hundred thousand, and each of Python's default
    # collections (every 700 new objects) walks them: 3.5 of 62 CPU-seconds in
    # tests/optimizers/test_case.py and tests/test_step_record.py, 1.1 with the modules
    # loaded so far left out of every collection (freeze) and one every 10,000.
    import gc

    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    if not TENSORFLOW:  # Keras 3 alone (tests/keras3 run on its backend)
        import keras

        keras.backend.clear_session(free_memory=False)  # names reset; no gc per test (0.14 s)
        keras.utils.set_random_seed(0)
        yield
        return
    import tensorflow as tf

    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    yield


def run_task(name, **config):
    from tests.test_experiments import run_task

    return run_task(name, **config)


# --- run folders (tests/plot, and the sweep in tests/test_experiments.py) ---------------

# Digits at batch 32: 320 examples make 10 steps per epoch.
DIGITS = {"dataset.train_limit": 320, "batch_size": 32}


@pytest.fixture(scope="session")
def sweep_run(tmp_path_factory):
    """bop_sweep over the authors' grid with `demo` points, 3 epochs each, per-step logs."""
    folder = tmp_path_factory.mktemp("bop_sweep")
    run_task("bop_sweep", point="Demo", run_dir=str(folder), processes=2,
             **{"point.epochs": 3, "point.flip_log_freq": 1, "point.step_log_freq": 1,
                **{f"point.{k}": v for k, v in DIGITS.items()}})
    return folder


@pytest.fixture(scope="session")
def training_run(tmp_path_factory):
    """`demo` for 5 epochs with γ × 0.1 every 2 epochs: γ changes after epochs 2 and 4."""
    folder = tmp_path_factory.mktemp("training") / "demo"
    run_task("demo", epochs=5, run_dir=str(folder), **DIGITS,
             **{"binary_optimizer.gamma_schedule": "StepDecay",
                "binary_optimizer.gamma_schedule.every_epochs": 2})
    return folder


def _on_fashion_mnist(tmp_path_factory, task, **config):
    from tests.data.test_archives import needs_fashion

    skip, reason = needs_fashion.mark.args[0], needs_fashion.mark.kwargs["reason"]
    if skip:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp(task)
    run_task(task, dataset="FashionMnist", run_dir=str(folder), **config)
    return folder


APPROXIMATION_SLICE = {"dataset.train_limit": 2000, "dataset.test_limit": 2000}


@pytest.fixture(scope="session")
def approximation_run(tmp_path_factory):
    """approximation_viewpoint on Fashion-MNIST: 2 seeds, 1 epoch, 2000 examples, tested
    on 2000."""
    return _on_fashion_mnist(tmp_path_factory, "approximation_viewpoint", epochs=1, seeds=2,
                             **APPROXIMATION_SLICE)


@pytest.fixture(scope="session")
def arbitrary_lr_run(tmp_path_factory):
    """arbitrary_lr (exact form) on Fashion-MNIST: 2 epochs of 20 steps, every step's
    weights of configurations 1, 2 and 3 compared (tests/test_theory.py), each epoch's
    test accuracy on 500 test images."""
    return _on_fashion_mnist(tmp_path_factory, "arbitrary_lr", epochs=2, batch_size=10,
                             compare_every_step=True,
                             **{"dataset.train_limit": 200, "dataset.test_limit": 500})


class _Runs:
    """The run folders by kind, each made (or skipped for lack of Fashion-MNIST) only when
    a test reads it: a test that uses digits runs only needs no Fashion-MNIST."""

    KINDS = ("sweep", "training", "approximation", "arbitrary_lr")

    def __init__(self, request):
        self._request = request

    def __getitem__(self, kind):
        return self._request.getfixturevalue(f"{kind}_run")


@pytest.fixture
def all_runs(request):
    return _Runs(request)


# --- parallel workers (pytest-xdist: `-n auto` in setup.cfg) -----------------------------

# The tests that read the session's run folders: one worker runs them all, so each folder
# is trained once and a test that writes into one never races another that reads it.
RUN_READERS = ("tests/plot/", "tests/test_theory.py", "tests/test_experiments.py::test_sweep",
               "tests/test_experiments.py::test_a_sweeps_own_folder",
               "tests/keras3/test_tasks.py::test_demo_leaves_the_run_folder_of_the_tf_keras_demo")
SHARED_RUNS = {f"{kind}_run" for kind in _Runs.KINDS} | {"all_runs"}


def worker_unit(nodeid):
    """The tests one worker runs together: the run readers; a module with fixtures made
    once per module; else each test alone, for the finest balance."""
    if nodeid.startswith(RUN_READERS):
        return "run readers"
    path = nodeid.split("::")[0]
    return path if _shares_fixtures(path) else nodeid


@functools.cache
def _shares_fixtures(path):
    source = (Path(__file__).parents[1] / path).read_text()
    return bool(re.search(r"scope=[\"'](module|class|package|session)[\"']", source))


# --- the library alone (CI's second environment: requirements-core.lock) ----------------

# Tests of the experiments (tasks, tfds data, plots, export, CLIs) carry
# `pytest.mark.experiments`, on the test or as the module's `pytestmark`; every other test
# is the library's and must pass with `pip install rethink_bnn` alone. Without the
# experiments extra, pytest runs the library's tests only and says so in its header.
EXTRA_MODULES = ("zookeeper", "tensorflow_datasets", "larq_zoo")


@functools.cache
def experiments_installed():
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)


def _marked_for_experiments(path):
    return bool(re.search(r"^pytestmark = pytest\.mark\.experiments\b", path.read_text(), re.M))


KERAS3_TESTS = Path(__file__).parent / "keras3"


def pytest_ignore_collect(collection_path, config):
    # Without TensorFlow only the Keras 3 front end's tests are collected (the others
    # import TensorFlow at their top).
    if (not TENSORFLOW and collection_path.suffix == ".py"
            and collection_path.name.startswith("test_")
            and KERAS3_TESTS not in collection_path.parents):
        return True
    # A module of experiment tests imports zookeeper or tfds at its top: not collected.
    if (not experiments_installed() and collection_path.suffix == ".py"
            and collection_path.name.startswith("test_")):
        return _marked_for_experiments(collection_path) or None
    return None


def pytest_report_header(config):
    if not TENSORFLOW:
        return ("TensorFlow not installed: running the Keras 3 front end's tests only "
                "(tests/keras3), those comparing with the tf-keras front end skipped")
    if not experiments_installed():
        return ("experiments extra not installed: running the library's tests only "
                "(those not marked `experiments`)")
    return None


# The inner loop (`pytest -m "not slow"`) leaves out what trains for seconds or starts
# processes: every test of these modules (nearly all of each trains or starts processes,
# or shares a module fixture that does), every reader of the session's run folders, and
# each test marked `@pytest.mark.slow` elsewhere.
SLOW_MODULES = tuple(f"tests/{m}.py" for m in (
    "keras3/test_scenario", "optimizers/test_successors", "plot/test_figures",
    "plot/test_notebooks", "test_experiments_extra", "test_export", "test_imagenet",
    "test_keras2", "test_readme", "test_saving", "test_step_record", "test_successor_tasks",
    "test_theory", "training/test_crash_safety", "training/test_distribution",
    "training/test_mixed_precision", "training/test_streams"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (item.nodeid.startswith(SLOW_MODULES)
                or SHARED_RUNS.intersection(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)
    if not experiments_installed():
        deselected = [i for i in items if i.get_closest_marker("experiments")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [i for i in items if not i.get_closest_marker("experiments")]
    for item in items:
        if (SHARED_RUNS.intersection(getattr(item, "fixturenames", ()))
                and worker_unit(item.nodeid) != "run readers"):
            raise pytest.UsageError(
                f"{item.nodeid} reads the session's run folders: add it to RUN_READERS in "
                "tests/conftest.py, so that one worker trains them")


def pytest_xdist_make_scheduler(config, log):
    # Not xdist's public `--dist loadgroup` with `xdist_group` marks: it puts a test's
    # group into its node id (`...::test@group`), which pytest 9.2 no longer lets a plugin
    # change; tried with pytest 9.2.0 and pytest-xdist 3.8.0, two tests of one group ran
    # on two workers. Nor `--dist loadscope`/`loadfile`: the run readers span modules.
    # So the scheduler's unit of a test is `worker_unit(nodeid)`, through the one method
    # LoadScopeScheduling has for it.
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return worker_unit(nodeid)

    return ByUnit(config, log)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # A worker has sent every report by now (xdist sends them by its sessionfinish), and
    # its interpreter's teardown, a heap of a session's graphs and models freed object by
    # object, cost each worker about 8 CPU-seconds for nothing: it ends here instead.
    if hasattr(config, "workerinput"):  # (not PYTEST_XDIST_WORKER: a test's processes inherit it)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def pytest_xdist_auto_num_workers(config):
    # One worker per core. Measured on 2 cores, the whole suite in one run each: 3 workers
    # 771 CPU-seconds in 392 s, 2 workers 716 in 386 s (a third worker's waits on its
    # processes no longer pay for its share of the cores once each op runs on one thread).
    return min(len(os.sched_getaffinity(0)), 8)
