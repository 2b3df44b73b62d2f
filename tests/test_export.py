"""Export to Larq Compute Engine: trained runs of the demo, the MNIST net and BinaryNet
(a few steps each) become flatbuffers whose binary layers run as LceBconv2d with
bit-packed ±1 filters, and whose outputs agree with Keras on real inputs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rethink_bnn.export import __main__ as cli
from rethink_bnn.export import export_run, flatbuffer as fb
from rethink_bnn.export.runs import network, read_run
from tests.data.test_archives import needs_fashion
from tests.test_experiments import run_task

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

pytest.importorskip("larq_compute_engine")


def _files(folder):
    return {p.relative_to(folder): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def _export(folder, **kwargs):
    """Export a run; the run's own files stay as they were."""
    before = _files(folder)
    report = export_run(folder, **kwargs)
    after = {p: t for p, t in _files(folder).items() if p.parts[0] != "export"}
    assert after == before
    return report, (folder / "export" / "model.tflite").read_bytes()


def _mock_run(tmp_path_factory, task, **config):
    folder = tmp_path_factory.mktemp(task)
    with tfds.testing.mock_data(num_examples=8):
        run_task(task, epochs=1, batch_size=4, run_dir=str(folder / "run"),
                 **{"dataset.data_dir": str(folder / "tfds")}, **config)
        report, flatbuffer = _export(folder / "run")
    return folder / "run", report, flatbuffer


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    run_task("demo", epochs=1, run_dir=str(folder), **{"dataset.train_limit": 64})
    return (folder, *_export(folder))


@pytest.fixture(scope="module")
def mnist_net(tmp_path_factory):
    if needs_fashion.mark.args[0]:
        pytest.skip(needs_fashion.mark.kwargs["reason"])
    folder = tmp_path_factory.mktemp("fashion")
    run_task("fashion_mnist_bop", epochs=1, run_dir=str(folder),
             **{"dataset.train_limit": 300, "dataset.test_limit": 2000})
    return (folder, *_export(folder))


@pytest.fixture(scope="module")
def binarynet(tmp_path_factory):
    # Adam 0.1 rather than 1e-2: after two steps at 1e-2 some BatchNorm offsets sit within
    # 1e-5 of zero, so that a convolution output of 0 is a pre-activation that close to
    # zero. Converters (LCE's and TFLite's own alike) fold BatchNorm into the
    # convolution and round differently from Keras there: its sign, hence the next
    # layer's input, can differ.
    return _mock_run(tmp_path_factory, "cifar10_bop", learning_rate=0.1)


