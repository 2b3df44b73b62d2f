"""The accuracy metric the tasks compile, made before the first step."""

__all__ = ["accuracy"]

# What Keras makes of metrics=["accuracy"] beside these losses, for integer labels
# (sparse) or one-hot ones; named "accuracy", as Keras names it, so logs keep their keys.
_FOR_LOSS = {
    "sparse_categorical_crossentropy": "SparseCategoricalAccuracy",
    "categorical_crossentropy": "CategoricalAccuracy",
    "binary_crossentropy": "BinaryAccuracy",
}


def accuracy(loss="sparse_categorical_crossentropy", keras=None):
    """The accuracy metric Keras would pick for `loss`, as an object. The string
    "accuracy" is resolved inside the first traced step, so that its variables are
    created there and tf.function traces the whole training step a second time (one
    to two CPU-seconds per model); an object made here creates them now. A loss not
    named here keeps the string (Keras decides from the labels). `keras`: the front
    end's Keras (default: tf-keras)."""
    if keras is None:
        import tensorflow as tf

        keras = tf.keras
    kind = _FOR_LOSS.get(loss) if isinstance(loss, str) else None
    return getattr(keras.metrics, kind)(name="accuracy") if kind else "accuracy"
