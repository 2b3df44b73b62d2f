"""Make `tf.keras` resolve to Keras 2 (tf-keras) before TensorFlow is imported.

Larq is written for Keras 2. TensorFlow >= 2.16 picks Keras 3 unless the environment
variable `TF_USE_LEGACY_KERAS` is set *when TensorFlow is first imported*: it reads the
variable once and wires `tensorflow.keras` accordingly, so setting it afterwards is not
enough. We therefore set it when TensorFlow is not yet imported, and otherwise refuse
to run on Keras 3 with an error that says how to fix it.
"""

import os
import sys

_FIX = (
    "set the environment variable TF_USE_LEGACY_KERAS=1 before Python starts "
    "(e.g. `export TF_USE_LEGACY_KERAS=1`), or `import rethink_bnn` before anything "
    "imports tensorflow"
)


def ensure_keras2():
    """Select Keras 2 for TensorFlow, or raise ImportError if it is too late to."""
    tf_module = sys.modules.get("tensorflow")
    if tf_module is None:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    elif not getattr(tf_module, "_tf_uses_legacy_keras", False):
        raise ImportError(
            "rethink_bnn needs Keras 2 (tf-keras), but TensorFlow was already imported "
            f"with Keras 3: {_FIX}."
        )
    try:
        import tf_keras  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "rethink_bnn needs the tf-keras package (Keras 2 for TensorFlow): "
            "`pip install tf-keras~=2.19.0`, or reinstall rethink_bnn."
        ) from error
