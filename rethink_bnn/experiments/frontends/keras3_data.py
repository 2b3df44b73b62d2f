"""The Keras 3 front end's training batches: the order of the examples, and where a
batch is gathered (on JAX, on the device that holds a copy of the training set)."""

import itertools

import numpy as np

__all__ = ["batches", "fits_on_device", "gatherer"]

# The share of a device's free memory a training set may take to be kept there.
DEVICE_SHARE = 0.25


def batches(images, labels, batch_size, seed, start=0, gather=None):
    """Endless full batches from passes over the examples back to back, pass k in the
    order `default_rng([seed, k]).permutation(n)`, from example `start` of that stream;
    each batch is `gather(indices)` (default: numpy indexing of the arrays)."""
    gather = gather or (lambda chosen: (images[chosen], labels[chosen]))
    n = len(labels)
    pass_index, offset = divmod(start, n)
    pending = np.empty(0, np.int64)
    for k in itertools.count(pass_index):
        order = np.random.default_rng([seed, k]).permutation(n)
        pending = np.concatenate([pending, order[offset:] if k == pass_index else order])
        while len(pending) >= batch_size:
            chosen, pending = pending[:batch_size], pending[batch_size:]
            yield gather(chosen)


def gatherer(images, labels, backend):
    """`gather(indices) -> (images, labels)` for `batches`. On JAX, a training set that
    takes at most DEVICE_SHARE of the device's free memory is copied there once and each
    batch is gathered there (a compiled take: the examples never cross from the host
    again, only the indices); else (other backends, a set too large) None: numpy on the
    host, each batch sent as Keras sends it. The values are the same either way."""
    if backend != "jax":
        return None
    import jax

    device = jax.local_devices()[0]  # (this process's, under several processes)
    if not fits_on_device(images.nbytes + labels.nbytes, device.memory_stats()):
        return None
    # On the default device, uncommitted as Keras' own arrays are: a batch committed to
    # a device would commit the step's outputs, and the step would be compiled again
    # for the committed state (twice: again after the first epoch's end).
    kept = jax.device_put((images, labels))
    take = jax.jit(lambda arrays, chosen: (arrays[0][chosen], arrays[1][chosen]))
    return lambda chosen: take(kept, chosen)


def fits_on_device(nbytes, stats):
    """Whether `nbytes` take at most DEVICE_SHARE of the free memory a JAX device's
    `memory_stats()` reports (None or empty on a CPU, whose memory is the host's: yes)."""
    if not stats:
        return True
    return nbytes <= DEVICE_SHARE * (stats.get("bytes_limit", 0) - stats.get("bytes_in_use", 0))
