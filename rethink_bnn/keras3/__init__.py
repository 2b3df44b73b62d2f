"""rethink_bnn for Keras 3, on any backend (JAX, TensorFlow, PyTorch).

Bop, Bop2ndOrder and CEMA as `keras.optimizers.Optimizer`s written in `keras.ops`,
built from the same rules as the tf-keras optimizers (`rethink_bnn.core.rules`)
and giving the same averages and flips; `BinaryOptimizerMap` to route binary kernels to
them in a `keras.optimizers.MultiOptimizer`; `SkipNonFinite` to skip a step whose
gradients are not all finite; binary layers `QuantDense` and `QuantConv2D` with Larq's
argument names; `FlipLogger` and `BatchMetricLogger` (per-step flips and batch
metrics, recorded on the device, to TensorBoard without TensorFlow); the paper's
networks (`networks`) and its CIFAR-10 augmentation on the device (`augmentation`).
Importing it loads Keras 3 and its backend only: neither TensorFlow (unless it is the
backend) nor Larq.

    import keras
    from rethink_bnn import keras3 as rk

    model = keras.Sequential([
        keras.Input((64,)),
        rk.QuantDense(64, input_quantizer=None), keras.layers.BatchNormalization(),
        rk.QuantDense(10, input_quantizer="ste_sign"), keras.layers.BatchNormalization(),
        keras.layers.Activation("softmax")])
    model.compile(optimizer=keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        rk.Bop(threshold=1e-6, gamma=1e-3), keras.optimizers.Adam(1e-2))),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, callbacks=[rk.FlipLogger()])
"""

import importlib.metadata

from rethink_bnn._keras2 import keras3_backend, quiet_tensorflow_for_cli, unselect_keras2

unselect_keras2()  # before Keras 3 imports its backend: TensorFlow's tf.keras is Keras 3 here
if keras3_backend() == "tensorflow":
    quiet_tensorflow_for_cli()  # Keras would import it with its C++ start-up messages

try:
    _KERAS = importlib.metadata.version("keras")
except importlib.metadata.PackageNotFoundError:
    _KERAS = "(none)"
if not _KERAS[0].isdigit() or tuple(int(p) for p in _KERAS.split(".")[:2]) < (3, 15):
    raise ImportError(f"rethink_bnn.keras3 needs Keras >= 3.15, found keras {_KERAS}: "
                      "`pip install \"keras>=3.15\"` (or `pip install \"rethink_bnn[keras3]\"`).")

from rethink_bnn.keras3 import augmentation, initializers, networks, quantizers  # noqa: E402
from rethink_bnn.keras3.binary import BinaryOptimizer  # noqa: E402
from rethink_bnn.keras3.bop import Bop, bop_rule  # noqa: E402
from rethink_bnn.keras3.bop2ndorder import Bop2ndOrder, bop2ndorder_rule  # noqa: E402
from rethink_bnn.keras3.callbacks import FlipLogger, binary_optimizers  # noqa: E402
from rethink_bnn.keras3.cema import CEMA, cema_rule  # noqa: E402
from rethink_bnn.keras3.finite import SkipNonFinite  # noqa: E402
from rethink_bnn.keras3.layers import QuantConv2D, QuantDense  # noqa: E402
from rethink_bnn.keras3.quantizers import is_binary_variable, mark_binary, ste_sign  # noqa: E402
from rethink_bnn.keras3.routing import BinaryOptimizerMap  # noqa: E402
from rethink_bnn.keras3.step_metrics import BatchMetricLogger  # noqa: E402

__all__ = ["BatchMetricLogger", "BinaryOptimizer", "BinaryOptimizerMap", "Bop", "Bop2ndOrder",
           "CEMA", "FlipLogger", "QuantConv2D", "QuantDense", "SkipNonFinite", "augmentation",
           "binary_optimizers", "bop2ndorder_rule", "bop_rule", "cema_rule", "initializers",
           "is_binary_variable", "mark_binary", "networks", "quantizers", "ste_sign"]
