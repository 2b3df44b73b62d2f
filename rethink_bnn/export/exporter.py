"""Export a training run to a Larq Compute Engine flatbuffer and report what it buys.

    from rethink_bnn.export import export_run
    report = export_run("runs/demo")   # writes runs/demo/export/{model.tflite,report.json}
    report["operators"]["binary"], report["test"]["top1_agreement"]  # (2, 1.0)

The network is rebuilt from the run's config.json with the weights its reported test
accuracy came from (best validation epoch; the last checkpoint with `last=True`), as a
float32 copy (LCE refuses mixed-precision policies), binary dense layers rewritten as
1×1 binary convolutions (`rewrite.for_lce`). The report compares the flatbuffer, run by
LCE's interpreter, with the Keras network as the run built it, on the run's test set.
"""

import json
import os
from pathlib import Path

import numpy as np

from rethink_bnn.export import flatbuffer as fb
from rethink_bnn.export import lce
from rethink_bnn.export.rewrite import BinaryDenseAs1x1Conv, binary_layers, for_lce
from rethink_bnn.export.runs import ExportError, network, read_run, test_set
from rethink_bnn.experiments.runs.files import atomic_path, refuse_to_replace
from rethink_bnn.experiments.runs.layout import EXPORT_FOLDER, enclosing_run, in_tool_folder

__all__ = ["default_output", "export_run", "report_path", "summary_lines"]


def default_output(run_dir):
    """Where `export_run` writes a run's flatbuffer by default: RUN_DIR/export/model.tflite.

    Examples:
        >>> from rethink_bnn.export import default_output
        >>> default_output("runs/demo").as_posix()
        'runs/demo/export/model.tflite'
    """
    return Path(run_dir) / EXPORT_FOLDER / "model.tflite"


def report_path(output):
    """report.json next to model.tflite; NAME.report.json next to any other NAME.tflite.

    Examples:
        >>> from rethink_bnn.export import report_path
        >>> report_path("runs/demo/export/model.tflite").name, report_path("demo.tflite").name
        ('report.json', 'demo.report.json')
    """
    output = Path(output)
    if output.name == "model.tflite":
        return output.with_name("report.json")
    return output.with_name(output.stem + ".report.json")


def _check_output(run_path, output, force=False):
    """ExportError unless `output` is a .tflite file we may write, with its report:
    outside any run folder or in this run's export/, in a writable place, and new, ours
    (in that export/) or `force`d."""
    output = Path(os.path.abspath(output))
    if output.suffix != ".tflite":
        raise ExportError(f"-o {output}: name a .tflite file, e.g. -o {output.with_suffix('.tflite')}.")
    run_root = Path(os.path.realpath(run_path))
    found, _ = enclosing_run(output)
    owned = in_tool_folder(output, EXPORT_FOLDER, run_root)
    if found is not None and not owned:
        whose = ("the run folder, among the run's own files" if found == run_root
                 else f"the run folder {found}, among another run's files")
        raise ExportError(f"-o {output} is inside {whose}: write under "
                          f"{Path(run_path) / EXPORT_FOLDER}/ or outside any run folder.")
    for path in (output, report_path(output)):
        refused = refuse_to_replace(path, owned, force, "-o FILE.tflite",
                                    f"the files in {Path(run_path) / EXPORT_FOLDER}/")
        if refused:
            raise ExportError(refused)
        if path.exists() and not os.access(path, os.W_OK):
            raise ExportError(f"cannot write {path} (not writable): choose another -o.")
    ancestor = output.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {output}: {ancestor} is not a writable folder; "
                          "choose another -o.")
    return output


