"""The runs of the theory tasks (`sec3_1_theory`), on the tf-keras front end: Larq's
MNIST net, tf.data streams and tf-keras callbacks. The tasks' declarations import no
TensorFlow; their `run()` imports this module."""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import logging  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from rethink_bnn.experiments.data import evaluation_stream, training_stream  # noqa: E402
from rethink_bnn.experiments.runs.files import read_csv, write_csv_atomically  # noqa: E402
from rethink_bnn.experiments.tasks.theory import (  # noqa: E402
    SignRecorder,
    approximation_table,
    arbitrary_lr_configurations,
    differing,
    retrain_batch_norm,
    with_real_kernels,
    write_table,
)
from rethink_bnn.experiments.training.loop_callbacks import EpochLog  # noqa: E402
from rethink_bnn.experiments.training.metrics import accuracy  # noqa: E402
from rethink_bnn.experiments.training.summary import versions  # noqa: E402
from rethink_bnn.models import mnist_net  # noqa: E402
from rethink_bnn.optimizers import CaseOptimizer, is_binary_variable  # noqa: E402

__all__ = ["run_approximation_viewpoint", "run_arbitrary_lr"]


def _tensorboard(logs):
    """Scalars per epoch, as the training loop writes them: no graph and no profile of
    batch 2 (Keras' defaults), which cost each configuration seconds for nobody."""
    return tf.keras.callbacks.TensorBoard(str(logs / "tensorboard"), write_graph=False,
                                          profile_batch=0)


def _net(task, weight_kind, seed, initializer=None):
    # Larq warns about kernels without a constraint; Theorem 1's form omits it on purpose.
    larq_log = logging.getLogger("larq")
    level = larq_log.level
    larq_log.setLevel(logging.ERROR if weight_kind == "latent_unclipped" else level)
    try:
        return mnist_net(tuple(task.input_shape), task.num_classes,
                         weight_kind=weight_kind, seed=seed, initializer=initializer)
    finally:
        larq_log.setLevel(level)


def run_approximation_viewpoint(task):
    """ApproximationViewpoint.run (see its docstring)."""
    folder, config, ((train, n_train), (test, n_test)) = task._open()
    steps = math.ceil(n_train / task.batch_size)
    evaluation = evaluation_stream(test, task.preprocessing, task.evaluation_batch_size)
    per_seed_file = folder.path / "per_seed.csv"
    done = {int(r["seed"]): r for r in read_csv(per_seed_file)}
    for seed in range(task.first_seed, task.first_seed + task.seeds):
        if seed in done:
            continue
        tf.keras.backend.clear_session()
        tf.keras.utils.set_random_seed(seed)
        logs = folder.path / "seeds" / f"seed_{seed}"
        stream = training_stream(train, task.preprocessing, task.batch_size, seed,
                                 task.shuffle_buffer)
        model = _net(task, "latent", seed)
        model.compile(tf.keras.optimizers.Adam(task.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=[accuracy()])
        logs.mkdir(parents=True, exist_ok=True)
        model.fit(stream, epochs=task.epochs, steps_per_epoch=steps, verbose=0,
                  callbacks=[EpochLog(logs / "latent.csv"),
                             _tensorboard(logs)])
        binary = model.evaluate(evaluation, verbose=0)[1]
        real = with_real_kernels(model)
        real.compile(loss="sparse_categorical_crossentropy", metrics=[accuracy()])
        latent = real.evaluate(evaluation, verbose=0)[1]
        retrain_batch_norm(real, stream, steps, task.epochs, task.learning_rate,
                           [EpochLog(logs / "batch_norm.csv")])
        retrained = real.evaluate(evaluation, verbose=0)[1]
        row = {"seed": seed, "binary": binary, "latent": latent,
               "latent+retrained BN": retrained}
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                                           if k != "seed"), flush=True)
        done[seed] = row
        write_csv_atomically(per_seed_file, [done[s] for s in sorted(done)])
    seeds = range(task.first_seed, task.first_seed + task.seeds)
    table = approximation_table([
        {k: (int(v) if k == "seed" else float(v)) for k, v in done[s].items()} for s in seeds
    ])
    write_table(folder.path, table, f"Approximation viewpoint: {type(task.dataset).__name__}, "
                                    f"{task.epochs} epochs, {task.seeds} seeds")
    folder.write_summary({"task": config["task"], "config": config, "versions": versions(),
                          "test_examples": n_test, "table": table["rows"],
                          "anova": table["anova"]})
    folder.release()  # (on an error, the lock goes with the process or the next claim)
    print((folder.path / "table.md").read_text())
    return table


