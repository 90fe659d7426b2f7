"""The transforms recipes apply before quantizing, as data: the random
Hadamard transform's matrix and sign vectors.

>>> hadamard(4).tolist()
[[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]
"""
import dataclasses

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


RHT_DTYPES = ("bfloat16", "float16", "float32")


@dataclasses.dataclass(frozen=True)
class RHTSpec:
    """One random Hadamard transform as a recipe applies it (SPEC.md 13): groups
    of ``size`` values along the blocked axis, the rows of H signed by ``signs``
    (a tuple of +-1, or None for the plain transform), each output rounded once
    to ``dtype``.  ``name`` is the profile it came from, or "custom"."""

    size: int
    signs: tuple | None
    dtype: str
    name: str = "custom"

    def kwargs(self) -> dict:
        """The keywords of :func:`mxspec.rht` that compute it."""
        return dict(size=self.size, signs="none" if self.signs is None else self.signs,
                    dtype=self.dtype)


# Named transforms: Transformer Engine's NVFP4 recipe and fouroversix 1.0.5 apply
# this one to the gradient GEMMs' operands along K.
RHT_PROFILES = {"te": RHTSpec(16, TE_RHT_SIGNS, "bfloat16", "te")}


def rht_spec(value) -> RHTSpec | None:
    """The :class:`RHTSpec` that ``encode``'s ``rht=`` names: None or False (no
    transform), True or a profile name (``"te"``), a mapping of
    :func:`mxspec.rht`'s ``size``/``signs``/``dtype``, or an RHTSpec.

    >>> rht_spec(True).name, rht_spec({"size": 4, "signs": "none", "dtype": "float32"}).size
    ('te', 4)
    """
    if value is None or value is False:
        return None
    if isinstance(value, RHTSpec):
        return value
    if value is True:
        value = "te"
    if isinstance(value, str):
        if value not in RHT_PROFILES:
            raise ValueError(f"rht={value!r}; allowed: {', '.join(map(repr, RHT_PROFILES))}, "
                             f"True (= 'te'), None, or a dict of mxspec.rht's size, signs "
                             f"and dtype")
        return RHT_PROFILES[value]
    if not isinstance(value, dict):
        raise TypeError(f"rht= must be None, True, a profile name ({', '.join(RHT_PROFILES)}) "
                        f"or a dict of size/signs/dtype, got {type(value).__name__}")
    extra = set(value) - {"size", "signs", "dtype"}
    if extra:
        raise ValueError(f"rht={value!r}: unknown keys {sorted(extra)}; allowed: size, signs, "
                         f"dtype")
    size = value.get("size", 16)
    hadamard(size)  # a power of two, or the error that says so
    signs = value.get("signs", "te")
    if isinstance(signs, str):
        if signs not in RHT_SIGNS:
            raise ValueError(f"rht signs={signs!r}; allowed: {', '.join(map(repr, RHT_SIGNS))} "
                             f"or a sequence of {size} values +-1")
        signs = RHT_SIGNS[signs]
    if signs is not None:
        signs = tuple(int(s) for s in signs)
        if len(signs) != size or any(s not in (-1, 1) for s in signs):
            raise ValueError(f"rht signs: {size} values, each +1 or -1; got {len(signs)} values")
    dtype = value.get("dtype", "bfloat16")
    if dtype not in RHT_DTYPES:
        raise ValueError(f"rht dtype={dtype!r}; allowed: {', '.join(RHT_DTYPES)}")
    return RHTSpec(int(size), signs, dtype)
