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

from zookeeper import ComponentField, Field

from rethink_bnn.experiments.data.bases import Dataset, Preprocessing
from rethink_bnn.experiments.config.zookeeper_internals import (
    base_getattr,
    convert_to_snake_case,
    is_component_instance,
)
from rethink_bnn.experiments.frontends import FRONT_ENDS, front_end_named
from rethink_bnn.experiments.models import Network
from rethink_bnn.experiments.training.checks import (  # noqa: F401  (ConfigError & co: imported from here)
    PRECISIONS,
    ConfigError,
    check_fields,
    check_split_sizes,
    devices_untouched,
    require,
)
from rethink_bnn.experiments.runs.folder import RunFolder, read_csv, release
from rethink_bnn.experiments.training.schedules import Constant, Schedule, scheduled
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
    front_end: object = None  # the task's FrontEnd (rethink_bnn.experiments.frontends)
    train: object = None  # the front end's training split
    n_train: int = 0
    validation: object = None  # (split, examples), or None without a validation split
    test: object = None
    n_test: int = 0
    steps_per_epoch: int = 0
    steps_per_execution: int = 1  # the field's value, "auto" resolved by the front end
    model: object = None
    optimizer: object = None
    state: object = None  # the loop's state, saved in every checkpoint
    checkpoints: object = None  # what saves them (the front end's)
    initial_epoch: int = 0
    best: object = None  # BestWeights


