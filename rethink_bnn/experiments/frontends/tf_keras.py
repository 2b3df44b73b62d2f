"""The tf-keras front end of the training loop: Larq networks, our tf-keras optimizers
(a CaseOptimizer in SkipNonFinite), tf.data streams, tf.distribute, and
`tf.train.Checkpoint`s of model, optimizer and loop state. What the paper used."""

from rethink_bnn._keras2 import ensure_keras2
from rethink_bnn.experiments.extra import TF_KERAS_MODULES, require_experiments

# One line without the experiments' stack; Keras 3 may be what the user has.
require_experiments("front_end=tf_keras", TF_KERAS_MODULES,
                    hint="or train on Keras 3 (JAX, PyTorch): front_end=keras3")
ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import contextlib  # noqa: E402

import tensorflow as tf  # noqa: E402

from rethink_bnn.callbacks import BatchMetricLogger, FlipLogger, SkippedStepLogger  # noqa: E402
from rethink_bnn.experiments.data.streams import evaluation_stream, training_stream  # noqa: E402
from rethink_bnn.experiments.runs import checkpoints  # noqa: E402
from rethink_bnn.experiments.training.checks import ConfigError  # noqa: E402
from rethink_bnn.experiments.training.console import (Console, StopWhenTerminated,  # noqa: E402
                                                      console_verbosity)
from rethink_bnn.experiments.training.distribution import is_chief, select_strategy  # noqa: E402
from rethink_bnn.experiments.training.loop_callbacks import (  # noqa: E402
    BestWeights,
    EpochCheckpoint,
    EpochLog,
    EpochTensorBoard,
    HyperparameterLogger,
    LoopState,
    StopWhenNoFlips,
)
from rethink_bnn.experiments.training.metrics import accuracy  # noqa: E402
from rethink_bnn.optimizers import CaseOptimizer, is_binary_variable  # noqa: E402
from rethink_bnn.optimizers.finite import SkipNonFinite  # noqa: E402
from rethink_bnn.optimizers.walk import binary_optimizers, skipping_wrappers  # noqa: E402
from rethink_bnn.step_record import RecordingModel  # noqa: E402

__all__ = ["FrontEnd"]

AUTO_STEPS_PER_EXECUTION = 32  # steps_per_execution=auto on a GPU or TPU


