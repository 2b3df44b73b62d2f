"""Layer arguments for binary kernels, for Bop or for latent-weight training."""

import itertools

import larq as lq

from rethink_bnn.initializers import BinaryHeNormal

WEIGHT_KINDS = ("bop", "latent", "latent_unclipped")
"""How a network's binary kernels are held: "bop", ±1 values that Bop flips (no latent
weights, the paper's); "latent", real latent weights binarized by ste_sign and clipped to
[-1, 1] (the baseline); "latent_unclipped", the same without the clipping."""


def binary_kernel(weight_kind, seed=None, initializer=None):
    """Keyword arguments for a Larq Quant layer's kernel.

    - "bop": the kernel holds ±1 (sign of He init, as the report) and is marked
      `precision=1` for Bop; no quantizer touches it.
    - "latent": real latent weights, binarized by `ste_sign` in the forward pass
      (straight-through estimator with the |w| <= 1 cut-off) and clipped to [-1, 1].
    - "latent_unclipped": as "latent" but the straight-through gradient has no cut-off
      and nothing clips the weights, so the gradient does not depend on the weights'
      magnitude (the condition of the paper's Theorem 1).

    `initializer` replaces the latent kinds' Glorot-uniform initializer.

    Examples:
        >>> import larq as lq
        >>> from rethink_bnn.models import binary_kernel
        >>> from rethink_bnn.optimizers import is_binary_variable
        >>> layer = lq.layers.QuantDense(4, **binary_kernel("bop", seed=0))
        >>> layer.build((None, 3))
        >>> sorted(set(layer.kernel.numpy().ravel().tolist())), is_binary_variable(layer.kernel)
        ([-1.0, 1.0], True)

    Reference:
        Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization", NeurIPS 2019: "bop" for Bop, "latent_unclipped" the condition of its
        Theorem 1; "latent" is BinaryNet's: Courbariaux, Bengio, "BinaryNet: Training Deep
        Neural Networks with Weights and Activations Constrained to +1 or -1",
        arXiv:1602.02830, 2016.
    """
    latent_init = initializer or "glorot_uniform"
    if weight_kind == "latent_unclipped":
        return dict(
            kernel_quantizer=lq.quantizers.SteSign(clip_value=None),
            kernel_initializer=latent_init,
            use_bias=False,
        )
    if weight_kind == "bop":
        return dict(
            kernel_quantizer=lq.quantizers.NoOp(precision=1),
            kernel_initializer=BinaryHeNormal(seed=seed),
            use_bias=False,
        )
    if weight_kind == "latent":
        return dict(
            kernel_quantizer="ste_sign",
            kernel_constraint="weight_clip",
            kernel_initializer=latent_init,
            use_bias=False,
        )
    raise ValueError(f"weight_kind must be one of {WEIGHT_KINDS}, got {weight_kind!r}.")


def binary_kernels(weight_kind, seed=None, initializer=None):
    """`binary_kernel` arguments for successive layers, each with its own initializer
    (seeds `seed`, `seed + 1`, ...): a Keras initializer instance returns the same
    values on every call, so layers of equal shape must not share one. `initializer`,
    if given, is a function of the layer's seed returning an initializer.

    Examples:
        >>> from rethink_bnn.models import binary_kernels
        >>> kernels = binary_kernels("bop", seed=7)
        >>> [next(kernels)["kernel_initializer"].seed for _ in range(3)]
        [7, 8, 9]
    """
    for i in itertools.count():
        layer_seed = None if seed is None else seed + i
        init = initializer(layer_seed) if initializer is not None else None
        yield binary_kernel(weight_kind, layer_seed, init)
