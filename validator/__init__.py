"""The validator: derives the L2 chain from L1 alone and checks every posted
output against its own."""

from validator.disputes import INVALID_BATCH_ROOT, Disputes
from validator.service import ForwardingPool, Validator

__all__ = ["INVALID_BATCH_ROOT", "Disputes", "ForwardingPool", "Validator"]
