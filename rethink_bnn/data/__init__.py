"""The library's offline data: `digits_arrays` (scikit-learn's digits, no network) and
`archives` (readers of the MNIST-format and CIFAR-10 archives). The experiments' dataset
components are `rethink_bnn.experiments.data`."""

from rethink_bnn.data.digits import digits_arrays

__all__ = ["digits_arrays"]
