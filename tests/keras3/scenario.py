"""A small binary network of `rethink_bnn.keras3` layers, trained with fit on the bundled
digits by MultiOptimizer(binary → Bop, rest → Adam), saved as .keras and continued, in a
fresh process per step, under the KERAS_BACKEND it is started with:

    python tests/keras3/scenario.py train FOLDER    # train, save, continue one epoch
    python tests/keras3/scenario.py reload FOLDER   # load (import rethink_bnn.keras3
                                                    # alone), continue one epoch; then
                                                    # two more, logged to TensorBoard

Each writes FOLDER/<step>.json (what the tests check) and FOLDER/<step>.npz (weights and
optimizer state after the extra epoch).
"""

import contextlib
import importlib.abc
import importlib.util
import json
import sys

import numpy as np

LOADED = ("tensorflow", "tf_keras", "larq")


def loaded():
    return [name for name in LOADED if name in sys.modules]


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in LOADED:
            raise ModuleNotFoundError(f"hidden: {fullname}", name=fullname)
        return None


@contextlib.contextmanager
def without_tensorflow():
    """Keras' own serialization imports TensorFlow when it is installed (it checks for
    tf.TensorShape); hidden, as in an environment with JAX alone, it does without."""
    import keras

    if keras.backend.backend() == "tensorflow":
        yield
        return
    hide = _Hide()
    sys.meta_path.insert(0, hide)
    try:
        yield
    finally:
        sys.meta_path.remove(hide)


def data():
    """scikit-learn's digits in their own order (`load_digits`), read without importing
    scikit-learn (a second of CPU in each process)."""
    from rethink_bnn.data.digits import _digits

    images, labels = _digits()
    x = (images.reshape(-1, 64) / 16.0).astype("float32")
    return x[:1500], labels[:1500], x[1500:], labels[1500:]


def network(keras, rk):
    return keras.Sequential([
        keras.Input((64,)),
        rk.QuantDense(128, kernel_initializer=rk.initializers.BinaryGlorotUniform(seed=1)),
        keras.layers.BatchNormalization(),
        rk.QuantDense(10, input_quantizer="ste_sign",
                      kernel_initializer=rk.initializers.BinaryGlorotUniform(seed=2)),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("softmax"),
    ])


def state(model):
    import keras

    arrays = [keras.ops.convert_to_numpy(v) for v in model.variables]
    arrays += [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    return {f"arr_{i}": a for i, a in enumerate(arrays)}


def continue_one_epoch(model, x, y, rk):
    history = model.fit(x, y, batch_size=100, epochs=1, shuffle=False, verbose=0,
                        callbacks=[rk.FlipLogger()])
    return {key: values[-1] for key, values in history.history.items()}


def train(folder):
    import keras

    from rethink_bnn import keras3 as rk

    report = {"backend": keras.backend.backend(), "loaded_after_import": loaded(),
              "import_hooks": [type(f).__name__ for f in sys.meta_path
                               if type(f).__module__.startswith("rethink_bnn")]}
    x, y, x_test, y_test = data()
    model = network(keras, rk)
    model.compile(optimizer=keras.optimizers.MultiOptimizer(rk.BinaryOptimizerMap(
        rk.Bop(threshold=1e-6, gamma=1e-3), keras.optimizers.Adam(1e-2))),
        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=100, epochs=4, shuffle=False, verbose=0,
                        callbacks=[rk.FlipLogger()])
    report["history"] = history.history
    report["test_accuracy"] = float(model.evaluate(x_test, y_test, verbose=0)[1])
    report["kernel_values"] = [
        sorted(set(keras.ops.convert_to_numpy(v).ravel().tolist()))
        for v in model.trainable_variables if rk.is_binary_variable(v)]
    report["routes"] = [[v.path, type(model.optimizer._optimizer_map(v)).__name__]
                        for v in model.trainable_variables]
    report["loaded_after_training"] = loaded()
    with without_tensorflow():
        model.save(f"{folder}/model.keras")
    report["continued"] = continue_one_epoch(model, x, y, rk)
    report["loaded_at_end"] = loaded()
    np.savez(f"{folder}/train.npz", **state(model))
    return report


def reload(folder):
    import keras

    from rethink_bnn import keras3 as rk

    report = {"backend": keras.backend.backend(), "loaded_after_import": loaded(),
              "import_hooks": [type(f).__name__ for f in sys.meta_path
                               if type(f).__module__.startswith("rethink_bnn")]}
    x, y, _, _ = data()
    with without_tensorflow():
        model = keras.models.load_model(f"{folder}/model.keras")
    report["optimizers"] = [type(o).__name__ for o in model.optimizer.optimizers]
    report["iterations"] = [int(o.iterations) for o in model.optimizer.optimizers]
    report["continued"] = continue_one_epoch(model, x, y, rk)
    report["loaded_at_end"] = loaded()
    np.savez(f"{folder}/reload.npz", **state(model))
    if importlib.util.find_spec("tensorflow") is None:
        report["tensorboard_flips"] = None  # Keras' TensorBoard callback needs TensorFlow
        return report
    # Last (Keras' TensorBoard callback imports TensorFlow to write): the flip logs,
    # written by keras.callbacks.TensorBoard after FlipLogger.
    history = model.fit(x, y, batch_size=100, epochs=2, shuffle=False, verbose=0,
                        callbacks=[rk.FlipLogger(), keras.callbacks.TensorBoard(f"{folder}/tb")])
    report["tensorboard_flips"] = history.history["flips"]
    return report


if __name__ == "__main__":
    step, folder = sys.argv[1:3]
    with open(f"{folder}/{step}.json", "w") as file:
        json.dump({"train": train, "reload": reload}[step](folder), file, default=float)
