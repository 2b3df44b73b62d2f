"""The tf-keras front end's top-level names (`rethink_bnn.Bop`, ...) and the
registration of everything a saved model of ours refers to.

`rethink_bnn` loads this module on first use of one of those names, and as soon as
tf-keras itself is imported (by `tf.keras`, by Larq, by anyone): a model saved with our
classes then loads after `import rethink_bnn` alone, in any format.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2()

# Larq registers its layers and quantizers with Keras on import.
import larq  # noqa: E402,F401
from rethink_bnn import _TF_KERAS_NAMES  # noqa: E402
from rethink_bnn import callbacks, initializers, optimizers, step_record  # noqa: E402,F401
from rethink_bnn.callbacks import BatchMetricLogger, FlipLogger, SkippedStepLogger  # noqa: E402
from rethink_bnn.optimizers import Bop, CaseOptimizer, is_binary_variable  # noqa: E402

# The names `rethink_bnn` lends from here, declared there (it must not import us).
__all__ = list(_TF_KERAS_NAMES)

