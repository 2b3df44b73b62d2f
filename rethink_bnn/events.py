"""TensorBoard scalars, written and read back as arrays: what the FlipLoggers and
BatchMetricLogger wrote. Reading uses TensorFlow's bulk proto decoder where TensorFlow is
loaded already, else `tensorboard`'s protos; writing (`ScalarWriter`, the Keras 3
front end's) uses `tensorboard`'s protos and record framing: neither needs TensorFlow."""

import math
import os
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["ScalarWriter", "read_scalars"]


def read_scalars(event_dir, tags):
    """{tag: (steps, values)} from the TensorBoard event files in `event_dir`, sorted by
    step.

    A resumed run writes the steps of an epoch whose checkpoint was lost again, to a
    newer file: the value written last wins, as in the run's weights. Events are decoded
    in bulk by TensorFlow's proto decoder (a 100-epoch CIFAR-10 sweep point holds
    millions; without TensorFlow loaded, `tensorboard`'s protos decode them one by one),
    and a record cut short by a run still writing is skipped.

    Examples:
        >>> import tempfile
        >>> from rethink_bnn.events import ScalarWriter, read_scalars
        >>> log_dir = tempfile.mkdtemp()
        >>> writer = ScalarWriter(log_dir)
        >>> for step, loss in ((2, 0.5), (1, 0.25), (2, 0.75)):  # step 2 again: the last wins
        ...     writer.add(step, {"batch_loss": loss})
        >>> writer.close()
        >>> read_scalars(log_dir, ["batch_loss"])
        {'batch_loss': (array([1, 2]), array([0.25, 0.75]))}
    """
    # one file per writing session, in the order the sessions began
    paths = sorted(Path(event_dir).glob("events.out.tfevents.*"))
    read = _scalars_in if _bulk_decoder(paths) else _scalars_in_without_tensorflow
    columns = sorted((read(path, tags) for path in paths), key=lambda column: column[0])
    steps, names, values = (np.concatenate([c[i] for c in columns]) if columns
                            else np.zeros(0) for i in range(1, 4))
    found = {}
    for tag in tags:
        mine = names == tag.encode()
        tag_steps, tag_values = steps[mine][::-1], values[mine][::-1]
        kept = np.unique(tag_steps, return_index=True)[1]  # first from the end: the last
        found[tag] = (tag_steps[kept].astype(np.int64), tag_values[kept].astype(np.float64))
    return found


# Event files at least this large are worth TensorFlow's import (3 CPU-seconds) where it
# is installed but not loaded: about 200,000 events, which tensorboard's protos take
# about a second more to decode than TensorFlow's bulk decoder.
BULK_BYTES = 16 << 20


def _bulk_decoder(paths):
    """Whether to decode with TensorFlow: where it is loaded (not blocked), or installed
    and the files hold BULK_BYTES or more (it is then imported, quietly in a command
    line)."""
    if sys.modules.get("tensorflow") is not None:
        return True
    if "tensorflow" in sys.modules or sum(p.stat().st_size for p in paths) < BULK_BYTES:
        return False  # (blocked, or too little to pay for the import)
    from rethink_bnn._keras2 import _installed, quiet_tensorflow_for_cli

    if not _installed("tensorflow"):
        return False
    quiet_tensorflow_for_cli()
    import tensorflow  # noqa: F401

    return True


# TensorProto dtypes a scalar summary may hold, and their bytes in tensor_content.
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8"}


