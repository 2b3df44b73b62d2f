"""Larq Compute Engine, imported only when needed: converter, interpreter, and the one
line that says how to install it.

    from rethink_bnn.export import lce
    flatbuffer = lce.convert(model)          # bytes of a .tflite file, from a float32 Keras model
    outputs = lce.predict(flatbuffer, images)  # one image at a time, one thread
"""

import numpy as np

__all__ = ["INSTALL", "LceUnavailable", "convert", "interpreter", "predict", "require"]

INSTALL = "pip install larq-compute-engine==0.16.0"


class LceUnavailable(ImportError):
    """larq-compute-engine cannot be imported.

    Examples:
        >>> from rethink_bnn.export import LceUnavailable
        >>> from rethink_bnn.export.lce import require
        >>> try:
        ...     lce = require()  # larq_compute_engine, where it is installed
        ... except LceUnavailable as error:  # an ImportError saying how to install it
        ...     print(error)
        >>> issubclass(LceUnavailable, ImportError), lce.__name__
        (True, 'larq_compute_engine')
    """


def require():
    """The `larq_compute_engine` module, or LceUnavailable saying how to install it."""
    try:
        import larq_compute_engine
        from larq_compute_engine.tflite.python import interpreter  # noqa: F401
    except ImportError as error:
        raise LceUnavailable(f"larq-compute-engine cannot be imported ({error}): "
                             f"install it with `{INSTALL}`.") from error
    return larq_compute_engine


def convert(model):
    """The flatbuffer (bytes) of a float32 Keras model, binary convolutions as LceBconv2d."""
    return require().convert_keras_model(model)


def interpreter(flatbuffer, num_threads=1, indirect_bgemm=True):
    """LCE's interpreter (TFLite with LCE's kernels registered) for one image at a time.

    `indirect_bgemm`: LceBconv2d by LCE's indirect BGEMM kernel, which gives the same
    outputs as its default (im2col + BGEMM) and is 5-7x faster on x86
    (bench/inference.py).
    """
    require()
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=num_threads, use_indirect_bgemm=indirect_bgemm)


def predict(flatbuffer, images, num_threads=1, indirect_bgemm=True):
    """Outputs for `images` (batch first), run one image at a time."""
    images = np.asarray(images, dtype=np.float32)
    if not len(images):
        return np.zeros((0,), np.float32)
    return interpreter(flatbuffer, num_threads, indirect_bgemm).predict(images)
