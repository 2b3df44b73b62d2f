"""Run the training CLI, but stop dead at a chosen moment so that a test can SIGKILL it.

    python tests/training/interrupt.py MARKER POINT N TASK [key=value ...]

POINT and N say where to stop:
    step    after global training step N (mid-epoch);
    shards  while checkpoint N is written: its tensors are in temporary shard files,
            not yet merged into the checkpoint's own files;
    state   once checkpoint N's files are complete, before the manager's state file
            names it;
    best    after checkpoint N is saved, before the best weights are committed.
There it writes MARKER and sleeps. The hooks wrap TensorFlow's and our own functions;
nothing else changes.
"""

import sys
import time
from pathlib import Path

import rethink_bnn  # noqa: F401  (Keras 2 before TensorFlow)
from tensorflow.python.checkpoint import checkpoint_management, functional_saver

from rethink_bnn import callbacks
from rethink_bnn.train import main
from rethink_bnn.experiments.training import loop_callbacks


def _stop_here(marker, note=""):
    Path(marker).write_text(note)
    time.sleep(3600)


def _install(marker, point, n):
    if point == "step":
        on_batch_end = callbacks.FlipLogger.on_train_batch_end

        def hooked(self, batch, logs=None):
            on_batch_end(self, batch, logs)
            if self._step == n:
                _stop_here(marker)

        callbacks.FlipLogger.on_train_batch_end = hooked
    elif point == "shards":
        ops = functional_saver.gen_io_ops
        merge = ops.merge_v2_checkpoints

        def hooked(checkpoint_prefixes, destination_prefix, *args, **kwargs):
            if str(destination_prefix.numpy().decode()).endswith(f"ckpt-{n}"):
                _stop_here(marker)
            return merge(checkpoint_prefixes, destination_prefix, *args, **kwargs)

        ops.merge_v2_checkpoints = hooked
    elif point == "state":
        update = checkpoint_management.update_checkpoint_state_internal

        def hooked(save_dir, model_checkpoint_path, *args, **kwargs):
            if model_checkpoint_path.endswith(f"ckpt-{n}"):
                _stop_here(marker)
            return update(save_dir, model_checkpoint_path, *args, **kwargs)

        checkpoint_management.update_checkpoint_state_internal = hooked
    elif point == "best":
        commit = loop_callbacks.BestWeights.commit

        def hooked(self):
            if int(self.state.epoch) == n:
                pending = self._pending(int(self.state.best_epoch))
                _stop_here(marker, f"pending {pending.name}" if pending.is_file() else "")
            commit(self)

        loop_callbacks.BestWeights.commit = hooked
    else:
        raise SystemExit(f"unknown point {point!r}")


if __name__ == "__main__":
    marker, point, n, *argv = sys.argv[1:]
    _install(marker, point, int(n))
    sys.exit(main(argv))
