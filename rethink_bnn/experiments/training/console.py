"""What a training run prints: a few numbers a person reads at a glance, per epoch.
Everything else (flips and π per layer, flip ratios, skipped steps, the step) goes to
`log.csv` and TensorBoard. Keras' own progress bar prints every key of the logs, ~20 for
a BinaryNet, and averages per-step values over the epoch, so that a total such as the
epoch's flips showed as flips per step; this console shows each value once, with one
meaning, the one History, the CSV log and TensorBoard hold. (The tf-keras callbacks;
what they do is `loop_logic`'s, which the Keras 3 front end shares.)
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

from rethink_bnn import tf_internals
from rethink_bnn.experiments.training.loop_logic import (ConsolePrinting, TerminationChecking,
                                                         console_verbosity)

import tensorflow as tf  # noqa: E402  (after tf_internals: Keras 2 selected)

__all__ = ["Console", "StopWhenTerminated", "console_verbosity"]


class StopWhenTerminated(TerminationChecking, tf.keras.callbacks.Callback):
    __doc__ = TerminationChecking.__doc__

    def __init__(self):
        super().__init__()
        tf_internals.reads_tensor_logs(self)  # reads no logs: no per-step sync


class Console(ConsolePrinting, tf.keras.callbacks.Callback):
    __doc__ = ConsolePrinting.__doc__
    progress_bar = tf.keras.utils.Progbar

    def __init__(self, verbose=2):
        super().__init__(verbose)
        # Batch logs stay tensors unless the progress bar reads them: no per-step sync.
        tf_internals.reads_tensor_logs(self)
