"""The block layer's record of encoded data, :class:`BlockArray`, and the checks
every block function shares (axis, shape, block size, output arrays).

>>> import numpy as np, mxspec
>>> a = mxspec.encode(np.float32([1.0, -2.0]), "mxint8")
>>> a.format.name, a.codes.tolist(), a.scales.tolist()
('mxint8', [32, 192], [128])
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from ..tables.block import BlockFormat
from ..tables.transforms import RHTSpec



def scale_dtype(kind: str) -> np.dtype:
    """The numpy dtype of float-valued scales (float32: the NVFP4 family's
    bf(...,float32,...); all three: integer groups)."""
    if kind == "bfloat16":
        import ml_dtypes  # only where asked for: it takes half a second to import
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype({"float16": np.float16, "float32": np.float32}[kind])

__all__ = ["BlockArray", "MXArray", "check_shape", "out_dtype", "check_g_idx", "scale_dtype"]

# The public functions a BlockArray's convenience methods call (decode, pack,
# to_torch), registered by mxspec.block.api and mxspec.io.torch_interop as they
# load: the record sits below the modules that use it, so it names them instead
# of importing them.
_METHODS: dict = {}


@dataclass(frozen=True, eq=False)
class BlockArray:
    """A block-encoded array of any family: one uint8 element code per value
    (unpacked, in the original shape); one scale per block (the original shape
    with the blocked axis replaced by the number of blocks: uint8 codes, E8M0,
    UE4M3 or a micro format's base, or float32 values); the tensor scale where
    the format has one (NVFP4); each micro-exponent level's bits (MX4/6/9, HiF4);
    integer groups' zero points (int8, the scales' shape) and ``g_idx`` (int32,
    one group index per element of the blocked axis; None: element k is in
    group k // block_size); ``rht``, the random Hadamard transform applied along
    the blocked axis before encoding (``encode(..., rht=)``; None: none), so the
    codes hold the transformed values.  ``MXArray`` is its old name."""

    codes: np.ndarray
    scales: np.ndarray
    format: BlockFormat
    block_size: int
    axis: int
    tensor_scale: np.float32 | None = None  # block formats with a second level (NVFP4)
    micro: tuple = ()  # micro-exponent formats (MX4/6/9, HiF4): each level's bits
    zero_points: np.ndarray | None = None  # integer groups with a zero point: int8, as scales
    g_idx: np.ndarray | None = None  # integer groups: each element's group (GPTQ act-order)
    rht: RHTSpec | None = None  # the transform the values went through before encoding

    def __post_init__(self):
        """Every field checked against the format where an MXArray is built by
        hand (an unchecked one made kernels read past its arrays, and int64
        scales wrap mod 256): codes in the format's range, scales of the shape
        the blocks need and of the scale format's kind, the levels and tensor
        scale the format has.  mxspec's own encoders build theirs checked by
        construction (:meth:`_unchecked`)."""
        fields = _checked_fields(self.codes, self.scales, self.format, self.block_size,
                                 self.axis, self.tensor_scale, self.micro, self.zero_points,
                                 self.g_idx, self.rht)
        for name, value in zip(_FIELDS, fields):
            object.__setattr__(self, name, value)

    @classmethod
    def _unchecked(cls, codes, scales, format, block_size, axis, tensor_scale=None, micro=(),
                   zero_points=None, g_idx=None, rht=None):
        """An MXArray from arrays an encoder made (right by construction): no
        pass over them."""
        obj = object.__new__(cls)
        for name, value in zip(_FIELDS, (codes, scales, format, int(block_size), int(axis),
                                         tensor_scale, tuple(micro), zero_points, g_idx, rht)):
            object.__setattr__(obj, name, value)
        return obj

    @property
    def shape(self) -> tuple:
        return self.codes.shape

    @property
    def n_blocks(self) -> int:
        return self.scales.shape[self.axis] if self.scales.ndim else 0

    def decode(self, dtype=None, out=None) -> np.ndarray:
        """The values; see :func:`mxspec.decode`."""
        return _METHODS["decode"](self, dtype, out)

    def to_torch(self):
        """Codes and scales as torch tensors; see :func:`mxspec.to_torch`."""
        return _METHODS["to_torch"](self)

    def pack(self, layout: str = "mxspec"):
        """What :func:`mxspec.encode_packed` gives for the same values; see :func:`mxspec.pack`."""
        return _METHODS["pack"](self, layout)

    def equals(self, other) -> bool:
        """Same format, block size, axis, transform, codes, scales and tensor
        scale (bits)."""
        ts = [None if t is None else np.float32(t).view(np.uint32)
              for t in (self.tensor_scale, getattr(other, "tensor_scale", None))]
        return (isinstance(other, BlockArray) and self.format == other.format
                and self.block_size == other.block_size and self.axis == other.axis
                and ts[0] == ts[1] and len(self.micro) == len(other.micro)
                and all(np.array_equal(a, b) for a, b in zip(self.micro, other.micro))
                and np.array_equal(self.codes, other.codes)
                and _same(self.zero_points, other.zero_points)
                and _same(self.g_idx, other.g_idx) and self.rht == other.rht
                and self.scales.dtype == other.scales.dtype
                and _same_bits(self.scales, other.scales))

    def __repr__(self) -> str:
        ts = "" if self.tensor_scale is None else f", tensor_scale={float(self.tensor_scale)!r}"
        rht = "" if self.rht is None else f", rht={self.rht.name!r}"
        return (f"BlockArray({self.format.name}, shape={self.shape}, axis={self.axis}, "
                f"block_size={self.block_size}{ts}{rht})")


_FIELDS = ("codes", "scales", "format", "block_size", "axis", "tensor_scale", "micro",
           "zero_points", "g_idx", "rht")


def _same_bits(a, b) -> bool:
    """Equal shapes and bits (a NaN scale equals itself; -0 is not +0)."""
    return a.shape == b.shape and np.array_equal(np.ascontiguousarray(a).view(np.uint8),
                                                 np.ascontiguousarray(b).view(np.uint8))


def _same(a, b) -> bool:
    return (a is None) == (b is None) and (a is None or np.array_equal(a, b))


def _byte_codes(a, what, limit=256):
    """``a`` as uint8, refusing a non-integer dtype or a value outside 0 .. limit-1."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"BlockArray: {what} must be an integer array (uint8 codes), got dtype "
                        f"{a.dtype}")
    if a.dtype != np.uint8 or limit < 256:
        if a.size and (a.min() < 0 or a.max() >= limit):
            bad = a[(a < 0) | (a >= limit)].reshape(-1)[0]
            raise ValueError(f"BlockArray: {what} holds {int(bad)}; its codes are 0..{limit - 1}")
        a = a.astype(np.uint8, copy=False)
    return a


