"""The paper's theoretical claims as the reproducibility report tested them (sec 3.1).

- Approximation viewpoint: are real latent weights a better network than their signs?
  Train with latent weights, then evaluate (a) the binary weights, (b) the latent weights
  themselves (sign activations kept), (c) the latent weights with BatchNorm retrained.
- Arbitrary learning rate (Theorem 1): when the pseudo-gradient does not depend on the
  weights' magnitude, scaling the initial latent weights and the SGD learning rate by the
  same factor changes no binary weight at any step.
"""

from rethink_bnn._keras2 import ensure_keras2

ensure_keras2(__name__)  # before TensorFlow, tf-keras or Larq: one line if they cannot load

import json
import math

import numpy as np
import tensorflow as tf

from rethink_bnn.experiments.runs.files import write_csv_atomically, write_text_atomically
from rethink_bnn.initializers import Scaled
from rethink_bnn.experiments.runs.files import markdown_table
from rethink_bnn.experiments.training.metrics import accuracy

__all__ = [
    "CONFIGURATIONS",
    "CONFIGURATION_LABELS",
    "ROWS",
    "SignRecorder",
    "approximation_table",
    "arbitrary_lr_configurations",
    "differing",
    "retrain_batch_norm",
    "with_real_kernels",
    "write_table",
]

ROWS = ("binary", "latent", "latent+retrained BN")


def with_real_kernels(model):
    """A copy of `model` whose Quant layers use their kernels as they are (no kernel
    quantizer, no constraint); input quantizers (the sign activations) are kept."""

    def clone(layer):
        config = layer.get_config()
        if "kernel_quantizer" in config:
            config = {**config, "kernel_quantizer": None, "kernel_constraint": None}
        return type(layer).from_config(config)

    real = tf.keras.models.clone_model(model, clone_function=clone)
    real.set_weights(model.get_weights())
    return real


def retrain_batch_norm(model, train, steps_per_epoch, epochs, learning_rate, callbacks=()):
    """Train only the BatchNorm layers of `model` (its statistics and its β)."""
    for layer in model.layers:
        layer.trainable = isinstance(layer, tf.keras.layers.BatchNormalization)
    model.compile(tf.keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=[accuracy()])
    model.fit(train, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0,
              callbacks=list(callbacks))
    return model


def approximation_table(per_seed):
    """Mean and standard deviation (ddof=1) per row, and a one-way ANOVA across the rows.

    Args:
        per_seed: list of {"seed": s, "binary": acc, "latent": acc, ...} dicts.
    """
    columns = {row: [float(r[row]) for r in per_seed] for row in ROWS}
    table = {
        "rows": [
            {"model": row, "mean": float(np.mean(v)),
             "std": float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"), "n": len(v)}
            for row, v in columns.items()
        ],
        "per_seed": per_seed,
    }
    if len(per_seed) > 1:
        from scipy import stats  # (half a second of every CLI's start-up otherwise)

        result = stats.f_oneway(*columns.values())
        table["anova"] = {"F": float(result.statistic), "p": float(result.pvalue)}
    else:
        table["anova"] = None  # one value per row has no within-row variance
    return table


def write_table(folder, table, title):
    """table.csv, table.json and table.md in `folder`, each written whole or not at all."""
    write_csv_atomically(folder / "table.csv", table["rows"])
    write_text_atomically(folder / "table.json", json.dumps(table, indent=2) + "\n")
    lines = [f"# {title}", "", markdown_table(
        ["model", "mean", "standard deviation", "seeds"],
        [[r["model"], f"{r['mean']:.4f}", _fmt(r["std"]), r["n"]] for r in table["rows"]])]
    if table["anova"]:
        lines += ["", f"One-way ANOVA across the rows: F = {table['anova']['F']:.4g}, "
                      f"p = {table['anova']['p']:.3g}."]
    write_text_atomically(folder / "table.md", "\n".join(lines) + "\n")


def _fmt(value):
    return "–" if math.isnan(value) else f"{value:.4f}"


# The report's five configurations: name, and its label with the scale as {s}.
CONFIGURATIONS = (
    ("glorot_sgd_scale", "1: Glorot, SGD {s}"),
    ("glorot_sgd_1", "2: Glorot, SGD 1"),
    ("scaled_glorot_sgd_scale", "3: Glorot × {s}, SGD {s}"),
    ("uniform_sgd_scale", "4: uniform, SGD {s}"),
    ("uniform_adam", "5: uniform, Adam 0.01"),
)
CONFIGURATION_LABELS = dict(CONFIGURATIONS)


def arbitrary_lr_configurations(scale):
    """The report's five configurations: (name, initializer(seed), kernel optimizer()),
    in the order of CONFIGURATIONS. `scale` stands for the report's 0.01; a power of
    two (2**-7) makes configurations 2 and 3 exactly equivalent in floating point."""
    glorot = tf.keras.initializers.GlorotUniform

    def uniform(seed):
        return tf.keras.initializers.RandomUniform(-1, 1, seed)

    built = {
        "glorot_sgd_scale": (glorot, lambda: tf.keras.optimizers.SGD(scale)),
        "glorot_sgd_1": (glorot, lambda: tf.keras.optimizers.SGD(1.0)),
        "scaled_glorot_sgd_scale": (lambda seed: Scaled(glorot(seed), scale),
                                    lambda: tf.keras.optimizers.SGD(scale)),
        "uniform_sgd_scale": (uniform, lambda: tf.keras.optimizers.SGD(scale)),
        "uniform_adam": (uniform, lambda: tf.keras.optimizers.Adam(0.01)),
    }
    return [(name, *built[name]) for name, _ in CONFIGURATIONS]


class SignRecorder(tf.keras.callbacks.Callback):
    """Records the signs of the model's binary kernels (packed bits) after every epoch,
    and after every step when `every_step`."""

    def __init__(self, variables, every_step=False):
        super().__init__()
        self.variables, self.every_step = variables, every_step
        self.epochs, self.steps = [], []

    def _signs(self):
        return np.packbits(np.concatenate([np.ravel(v.numpy() >= 0) for v in self.variables]))

    def on_train_batch_end(self, batch, logs=None):
        if self.every_step:
            self.steps.append(self._signs())

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self._signs())


def differing(signs_a, signs_b):
    """How many binary weights differ between two recordings, per entry."""
    return [int(np.unpackbits(a ^ b).sum()) for a, b in zip(signs_a, signs_b)]
