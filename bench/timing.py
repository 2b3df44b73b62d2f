"""Timing helpers the benchmarks share."""

import statistics
import time

import tensorflow as tf


class StepTimer(tf.keras.callbacks.Callback):
    """Time between successive step starts in `model.fit`: the step, its input and every
    callback's per-step work (not the end of the epoch, which a real epoch spreads over
    many steps). Not supporting tensor logs, it makes Keras wait for each step."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_batch_begin(self, batch, logs=None):
        self.starts.append(time.perf_counter())

    def times(self):
        return [b - a for a, b in zip(self.starts, self.starts[1:])]


def median_ms(times):
    return 1e3 * statistics.median(times)