def _checked_fields(codes, scales, f, block_size, axis, tensor_scale, micro, zero_points=None,
                    g_idx=None, rht=None):
    if not isinstance(f, BlockFormat):
        raise TypeError(f"BlockArray: format must be a block-format record (mxspec.block_format), "
                        f"got {type(f).__name__}")
    codes = np.asarray(codes)
    if codes.ndim == 0:
        raise ValueError("BlockArray: codes must have at least one dimension (the blocked axis)")
    codes = _byte_codes(codes, "codes", f.element.n_codes)
    ax = _norm_axis(axis, codes.ndim)
    bs = _check_block_size(block_size)
    if f.engine == "micro" and bs != f.unit:
        raise ValueError(f"BlockArray: block_size={bs}, but {f.name}'s unit is {f.unit}")
    L = codes.shape[ax]
    nb = -(-L // bs)
    lead = codes.shape[:ax] + codes.shape[ax + 1:]
    want = codes.shape[:ax] + (nb,) + codes.shape[ax + 1:]
    sc = np.asarray(scales)
    if sc.shape != want:
        raise ValueError(f"BlockArray: scales have shape {sc.shape}; codes of shape {codes.shape} "
                         f"in blocks of {bs} along axis {ax} need {want}")
    if f.engine == "affine" or f.scale_kind == "float32":
        want_dt = scale_dtype(f.scale_kind)
        if sc.dtype != want_dt:
            raise TypeError(f"BlockArray: {f.name}'s scales are {f.scale_kind} values, got dtype "
                            f"{sc.dtype}")
    else:
        sc = _byte_codes(sc, "scales")
    if f.tensor_scale:
        if tensor_scale is None:
            raise ValueError(f"BlockArray: {f.name} needs tensor_scale (its float32 per-tensor "
                             f"scale)")
        tensor_scale = check_tensor_scale(tensor_scale, "tensor_scale")
    elif tensor_scale is not None:
        raise ValueError(f"BlockArray: {f.name} has no tensor scale; tensor_scale must be None")
    micro = tuple(micro)
    levels = f.micro_levels
    if len(micro) != len(levels):
        raise ValueError(f"BlockArray: {f.name} has {len(levels)} micro-exponent levels, got "
                         f"{len(micro)}")
    out = []
    for i, (b, (g, _)) in enumerate(zip(micro, levels)):
        bm = np.asarray(b)
        wb = lead[:ax] + (nb, bs // g) + lead[ax:]
        if bm.shape != wb:
            raise ValueError(f"BlockArray: micro[{i}] has shape {bm.shape}; one bit per group of "
                             f"{g} needs {wb}")
        out.append(_byte_codes(bm, f"micro[{i}]", 2))
    zero_points, g_idx = _affine_fields(f, sc, zero_points, g_idx, L, nb)
    if rht is not None:
        if not isinstance(rht, RHTSpec):
            raise TypeError(f"BlockArray: rht must be None or an RHTSpec "
                            f"(mxspec.tables.transforms.rht_spec), got {type(rht).__name__}")
        if L % rht.size:
            raise ValueError(f"BlockArray: rht size {rht.size} does not divide the blocked "
                             f"axis's {L} values")
    return codes, sc, f, bs, ax, tensor_scale, tuple(out), zero_points, g_idx, rht


def _affine_fields(f, sc, zero_points, g_idx, L, nb):
    """Integer groups' zero points (int8 in the element's range, the scales'
    shape, present exactly where the format has them) and g_idx."""
    if f.engine != "affine":
        for name, v in (("zero_points", zero_points), ("g_idx", g_idx)):
            if v is not None:
                raise ValueError(f"BlockArray: {f.name} has no {name} (integer groups have); "
                                 f"{name} must be None")
        return None, None
    if f.zero_point != (zero_points is not None):
        raise ValueError(f"BlockArray: {f.name} " + ("needs zero_points (one integer per group)"
                         if f.zero_point else "is symmetric: zero_points must be None"))
    if zero_points is not None:
        z = np.asarray(zero_points)
        if not np.issubdtype(z.dtype, np.integer):
            raise TypeError(f"BlockArray: zero_points must be integers, got dtype {z.dtype}")
        if z.shape != sc.shape:
            raise ValueError(f"BlockArray: zero_points have shape {z.shape}; the scales' is "
                             f"{sc.shape}")
        lo, hi = -(1 << (f.element.bits - 1)), (1 << (f.element.bits - 1)) - 1
        if z.size and (z.min() < lo or z.max() > hi):
            raise ValueError(f"BlockArray: zero_points hold {int(z[(z < lo) | (z > hi)][0])}; "
                             f"{f.element.name}'s are {lo}..{hi}")
        zero_points = z.astype(np.int8)
    if g_idx is not None:
        g_idx = check_g_idx(g_idx, L, nb, "BlockArray: g_idx")
    return zero_points, g_idx


def check_g_idx(g_idx, L: int, ng: int, what: str = "g_idx"):
    """``g_idx`` as int32 (the group of each element along the blocked axis), or None."""
    if g_idx is None:
        return None
    g = np.asarray(g_idx)
    if not np.issubdtype(g.dtype, np.integer):
        raise TypeError(f"{what} must be an integer array (the group of each element), got "
                        f"dtype {g.dtype}")
    if g.shape != (L,):
        raise ValueError(f"{what} has shape {g.shape}; the blocked axis has {L} elements, so "
                         f"it must have shape ({L},)")
    if g.size and (g.min() < 0 or g.max() >= ng):
        raise ValueError(f"{what} holds {int(g[(g < 0) | (g >= ng)][0])}; the groups are "
                         f"0..{ng - 1} ({L} elements in groups of {-(-L // max(ng, 1))})")
    return np.ascontiguousarray(g, np.int32)


def check_tensor_scale(tensor_scale, argument="tensor_scale") -> np.float32:
    """One float32 value (a float64 that float32 holds exactly is taken)."""
    t = np.asarray(tensor_scale)
    if t.size != 1 or not np.issubdtype(t.dtype, np.floating) or \
            float(np.float32(t.reshape(()))) != float(t.reshape(())):
        raise ValueError(f"{argument} must be one float32 value, got {tensor_scale!r}")
    return np.float32(t.reshape(()))


MXArray = BlockArray  # the old name (0.1.0)


def _norm_axis(axis, ndim):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for an array of {ndim} dimensions "
                         f"(allowed: {-ndim}..{ndim - 1})")
    return int(axis) % ndim


BLOCK_SIZE_MAX = (1 << 31) - 1


def check_shape(shape, argument="shape") -> tuple:
    """``shape`` as a tuple of non-negative ints; 4.5 or "4" is an error, not 4."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"{argument} must be a tuple of integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{argument} must have no negative dimension, got {shape!r}")
    return dims


def _check_block_size(block_size):
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) \
            or not 1 <= block_size <= BLOCK_SIZE_MAX:
        raise ValueError(f"block_size must be an integer in 1..2^31-1, got {block_size!r}")
    return int(block_size)


def _overlap(a, b) -> bool:
    """Whether arrays a and b share memory: the bounds first (cheap), then the
    exact test within a bounded effort (past it, taken as shared)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=100_000))
    except np.exceptions.TooHardError:
        return True


def out_dtype(dtype, out, shape, inputs=()) -> np.dtype:
    """The output dtype of a decode, checking ``dtype`` and ``out`` agree, and
    that ``out`` shares no memory with any of ``inputs`` ((name, array) pairs):
    the kernels write values while they read codes, so an overlapping ``out``
    returned zeros."""
    if out is not None:
        for name, arr in inputs:
            if isinstance(arr, np.ndarray) and _overlap(out, arr):
                raise ValueError(f"out shares memory with {name}; decode into an array of "
                                 f"its own")
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != tuple(shape):
            raise ValueError(f"out has shape {out.shape}; the values have shape {tuple(shape)}")
        if dtype is not None and np.dtype(dtype) != out.dtype:
            raise ValueError(f"dtype={np.dtype(dtype)} but out has dtype {out.dtype}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        dtype = out.dtype
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype} is not valid; allowed values: float32, float64")
    return dtype