def _assert_packed_signs(run, flatbuffer, names):
    """Each LceBconv2d's bit-packed filter holds the sign of its Keras kernel."""
    model = network(read_run(run))
    filters = fb.bconv_filters(flatbuffer)
    assert len(filters) == len(names)
    for packed, name in zip(filters, names):
        kernel = model.get_layer(name).get_weights()[0]
        kernel = kernel.reshape(1, 1, *kernel.shape) if kernel.ndim == 2 else kernel
        signs = np.where(kernel >= 0, 1.0, -1.0).transpose(3, 0, 1, 2)  # HWIO -> OHWI
        assert packed.dtype == np.int32 and packed.shape[-1] == -(-kernel.shape[2] // 32)
        np.testing.assert_array_equal(fb.unpack_signs(packed, kernel.shape[2]), signs)
    return model


def _assert_agrees(report, examples):
    test = report["test"]
    assert test["examples"] == examples
    assert test["top1_agreement"] >= 0.999 and test["max_abs_difference"] <= 1e-4
    assert test["lce_accuracy"] == pytest.approx(test["keras_accuracy"], abs=1e-3)
    assert test["rewrite_max_abs_difference"] == 0.0  # the 1x1 rewrite is exact


def test_the_1x1_rewrite_computes_exactly_what_the_dense_layers_do(rng):
    from rethink_bnn.export.rewrite import BinaryDenseAs1x1Conv, for_lce
    from rethink_bnn.models import binary_mlp

    model = binary_mlp(units=(64, 48), weight_kind="latent", seed=0)  # real latent kernels
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            layer.set_weights([rng.normal(size=n), rng.normal(size=n), rng.uniform(.5, 2, n)])
    rewritten = for_lce(model)
    assert [type(rewritten.get_layer(f"dense_{i}")).__name__ for i in (1, 2, 3)] == [
        "QuantDense", "BinaryDenseAs1x1Conv", "BinaryDenseAs1x1Conv"]
    assert isinstance(rewritten.get_layer("dense_2"), BinaryDenseAs1x1Conv)
    x = rng.uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(rewritten(x).numpy(), model(x).numpy())


def test_demo_runs_every_binary_dense_layer_but_the_first_as_lce_bconv2d(demo):
    folder, report, flatbuffer = demo
    assert report["operators"]["by_type"]["LceBconv2d"] == report["operators"]["binary"] == 2
    assert report["operators"]["by_type"]["FULLY_CONNECTED"] == 1  # dense_1 sees the image
    assert fb.operators(flatbuffer).count("FULLY_CONNECTED") == 1
    assert report["layers"]["dense_1"].startswith("real-valued input")
    assert report["binary_dense_as_1x1_conv"] == ["dense_2", "dense_3"]
    model = _assert_packed_signs(folder, flatbuffer, ["dense_2", "dense_3"])
    # Bop's kernels are ±1 as stored
    assert set(np.unique(model.get_layer("dense_2").get_weights()[0])) == {-1.0, 1.0}
    _assert_agrees(report, 359)  # digits' test split
    assert report["bytes"] == len(flatbuffer)
    assert report["keras_float32_bytes"] == 4 * model.count_params()
    assert report["size_ratio"] == pytest.approx(len(flatbuffer) / (4 * model.count_params()))
    assert json.loads((folder / "export" / "report.json").read_text()) == report


def test_mnist_net_agrees_with_keras_on_fashion_mnist(mnist_net):
    folder, report, flatbuffer = mnist_net
    ops = report["operators"]["by_type"]
    assert ops["LceBconv2d"] == 4 and ops["CONV_2D"] == 1 and "FULLY_CONNECTED" not in ops
    _assert_packed_signs(folder, flatbuffer, ["conv_2", "conv_3", "dense_1", "dense_2"])
    _assert_agrees(report, 2_000)  # the first 2,000 test images (each costs two predictions)


def test_binarynet_runs_eight_of_its_nine_layers_as_lce_bconv2d(binarynet):
    folder, report, flatbuffer = binarynet
    ops = report["operators"]["by_type"]
    assert ops["LceBconv2d"] == 8 and ops["CONV_2D"] == 1 and "FULLY_CONNECTED" not in ops
    model = _assert_packed_signs(folder, flatbuffer, [f"conv_{i}" for i in range(2, 7)]
                                 + [f"dense_{i}" for i in range(1, 4)])
    _assert_agrees(report, 8)  # tfds mock data: 8 random test images
    # and on 32 random CIFAR-shaped inputs in [-1, 1]
    from rethink_bnn.export import lce

    images = np.random.default_rng(0).uniform(-1, 1, (32, 32, 32, 3)).astype(np.float32)
    keras, deployed = model.predict(images, verbose=0), lce.predict(flatbuffer, images)
    assert np.abs(keras - deployed).max() <= 1e-4
    assert (keras.argmax(-1) == deployed.argmax(-1)).all()
    # 10,352,000 binary weights in 1.3 MB: a bit each, plus the float first layer and BN
    assert report["bytes"] < 1.4e6 and report["size_ratio"] < 0.035


def test_latent_weight_run_exports_the_signs_of_its_kernels(tmp_path_factory):
    folder, report, flatbuffer = _mock_run(tmp_path_factory, "mnist_latent_adam")
    assert report["operators"]["by_type"]["LceBconv2d"] == 4
    model = _assert_packed_signs(folder, flatbuffer, ["conv_2", "conv_3", "dense_1", "dense_2"])
    assert len(np.unique(model.get_layer("conv_2").get_weights()[0])) > 2  # real latent weights
    _assert_agrees(report, 8)


def test_mixed_precision_run_exports_in_float32(tmp_path):
    run_task("demo", epochs=1, precision="mixed_float16", run_dir=str(tmp_path),
             **{"dataset.train_limit": 64})
    report, flatbuffer = _export(tmp_path)
    assert (report["precision"], report["exported_precision"]) == ("mixed_float16", "float32")
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    types = {t["dtype"] for t in interpreter.get_tensor_details()}
    assert np.float16 not in types and np.float32 in types
    assert report["operators"]["by_type"]["LceBconv2d"] == 2
    # Keras computed in float16, LCE in float32
    assert report["test"]["top1_agreement"] >= 0.99 and report["test"]["max_abs_difference"] < 1e-2


def test_command_line_writes_where_asked_and_prints_the_summary(demo, tmp_path, capsys):
    folder = demo[0]
    assert cli.main([str(folder), "-o", str(tmp_path / "out" / "demo.tflite"), "--last",
                     "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "2 binary (LceBconv2d ×2)" in out and "last checkpoint" in out
    report = json.loads((tmp_path / "out" / "demo.report.json").read_text())
    assert report["weights"] == "last checkpoint" and report["test"]["examples"] == 50
    assert fb.operators((tmp_path / "out" / "demo.tflite").read_bytes()).count("LceBconv2d") == 2


def _fails(argv, capsys, *expected):
    assert cli.main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ")
    assert captured.err.count("\n") == 1
    for text in expected:
        assert text in captured.err
    return captured.err


def test_bad_input_is_one_line_exit_2_and_nothing_written(demo, tmp_path, capsys,
                                                          monkeypatch):
    run = demo[0]
    before = _files(run)
    _fails([tmp_path], capsys, "is not a training run")
    _fails([tmp_path / "missing"], capsys, "is not a training run")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(run / "config.json", fresh)
    _fails([fresh], capsys, "has no saved weights yet")
    # a config.json that is no configuration of ours: one line naming it, no traceback
    config = json.loads((run / "config.json").read_text())
    for foreign in ({"task": 5}, {"task": None}, [1], {**config, "model": {"units": 3}},
                    {**config, "dataset": {"class": "Foo"}}, {**config, "epochs": "x"}):
        (fresh / "config.json").write_text(json.dumps(foreign))
        _fails([fresh], capsys, f"{fresh / 'config.json'} is not a task configuration")
    shutil.copy(run / "config.json", fresh)
    _fails([run, "-o", run / "model.tflite"], capsys, "inside the run folder", "export/")
    _fails([run, "-o", run / "checkpoints" / "x.tflite"], capsys, "inside the run folder")
    (tmp_path / "a_file").write_text("")
    _fails([run, "-o", tmp_path / "a_file" / "x.tflite"], capsys, "is not a writable folder")
    _fails([run, "-o", tmp_path / "x.txt"], capsys, ".tflite")
    _fails([run, "-o", "/proc/x.tflite"], capsys, "cannot write /proc/x.tflite: ")
    _fails([run, "--limit", "-1"], capsys, "--limit")
    _fails([run, "--bogus"], capsys, "usage:")
    # the same network with real-valued kernels (no quantizer): no binary layer to export
    from rethink_bnn.models import networks

    def real_kernels(*args, **kwargs):
        while True:
            yield dict(kernel_initializer="glorot_uniform", use_bias=False)

    monkeypatch.setattr(networks, "binary_kernels", real_kernels)
    _fails([run, "-o", tmp_path / "y.tflite"], capsys, "has no binary layer")
    assert _files(run) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["a_file", "fresh", "config.json"])


def test_without_lce_export_says_how_to_install_it(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "larq_compute_engine", None)
    _fails([demo[0], "-o", tmp_path / "x.tflite"], capsys,
           "pip install larq-compute-engine==0.16.0")
    assert not list(tmp_path.iterdir())


def test_an_existing_file_outside_the_runs_export_is_refused_unless_force(demo, tmp_path,
                                                                         capsys):
    run = demo[0]
    mine = {"u.tflite": b"mine", "v.report.json": b"{}", "report.json": b"{}",
            "target.bin": b"mine too", "another/config.json": (run / "config.json").read_bytes()}
    for name, data in mine.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "link.tflite").symlink_to(tmp_path / "target.bin")
    (tmp_path / "d.tflite").mkdir()
    _fails([run, "-o", tmp_path / "u.tflite"], capsys, f"{tmp_path / 'u.tflite'} already "
           "exists (a file;", "choose another -o FILE.tflite, or pass --force")
    # the report beside it is a user's file too, the model new
    _fails([run, "-o", tmp_path / "v.tflite"], capsys, f"{tmp_path / 'v.report.json'} already")
    _fails([run, "-o", tmp_path / "model.tflite"], capsys, f"{tmp_path / 'report.json'} already")
    _fails([run, "-o", tmp_path / "link.tflite"], capsys, "already exists (a link;")
    for force in ([], ["--force"]):
        _fails([run, "-o", tmp_path / "d.tflite", *force], capsys, "d.tflite is a folder")
    # in another run's export/ (or anywhere in another run): never, --force or not
    _fails([run, "-o", tmp_path / "another" / "export" / "x.tflite", "--force"], capsys,
           f"inside the run folder {(tmp_path / 'another').resolve()}, among another run's")
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*")
            if p.is_file() and not p.is_symlink()} == {
        Path(name).name: data for name, data in mine.items()}
    # --force replaces the link itself (as a file), never what it points to
    assert cli.main([str(run), "-o", str(tmp_path / "link.tflite"), "--force", "--limit", "0"]) == 0
    assert fb.operators((tmp_path / "link.tflite").read_bytes()).count("LceBconv2d") == 2
    assert not (tmp_path / "link.tflite").is_symlink()
    assert json.loads((tmp_path / "link.report.json").read_text())["test"] == {"examples": 0}
    assert (tmp_path / "target.bin").read_bytes() == b"mine too"
    capsys.readouterr()


def test_a_rerun_replaces_the_runs_own_export_and_overwrite_deletes_it(demo, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(demo[0], run, ignore=shutil.ignore_patterns(".rethink_bnn_run.lock"))
    (run / "export" / "notes.txt").write_text("mine\n")
    assert (run / "export" / "model.tflite").is_file()  # the fixture's export
    assert export_run(run, limit=0)["test"] == {"examples": 0}  # no --force needed
    assert json.loads((run / "export" / "report.json").read_text())["test"]["examples"] == 0
    # overwrite=True of another configuration: no old deployment is left beside it
    from rethink_bnn.experiments.runs.folder import RunFolder

    config = json.loads((run / "config.json").read_text())
    folder = RunFolder(run)
    folder.claim({**config, "epochs": config["epochs"] + 1}, overwrite=True)
    folder.release()
    assert sorted(p.name for p in (run / "export").iterdir()) == ["notes.txt"]
    assert (run / "export" / "notes.txt").read_text() == "mine\n"
