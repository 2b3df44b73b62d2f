"""What the command lines need beyond the library: the `experiments` extra.

`pip install rethink_bnn` gives the library (optimizers, callbacks, initializers, networks,
saving) on any tested TensorFlow; the tasks, data, plots and export need the pinned
stack of `pip install "rethink_bnn[experiments]"`, which brings TensorFlow 2.19.

The tasks on the Keras 3 front end need zookeeper alone (`TASK_MODULES`), installed
without its pins (tensorflow-datasets < 4.9, protobuf < 3.21: the latter breaks a
current tensorboard): `KERAS3_TASKS_INSTALL`.
"""

import importlib.util

from rethink_bnn._keras2 import keras2_refusal, started_as_cli, user_chose_keras3

# A module of each distribution the extra brings that the library does not.
MODULES = ("zookeeper", "tensorflow_datasets", "larq_zoo", "larq_compute_engine", "scipy",
           "matplotlib")


# What the tasks themselves need (the Keras 3 front end needs nothing more of the extra),
# and what the figures need (the theory tasks' figures import TensorFlow when drawn).
TASK_MODULES = ("zookeeper",)
# What a task on the tf-keras front end needs: the `tf` extra's stack and the whole extra.
TF_KERAS_MODULES = ("tensorflow", "tf_keras", "larq", *MODULES)
PLOT_MODULES = ("zookeeper", "scipy", "matplotlib")
KERAS3_TASKS_INSTALL = ('pip install "rethink_bnn[jax]" && pip install --no-deps '
                        'zookeeper==1.4.0 "click>=7" "typeguard>=3"')


def missing_modules(modules=MODULES):
    return [name for name in modules if importlib.util.find_spec(name) is None]


def require_experiments(command, modules=MODULES, hint=""):
    """Stop `command` in one line (exit 2 as a CLI, ImportError when imported) unless
    `modules` (default: the whole experiments extra) are installed; `hint`, another way
    out, ends the line."""
    missing = missing_modules(modules)
    if missing:
        message = (f"{command} needs the experiments extra ({', '.join(missing)} not "
                   "installed): pip install \"rethink_bnn[experiments]\" (it brings the "
                   "tested stack, TensorFlow 2.19)")
        if set(missing) <= set(TASK_MODULES):
            message += f"; for the tasks on Keras 3 alone: {KERAS3_TASKS_INSTALL}"
        message += f"; {hint}." if hint else "."
    elif set(MODULES) <= set(modules) and user_chose_keras3() is not None:
        message = f"{command}: {keras2_refusal()}"  # the tf-keras front end's tasks
    else:
        return
    if started_as_cli():
        from rethink_bnn.experiments.cli.errors import refuse

        raise SystemExit(refuse(message))
    raise ImportError(message)