def run_arbitrary_lr(task):
    """ArbitraryLr.run (see its docstring)."""
    if task.exact:
        tf.config.experimental.enable_op_determinism()
    folder, config, ((train, n_train), (test, _)) = task._open()
    steps = math.ceil(n_train / task.batch_size)
    evaluation = evaluation_stream(test, task.preprocessing, task.evaluation_batch_size)
    weight_kind = "latent_unclipped" if task.exact else "latent"
    results = {}
    for name, initializer, kernel_optimizer in arbitrary_lr_configurations(task.scale):
        logs = folder.path / "configs" / name
        if not (logs / "signs.npz").is_file():
            tf.keras.backend.clear_session()
            tf.keras.utils.set_random_seed(task.seed)
            model = _net(task, weight_kind, task.seed, initializer)
            kernels = [v for v in model.trainable_variables if is_binary_variable(v)]
            model.compile(
                CaseOptimizer((is_binary_variable, kernel_optimizer()),
                              default_optimizer=tf.keras.optimizers.Adam(
                                  task.batch_norm_learning_rate)),
                loss="sparse_categorical_crossentropy", metrics=[accuracy()])
            recorder = SignRecorder(kernels, every_step=task.compare_every_step)
            logs.mkdir(parents=True, exist_ok=True)
            stream = training_stream(train, task.preprocessing, task.batch_size,
                                     task.seed, task.shuffle_buffer)
            model.fit(stream, epochs=task.epochs, steps_per_epoch=steps, verbose=0,
                      validation_data=evaluation,
                      callbacks=[recorder, EpochLog(logs / "log.csv"),
                                 _tensorboard(logs)])
            np.savez(logs / "signs.npz", epochs=np.stack(recorder.epochs),
                     steps=np.stack(recorder.steps) if recorder.steps else np.zeros((0, 0)))
        last = read_csv(logs / "log.csv")[-1]
        results[name] = {"train_accuracy": float(last["accuracy"]),
                         "test_accuracy": float(last["val_accuracy"])}
        print(f"{name}: train {results[name]['train_accuracy']:.4f}, "
              f"test {results[name]['test_accuracy']:.4f}", flush=True)
    first, second, third = (np.load(folder.path / "configs" / n / "signs.npz")
                            for n, _, _ in arbitrary_lr_configurations(task.scale)[:3])
    identity = {"epoch_differ_2_3": differing(second["epochs"], third["epochs"]),
                "epoch_differ_1_2": differing(first["epochs"], second["epochs"])}
    if task.compare_every_step:
        identity["step_differ_2_3"] = differing(second["steps"], third["steps"])
        identity["step_differ_1_2"] = differing(first["steps"], second["steps"])
    write_csv_atomically(folder.path / "identity.csv", [
        {"epoch": e, "differ_2_3": a, "differ_1_2": b}
        for e, (a, b) in enumerate(zip(identity["epoch_differ_2_3"],
                                       identity["epoch_differ_1_2"]), start=1)
    ])
    summary = {"task": config["task"], "config": config, "versions": versions(),
               "scale": task.scale, "configurations": results, **identity}
    folder.write_summary(summary)
    folder.release()
    print(f"binary weights differing between configurations 2 and 3, per epoch: "
          f"{identity['epoch_differ_2_3']}; between 1 and 2: {identity['epoch_differ_1_2']}")
    return summary
