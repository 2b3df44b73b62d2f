"""The training loop every experiment shares: fields with defaults, and `run()`.

A task is a zookeeper component: `dataset`, `preprocessing` and `model` are component
fields, hyperparameters are fields, and a paper's variant is a subclass that overrides
fields (see `rethink_bnn.experiments.tasks`). Any field can be set on the command line:
`python -m rethink_bnn.train TASK key=value dataset.key=value ...`.
"""

import dataclasses
import math
import shutil
import sys
import tempfile
import time
from typing import Optional, Tuple, Union

import tensorflow as tf
from zookeeper import ComponentField, Field

from rethink_bnn.experiments.data.bases import Dataset, Preprocessing
from rethink_bnn.experiments.config.zookeeper_internals import (
    base_getattr,
    convert_to_snake_case,
    is_component_instance,
)
from rethink_bnn.experiments.data.streams import evaluation_stream, training_stream
from rethink_bnn.callbacks import (
    BatchMetricLogger,
    FlipLogger,
    SkippedStepLogger,
)
from rethink_bnn.optimizers import CaseOptimizer, is_binary_variable
from rethink_bnn.optimizers.finite import SkipNonFinite
from rethink_bnn.optimizers.walk import binary_optimizers, skipping_wrappers
from rethink_bnn.experiments.training.checks import (  # noqa: F401  (ConfigError & co: imported from here)
    PRECISIONS,
    ConfigError,
    check_fields,
    check_split_sizes,
    require,
)
from rethink_bnn.experiments.training.distribution import is_chief, select_strategy
from rethink_bnn.experiments.training.metrics import accuracy
from rethink_bnn.experiments.training.console import Console, StopWhenTerminated, console_verbosity
from rethink_bnn.experiments.training.loop_callbacks import (
    BestWeights,
    EpochCheckpoint,
    EpochLog,
    EpochTensorBoard,
    HyperparameterLogger,
    LoopState,
    StopWhenNoFlips,
)
from rethink_bnn.experiments.runs.checkpoints import newest_readable, restore_newest
from rethink_bnn.experiments.runs.folder import RunFolder, read_csv, release
from rethink_bnn.step_record import RecordingModel
from rethink_bnn.experiments.training.schedules import Constant, Schedule
from rethink_bnn.experiments.training.summary import run_summary, versions  # noqa: F401

__all__ = [
    "ConfigError",
    "TrainingTask",
    "fields_of",
    "versions",
]


@dataclasses.dataclass
class Session:
    """What the parts of one run share (see `TrainingTask._run`)."""

    run: RunFolder  # the run folder (the chief's)
    folder: RunFolder  # where this process writes: the run folder, or a worker's scratch
    config: dict
    replacing: bool  # the folder holds another configuration's files, to be deleted
    started: float
    train: object = None
    n_train: int = 0
    validation: object = None  # (dataset, examples), or None without a validation split
    test: object = None
    n_test: int = 0
    steps_per_epoch: int = 0
    model: object = None
    optimizer: object = None
    state: object = None  # LoopState
    manager: object = None  # tf.train.CheckpointManager
    initial_epoch: int = 0
    best: object = None  # BestWeights