def _write_atomically(path, data):
    """`data` to `path` whole or not at all; ExportError (one line) if it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}; choose another "
                          "-o FILE.tflite.") from error


def _agreement(model, model32, rewritten, flatbuffer, images, labels):
    if not len(images):
        return {"examples": 0}
    keras = model.predict(images, batch_size=256, verbose=0).astype(np.float32)
    float32 = keras if model32 is model else model32.predict(images, batch_size=256, verbose=0)
    exact = rewritten.predict(images, batch_size=256, verbose=0)
    deployed = lce.predict(flatbuffer, images)
    return {
        "examples": int(len(images)),
        "top1_agreement": float(np.mean(keras.argmax(-1) == deployed.argmax(-1))),
        "keras_accuracy": float(np.mean(keras.argmax(-1) == labels)),
        "lce_accuracy": float(np.mean(deployed.argmax(-1) == labels)),
        "max_abs_difference": float(np.abs(keras - deployed).max()),
        # 0.0: the 1x1-convolution rewrite computes exactly what the float32 network does
        "rewrite_max_abs_difference": float(np.abs(float32 - exact).max()),
    }


def export_run(run_dir, output=None, last=False, limit=None, force=False):
    """Export the run in `run_dir` to `output` (default RUN_DIR/export/model.tflite) and
    write the report next to it (see `report_path`); return the report.

    `limit`: compare on the first `limit` test examples only (0: no comparison).
    An existing output or report is replaced only in the run's export/ folder (the
    run's, which `overwrite=True` of its training empties), elsewhere only with `force`.
    Raises ExportError (nothing written) for bad input, LceUnavailable without LCE.
    """
    lce.require()
    run = read_run(run_dir, last)
    output = _check_output(run.path, default_output(run.path) if output is None else output,
                           force)
    model = network(run)
    model32 = model if run.precision == "float32" else network(run, "float32")
    layers = binary_layers(model32)
    if "binary" not in layers.values():
        raise ExportError(f"{run.path}: the network {model32.name} has no binary layer (no "
                          "Larq layer with a sign-quantized input and a ±1 kernel): LCE would "
                          "run it as a float model; train one with binary weights.")
    rewritten = for_lce(model32)
    flatbuffer = lce.convert(rewritten)
    operators = fb.operator_counts(flatbuffer)
    if not operators["binary"]:
        raise ExportError(f"{run.path}: LCE converted no layer of {model32.name} to a binary "
                          "operator; nothing to deploy as a binary network.")
    comparison = {"examples": 0}
    if limit != 0:
        images, labels = test_set(run, limit)
        comparison = _agreement(model, model32, rewritten, flatbuffer, images, labels)
    keras_bytes = 4 * model32.count_params()
    report = {
        "run_dir": str(run.path),
        "task": run.config["task"],
        "network": model32.name,
        "weights": {"best": "best validation epoch", "last": "last checkpoint"}[run.weights_kind],
        "weights_file": str(run.weights),
        "precision": run.precision,
        "exported_precision": "float32",
        "output": str(output),
        "bytes": len(flatbuffer),
        "keras_float32_bytes": keras_bytes,
        "size_ratio": len(flatbuffer) / keras_bytes,
        "operators": operators,
        "layers": layers,
        "binary_dense_as_1x1_conv": [layer.name for layer in rewritten.layers
                                     if isinstance(layer, BinaryDenseAs1x1Conv)],
        "test": comparison,
        "versions": _versions(),
    }
    _write_atomically(output, flatbuffer)
    _write_atomically(report_path(output), (json.dumps(report, indent=2, sort_keys=True,
                                                       default=str) + "\n").encode())
    return report


def _versions():
    import larq
    import tensorflow as tf

    return {"larq_compute_engine": lce.require().__version__, "tensorflow": tf.__version__,
            "larq": larq.__version__}


def summary_lines(report):
    """The report in a few lines, as the command prints it."""
    ops = report["operators"]
    kinds = ", ".join(f"{name} ×{n}" for name, n in ops["by_type"].items()
                      if name in fb.BINARY_OPERATORS)
    floats = [f"{name} ({why})" for name, why in report["layers"].items() if why != "binary"]
    lines = [
        f"exported {report['run_dir']} ({report['weights']} weights, {report['precision']}"
        f"{'' if report['precision'] == 'float32' else ' run, exported as float32'}) "
        f"to {report['output']}",
        f"  operators: {ops['binary']} binary ({kinds}), {ops['float']} float",
    ]
    if report["binary_dense_as_1x1_conv"]:
        lines.append("  binary dense layers run as 1x1 binary convolutions: "
                     + ", ".join(report["binary_dense_as_1x1_conv"]))
    if floats:
        lines.append("  layers left as float operators: " + "; ".join(floats))
    lines.append(f"  size: {report['bytes']:,} bytes, float32 Keras weights "
                 f"{report['keras_float32_bytes']:,} bytes (ratio {report['size_ratio']:.4f}, "
                 f"{1 / report['size_ratio']:.1f}x smaller)")
    test = report["test"]
    if test["examples"]:
        lines.append(
            f"  test set ({test['examples']} examples): top-1 agreement "
            f"{100 * test['top1_agreement']:.2f} %, accuracy Keras {test['keras_accuracy']:.4f}"
            f" / LCE {test['lce_accuracy']:.4f}, max |output difference| "
            f"{test['max_abs_difference']:.2g} (1x1 rewrite: {test['rewrite_max_abs_difference']:.2g})")
    else:
        lines.append("  test set: not compared (--limit 0)")
    lines.append(f"  report: {report_path(report['output'])}")
    return lines
