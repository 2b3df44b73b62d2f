"""A one-minute, offline Bop demo: a binary MLP on scikit-learn's bundled 8x8 digits.

    python -m rethink_bnn.demo [--epochs 30] [--log-dir runs/demo]

Binary kernels are trained by Bop, BatchNorm by Adam, through one CaseOptimizer;
FlipLogger reports how many weights flipped each epoch.
"""

import argparse
import sys

import numpy as np

import rethink_bnn as rb  # selects Keras 2 before TensorFlow loads
import larq as lq
import tensorflow as tf


def load_digits(test_fraction=0.2, seed=0):
    """Digits scaled to [-1, 1], split into stratified train and held-out test sets."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = (digits.images.astype(np.float32) / 8.0 - 1.0)[..., None]  # 0..16 -> [-1, 1]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return (x_train, y_train), (x_test, y_test)


def binary_mlp(input_shape=(8, 8, 1), units=(256, 256), n_classes=10, seed=None):
    """Binary dense layers for Bop: ±1 kernels marked `precision=1`, sign activations.

    The first layer sees the real-valued input; later ones binarize theirs. Every
    binary layer is followed by BatchNorm without scale, as in BinaryNet.
    """
    binary = dict(
        kernel_quantizer=lq.quantizers.NoOp(precision=1),
        kernel_initializer=rb.initializers.BinaryHeNormal(seed=seed),
        use_bias=False,
    )
    inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.Flatten()(inputs)
    for i, width in enumerate((*units, n_classes)):
        quantizer = None if i == 0 else "ste_sign"
        x = lq.layers.QuantDense(width, input_quantizer=quantizer, **binary)(x)
        x = tf.keras.layers.BatchNormalization(scale=False)(x)
    outputs = tf.keras.layers.Activation("softmax")(x)
    return tf.keras.Model(inputs, outputs, name="binary_mlp")


def bop_adam(threshold=1e-6, gamma=1e-2, learning_rate=1e-2):
    """Bop for binary kernels, Adam for everything else."""
    return rb.optimizers.CaseOptimizer(
        (rb.optimizers.is_binary_variable, rb.optimizers.Bop(threshold=threshold, gamma=gamma)),
        default_optimizer=tf.keras.optimizers.Adam(learning_rate),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (30)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (32)")
    parser.add_argument("--threshold", type=float, default=1e-6, help="Bop τ (1e-6)")
    parser.add_argument("--gamma", type=float, default=1e-2, help="Bop γ (1e-2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--log-dir", default=None, help="TensorBoard folder (none)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    try:
        optimizer = bop_adam(args.threshold, args.gamma)
    except (TypeError, ValueError) as error:
        parser.error(str(error))

    tf.keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=args.seed)
    model = binary_mlp(seed=args.seed)
    model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [rb.FlipLogger(log_dir=args.log_dir, update_freq="epoch", per_layer=False)]
    if args.log_dir:
        callbacks.append(tf.keras.callbacks.TensorBoard(args.log_dir))
    model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
        callbacks=callbacks, verbose=2 if not sys.stdout.isatty() else 1,
    )
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    kernels = [v.numpy() for v in model.trainable_variables if rb.is_binary_variable(v)]
    binary = all(np.array_equal(np.abs(k), np.ones_like(k)) for k in kernels)
    print(f"held-out accuracy {accuracy:.4f} on {len(y_test)} digits (chance 0.10); "
          f"binary kernels all ±1: {binary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
