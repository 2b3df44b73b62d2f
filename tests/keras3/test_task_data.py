"""The Keras 3 front end's training batches (`frontends.keras3_data`): the order is a
function of the seed and the pass, a resume at any example continues the same stream,
and on JAX the batches gathered from the copy kept on the device are the host's."""

import numpy as np
import pytest


def _arrays(n=10):
    images = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1)
    return images, np.arange(n) % 3


def _take(stream, count):
    return [next(stream) for _ in range(count)]


def test_passes_run_back_to_back_in_the_seeds_order_and_resume_anywhere():
    from rethink_bnn.experiments.frontends.keras3_data import batches

    images, labels = _arrays()
    got = _take(batches(images, labels, 4, seed=7), 5)  # 20 examples: two passes exactly
    order = np.concatenate([np.random.default_rng([7, k]).permutation(10) for k in (0, 1)])
    assert np.array_equal(np.concatenate([b[1] for b in got]), labels[order])
    assert np.array_equal(np.concatenate([b[0] for b in got]), images[order])
    stream = np.concatenate([b[1] for b in got])
    for start in (4, 6, 8, 12, 13):  # at batches and between; across a pass's end
        resumed = _take(batches(images, labels, 4, seed=7, start=start), 1)
        x, y = resumed[0]
        assert np.array_equal(y, stream[start:start + 4])
        assert np.array_equal(x, images[order[start:start + 4]])


def test_a_set_is_kept_on_the_device_only_within_its_share_of_the_free_memory():
    from rethink_bnn.experiments.frontends.keras3_data import DEVICE_SHARE, fits_on_device

    gpu = {"bytes_limit": 80 * 2**30, "bytes_in_use": 16 * 2**30}
    free = 64 * 2**30
    assert fits_on_device(int(DEVICE_SHARE * free), gpu)
    assert not fits_on_device(int(DEVICE_SHARE * free) + 1, gpu)
    assert fits_on_device(10**12, None) and fits_on_device(10**12, {})  # a CPU: the host's


def test_on_jax_the_batches_come_from_the_device_and_equal_the_hosts():
    import keras

    from rethink_bnn.experiments.frontends.keras3_data import batches, gatherer

    images, labels = _arrays()
    if keras.backend.backend() != "jax":
        assert gatherer(images, labels, keras.backend.backend()) is None  # numpy, as Keras feeds
        pytest.skip("the device copy is JAX's (this process runs another backend)")
    import jax

    gather = gatherer(images, labels, "jax")
    on_device = _take(batches(images, labels, 4, seed=3, gather=gather), 4)
    on_host = _take(batches(images, labels, 4, seed=3), 4)
    for (x, y), (x0, y0) in zip(on_device, on_host):
        assert isinstance(x, jax.Array) and x.dtype == np.uint8
        assert np.array_equal(np.asarray(x), x0) and np.array_equal(np.asarray(y), y0)


def test_on_jax_a_task_compiles_its_training_step_once(tmp_path, caplog):
    """Batches gathered on the device are uncommitted, as Keras' own arrays are: a batch
    committed to a device committed the step's outputs, and the step was compiled three
    times (first step, second step, after the first epoch's end)."""
    import logging

    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("JAX compiles the step (this process runs another backend)")
    pytest.importorskip("zookeeper", reason="the tasks need the experiments' zookeeper")
    import jax
    from zookeeper import configure

    from rethink_bnn.experiments.tasks import TASKS

    task = TASKS["demo"]()
    configure(task, {"front_end": "keras3", "epochs": 3, "dataset.train_limit": 96,
                     "verbose": 0, "run_dir": str(tmp_path / "run")})
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING):
            task.run()
    finally:
        jax.config.update("jax_log_compiles", False)
    compiled = [r for r in caplog.records if "Compiling jit(train_step)" in r.getMessage()]
    assert len(compiled) == 1
