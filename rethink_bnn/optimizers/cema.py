"""CEMA: a filtered gradient and its "inertia", two moving averages (Quist et al., ICLR 2023)."""

import tensorflow as tf

from rethink_bnn.core import rules
from rethink_bnn.optimizers.binary import BinaryOptimizer
from rethink_bnn.optimizers.flips import apply_rule

__all__ = ["CEMA", "cema_update"]


def cema_update(weight, a, i, gradient, gamma, alpha):
    r"""Apply one CEMA step (`rethink_bnn.core.rules.cema`) in place to a ±1 `weight`,
    its filtered gradient `a` and its inertia `i`, with scalars γ and α (α = 0 changes
    nothing and flips nothing). Runs in `a`'s dtype or float32, whichever is wider.

    Returns:
        The number of weights flipped (int64 scalar tensor).

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import cema_update
        >>> w, a, i = tf.Variable([1.0, 1.0]), tf.Variable([0.0, 0.0]), tf.Variable([0.0, 0.0])
        >>> flips = cema_update(w, a, i, tf.constant([4.0, -4.0]), gamma=0.5, alpha=0.5)
        >>> int(flips), a.numpy().tolist(), i.numpy().tolist(), w.numpy().tolist()
        (1, [2.0, -2.0], [1.0, -1.0], [-1.0, 1.0])

    Reference:
        Quist, Li, van Gemert, "Understanding weight-magnitude hyperparameters in training
        binary networks", ICLR 2023.
    """
    return apply_rule(rules.cema, weight, gradient, {"a": a, "i": i},
                      {"gamma": gamma, "alpha": alpha})


@tf.keras.saving.register_keras_serializable(package="rethink_bnn")
class CEMA(BinaryOptimizer):
    r"""CEMA: flips a weight when the average of its filtered gradient agrees with it.

    Quist, Li and van Gemert show that latent-weight training of a binary network with
    SGD, momentum and weight decay is this rule in disguise. With momentum β, weight
    decay λ and learning rate η, the latent weight ŵ obeys
    ŵ_t = (1 − ηλ) ŵ_{t−1} − η u_t, where u is the momentum's filtered gradient: ŵ is a
    moving average, with rate α = ηλ, of −u/λ, and the binary weight is sign(ŵ). So the
    latent weight's *magnitude* only sets how much history the average holds, and:

    - `gamma` (γ ↔ 1 − β) filters the gradient, as momentum does;
    - `alpha` (α ↔ ηλ) is the rate of the "inertia" i ∝ −ŵ: weight decay and learning
      rate matter only through their product;
    - a weight flips when i agrees in sign with w, i.e. when the latent weight's sign
      would change.

    Two floats of state per binary weight; the weights stay exactly ±1. α plays the
    learning rate's part (`learning_rate` is α; their ImageNet recipe decays it linearly
    with a `LearningRateSchedule`). Use it as Bop, in a `CaseOptimizer` wrapped in
    `SkipNonFinite`.

    One step by hand: with γ = α = 1 the inertia is the gradient, and a weight flips
    where the gradient has the weight's sign:

    Examples:
        >>> import tensorflow as tf
        >>> from rethink_bnn.optimizers import CEMA
        >>> w = tf.Variable([1.0, -1.0, 1.0])
        >>> optimizer = CEMA(gamma=1.0, alpha=1.0)
        >>> _ = optimizer.apply_gradients([(tf.constant([3.0, 3.0, -3.0]), w)])
        >>> w.numpy().tolist(), optimizer.flip_counts.numpy().tolist()
        ([-1.0, -1.0, 1.0], [1])
    """

    RULE = rules.CEMA  # shared with keras3.CEMA

    def __init__(self, gamma=1e-1, alpha=1e-3, name="CEMA", **kwargs):
        super().__init__(gamma=gamma, alpha=alpha, name=name, **kwargs)