class TrainingTask:
    """Trains `model` on `dataset` into `run_dir`, resuming what is there.

    Every epoch saves model, optimizer and loop state, so running the same command
    again on the same `run_dir` resumes at the same epoch with the same optimizer
    state and schedule step. With a validation split, the weights of the best
    validation loss are kept and give the reported test accuracy; without one, the
    last weights do. `summary.json` records the outcome.
    """

    dataset: Dataset = ComponentField()
    preprocessing: Preprocessing = ComponentField()
    model: tf.keras.Model = ComponentField()

    # What the run folder holds, written into config.json: "bop" or "latent" training.
    run_kind = "latent"

    # Passed down to the model (and preprocessing) by name.
    input_shape: Tuple[int, int, int] = Field()
    num_classes: int = Field(10)
    # The kind of binary kernels (models.WEIGHT_KINDS): "bop" (±1) or "latent".
    weight_kind: str = Field()
    seed: int = Field(0)

    epochs: int = Field()
    batch_size: int = Field()
    # Adam's learning rate (for the non-binary variables, or all of them), and how it
    # moves over the run (training/schedules.py).
    learning_rate: float = Field()
    learning_rate_schedule: Schedule = ComponentField(Constant)
    loss: str = Field("sparse_categorical_crossentropy")
    # Stop after this many epochs in a row without a single flip (0: never).
    stop_after_flipless_epochs: int = Field(0)
    # Per-step TensorBoard logging, every N steps or "epoch" for none: Bop's flips
    # (tensorboard/flips) and the training batches' loss and accuracy (tensorboard/steps).
    flip_log_freq: Union[int, str] = Field(1)
    step_log_freq: Union[int, str] = Field(1)
    jit_compile: bool = Field(False)
    # Training steps per call of the compiled step function (Keras' steps_per_execution):
    # 1 on a CPU; on a GPU or TPU with small batches, e.g. 32 keeps the device fed. The
    # per-step logs are recorded on the device, so they keep every step whatever it is.
    steps_per_execution: int = Field(1)
    # Keras mixed-precision policy: "float32", "mixed_float16" (with dynamic loss scaling)
    # or "mixed_bfloat16". Variables, Bop's kernels and moving averages stay float32.
    precision: str = Field("float32")
    # tf.distribute strategy: "auto" (several workers in TF_CONFIG: multi-worker; several
    # GPUs: mirrored; else one device), "default", "mirrored", "multi_worker" or "tpu".
    # batch_size is the global batch, split over the replicas.
    distribution: str = Field("auto")
    # Deterministic kernels (tf.config.experimental.enable_op_determinism, for the whole
    # process): with the same seed, two runs give bit-identical flips and weights. On a
    # GPU some kernels are slower, and an op without a deterministic kernel raises.
    deterministic: bool = Field(False)
    shuffle_buffer: int = Field(10_000)

    run_dir: str = Field(lambda self: f"runs/{convert_to_snake_case(type(self).__name__)}")
    # Replace a run of another configuration (or with a damaged config.json) in run_dir
    # instead of refusing: deletes only the files runs write, never a folder not a run's.
    overwrite: bool = Field(False)
    # Keras verbosity; None: a progress bar on a terminal, one line per epoch otherwise.
    verbose: Optional[int] = Field(None)

    def make_optimizer(self, steps_per_epoch):
        """Adam for every variable, or, when the task has a binary optimizer, a
        CaseOptimizer that gives it the binary kernels and Adam the rest; wrapped in
        SkipNonFinite either way. Tasks change the optimizers through their fields."""
        adam = tf.keras.optimizers.Adam(self.learning_rate_schedule(
            self.learning_rate, steps_per_epoch, self.epochs))
        binary = self.make_binary_optimizer(steps_per_epoch)
        if binary is None:
            return SkipNonFinite(adam)
        return SkipNonFinite(CaseOptimizer((is_binary_variable, binary), default_optimizer=adam))

    def make_binary_optimizer(self, steps_per_epoch):
        """The optimizer of the binary kernels (None: they are latent weights for Adam)."""
        return None

    def validate(self, strategy=None):
        """Check every field before anything is loaded or written (a task adds its own
        checks by extending this).

        Args:
            strategy: the strategy the run will use (default: the one in scope).
        Raises:
            ConfigError: a field's value cannot work; the message says how to fix it.
        """
        check_fields(self, strategy)

    def check_optimizer_fields(self):
        """ConfigError naming the field for an optimizer setting that cannot work; then
        the optimizers are made once (they check their own arguments too)."""
        require(self.learning_rate > 0, f"learning_rate (Adam's) must be > 0, got "
                f"{self.learning_rate}.")
        self.learning_rate_schedule.check("learning_rate_schedule", _adam_rate,
                                          self.learning_rate, self.epochs)
        self.make_optimizer(steps_per_epoch=1)

    def run(self):
        try:
            strategy = select_strategy(self.distribution)
        except ValueError as error:  # an unknown name
            raise ConfigError(str(error)) from error
        self.validate(strategy)
        previous = tf.keras.mixed_precision.global_policy()
        tf.keras.mixed_precision.set_global_policy(self.precision)  # for the model built
        try:
            with strategy.scope():
                return self._run(strategy)
        finally:
            tf.keras.mixed_precision.set_global_policy(previous)
            release(self.run_dir)  # the lock of this run's claim, if it got that far

    def _run(self, strategy):
        """One run, in named parts: open the folder, load data and network and claim the
        folder, restore, train with `callbacks()`, then evaluate and summarise."""
        session = self._open(strategy)
        if session is None:  # a finished run of this configuration: reported
            return RunFolder(self.run_dir).summary()
        self._load_and_claim(session)
        self._restore(session)
        history = session.model.fit(
            self._training_pipeline(session.train, session.n_train, session.initial_epoch,
                                    session.steps_per_epoch),
            epochs=session.initial_epoch if self.stopped_without_flips(session.state)
            else self.epochs,  # a run stopped for lack of flips has nothing left to train
            initial_epoch=session.initial_epoch,
            steps_per_epoch=session.steps_per_epoch,
            validation_data=(self._pipeline(session.validation[0]) if session.validation
                             else None),
            callbacks=self.callbacks(session),
            verbose=0,  # the Console callback prints
        )
        return self._finish(session, history)

    def _open(self, strategy):
        """Check the run folder before anything loads; None if it holds this
        configuration's finished run (which is reported)."""
        run, config = RunFolder(self.run_dir), self.resolved_config()
        replacing = run.check(config, overwrite=self.overwrite)
        if run.finished and not replacing:
            print(f"{run.path} holds a finished run of this configuration: test accuracy "
                  f"{run.summary()['test_accuracy']:.4f}; see {run.summary_file}.")
            return None
        if not replacing:  # a run that cannot resume stops now
            newest_readable(run.checkpoints)
        # Every worker of a multi-worker run saves checkpoints (TensorFlow requires it);
        # only the chief writes (and locks) the run folder, the others a scratch folder.
        folder = (run if is_chief(strategy)
                  else RunFolder(tempfile.mkdtemp(prefix="rethink_bnn_")))
        if self.deterministic:
            tf.config.experimental.enable_op_determinism()
        tf.keras.utils.set_random_seed(self.seed)
        return Session(run=run, folder=folder, config=config, replacing=replacing,
                       started=time.time())

    def _load_and_claim(self, session):
        """Data and network first: what cannot be had or built leaves the run folder
        untouched, so the corrected command finds it as it was. Then claim it."""
        session.train, session.n_train = self.dataset.train()
        has_validation = bool(getattr(self.dataset, "validation_fraction", 0))
        session.validation = self.dataset.validation() if has_validation else None
        session.test, session.n_test = self.dataset.test()
        check_split_sizes(self, session.n_train, session.validation, session.n_test)
        session.steps_per_epoch = math.ceil(session.n_train / self.batch_size)
        session.model = RecordingModel.of(self._built_model())  # per-step logs, no wrap
        session.optimizer = self.make_optimizer(session.steps_per_epoch)
        session.folder.claim(session.config, overwrite=self.overwrite)

    def _restore(self, session):
        """Compile, then restore the newest readable checkpoint (every worker restores
        the chief's) and the loop's state; trim the log to the restored epochs."""
        run, folder, model = session.run, session.folder, session.model
        # Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, which
        # unscales the gradients before Bop sees them.
        model.compile(session.optimizer, loss=self.loss, metrics=[accuracy(self.loss)],
                      jit_compile=self.jit_compile,
                      steps_per_execution=self.steps_per_execution)
        session.state = state = LoopState()
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, state=state)
        restored, unread = (None, []) if session.replacing else restore_newest(
            checkpoint, run.checkpoints, owner=folder is run)
        if restored:
            print(f"Resuming {run.path} after epoch {int(state.epoch.numpy())} (from "
                  f"{restored.relative_to(run.path)}{''.join('; ' + u for u in unread)}).")
        # After the restore, which repairs the state file that the manager reads.
        session.manager = tf.train.CheckpointManager(checkpoint, str(folder.checkpoints),
                                                     max_to_keep=2)
        session.initial_epoch = int(state.epoch.numpy())
        dropped = folder.truncate_log(session.initial_epoch)  # epochs whose checkpoint was lost
        if dropped and not restored:
            print(f"Starting {run.path} from epoch 0: no checkpoint was complete (the log's "
                  f"{dropped} row(s) dropped).")
        logged = len(read_csv(folder.csv_log))
        if restored and logged < session.initial_epoch:  # the log was emptied or cut
            print(f"warning: {folder.csv_log} holds {logged} of the {session.initial_epoch} "
                  "restored epochs' rows; the missing ones cannot be rebuilt (a checkpoint "
                  "holds no log): restore the file from a copy to keep them.",
                  file=sys.stderr, flush=True)
        session.best = BestWeights(state, folder.best_weights)
        session.best.commit()  # the best weights of the restored checkpoint, if not in place

    def callbacks(self, session):
        """The run's callbacks, in order. A task adds its own by overriding this and
        extending the list (before `EpochCheckpoint`, which saves what the others
        updated, and before `Console`/`EpochLog` if it adds to the epoch logs)."""
        folder, state, optimizer = session.folder, session.state, session.optimizer
        uses_bop = bool(binary_optimizers(optimizer))
        callbacks = []
        if uses_bop:
            callbacks.append(FlipLogger(str(folder.tensorboard), update_freq=self.flip_log_freq))
        if skipping_wrappers(optimizer) or uses_bop:  # skipped steps, invalid γ or τ
            callbacks.append(SkippedStepLogger())
        callbacks.append(BatchMetricLogger(str(folder.tensorboard), self.step_log_freq))
        callbacks.append(HyperparameterLogger())
        if uses_bop and self.stop_after_flipless_epochs:
            callbacks.append(StopWhenNoFlips(state, self.stop_after_flipless_epochs))
        if session.validation:
            callbacks.append(session.best)
        return callbacks + [
            StopWhenTerminated(),
            Console(console_verbosity(self.verbose)),
            EpochLog(folder.csv_log),
            EpochTensorBoard(str(folder.tensorboard), write_graph=False, profile_batch=0),
            # last: saves what the others updated
            EpochCheckpoint(state, session.manager, after_save=[session.best.commit]),
        ]

    def _finish(self, session, history):
        """Test the weights the run reports (the best validation epoch's, else the last)
        and write summary.json."""
        run, folder, model, state = session.run, session.folder, session.model, session.state
        best_epoch = int(state.best_epoch.numpy())
        tested, warning = "last", None
        if session.validation and best_epoch >= 0:
            # The chief's file: a resumed non-chief worker's scratch folder may have none.
            tested, warning = BestWeights(state, run.best_weights).load(
                model, run.checkpoints, heal=folder is run)
            if warning and folder is run:
                print(f"warning: {warning}", file=sys.stderr, flush=True)
        test_loss, test_accuracy = model.evaluate(self._pipeline(session.test), verbose=0)
        summary = {**run_summary(self, session, history), "tested_weights": tested,
                   "warning": warning, "test_loss": float(test_loss),
                   "test_accuracy": float(test_accuracy), "test_examples": session.n_test}
        if folder is not run:  # a non-chief worker's scratch folder has served
            folder.release()
            shutil.rmtree(folder.path, ignore_errors=True)
            return summary
        folder.write_summary(summary)
        print(f"test accuracy {test_accuracy:.4f} ({session.n_test} examples), "
              f"{'best-validation' if tested == 'best' else 'last'} weights; "
              f"summary in {folder.summary_file}")
        return summary

    def _built_model(self):
        """The network, built now; a shape it cannot take is a ConfigError."""
        try:
            return self.model
        except ValueError as error:
            raise ConfigError(f"the network {type(base_getattr(self, 'model')).__name__} "
                              f"cannot be built for input_shape={tuple(self.input_shape)}: "
                              f"{str(error).strip().splitlines()[0][:160]}") from error

    def stopped_without_flips(self, state):
        """Whether the run stopped (or is to stop) for `stop_after_flipless_epochs`."""
        patience = self.stop_after_flipless_epochs
        return bool(patience) and int(state.flipless_epochs.numpy()) >= patience

    def _training_pipeline(self, data, examples, initial_epoch, steps_per_epoch):
        skip = initial_epoch * steps_per_epoch * self.batch_size
        streamed = None if self.dataset.cacheable else examples
        return training_stream(data, self.preprocessing, self.batch_size, self.seed,
                               self.shuffle_buffer, skip, streamed)

    def _pipeline(self, data):
        return evaluation_stream(data, self.preprocessing, self.batch_size,
                                 cache=self.dataset.cacheable)

    def resolved_config(self):
        """Every field's value, nested components as dicts (their class under "class"),
        with the task's name and the kind of run it makes (for the figures)."""
        return {"task": convert_to_snake_case(type(self).__name__), "kind": self.run_kind,
                **fields_of(self)}


def _adam_rate(value):
    """Check a value that Adam's learning rate reaches (a schedule's end): >= 0."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value)
                                       and value >= 0):
        raise ValueError(f"learning_rate must be a finite float >= 0, got {value!r}.")


def fields_of(instance):
    """A component's field values, nested components as dicts (class under "class")."""
    config = {}
    for name, field in instance.__component_fields__.items():
        value = base_getattr(instance, name)
        if is_component_instance(value):
            config[name] = {"class": type(value).__name__, **fields_of(value)}
        elif isinstance(value, (bool, int, float, str, type(None), list, tuple)):
            config[name] = list(value) if isinstance(value, tuple) else value
    return config
