"""The validator: derives the L2 chain from L1 alone and checks every posted
output against its own."""

from validator.service import ForwardingPool, Validator

__all__ = ["ForwardingPool", "Validator"]
