"""The two interfaces a task's data components implement: `Dataset` (splits) and
`Preprocessing` (example -> (input, label)). zookeeper.tf has the same two, but
importing it imports tensorflow-datasets (0.6 CPU-seconds in every process, whatever
the data); ours need neither TensorFlow nor tensorflow-datasets."""

import abc
import functools
import inspect
from typing import Any, Dict, Optional, Tuple

from zookeeper import Field

__all__ = ["Dataset", "Preprocessing"]


class Dataset(abc.ABC):
    """A dataset's splits, each `(examples, number of examples)`."""

    @abc.abstractmethod
    def train(self, decoders=None):
        """The training split: (examples, their number)."""

    def validation(self, decoders=None):
        """The validation split: (examples, their number)."""
        raise ValueError(f"{type(self).__name__} has no validation split.")

    def test(self, decoders=None):
        """The test split: (examples, their number)."""
        raise ValueError(f"{type(self).__name__} has no test split.")


def _with_training(function, training):
    """`function` with `training` passed if it takes that argument."""
    if "training" in inspect.signature(function).parameters:
        return functools.partial(function, training=training)
    return function


class Preprocessing:
    """An example (a dict of features) to the model's (input, label)."""

    # Recorded in every run's config.json since the first release; unused.
    decoders: Optional[Dict[str, Any]] = Field(None)
    # The shape of what `input` returns.
    input_shape: Tuple[int, int, int] = Field()

    def input(self, data, training):
        """The model's input of example `data`."""
        raise NotImplementedError(f"{type(self).__name__} must define input(data, training).")

    def output(self, data, training):
        """The label of example `data`."""
        raise NotImplementedError(f"{type(self).__name__} must define output(data, training).")

    def keras3_layers(self, seed):
        """The Keras 3 layers that do `input` on a batch of uint8 images at the network's
        input, on the device (the Keras 3 front end); ValueError if there are none."""
        raise ValueError(f"preprocessing={type(self).__name__} has no Keras 3 layers: it "
                         "runs on front_end=tf_keras only.")

    def __call__(self, data, training=False):
        from rethink_bnn.tf_internals import as_users  # (tf.data has loaded TensorFlow)

        # a subclass' own input and output: converted, as tf.data converts what it maps
        return (as_users(_with_training(self.input, training), in_graph=True)(data),
                as_users(_with_training(self.output, training), in_graph=True)(data))