class TrainingTask:
    """Trains `model` on `dataset` into `run_dir`, resuming what is there, on the
    `front_end` it names: tf-keras with Larq (the paper's), or Keras 3 on the backend
    KERAS_BACKEND names. One loop for both: what differs lives behind the FrontEnd
    interface (`rethink_bnn.experiments.frontends`).

    Every epoch saves model, optimizer and loop state, so running the same command
    again on the same `run_dir` resumes at the same epoch with the same optimizer
    state and schedule step. With a validation split, the weights of the best
    validation loss are kept and give the reported test accuracy; without one, the
    last weights do. `summary.json` records the outcome.
    """

    dataset: Dataset = ComponentField()
    preprocessing: Preprocessing = ComponentField()
    model: Network = ComponentField()

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
    # "auto" is 1 on a CPU and 32 on a GPU or TPU, where small batches leave the device
    # waiting on Python (Keras 3: the largest divisor of an epoch's steps up to 32). The
    # per-step logs are recorded on the device, so they keep every step whatever it is.
    steps_per_execution: Union[int, str] = Field("auto")
    # Keras mixed-precision policy: "float32", "mixed_float16" (with dynamic loss scaling;
    # tf-keras only) or "mixed_bfloat16". Variables, Bop's kernels and moving averages
    # stay float32.
    precision: str = Field("float32")
    # tf-keras: the tf.distribute strategy, "auto" (several workers in TF_CONFIG:
    # multi-worker; several GPUs: mirrored; else one device), "default", "mirrored",
    # "multi_worker" or "tpu"; Keras 3: "auto" (DataParallel over every device, on JAX)
    # or "default" (one device). batch_size is the global batch, split over the replicas.
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

    # "tf_keras" (Larq layers and our tf-keras optimizers: what the paper used) or
    # "keras3" (our Keras 3 layers and optimizers, on the backend KERAS_BACKEND names).
    front_end: str = Field("tf_keras")

    @property
    def front(self):
        """The FrontEnd of the `front_end` field (ConfigError for an unknown name)."""
        require(self.front_end in FRONT_ENDS, f"front_end must be one of "
                f"{', '.join(FRONT_ENDS)}, got {self.front_end!r}.")
        try:
            return front_end_named(self.front_end)
        except ImportError as error:  # its Keras, backend or extra missing: says which
            raise ConfigError(f"front_end={self.front_end} cannot load: "
                              f"{str(error).strip().splitlines()[0]}") from error

    def make_optimizer(self, steps_per_epoch):
        """Adam for every variable, or, when the task has a binary optimizer, one
        optimizer that gives it the binary kernels and Adam the rest (tf-keras'
        CaseOptimizer, Keras 3's MultiOptimizer); wrapped in SkipNonFinite either way.
        Tasks change the optimizers through their fields."""
        adam_rate = scheduled(self.learning_rate_schedule, self.learning_rate, steps_per_epoch,
                              self.epochs, self.front_end)
        return self.front.optimizer(adam_rate, self.make_binary_optimizer(steps_per_epoch))

    def make_binary_optimizer(self, steps_per_epoch):
        """The optimizer of the binary kernels, of the task's front end (None: they are
        latent weights for Adam)."""
        return None

    def validate(self, replicas=None):
        """Check every field before anything is loaded or written (a task adds its own
        checks by extending this). Inside `checks.without_devices()` the checks start no
        device (a sweep's own process checks its points so).

        Args:
            replicas: the replicas the run will use (default: the front end's count).
        Raises:
            ConfigError: a field's value cannot work; the message says how to fix it.
        """
        check_fields(self, self.front.replicas() if replicas is None else replicas)

    def check_optimizer_fields(self):
        """ConfigError naming the field for an optimizer setting that cannot work; then
        the optimizers are made once (they check their own arguments too), except
        inside `checks.without_devices()`: a first variable would start a device."""
        require(self.learning_rate > 0, f"learning_rate (Adam's) must be > 0, got "
                f"{self.learning_rate}.")
        self.learning_rate_schedule.check("learning_rate_schedule", _adam_rate,
                                          self.learning_rate, self.epochs)
        if not devices_untouched():
            self.make_optimizer(steps_per_epoch=1)

    def run(self):
        front = self.front
        self.validate(front.prepare(self))  # the front end's placement: its replicas
        with front.scope(self):  # distribution and precision, undone after
            try:
                return self._run(front)
            finally:
                release(self.run_dir)  # the lock of this run's claim, if it got that far

    def _run(self, front):
        """One run, in named parts: open the folder, load data and network and claim the
        folder, restore, train with `callbacks()`, then evaluate and summarise."""
        session = self._open(front)
        if session is None:  # a finished run of this configuration: reported
            return RunFolder(self.run_dir).summary()
        self._load_and_claim(session)
        self._restore(session)
        history = front.fit(self, session, self.callbacks(session))
        return self._finish(session, history)

    def _open(self, front):
        """Check the run folder before anything loads; None if it holds this
        configuration's finished run (which is reported)."""
        run, config = RunFolder(self.run_dir), self.resolved_config()
        replacing = run.check(config, overwrite=self.overwrite)
        if run.finished and not replacing:
            print(f"{run.path} holds a finished run of this configuration: test accuracy "
                  f"{run.summary()['test_accuracy']:.4f}; see {run.summary_file}.")
            return None
        if not replacing:  # a run that cannot resume stops now
            front.newest_readable(run.checkpoints)
        # Every worker of a multi-worker run saves checkpoints (TensorFlow requires it);
        # only the chief writes (and locks) the run folder, the others a scratch folder.
        folder = (run if front.is_chief()
                  else RunFolder(tempfile.mkdtemp(prefix="rethink_bnn_")))
        front.seed(self.seed, self.deterministic)
        return Session(run=run, folder=folder, config=config, replacing=replacing,
                       started=time.time(), front_end=front)

    def _load_and_claim(self, session):
        """Data and network first: what cannot be had or built leaves the run folder
        untouched, so the corrected command finds it as it was. Then claim it."""
        front = session.front_end
        session.train, session.n_train = front.split(self, "train")
        has_validation = bool(getattr(self.dataset, "validation_fraction", 0))
        session.validation = front.split(self, "validation") if has_validation else None
        session.test, session.n_test = front.split(self, "test")
        check_split_sizes(self, session.n_train, session.validation, session.n_test)
        session.steps_per_epoch = math.ceil(session.n_train / self.batch_size)
        session.steps_per_execution = front.steps_per_execution(self, session.steps_per_epoch)
        try:
            session.model = front.model(self)
        except ValueError as error:
            raise ConfigError(f"the network {type(base_getattr(self, 'model')).__name__} "
                              f"cannot be built for input_shape={tuple(self.input_shape)}: "
                              f"{str(error).strip().splitlines()[0][:160]}") from error
        session.optimizer = self.make_optimizer(session.steps_per_epoch)
        session.folder.claim(session.config, overwrite=self.overwrite)

    def _restore(self, session):
        """Compile, then restore the newest readable checkpoint (every worker restores
        the chief's) and the loop's state; trim the log to the restored epochs."""
        run, folder, front = session.run, session.folder, session.front_end
        front.compile(self, session)
        session.state = state = front.loop_state()
        restored, unread = (None, []) if session.replacing else front.restore(
            session, owner=folder is run)
        if restored:
            print(f"Resuming {run.path} after epoch {state.get('epoch')} (from "
                  f"{restored.relative_to(run.path)}{''.join('; ' + u for u in unread)}).")
        session.checkpoints = front.checkpoint_writer(session)  # after the restore
        session.initial_epoch = state.get("epoch")
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
        session.best = front.best_weights(session)
        session.best.commit()  # the best weights of the restored checkpoint, if not in place

    def callbacks(self, session):
        """The run's callbacks, in order (the front end's kinds). A task adds its own by
        overriding this and extending the list (before the checkpoint's, which saves
        what the others updated, and before the console's and the log's if it adds to
        the epoch logs)."""
        return session.front_end.callbacks(self, session)

    def _finish(self, session, history):
        """Test the weights the run reports (the best validation epoch's, else the last)
        and write summary.json."""
        run, folder, state = session.run, session.folder, session.state
        tested, warning = "last", None
        if session.validation and state.get("best_epoch") >= 0:
            # The chief's: a resumed non-chief worker's scratch folder may have none.
            tested, warning = session.front_end.load_best(session)
            if warning and folder is run:
                print(f"warning: {warning}", file=sys.stderr, flush=True)
        test_loss, test_accuracy = session.front_end.evaluate(self, session)
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

    def stopped_without_flips(self, state):
        """Whether the run stopped (or is to stop) for `stop_after_flipless_epochs`."""
        patience = self.stop_after_flipless_epochs
        return bool(patience) and state.get("flipless_epochs") >= patience

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
