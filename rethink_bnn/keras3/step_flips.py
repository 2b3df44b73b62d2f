"""The per-step flips of the Keras 3 `FlipLogger`: read from the binary optimizers'
`flip_history` (written inside the training step, on the device) between steps, at
most once per `history_steps` steps and at each epoch's end, and written to TensorBoard
as `batch_flips`, `batch_flip_ratio`, `batch_pi` (and per layer) against the step."""

import keras
import numpy as np

from rethink_bnn.core.rules import PI_EPSILON

__all__ = ["StepFlips"]


def _numpy(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable)).astype(np.int64)


class StepFlips:
    """Per-step flip values of `optimizers` (built binary optimizers), every
    `update_freq` steps the mean per step over the window, for the groups of variables
    `groups` ([(suffix, column mask)]) of sizes `sizes`, to `writer` (an
    `rethink_bnn.events.ScalarWriter`)."""

    def __init__(self, optimizers, groups, sizes, update_freq, writer, fresh=False):
        self.optimizers, self.update_freq, self.writer = optimizers, update_freq, writer
        self.rows = np.array([mask for _, mask in groups], np.float64)
        self.sizes = np.asarray(sizes, np.float64)
        self.keys = [f"{metric}{suffix}" for metric in ("flips", "flip_ratio", "pi")
                     for suffix, _ in groups]
        # which counters are 32 bits (JAX without x64), one entry per variable
        self.wraps = np.concatenate([
            [keras.backend.standardize_dtype(o.flip_counts.dtype) == "int32"]
            * len(o.binary_variables) for o in optimizers])
        # `fresh`: built by the first step, which it and the ones since count from zero
        self.step = 0 if fresh else self._steps_taken()
        counts = np.concatenate([_numpy(o.flip_counts) * (not fresh) for o in optimizers])
        self.window_step, self.window_counts = self.step, counts
        self.history_steps = min(o.history_steps for o in optimizers)

    def _steps_taken(self):
        steps = {int(keras.ops.convert_to_numpy(o.iterations)) for o in self.optimizers}
        if len(steps) != 1:
            raise ValueError("FlipLogger: the binary optimizers have taken different numbers "
                             f"of steps ({sorted(steps)}): give each model one binary optimizer, "
                             "or log per epoch only (update_freq='epoch').")
        return steps.pop()

    def unread(self):
        """Steps taken since the last read (one read of the step counters)."""
        return self._steps_taken() - self.step

    def read(self):
        """Log every step since the last read (one read of each optimizer's history)."""
        now = self._steps_taken()
        if now - self.step > self.history_steps:
            raise RuntimeError(
                f"FlipLogger: {now - self.step} steps since its last read, but the optimizer "
                f"keeps {self.history_steps}: its step counter advanced outside this fit (a "
                "restore after the logger started?): give FlipLogger a new fit, or log per "
                "epoch (update_freq='epoch').")
        if now == self.step:
            return
        histories = [_numpy(o.flip_history) for o in self.optimizers]
        for step in range(self.step + 1, now + 1):
            counts = np.concatenate([h[(step - 1) % len(h)] for h in histories])
            if step % self.update_freq == 0:
                self._log(step, counts)
        self.step = now

    def _log(self, step, counts):
        # a 32-bit counter wraps around: its difference is exact modulo 2**32
        flips = np.where(self.wraps, (counts - self.window_counts) % 2**32,
                         counts - self.window_counts)
        values = self.rows @ flips / (step - self.window_step)
        ratio = values / self.sizes
        logged = np.concatenate([values, ratio, np.log(ratio + PI_EPSILON)])
        self.writer.add(step, {"batch_" + k: v for k, v in zip(self.keys, logged.tolist())})
        self.window_step, self.window_counts = step, counts
