"""The transforms recipes apply before quantizing, as data: the random
Hadamard transform's matrix and sign vectors.

>>> hadamard(4).tolist()
[[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]
"""
import numpy as np

# The sign vector that Transformer Engine's NVFP4 recipe and fouroversix 1.0.5
# multiply the 16 x 16 Hadamard matrix's rows by (docs: ../shared/reference/recipes.md).
TE_RHT_SIGNS = (1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1)

RHT_SIGNS = {"te": TE_RHT_SIGNS, "none": None}


def hadamard(n: int) -> np.ndarray:
    """The n x n Sylvester Hadamard matrix (n a power of two), int64 entries +-1:
    H_1 = [1], H_2n = [[H, H], [H, -H]]."""
    if not isinstance(n, int) or n < 1 or n & (n - 1):
        raise ValueError(f"size={n!r}; allowed: a power of two (16 in the recipes)")
    h = np.ones((1, 1), np.int64)
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h
