"""The tf-keras front end in one import: `import rethink_bnn.tf_keras` registers with
tf-keras everything a saved model of ours names (our optimizers, initializers,
predicates, the recording model, and Larq's layers and quantizers), so that h5 and
SavedModel files load with `tf.keras.models.load_model(path)`; and it holds the
top-level tf-keras names (`rethink_bnn.Bop`, ... load it on first use).

`import rethink_bnn` alone imports neither TensorFlow nor this module (the Keras 3
front end must stay free of both): import this one before loading a saved model.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)

# Larq registers its layers and quantizers with Keras on import.
import larq  # noqa: E402,F401
from rethink_bnn import _TF_KERAS_NAMES  # noqa: E402
from rethink_bnn import callbacks, initializers, optimizers, step_record  # noqa: E402,F401
from rethink_bnn.callbacks import BatchMetricLogger, FlipLogger, SkippedStepLogger  # noqa: E402
from rethink_bnn.optimizers import Bop, CaseOptimizer, is_binary_variable  # noqa: E402

# The names `rethink_bnn` lends from here, declared there (it must not import us).
__all__ = list(_TF_KERAS_NAMES)
