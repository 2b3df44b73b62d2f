"""What the command lines need beyond the library: the `experiments` extra.

`pip install rethink_bnn` gives the library (optimizers, callbacks, initializers, networks,
saving) on any tested TensorFlow; the tasks, data, plots and export need the pinned
stack of `pip install "rethink_bnn[experiments]"`, which brings TensorFlow 2.19.
"""

import importlib.util

from rethink_bnn._keras2 import keras2_refusal, started_as_cli, user_chose_keras3

# A module of each distribution the extra brings that the library does not.
MODULES = ("zookeeper", "tensorflow_datasets", "larq_zoo", "larq_compute_engine", "scipy",
           "matplotlib")


def missing_modules():
    return [name for name in MODULES if importlib.util.find_spec(name) is None]


def require_experiments(command):
    """Stop `command` in one line (exit 2 as a CLI, ImportError when imported) unless
    the experiments extra is installed."""
    missing = missing_modules()
    if missing:
        message = (f"{command} needs the experiments extra ({', '.join(missing)} not "
                   "installed): pip install \"rethink_bnn[experiments]\" (it brings the "
                   "tested stack, TensorFlow 2.19).")
    elif user_chose_keras3() is not None:  # the tasks run on the tf-keras front end
        message = f"{command}: {keras2_refusal()}"
    else:
        return
    if started_as_cli():
        from rethink_bnn.experiments.cli.errors import refuse

        raise SystemExit(refuse(message))
    raise ImportError(message)
