"""Routing for Keras 3's `MultiOptimizer`: binary kernels to a binary optimizer, the
rest to another (the Keras 3 counterpart of the tf-keras `CaseOptimizer`)."""

import keras

from rethink_bnn.keras3.quantizers import is_binary_variable

__all__ = ["BinaryOptimizerMap"]


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class BinaryOptimizerMap(keras.optimizers.OptimizerMap):
    """An `OptimizerMap` that sends every variable `is_binary_variable` accepts to
    `binary_optimizer` and every other one to `default_optimizer` (or to the optimizer
    of a matching `optimizer_map` pattern, as in `OptimizerMap`).

    Example:
        ```python
        optimizer = keras.optimizers.MultiOptimizer(
            BinaryOptimizerMap(Bop(threshold=1e-8, gamma=1e-4), keras.optimizers.Adam(1e-2)))
        ```

    Saved with the model (`.keras`): both optimizers and their state come back.
    (A plain function `lambda v: bop if is_binary_variable(v) else adam` routes the
    same, but cannot be saved.)
    """

    def __init__(self, binary_optimizer, default_optimizer, optimizer_map=None):
        if not isinstance(binary_optimizer, keras.optimizers.Optimizer):
            raise TypeError("binary_optimizer must be a Keras 3 optimizer (e.g. "
                            f"rethink_bnn.keras3.Bop()), got {binary_optimizer!r}.")
        super().__init__(default_optimizer, optimizer_map)
        self.binary_optimizer = binary_optimizer

    def values(self):
        """The optimizers, the binary one first (MultiOptimizer collects them here)."""
        return [self.binary_optimizer, *super().values()]

    def __call__(self, variable):
        if is_binary_variable(variable):
            return self.binary_optimizer
        return super().__call__(variable)

    def get_config(self):
        return {**super().get_config(), "binary_optimizer":
                keras.saving.serialize_keras_object(self.binary_optimizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        def load(key):
            return keras.saving.deserialize_keras_object(config[key],
                                                         custom_objects=custom_objects)

        return cls(load("binary_optimizer"), load("default_optimizer"),
                   load("optimizer_map") or None)