class FrontEnd:
    """The tf-keras front end (see `rethink_bnn.experiments.frontends`)."""

    name = "tf_keras"

    def __init__(self):
        self._strategy = None  # the run's tf.distribute strategy (`prepare`)
        self._checkpoint = None  # tf.train.Checkpoint of model, optimizer and loop state

    @staticmethod
    def keras():
        return tf.keras

    @staticmethod
    def weight_kinds():
        from rethink_bnn.models import WEIGHT_KINDS

        return WEIGHT_KINDS

    @staticmethod
    def packages():
        return ("tensorflow", "tf_keras", "larq")

    def check(self, task):
        """Everything the fields allow runs here."""

    def steps_per_execution(self, task, steps_per_epoch):
        """The field's value; "auto": 32 on a GPU or TPU, else 1 (tf-keras shortens an
        epoch's last execution: any value runs)."""
        if task.steps_per_execution != "auto":
            return task.steps_per_execution
        accelerated = (isinstance(self._strategy, tf.distribute.TPUStrategy)
                       or tf.config.list_logical_devices("GPU"))
        return AUTO_STEPS_PER_EXECUTION if accelerated else 1

    @staticmethod
    def replicas():
        return tf.distribute.get_strategy().num_replicas_in_sync

    def prepare(self, task):
        """Choose the run's strategy; the number of replicas it trains on."""
        try:
            self._strategy = select_strategy(task.distribution)
        except ValueError as error:  # an unknown name
            raise ConfigError(str(error)) from error
        return self._strategy.num_replicas_in_sync

    @contextlib.contextmanager
    def scope(self, task):
        """The precision policy (for the model built) and the strategy's scope."""
        previous = tf.keras.mixed_precision.global_policy()
        tf.keras.mixed_precision.set_global_policy(task.precision)
        try:
            with self._strategy.scope():
                yield
        finally:
            tf.keras.mixed_precision.set_global_policy(previous)

    @staticmethod
    def is_chief():
        return is_chief(tf.distribute.get_strategy())

    @staticmethod
    def newest_readable(directory):
        return checkpoints.newest_readable(directory)

    @staticmethod
    def seed(seed, deterministic):
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        tf.keras.utils.set_random_seed(seed)

    @staticmethod
    def split(task, name):
        return getattr(task.dataset, name)()

    @staticmethod
    def model(task):
        return RecordingModel.of(task.model)  # per-step logs, no wrap

    @staticmethod
    def optimizer(adam_rate, binary):
        adam = tf.keras.optimizers.Adam(adam_rate)
        if binary is None:
            return SkipNonFinite(adam)
        return SkipNonFinite(CaseOptimizer((is_binary_variable, binary), default_optimizer=adam))

    @staticmethod
    def compile(task, session):
        # Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, which
        # unscales the gradients before Bop sees them.
        session.model.compile(session.optimizer, loss=task.loss,
                              metrics=[accuracy(task.loss)], jit_compile=task.jit_compile,
                              steps_per_execution=session.steps_per_execution)

    def loop_state(self):
        return LoopState()

    def _tracked(self, session):
        """What a checkpoint tracks: model, optimizer and loop state (one object a run:
        the restore and the manager share it)."""
        if self._checkpoint is None:
            self._checkpoint = tf.train.Checkpoint(model=session.model,
                                                   optimizer=session.model.optimizer,
                                                   state=session.state)
        return self._checkpoint

    def restore(self, session, owner):
        return checkpoints.restore_newest(self._tracked(session), session.run.checkpoints,
                                          owner=owner)

    def checkpoint_writer(self, session):
        """The manager that saves every epoch's checkpoint (after the restore, which
        repairs the state file that the manager reads)."""
        return tf.train.CheckpointManager(self._tracked(session),
                                          str(session.folder.checkpoints), max_to_keep=2)

    @staticmethod
    def best_weights(session):
        return BestWeights(session.state, session.folder.best_weights)

    @staticmethod
    def load_best(session):
        return BestWeights(session.state, session.run.best_weights).load(
            session.model, session.run.checkpoints, heal=session.folder is session.run)

    @staticmethod
    def callbacks(task, session):
        """The run's callbacks, in order."""
        folder, state, optimizer = session.folder, session.state, session.optimizer
        uses_bop = bool(binary_optimizers(optimizer))
        callbacks = []
        if uses_bop:
            callbacks.append(FlipLogger(str(folder.tensorboard), update_freq=task.flip_log_freq))
        if skipping_wrappers(optimizer) or uses_bop:  # skipped steps, invalid γ or τ
            callbacks.append(SkippedStepLogger())
        callbacks.append(BatchMetricLogger(str(folder.tensorboard), task.step_log_freq))
        callbacks.append(HyperparameterLogger())
        if uses_bop and task.stop_after_flipless_epochs:
            callbacks.append(StopWhenNoFlips(state, task.stop_after_flipless_epochs))
        if session.validation:
            callbacks.append(session.best)
        return callbacks + [
            StopWhenTerminated(),
            Console(console_verbosity(task.verbose)),
            EpochLog(folder.csv_log),
            EpochTensorBoard(str(folder.tensorboard), write_graph=False, profile_batch=0),
            # last: saves what the others updated
            EpochCheckpoint(state, session.checkpoints, after_save=[session.best.commit]),
        ]

    @staticmethod
    def fit(task, session, callbacks):
        initial = session.initial_epoch
        skip = initial * session.steps_per_epoch * task.batch_size
        streamed = None if task.dataset.cacheable else session.n_train
        train = training_stream(session.train, task.preprocessing, task.batch_size, task.seed,
                                task.shuffle_buffer, skip, streamed)
        return session.model.fit(
            train,
            epochs=initial if task.stopped_without_flips(session.state)
            else task.epochs,  # a run stopped for lack of flips has nothing left to train
            initial_epoch=initial,
            steps_per_epoch=session.steps_per_epoch,
            validation_data=(_evaluation(task, session.validation[0]) if session.validation
                             else None),
            callbacks=callbacks,
            verbose=0,  # the Console callback prints
        )

    @staticmethod
    def evaluate(task, session):
        return session.model.evaluate(_evaluation(task, session.test), verbose=0)

    @staticmethod
    def optimizer_counts(session):
        optimizer, binaries = session.optimizer, binary_optimizers(session.optimizer)
        return {
            "skipped_steps": sum(int(w.skipped_steps) for w in skipping_wrappers(optimizer)),
            "invalid_hyperparameter_steps": sum(
                int(b.invalid_hyperparameter_steps.numpy()) for b in binaries
                if b.invalid_hyperparameter_steps is not None) if binaries else None,
            "flips_total": sum(int(tf.reduce_sum(b.flip_counts)) for b in binaries
                               if b.flip_counts is not None) if binaries else None,
            "binary_weights": sum(v.shape.num_elements()
                                  for v in session.model.trainable_variables
                                  if is_binary_variable(v)),
        }


def _evaluation(task, data):
    return evaluation_stream(data, task.preprocessing, task.batch_size,
                             cache=task.dataset.cacheable)
