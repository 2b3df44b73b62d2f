"""Routing for Keras 3's `MultiOptimizer`: binary kernels to a binary optimizer, the
rest to another (the Keras 3 counterpart of the tf-keras `CaseOptimizer`)."""

import keras
import numpy as np

from rethink_bnn.keras3.binary import BinaryOptimizer, _current_values
from rethink_bnn.keras3.quantizers import is_binary_variable, mark_binary

__all__ = ["BinaryOptimizerMap"]


@keras.saving.register_keras_serializable(package="rethink_bnn.keras3")
class BinaryOptimizerMap(keras.optimizers.OptimizerMap):
    """An `OptimizerMap` that sends every variable `is_binary_variable` accepts to
    `binary_optimizer` (a `rethink_bnn.keras3` binary optimizer) and every other one to
    `default_optimizer` (or to the optimizer of a matching `optimizer_map` pattern, as
    in `OptimizerMap`).

    A binary kernel to Bop, a bias to SGD (`model.compile(optimizer=...)` routes a model's
    variables alike):

    Examples:
        >>> import keras
        >>> from rethink_bnn.keras3 import BinaryOptimizerMap, Bop, mark_binary
        >>> kernel, bias = mark_binary(keras.Variable([1.0, -1.0])), keras.Variable([0.5, 0.5])
        >>> optimizer = keras.optimizers.MultiOptimizer(BinaryOptimizerMap(
        ...     Bop(threshold=0.5, gamma=1.0), keras.optimizers.SGD(0.5)))
        >>> optimizer.apply([keras.ops.ones(2), keras.ops.ones(2)], [kernel, bias])
        >>> [keras.ops.convert_to_numpy(v).tolist() for v in (kernel, bias)]
        [[-1.0, -1.0], [0.0, 0.0]]

    Saved with the model (`.keras`): both optimizers and their state come back, and so
    does the routing: the map records the variables it sent to the binary optimizer
    (`binary_variables`, their paths and shapes), so that a kernel marked by hand with
    `mark_binary` (which `.keras` does not keep: the layers of `rethink_bnn.keras3` mark
    their own) is found, marked and routed again after loading. A map saved before it
    routed anything records nothing: after loading, mark such kernels and compile again
    with a new MultiOptimizer (the loaded one has routed them already).
    (A plain function `lambda v: bop if is_binary_variable(v) else adam` routes the
    same, but cannot be saved.) One MultiOptimizer per model: Keras builds it on one
    model's variables.

    Args:
        binary_optimizer: a `rethink_bnn.keras3.BinaryOptimizer` (Bop, ...).
        default_optimizer: as in `keras.optimizers.OptimizerMap`: every other variable.
        optimizer_map: as in `keras.optimizers.OptimizerMap`.
        binary_variables: [(path, shape)] of variables to send to the binary optimizer
            (and mark) besides the marked ones; a path matches a variable whose path
            ends with it, or the end of which it is (a reloaded model's paths lose
            their outer model's name), with the same shape.
    """

    def __init__(self, binary_optimizer, default_optimizer, optimizer_map=None,
                 binary_variables=None):
        if not isinstance(binary_optimizer, BinaryOptimizer):
            raise TypeError("binary_optimizer must be a rethink_bnn.keras3 binary optimizer "
                            f"(e.g. rethink_bnn.keras3.Bop()), got {binary_optimizer!r}: "
                            "any other would train ±1 kernels off ±1.")
        if isinstance(default_optimizer, BinaryOptimizer):
            raise TypeError("default_optimizer must train real-valued variables (e.g. "
                            f"keras.optimizers.Adam()), got the binary {default_optimizer!r}.")
        super().__init__(default_optimizer, optimizer_map)
        self.binary_optimizer = binary_optimizer
        self._saved = _checked_records(binary_variables)
        self._routed = {}

    @property
    def binary_variables(self):
        """[(path, shape)] of the variables routed to the binary optimizer so far (what
        a saved map records), or, before any, those it was created with."""
        return sorted(self._routed.items()) if self._routed else list(self._saved)

    def values(self):
        """The optimizers, the binary one first (MultiOptimizer collects them here)."""
        return [self.binary_optimizer, *super().values()]

    def __call__(self, variable):
        if is_binary_variable(variable) or self._recorded(variable):
            mark_binary(variable)
            self._routed[variable.path] = tuple(variable.shape)
            return self.binary_optimizer
        return super().__call__(variable)

    def _recorded(self, variable):
        """Whether a record names `variable`; only a ±1 variable is taken, so that a
        real-valued one whose path ends alike (two sub-models' layers of one name,
        whose outer names a reloaded model drops) is never sent to the binary one."""
        return any(_same_variable(path, shape, variable) for path, shape in self._saved) \
            and bool(np.all(np.abs(_current_values(variable)) == 1))

    def get_config(self):
        return {**super().get_config(), "binary_optimizer":
                keras.saving.serialize_keras_object(self.binary_optimizer),
                "binary_variables": [[path, list(shape)]
                                     for path, shape in self.binary_variables]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        def load(key):
            return keras.saving.deserialize_keras_object(config[key],
                                                         custom_objects=custom_objects)

        return cls(load("binary_optimizer"), load("default_optimizer"),
                   load("optimizer_map") or None, config.get("binary_variables"))


def _checked_records(records):
    """`binary_variables` as [(path, shape tuple)], or one TypeError saying its form."""
    checked = []
    for record in records or ():
        try:
            path, shape = record
            shape = tuple(shape)
        except (TypeError, ValueError):
            path, shape = None, ()
        if not isinstance(path, str) or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
                for n in shape):
            raise TypeError("binary_variables must be a list of (path, shape) pairs, e.g. "
                            f"[('dense/kernel', (64, 10))], got the entry {record!r}.")
        checked.append((path, tuple(int(n) for n in shape)))
    return checked


def _same_variable(path, shape, variable):
    """Whether the recorded `path` and `shape` name `variable`: the same shape, and one
    path the other's end, in whole components of at least a layer and a name."""
    if tuple(variable.shape) != shape:
        return False
    ours, theirs = path.split("/"), variable.path.split("/")
    n = min(len(ours), len(theirs))
    return n >= 2 and ours[-n:] == theirs[-n:]
