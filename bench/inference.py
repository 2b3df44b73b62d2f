"""Single-image CPU latency and model size of the deployed networks: Larq Compute
Engine's flatbuffer against the same network as a float TFLite model and as Keras.

    python bench/inference.py [--images 200] [--out bench/results/inference.json]
    python bench/inference.py --table      # the markdown table of the last result

For BinaryNet (CIFAR-10 shape) and the report's MNIST net, each built with seed 0 and
BatchNorm calibrated on random inputs (latency does not depend on the weights' values):

- lce: `rethink_bnn.export` (binary dense layers as 1×1 binary convolutions) run by
  LCE's interpreter, one thread, its default binary kernels (im2col + BGEMM);
- lce indirect: the same with LCE's indirect BGEMM kernels (`use_indirect_bgemm=True`,
  what `rethink_bnn.export` uses; same outputs);
- lce indirect + xnnpack: and the float operators (first layer, BatchNorm) by XNNPACK;
- float tflite: the Keras network converted by TensorFlow Lite's own converter, binary
  layers as float operators (sign and float convolution), `tf.lite.Interpreter`, one
  thread (XNNPACK, its default);
- keras: `model.predict_on_batch` on one image, TensorFlow limited to one thread.

Variants take turns image by image, so drift hits all alike; each reports the median
over the images (after 10 untimed warm-up calls). Sizes: the flatbuffer files, and the
float32 Keras weights (4 bytes a weight). Ratios: LCE / float TFLite.

This measures x86 (the machine's CPU, named in the result). LCE's optimized kernels are
written for ARM: its published figures (QuickNet 27.7 ms on a Raspberry Pi 4) are not
comparable with these.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import rethink_bnn  # noqa: E402  (selects Keras 2 before TensorFlow loads)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

sys.path.insert(0, str(Path(__file__).parent))
from report import write_result  # noqa: E402
from table import INFERENCE_VARIANTS as VARIANTS  # noqa: E402
from table import inference_table as table  # noqa: E402

from rethink_bnn.export import flatbuffer, for_lce, lce  # noqa: E402
from rethink_bnn.models import binarynet, mnist_net  # noqa: E402

NETWORKS = {"BinaryNet (CIFAR-10 shape)": (binarynet, (32, 32, 3)),
            "MNIST net (report)": (mnist_net, (28, 28, 1))}
WARMUP = 10


def _network(build, shape):
    """The network with seed-0 kernels and BatchNorm calibrated on random inputs: each
    BatchNorm gets its input's mean and variance over 32 images, and offsets drawn from
    N(0, 0.5), as a trained network's pre-activations are spread around zero."""
    model = build(input_shape=shape, seed=0)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, *shape)).astype(np.float32)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            inputs = tf.keras.Model(model.input, layer.input).predict(images, verbose=0)
            axes = tuple(range(inputs.ndim - 1))
            layer.set_weights([rng.normal(0, 0.5, inputs.shape[-1]), inputs.mean(axes),
                               inputs.var(axes) + 1.0])
    return model


def _tflite_runner(content):
    interpreter = tf.lite.Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(image):
        interpreter.set_tensor(inp["index"], image)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])
    return run


def _lce_runner(content, **options):
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(content, num_threads=1, **options).interpreter
    return lambda image: interpreter.predict([image])[0]


def measure(build, shape, images):
    model = _network(build, shape)
    lce_model = lce.convert(for_lce(model))
    float_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    runners = {
        "lce": _lce_runner(lce_model),
        "lce indirect": _lce_runner(lce_model, use_indirect_bgemm=True),
        "lce indirect + xnnpack": _lce_runner(lce_model, use_indirect_bgemm=True,
                                              use_xnnpack=True),
        "float tflite": _tflite_runner(float_model),
        "keras": lambda image: model.predict_on_batch(image),
    }
    data = np.random.default_rng(1).uniform(-1, 1, (images + WARMUP, 1, *shape)).astype(np.float32)
    times = {name: [] for name in runners}
    outputs = {name: [] for name in runners}
    for i, image in enumerate(data):
        for name, run in runners.items():
            start = time.perf_counter()
            result = run(image)
            elapsed = time.perf_counter() - start
            if i >= WARMUP:
                times[name].append(elapsed)
                outputs[name].append(np.asarray(result).reshape(-1))
    median_ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    sizes = {"lce": len(lce_model), "float tflite": len(float_model),
             "keras float32 weights": 4 * model.count_params()}
    keras = np.stack(outputs["keras"])
    return {
        "images": images,
        "median_ms": median_ms,
        "p10_p90_ms": {name: [1e3 * float(np.percentile(t, 10)), 1e3 * float(np.percentile(t, 90))]
                       for name, t in times.items()},
        "bytes": sizes,
        "ratios": {
            "latency lce / float tflite": median_ms["lce"] / median_ms["float tflite"],
            "latency lce indirect / float tflite":
                median_ms["lce indirect"] / median_ms["float tflite"],
            "latency lce indirect + xnnpack / float tflite":
                median_ms["lce indirect + xnnpack"] / median_ms["float tflite"],
            "size lce / float tflite": sizes["lce"] / sizes["float tflite"],
        },
        "lce_operators": flatbuffer.operator_counts(lce_model),
        "top1_agreement_with_keras": {
            name: float(np.mean(np.stack(outputs[name]).argmax(-1) == keras.argmax(-1)))
            for name in runners if name != "keras"},
        # LCE against TFLite's own converter: both fold BatchNorm the same way
        "lce_vs_float_tflite": {
            "top1_agreement": float(np.mean(np.stack(outputs["lce"]).argmax(-1)
                                            == np.stack(outputs["float tflite"]).argmax(-1))),
            "max_abs_difference": float(np.abs(np.stack(outputs["lce"])
                                               - np.stack(outputs["float tflite"])).max()),
        },
        "max_abs_difference_to_keras": {
            name: float(np.abs(np.stack(outputs[name]) - keras).max())
            for name in runners if name != "keras"},
    }


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--out", default="bench/results/inference.json")
    parser.add_argument("--table", action="store_true", help="print the table of --out")
    args = parser.parse_args()
    if args.table:
        print("\n".join(table(json.loads(Path(args.out).read_text()))))
        return
    if args.images < 200:
        print(f"note: {args.images} images; the figures in docs/benchmarks.md use >= 200",
              file=sys.stderr)
    import larq_compute_engine

    result = {
        "machine": {"cpu": _cpu(), "arch": platform.machine(), "cores": os.cpu_count(),
                    "threads": 1},
        "versions": {"tensorflow": tf.__version__,
                     "larq_compute_engine": larq_compute_engine.__version__},
        "images": args.images,
        "networks": {},
    }
    for name, (build, shape) in NETWORKS.items():
        print(f"{name} ...", flush=True)
        result["networks"][name] = measure(build, shape, args.images)
    write_result(result, args.out)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
