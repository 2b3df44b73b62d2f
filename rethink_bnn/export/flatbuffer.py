"""Read a TFLite flatbuffer without running it: its operators and LceBconv2d's filters.

Uses the flatbuffer schema that ships with larq-compute-engine (no interpreter, so the
custom LCE operators need no registration).

    import rethink_bnn.export.flatbuffer as fb
    fb.operator_counts(open("runs/demo/export/model.tflite", "rb").read())
    # {'binary': 2, 'float': 6, 'by_type': {'FULLY_CONNECTED': 1, 'LceBconv2d': 2, ...}}
"""

from collections import Counter

import numpy as np

__all__ = ["BINARY_OPERATORS", "bconv_filters", "operator_counts", "operators",
           "unpack_signs"]

# LCE's operators that compute on bits; every other operator computes on floats (or,
# as LceQuantize and LceDequantize, converts between floats and packed bits).
BINARY_OPERATORS = ("LceBconv2d", "LceBMaxPool2d")


def _schema():
    from larq_compute_engine.mlir.python import tflite_schema

    return tflite_schema


def _model(flatbuffer):
    return _schema().Model.GetRootAsModel(bytearray(flatbuffer), 0)


def _operator_names(model):
    schema = _schema()
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if code.CustomCode():
            names.append(code.CustomCode().decode())
        else:  # newer files keep the code in BuiltinCode, older in DeprecatedBuiltinCode
            names.append(builtin[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
    return names


def operators(flatbuffer):
    """The main subgraph's operator names in execution order, custom ones by their name
    (e.g. ['CONV_2D', 'LceQuantize', 'LceBconv2d', ...])."""
    model = _model(flatbuffer)
    names = _operator_names(model)
    graph = model.Subgraphs(0)
    return [names[graph.Operators(i).OpcodeIndex()] for i in range(graph.OperatorsLength())]


def operator_counts(flatbuffer):
    """{"binary": n, "float": m, "by_type": {name: count}}; binary: BINARY_OPERATORS."""
    counts = Counter(operators(flatbuffer))
    binary = sum(counts[name] for name in BINARY_OPERATORS)
    return {"binary": binary, "float": sum(counts.values()) - binary,
            "by_type": dict(sorted(counts.items()))}


def bconv_filters(flatbuffer):
    """Each LceBconv2d's filter as stored, in execution order: an int32 array of shape
    (out_channels, height, width, ceil(in_channels / 32)), 32 weights a word."""
    schema = _schema()
    model = _model(flatbuffer)
    names = _operator_names(model)
    graph = model.Subgraphs(0)
    filters = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if names[op.OpcodeIndex()] != "LceBconv2d":
            continue
        tensor = graph.Tensors(op.Inputs(1))
        dtype = {schema.TensorType.INT32: np.int32,
                 schema.TensorType.FLOAT32: np.float32}[tensor.Type()]
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        filters.append(np.frombuffer(data.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy()))
    return filters


def unpack_signs(packed, channels):
    """±1 float32 weights from bit-packed words (LCE's convention: bit k of word j is
    channel 32 j + k, set for -1), keeping the first `channels` of the last axis.

    Examples:
        >>> import numpy as np
        >>> from rethink_bnn.export.flatbuffer import unpack_signs
        >>> unpack_signs(np.array([[0b101]], dtype=np.int32), 3)
        array([[-1.,  1., -1.]], dtype=float32)
    """
    words = packed.astype(np.uint32)[..., None]
    bits = (words >> np.arange(32, dtype=np.uint32)) & 1
    bits = bits.reshape(*packed.shape[:-1], packed.shape[-1] * 32)[..., :channels]
    return (1.0 - 2.0 * bits).astype(np.float32)
