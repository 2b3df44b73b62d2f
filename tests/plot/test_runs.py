"""Reading run folders: kinds, logs, and TensorBoard scalars as a resumed run left them."""

import pytest
import tensorflow as tf

from rethink_bnn import events
from rethink_bnn.plot import runs

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra


def test_every_folder_is_recognised(all_runs):
    assert runs.kind_of(all_runs["sweep"]) == runs.SWEEP
    assert runs.kind_of(all_runs["sweep"] / "gamma=0.001_tau=0") == runs.BOP_RUN
    assert runs.kind_of(all_runs["training"]) == runs.BOP_RUN
    assert runs.kind_of(all_runs["training"] / "tensorboard") is None
    # last: these need Fashion-MNIST (the test is skipped here without it)
    assert runs.kind_of(all_runs["approximation"]) == runs.APPROXIMATION
    assert runs.kind_of(all_runs["arbitrary_lr"]) == runs.ARBITRARY_LR


def test_a_folder_without_a_run_says_so(tmp_path):
    with pytest.raises(runs.WrongRunError, match="holds no run .*needs a Bop training run"):
        runs.require(tmp_path, (runs.BOP_RUN,), "sec 5.2 figure")
    with pytest.raises(runs.WrongRunError, match="does not exist"):
        runs.require(tmp_path / "typo", (runs.BOP_RUN,), "sec 5.2 figure")


@pytest.fixture(params=["tensorflow", "tensorboard"])
def decoder(request, monkeypatch):
    """Each way `read_scalars` decodes: TensorFlow's bulk decoder (TensorFlow loaded), or
    tensorboard's protos one event at a time (the Keras 3 front end without TensorFlow)."""
    if request.param == "tensorboard":
        monkeypatch.setattr(events, "_scalars_in", events._scalars_in_without_tensorflow)
    return request.param


def _write(folder, values, start):
    writer = tf.summary.create_file_writer(str(folder), filename_suffix=f".{start}")
    with writer.as_default():
        for step, value in values.items():
            tf.summary.scalar("batch_pi", value, step=step)
            tf.summary.scalar("other", -1.0, step=step)
    writer.close()


def test_the_value_written_last_wins_as_after_a_resume(tmp_path, decoder):
    # A run killed in its second epoch (steps 1-7 written), resumed after epoch 1 (step
    # 5): steps 6-10 are written again, to a newer file.
    _write(tmp_path, {s: float(s) for s in range(1, 8)}, 1)
    newer = {s: 100.0 + s for s in range(6, 11)}
    _write(tmp_path, newer, 2)
    assert len(list(tmp_path.iterdir())) == 2
    events.ScalarWriter(tmp_path).close()  # a third file, of our writer, holding no scalar
    steps, values = runs.read_scalars(tmp_path, ["batch_pi"])["batch_pi"]
    assert steps.tolist() == list(range(1, 11))
    assert values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 106.0, 107.0, 108.0, 109.0, 110.0]


def test_scalars_match_tensorflows_own_reader(training_run, decoder):
    folder = training_run / "tensorboard" / "train"
    expected = {}
    for path in sorted(folder.iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "epoch_accuracy":
                    expected[event.step] = float(tf.make_ndarray(value.tensor))
    steps, values = runs.read_scalars(folder, ["epoch_accuracy"])["epoch_accuracy"]
    assert len(expected) == 5
    assert dict(zip(steps.tolist(), values.tolist())) == expected


def test_no_event_file_gives_empty_series(tmp_path, decoder):
    steps, values = runs.read_scalars(tmp_path, ["batch_pi"])["batch_pi"]
    assert steps.size == values.size == 0


def test_a_record_cut_short_by_a_run_still_writing_is_skipped(tmp_path, decoder):
    _write(tmp_path, {s: float(s) for s in range(1, 6)}, 1)
    (path,) = tmp_path.iterdir()
    path.write_bytes(path.read_bytes()[:-5])  # the last record ("other" at 5), half written
    found = runs.read_scalars(tmp_path, ["batch_pi", "other"])
    assert found["batch_pi"][0].tolist() == [1, 2, 3, 4, 5]
    assert found["other"][0].tolist() == [1, 2, 3, 4]


def test_the_kind_is_read_from_config_json_not_guessed(all_runs, tmp_path):
    import json
    import shutil

    config = json.loads((all_runs["training"] / "config.json").read_text())
    assert config["kind"] == "bop"
    # a Bop run whose config lacks gamma (as no earlier rule would have guessed)
    copy = tmp_path / "run"
    shutil.copytree(all_runs["training"], copy)
    (copy / "config.json").write_text(json.dumps(
        {k: v for k, v in config.items() if k not in ("gamma", "threshold")}))
    assert runs.kind_of(copy) == runs.BOP_RUN
    (copy / "config.json").write_text(json.dumps({**config, "kind": "latent"}))
    assert runs.kind_of(copy) == runs.LATENT_RUN
    # a config without its kind is no run of ours to draw (0.1's were guessed at)
    (copy / "config.json").write_text(json.dumps({k: v for k, v in config.items()
                                                  if k != "kind"}))
    assert runs.kind_of(copy) is None