def _scalars_in(path, tags):
    """(wall time of the first event, steps, tags, values) of the scalar summaries in
    one event file with one of `tags`, in the order written."""
    import tensorflow as tf

    def decode(messages, message_type, fields, types):
        sizes, values = tf.io.decode_proto(messages, message_type, fields, types)
        return sizes.numpy(), [v.numpy() for v in values]

    nothing = np.zeros(0, np.int64), np.zeros(0, "S1"), np.zeros(0)
    data = tf.data.TFRecordDataset(str(path)).ignore_errors().batch(1 << 30)
    batches = list(data.as_numpy_iterator())
    if not batches:
        return (math.inf, *nothing)
    sizes, (wall_time, steps, summaries) = decode(
        batches[0], "tensorflow.Event", ["wall_time", "step", "summary"],
        [tf.float64, tf.int64, tf.string])
    has_summary = sizes[:, 2] > 0
    # the first summary's time: the file_version event's is whole seconds only
    began = float(wall_time[has_summary.argmax() if has_summary.any() else 0, 0])
    if not has_summary.any():  # (the decoder refuses an empty batch)
        return (began, *nothing)
    steps, summaries = steps[has_summary, 0], summaries[has_summary, 0]
    sizes, (values,) = decode(summaries, "tensorflow.Summary", ["value"], [tf.string])
    present = np.arange(values.shape[1]) < sizes[:, :1]
    steps, values = np.broadcast_to(steps[:, None], values.shape)[present], values[present]
    sizes, (names, simple, tensors) = decode(
        values, "tensorflow.Summary.Value", ["tag", "simple_value", "tensor"],
        [tf.string, tf.float32, tf.string])
    wanted = np.isin(names[:, 0], [t.encode() for t in tags])
    if not wanted.any():
        return (began, *nothing)
    steps, names, result = steps[wanted], names[wanted, 0], simple[wanted, 0].astype(np.float64)
    tensors, has_tensor = tensors[wanted, 0], sizes[wanted, 2] > 0
    sizes, (dtype, content, *vals) = decode(
        tensors, "tensorflow.TensorProto",
        ["dtype", "tensor_content", "float_val", "double_val", "int_val", "int64_val"],
        [tf.int32, tf.string, tf.float32, tf.float64, tf.int32, tf.int64])
    for column, field in enumerate(vals, start=2):  # values stored as repeated fields
        listed = has_tensor & (sizes[:, column] > 0)
        result[listed] = field[listed, 0]
    for code, layout in _DTYPES.items():  # values stored as raw bytes
        raw = has_tensor & (dtype[:, 0] == code) & (sizes[:, 1] > 0)
        raw &= np.array([len(c) == np.dtype(layout).itemsize for c in content[:, 0]], bool)
        if raw.any():
            result[raw] = np.frombuffer(b"".join(content[raw, 0]), layout)
    return began, steps, names, result


def _records(path):
    """The records of a TFRecord file (length, its CRC, data, its CRC), up to the first
    one cut short (a writer still writing)."""
    data = Path(path).read_bytes()
    at = 0
    while at + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        end = at + 12 + length + 4
        if end > len(data):
            return
        yield data[at + 12:at + 12 + length]
        at = end


def _scalars_in_without_tensorflow(path, tags):
    """`_scalars_in` with `tensorboard`'s protos (no TensorFlow)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    wanted, began = set(tags), math.inf
    steps, names, values = [], [], []
    for record in _records(path):
        try:
            event = event_pb2.Event.FromString(record)
        except Exception:  # noqa: BLE001  (a damaged record: skipped, as TensorFlow's reader does)
            continue
        if event.HasField("summary") and began == math.inf:
            began = event.wall_time
        for value in event.summary.value:
            if value.tag not in wanted:
                continue
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                number = value.simple_value
            elif kind == "tensor":
                number = float(np.asarray(tensor_util.make_ndarray(value.tensor)).reshape(()))
            else:
                continue
            steps.append(event.step)
            names.append(value.tag.encode())
            values.append(number)
    return (began, np.asarray(steps, np.int64), np.asarray(names, "S"),
            np.asarray(values, np.float64))


class ScalarWriter:
    """Scalars to a new TensorBoard event file in `log_dir`, without TensorFlow: one
    event per `add(step, {tag: value})`, on disk at `flush()` (TensorBoard's scalars,
    written as `simple_value`; `read_scalars` reads them back)."""

    def __init__(self, log_dir):
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.record_writer import RecordWriter
        except ImportError as error:
            raise ImportError("writing TensorBoard event files needs tensorboard: pip "
                              "install tensorboard (the keras3 extra brings it).") from error
        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        os.makedirs(log_dir, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.{id(self)}"
        self.path = os.path.join(log_dir, name)
        self._records = RecordWriter(open(self.path, "wb"))
        self._records.write(self._event(wall_time=now, file_version="brain.Event:2")
                            .SerializeToString())

    def add(self, step, values):
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))
                                       for tag, value in values.items()])
        self._records.write(self._event(wall_time=time.time(), step=int(step),
                                        summary=summary).SerializeToString())

    def flush(self):
        self._records.flush()

    def close(self):
        if not self._records.closed:
            self._records.close()
