"""The declarations of the binary optimizers (kept at this path: it is public). They live
in `rethink_bnn.core.declarations`, and Bop's and its successors' with their rules in
`rethink_bnn.core.rules`."""

from rethink_bnn.core.declarations import *  # noqa: F401,F403
from rethink_bnn.core.declarations import __all__ as _declarations
from rethink_bnn.core.rules import BOP, BOP2NDORDER, BOP2NDORDER_EPSILON, CEMA  # noqa: F401

__all__ = sorted([*_declarations, "BOP", "BOP2NDORDER", "BOP2NDORDER_EPSILON", "CEMA"])
