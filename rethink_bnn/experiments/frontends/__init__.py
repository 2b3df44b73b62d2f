"""The two front ends a training task runs on, behind one small interface.

`TrainingTask` (rethink_bnn.experiments.training.task) is the loop: it opens and claims
the run folder, restores, trains, tests and writes the summary. A front end does what
depends on the Keras underneath, one object per run:

    check(task)                 what it cannot run, refused before anything loads
    steps_per_execution(...)    the field's value, "auto" resolved (or refused)
    prepare(task), scope(task)  where it runs (its replicas); precision and placement
    split(task, name)           a dataset split as this front end feeds it, and its size
    model(task)                 the network, inputs preprocessed as the task says
    optimizer(adam, binary)     Adam and the binary optimizer, routed and guarded
    compile / fit / evaluate    Keras' own, with the loop's callbacks (callbacks(task, session))
    loop_state / restore / checkpoint_writer / newest_readable
                                the checkpoints: model, optimizer and loop state
    best_weights / load_best    the weights of the best validation epoch
    optimizer_counts, packages  what summary.json records

`tf_keras` (Larq layers, our tf-keras optimizers, tf.data and tf.distribute: the paper's)
and `keras3` (our Keras 3 layers and optimizers on the backend KERAS_BACKEND names,
numpy data, augmentation on the device). Each module loads its Keras when first named.
"""

import importlib

__all__ = ["FRONT_ENDS", "front_end_named"]

# name: the module whose FrontEnd class serves it
FRONT_ENDS = {"tf_keras": "rethink_bnn.experiments.frontends.tf_keras",
              "keras3": "rethink_bnn.experiments.frontends.keras3"}


def front_end_named(name):
    """A new FrontEnd object of front end `name` (one of FRONT_ENDS), for one run."""
    return importlib.import_module(FRONT_ENDS[name]).FrontEnd()
