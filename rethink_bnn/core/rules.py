"""The rules of Bop and its successors, each written once as a function of one step
over an `ops` namespace: `keras.ops` for the Keras 3 front end (any backend), the
tf-keras front end's namespace of TensorFlow ops of the same names
(`rethink_bnn.optimizers.flips.TF_OPS`). With their declarations (`BOP`, `BOP2NDORDER`,
`CEMA`), from which both front ends build their classes. Plain Python: importing this
module loads neither TensorFlow nor Keras.

Each function takes the ±1 weight, the gradient, the state and the hyperparameters as
tensors of the state's dtype, and returns `(new_state, flip)` (see `Rule`); how a flip
is applied and counted, and where the state is written, is each front end's.
"""

import math

from rethink_bnn.core.declarations import SMALLEST_RATE, Rule, non_negative, option, rate

__all__ = ["BOP", "BOP2NDORDER", "BOP2NDORDER_EPSILON", "CEMA", "PI_EPSILON", "RULES", "bop",
           "bop2ndorder", "cema"]

BOP2NDORDER_EPSILON = 1e-10  # the authors' constant in the denominator
# π = log(flip ratio + ε), the paper's measure of flips (sec 5.1): ε keeps a step
# without flips finite.
PI_EPSILON = 1e-9


def bop(ops, weight, gradient, state, hyperparameters):
    r"""One Bop step: equations 3 and 4 of the paper (Algorithm 1).

        m_t = (1 - γ) m_{t-1} + γ g_t
        w_t = -w_{t-1}   if |m_t| >= τ and sign(m_t) == sign(w_{t-1})
        w_t =  w_{t-1}   otherwise

    `m_t` is computed as `m - γ (m - g)`: algebraically the same, and bit for bit the
    arithmetic of `larq.optimizers.Bop`, so both give identical averages. Sign agreement
    means w m > 0, which for w = ±1 and τ > 0 `w m >= τ` implies: both fold into
    `w m - max(τ, tiny) >= 0`, tiny being float32's smallest normal (below it products
    flush to zero anyway, so for τ = 0 this is "m non-zero with the sign of w"). At the
    boundary `w m == τ` it flips, as the paper says (Larq sets such weights to +1).
    """
    m, gamma, threshold = state["m"], hyperparameters["gamma"], hyperparameters["threshold"]
    m = ops.subtract(m, ops.multiply(gamma, ops.subtract(m, gradient)))
    floor = ops.maximum(threshold, ops.cast(SMALLEST_RATE, threshold.dtype))
    return {"m": m}, ops.greater_equal(ops.subtract(ops.multiply(weight, m), floor), 0)


def bop2ndorder(ops, weight, gradient, state, hyperparameters, unbiased=False):
    r"""One Bop2ndOrder step (Suarez-Ramirez et al., 2021):

        m_t = m_{t-1} + γ (g_t − m_{t-1})
        v_t = v_{t-1} + σ (g_t² − v_{t-1})
        flip w  when  w · m_t / (√v_t + 1e-10) ≥ τ
        (unbiased: w · (m_t / γ) / (√(v_t / σ) + 1e-10) ≥ τ, with this step's γ and σ)

    The float32 expressions of its authors' code, in their order.
    """
    m, v = state["m"], state["v"]
    gamma, sigma = hyperparameters["gamma"], hyperparameters["sigma"]
    m = ops.add(m, ops.multiply(gamma, ops.subtract(gradient, m)))
    v = ops.add(v, ops.multiply(sigma, ops.subtract(ops.square(gradient), v)))
    m_t, v_t = m, v
    if unbiased:
        one = ops.ones_like(gamma)
        # γ = σ = 0 only in a step that changes nothing: divide by 1 there, not 0.
        m_t = ops.divide(m_t, ops.where(ops.greater(gamma, 0), gamma, one))
        v_t = ops.divide(v_t, ops.where(ops.greater(sigma, 0), sigma, one))
    ratio = ops.divide(m_t, ops.add(ops.sqrt(v_t), BOP2NDORDER_EPSILON))
    flip = ops.greater_equal(ops.multiply(weight, ratio), hyperparameters["threshold"])
    return {"m": m, "v": v}, flip


def cema(ops, weight, gradient, state, hyperparameters):
    r"""One CEMA step (Quist et al., ICLR 2023):

        a_t = (1 − γ) a_{t-1} + γ g_t
        i_t = (1 − α) i_{t-1} + α a_t
        flip w  when  i_t · w > 0

    computed as written; α = 0 flips nothing.
    """
    gamma, alpha = hyperparameters["gamma"], hyperparameters["alpha"]
    a = ops.add(ops.multiply(ops.subtract(1.0, gamma), state["a"]), ops.multiply(gamma, gradient))
    i = ops.add(ops.multiply(ops.subtract(1.0, alpha), state["i"]), ops.multiply(alpha, a))
    flip = ops.logical_and(ops.greater(ops.multiply(i, weight), 0), ops.greater(alpha, 0))
    return {"a": a, "i": i}, flip


BOP = Rule(
    "Bop",
    (rate("gamma", "it is the adaptivity rate of the moving average of the gradient "
                   "(Bop's paper uses 1e-4 to 1e-2)", default=1e-4, neutral=0.0, symbol="γ"),
     non_negative("threshold", "the paper uses 1e-8 to 1e-5; 0 flips on any consistent "
                               "gradient", default=1e-8, neutral=math.inf, symbol="τ")),
    state=("m",),
    update=bop,
    reference="Helwegen, Widdicombe, Geiger, Liu, Cheng, Nusselder. \"Latent Weights Do Not "
              "Exist: Rethinking Binarized Neural Network Optimization\", NeurIPS 2019. "
              "https://arxiv.org/abs/1906.02107",
)

BOP2NDORDER = Rule(
    "Bop2ndOrder",
    (rate("gamma", "it is the adaptivity rate of the moving average of the gradient "
                   "(Bop2ndOrder's paper uses 1e-7 to 1e-2)", default=1e-6, neutral=0.0,
          symbol="γ"),
     non_negative("threshold", "it is the flip threshold on m / sqrt(v), a signal-to-noise "
                               "ratio; 0 flips on any consistent gradient", default=1e-6,
                  neutral=math.inf, symbol="τ"),
     rate("sigma", "it is the adaptivity rate of the moving average of the squared "
                   "gradient (Bop2ndOrder's paper uses 1e-7 to 1e-2)", default=1e-2,
          neutral=0.0, symbol="σ")),
    state=("m", "v"),
    update=bop2ndorder,
    options={"unbiased": option(False, "the unbiased form: m/γ and v/σ (this step's) "
                                       "before comparing")},
    reference="Suarez-Ramirez, Gonzalez-Mendoza, Chang-Fernandez. \"Bop and Beyond: A "
              "Second Order Optimizer for Binarized Neural Networks\", CVPR Workshops 2021. "
              "https://arxiv.org/abs/2104.05124",
)

CEMA = Rule(
    "CEMA",
    (rate("alpha", "it is the rate of CEMA's inertia (its paper uses 1e-5 to 1e-2)",
          default=1e-3, neutral=0.0, symbol="α"),
     rate("gamma", "it is the adaptivity rate of CEMA's moving average of the gradient",
          default=1e-1, neutral=0.0, symbol="γ")),
    state=("a", "i"),
    update=cema,
    reference="Quist, Li, van Gemert. \"Understanding weight-magnitude hyperparameters in "
              "training binary networks\", ICLR 2023. https://arxiv.org/abs/2303.02452",
)

RULES = (BOP, BOP2NDORDER, CEMA)
