"""Layer arguments for binary kernels, for Bop or for latent-weight training."""

import itertools

import larq as lq

from rethink_bnn.initializers import BinaryHeNormal

WEIGHT_KINDS = ("bop", "latent")


def binary_kernel(weights, seed=None):
    """Keyword arguments for a Larq Quant layer's kernel.

    - "bop": the kernel holds ±1 (sign of He init, as the report) and is marked
      `precision=1` for Bop; no quantizer touches it.
    - "latent": real latent weights, binarized by `ste_sign` in the forward pass
      (straight-through estimator with the |w| <= 1 cut-off) and clipped to [-1, 1].
    """
    if weights == "bop":
        return dict(
            kernel_quantizer=lq.quantizers.NoOp(precision=1),
            kernel_initializer=BinaryHeNormal(seed=seed),
            use_bias=False,
        )
    if weights == "latent":
        return dict(
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
            kernel_initializer="glorot_uniform",
            use_bias=False,
        )
    raise ValueError(f"model weights must be one of {WEIGHT_KINDS}, got {weights!r}.")


def binary_kernels(weights, seed=None):
    """`binary_kernel` arguments for successive layers, each with its own initializer
    (seeds `seed`, `seed + 1`, ...): a Keras initializer instance returns the same
    values on every call, so layers of equal shape must not share one."""
    for i in itertools.count():
        yield binary_kernel(weights, None if seed is None else seed + i)
