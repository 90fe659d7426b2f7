"""Conformance vectors for hardware teams: write them, read them, and verify a
design's results against them (docs/conformance.md describes the files).

>>> text = render(encode_vectors("fp4_e2m1", "float32", "rne", "saturate"))
>>> text.splitlines()[0]
'# mxspec conformance vectors, layout 1'
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np

from .. import (BlockArray, __version__, accumulator, decode_elements, dot, dot_elements,
               element_format, encode, encode_elements, encode_packed, pack, pack_codes, policies,
               rht, rht_matrix, slice_and_scale)
from ..tables.block import RECIPES, block_format, family_of, micro_format, mx_format
from ..tables.tapered import is_tapered_name, tapered_format

LAYOUT = 1
# The recipes of the scaled engine that take NVFP4 (E2M1 elements, UE4M3 scales)
NVFP4_RECIPES = [r for r, v in RECIPES.items() if (v.takes is None or ("fp4_e2m1", "ue4m3") in v.takes)
                 and v.choice != "if4"]
IF4_RECIPES = [r for r, v in RECIPES.items() if v.choice == "if4"]  # the if4 format's rows
INPUT_TYPES = {"float32": (np.float32, np.uint32, 8), "float16": (np.float16, np.uint16, 4),
               "bfloat16": (ml_dtypes.bfloat16, np.uint16, 4), "float64": (np.float64, np.uint64, 16)}
KINDS = ("encode", "decode", "quantize", "dequantize", "slice", "dot", "units", "words",
         "rht")
COLUMNS = {
    "encode": "input code flags",
    "decode": "code value_f32",
    "quantize": "input[0..k-1] scale code[0..k-1] packed",
    "dequantize": "scale code[0..k-1] value_f32[0..k-1]",
    "slice": "anchor_scale anchor_code[0..k-1] scale code[0..k-1]",
    "dot": "scale_a[0..n-1] code_a[0..k-1] scale_b[0..n-1] code_b[0..k-1] c result",
    "units": "input[0..k-1] unit",
    "words": "code[0..63] zero_point[0..7] word[0..8]",
    "rht": "input[0..k-1] output[0..k-1]",
}
N_INPUT_FIELDS = {"encode": 1, "decode": 1, "quantize": "k", "dequantize": "k+1", "slice": "k+1",
                  "dot": "2k+2n+1", "units": "k", "words": "72",
                  "rht": "k"}


class VectorFileError(ValueError):
    """A vector or results file that does not parse; the message names the line."""


@dataclass
class VectorFile:
    header: dict
    rows: list = field(default_factory=list)   # (line, list of hex strings)
    notes: list = field(default_factory=list)  # the purpose of each row
    name: str = "<vectors>"                    # the file's path, for messages

    @property
    def kind(self):
        return self.header["kind"]


# -- generation ----------------------------------------------------------------
def _header(kind, **kw):
    h = {"kind": kind}
    h.update({k: str(v) for k, v in kw.items()})
    h["mxspec"] = __version__
    h["columns"] = COLUMNS[kind]
    return h


def _bits(x, itype):
    dt, ut, w = INPUT_TYPES[itype]
    return np.asarray(x, dt).view(ut), w


def element_edge_inputs(fmt, itype):
    with np.errstate(over="ignore"):
        return _element_edge_inputs(fmt, itype)


def _element_edge_inputs(fmt, itype):
    """Inputs at every boundary of ``fmt``: each representable value, each
    midpoint (tie) between neighbours and the inputs one step of ``itype`` on
    either side, max normal and just past it, both zeros, both Infs, NaN, and
    some float32 subnormals; with a purpose for each."""
    f = element_format(fmt)
    dt = INPUT_TYPES[itype][0]
    vals = f.values[np.isfinite(f.values)]
    pos = np.unique(np.abs(vals[vals >= 0]))  # abs: -0 counts as 0
    out, why = [], []

    def add(v, note):
        for s in (1.0, -1.0):
            x = dt(s * v)
            if float(x) == s * v or note.startswith("near"):
                out.append(x)
                why.append(("-" if s < 0 else "+") + note)

    for a, b in zip(pos[:-1], pos[1:]):
        add(a, f"value {a:g}")
        mid = (a + b) / 2
        add(mid, f"tie {a:g}|{b:g}")
        m = dt(mid)
        if float(m) == mid:
            for d, tag in ((np.nextafter(m, dt(0)), "below"), (np.nextafter(m, dt(np.inf)), "above")):
                add(float(d), f"near tie {a:g}|{b:g} ({tag})")
    top = pos[-1]
    step = 2.0 ** (f.emax - f.precision_bits)
    add(top, f"max {top:g}")
    for v, note in ((top + step / 2, "overflow tie max|beyond"), (top + step, "one step past max"),
                    (top * 4, "far past max"), (2.0 ** -140, "float32 subnormal input"),
                    (f.min_subnormal / 4, "quarter of min subnormal")):
        add(v, note)
    for v, note in ((0.0, "zero"), (np.inf, "infinity")):
        add(v, note)
    out.append(dt(np.nan))
    why.append("NaN")
    x = np.array(out, dt)
    keep = np.unique(_bits(x, itype)[0], return_index=True)[1]
    keep.sort()
    return x[keep], [why[i] for i in keep]


def encode_vectors(fmt, itype="float32", rounding="rne", overflow="saturate", nan="keep_sign",
                   int_range="symmetric", seed=0) -> VectorFile:
    """Element encode vectors; under ``stochastic`` each vector also carries the
    element's 32 random bits (column ``rbits``, SPEC.md 2.3), so every edge
    input appears with 4 seeded random values."""
    x, why = element_edge_inputs(fmt, itype)
    stochastic = rounding == "stochastic"
    kw = {}
    if stochastic:
        x, why = np.repeat(x, 4), [w for w in why for _ in range(4)]
        kw["rbits"] = np.random.default_rng(seed).integers(0, 1 << 32, x.size, dtype=np.uint32)
    codes, flags = encode_elements(x, fmt, rounding=rounding, overflow=overflow, nan=nan, int_range=int_range, return_flags=True,
                                   **kw)
    bits, w = _bits(x, itype)
    extra = {"seed": seed} if stochastic else {}
    vf = VectorFile(_header("encode", format=element_format(fmt).name, input=itype,
                            rounding=rounding, overflow=overflow, nan=nan, int_range=int_range,
                            **extra))
    if stochastic:
        vf.header["columns"] = "input rbits code flags"
    for i, (b, c, fl, note) in enumerate(zip(bits, codes, flags, why)):
        r = [f"{int(kw['rbits'][i]):08x}"] if stochastic else []
        vf.rows.append([f"{int(b):0{w}x}"] + r + [f"{int(c):02x}", f"{int(fl):02x}"])
        vf.notes.append(note)
    return vf


_HEXDIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)


def _hex_columns(v, width):
    """Each value of ``v`` as ``width`` lowercase hex digits: (n, width) uint8."""
    shifts = np.arange(4 * (width - 1), -1, -4, dtype=np.uint64)
    return _HEXDIGITS[(v.astype(np.uint64)[:, None] >> shifts) & 0xF]


def write_encode_range(path, fmt, start=0, stop=1 << 32, rounding="rne", overflow="saturate",
                       nan="keep_sign", flags=True, header=True, chunk=1 << 22) -> int:
    """An encode dump at a chip's scale: one row per float32 input whose bits run
    from ``start`` to ``stop`` (all 2^32 by default), written ``chunk`` rows at a time
    in constant memory; with ``header`` a vector file ``mxspec vectors verify``
    reads, without it (and ``flags=False`` for a design without flags) a results
    file as a design's testbench writes one.  Returns the row count.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "e2m1.txt")
    >>> write_encode_range(p, "fp4_e2m1", 0x40200000, 0x40200002)
    2
    >>> open(p).read().splitlines()[-2:]
    ['40200000 04 01', '40200001 05 01']
    """
    f = element_format(fmt)
    if not 0 <= start < stop <= 1 << 32:
        raise ValueError(f"start={start}, stop={stop}; allowed: 0 <= start < stop <= 2**32")
    with open(path, "wb") as out:
        if header:
            h = _header("encode", format=f.name, input="float32", rounding=rounding,
                        overflow=overflow, nan=nan, int_range="symmetric",
                        range=f"{start:08x}..{stop - 1:08x}")
            out.write(render(VectorFile(h)).encode())
        width = 15 if flags else 12
        for lo in range(start, stop, chunk):
            hi = min(stop, lo + chunk)
            bits = np.arange(lo, hi, dtype=np.uint64).astype(np.uint32)
            codes, fl = encode_elements(bits.view(np.float32), f, rounding=rounding,
                                        overflow=overflow, nan=nan, return_flags=True)
            rows = np.full((hi - lo, width), ord(" "), np.uint8)
            rows[:, :8] = _hex_columns(bits, 8)
            rows[:, 9:11] = _hex_columns(codes, 2)
            if flags:
                rows[:, 12:14] = _hex_columns(fl, 2)
            rows[:, -1] = ord("\n")
            out.write(rows.tobytes())
    return stop - start


def decode_vectors(fmt) -> VectorFile:
    f = element_format(fmt)
    codes = np.arange(f.n_codes, dtype=np.uint8)
    v = decode_elements(codes, f).view(np.uint32)
    vf = VectorFile(_header("decode", format=f.name))
    for c, b in zip(codes, v):
        vf.rows.append([f"{int(c):02x}", f"{int(b):08x}"])
        vf.notes.append(f"code {int(c):#04x}")
    return vf


def edge_blocks(k, rng):
    """Directed edge blocks of the block layer, then seeded random blocks at
    several magnitudes; with a purpose for each."""
    def blk(*vals):
        b = np.zeros(k, np.float32)
        b[:len(vals)] = vals
        return b
    yield blk(), "all zero"
    yield -blk(), "all negative zero"
    yield blk(1.0, np.nan, 3.0), "one NaN"
    yield blk(1.0, np.inf, 3.0), "one Inf"
    yield blk(4.0, -1.0, 0.3), "amax a power of two"
    yield blk(np.nextafter(np.float32(4), np.float32(0)), 1.0), "amax just below a power of two"
    yield blk(7.9, 1.0, -7.5, 5.9), "saturates under floor (FP4)"
    yield blk(500.0, -1.0, 470.0), "saturates under floor (E4M3)"
    yield np.linspace(-3, 3, k).astype(np.float32), "mixed signs"
    yield blk(1e-40, -3e-41, 1.4e-45, 1e-39), "float32 subnormals"
    yield blk(2.0 ** -140, -2.0 ** -141), "scale at the low clamp"
    yield blk(3.0e38, -1.0), "largest float32 magnitudes"
    for e in (-20, -3, 0, 3, 20):
        for _ in range(4):
            yield (rng.standard_normal(k) * 2.0 ** e).astype(np.float32), f"random, scale 2^{e}"


def gguf_blocks(k, rng):
    """The blocks that tell GGUF's MXFP4 from OCP's (SPEC.md 4.5), with a purpose each."""
    def blk(*vals):
        b = np.zeros(k, np.float32)
        b[:len(vals)] = vals
        return b
    mids = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0]
    yield blk(7.5, *mids, *[-m for m in mids]), "every E2M1 tie, both signs: toward zero, no -0"
    yield blk(float(np.float32(8) - np.float32(2.0 ** -21)), 6.5, -3.5), \
        "amax whose float32 log2 rounds up to 3: the next scale"
    yield blk(float(np.float32(0.25) - np.float32(2.0 ** -26)), 0.1), \
        "amax whose float32 log2 rounds up to -2"
    yield blk(2.0 ** -130, -2.0 ** -131), "amax below 2^-125: the byte wraps modulo 256"
    yield blk(float(np.float32(2.0 ** -126) * np.float32(0.999)), 1e-39), "amax just below 2^-125"
    yield blk(3.4e38, 3.0e38, -2.5e38, 1e38), "byte 253: the codes stop at 3 x 2^126"
    yield blk(1.0, np.nan, 2.0 ** -126), "a NaN: byte 0, gguf-py's float32 argmin"
    yield blk(-np.inf, 2.0 ** -124, -2.0 ** -127), "an -Inf: byte 0"


def block_vectors(fmt, kind="quantize", k=32, scale_rule="floor", rounding="rne",
                  overflow="saturate", seed=0) -> VectorFile:
    f = mx_format(fmt)
    rng = np.random.default_rng(seed)
    gg = f.recipe is not None and f.recipe.name == "gguf"
    extra = dict(recipe="gguf", layout="gguf", packing="ggml block_mxfp4: the scale byte, then "
                 "byte i holds code i (low nibble) and code i + 16 (high nibble)") if gg else {}
    if gg:
        scale_rule, rounding = f.recipe.scale_rule, f.recipe.rounding
    vf = VectorFile(_header(kind, format=f.name, block_size=k, scale_rule=scale_rule,
                            rounding=rounding, overflow=overflow, nan="keep_sign",
                            int_range="symmetric", zero_scale="min", inf="nan_scale", seed=seed,
                            **extra))
    blocks = list(edge_blocks(k, rng)) + (list(gguf_blocks(k, rng)) if gg else [])
    for x, note in blocks:
        mx = encode(x, f, block_size=k, scale_rule=scale_rule, rounding=rounding,
                    overflow=overflow)
        sc = f"{int(mx.scales[0]):02x}"
        codes = [f"{int(c):02x}" for c in mx.codes]
        if kind == "quantize":
            packed = (mx.pack(layout="gguf")[0] if gg else
                      pack_codes(mx.codes, f.element.bits)).tobytes().hex()
            vf.rows.append([f"{int(b):08x}" for b in x.view(np.uint32)] + [sc] + codes + [packed])
        else:
            out = mx.decode().view(np.uint32)
            vf.rows.append([sc] + codes + [f"{int(b):08x}" for b in out])
        vf.notes.append(note)
    return vf


def int_group_blocks(k, rng):
    """The groups of an integer-group file (k values each), with a purpose for each."""
    def blk(*vals):
        b = np.zeros(k, np.float32)
        b[:len(vals)] = vals
        return b
    yield blk(), "all zero: scale eps (and the zero point each recipe gives)"
    yield blk(1.0, 0.5, 0.25), "one-signed, positive: lo = 0"
    yield -blk(1.0, 0.5, 0.25), "one-signed, negative: hi = 0"
    yield blk(-1.0, 0.0, 0.5, 2.0), "SPEC.md 12.3's worked example"
    yield blk(1.0, 0.1), "SPEC.md 12.2: where the recipes part"
    yield (rng.integers(-64, 64, k) / 16).astype(np.float32), "multiples of 1/16: ties"
    yield blk(3.0, -3.0, 1.5, -1.5), "symmetric extremes: -max -> qmin, +max clamped"
    yield blk(1e-6, -2e-6, 5e-7), "tiny values"
    yield blk(2.0 ** -30, 2.0 ** -31), "a scale below float16's range: eps"
    yield blk(65504.0, -1.0), "float16's largest value"
    for e in (0, -8, 8):
        for _ in range(2):
            yield (rng.standard_normal(k) * 2.0 ** e).astype(np.float32), f"Gaussian x 2^{e}"


def int_group_vectors(fmt, kind="quantize", seed=0) -> VectorFile:
    """Integer-group vectors (SPEC.md 12): one group a row; the scale as its
    dtype's bits, the zero point as two's complement hex, the codes, and (quantize)
    compressed-tensors' pack_to_int32 words as little-endian bytes."""
    f = block_format(fmt)
    k = f.block_size
    rng = np.random.default_rng(seed)
    sdt, _, _ = _SCALE_BITS[f.scale_kind]
    vf = VectorFile(_header(kind, format=f.name, block_size=k, recipe=f.recipe.name,
                            scale_dtype=f.scale_kind, zero_point="yes" if f.zero_point else "no",
                            packing="compressed-tensors pack_to_int32: the int32 words' bytes, "
                                    "little-endian (code + 2^(b-1) as a bit stream, element i "
                                    "at bit b*i)", seed=seed))
    if f.zero_point:  # the zero point's column beside the scale
        vf.header["columns"] = COLUMNS[kind].replace("scale", "scale zero_point")
    for x, note in int_group_blocks(k, rng):
        a = encode(x[None], f)  # one row: the weight's (1, k)
        sc = f"{int(a.scales[0, 0].view(_SCALE_BITS[f.scale_kind][1])):0{_SCALE_BITS[f.scale_kind][2]}x}"
        zp = [f"{int(a.zero_points[0, 0]) & 0xFF:02x}"] if f.zero_point else []
        codes = [f"{int(c):02x}" for c in a.codes[0]]
        if kind == "quantize":
            words = pack(a, "compressed-tensors")[0]
            vf.rows.append([f"{int(b):08x}" for b in x.view(np.uint32)] + [sc] + zp + codes
                           + [words.astype("<i4").tobytes().hex()])
        else:
            vf.rows.append([sc] + zp + codes + [f"{int(b):08x}" for b in
                                                a.decode()[0].view(np.uint32)])
        vf.notes.append(note)
    return vf


def int_group_word_vectors(layout, seed=0) -> VectorFile:
    """GPTQ's and AWQ's int32 words (SPEC.md 12.4) for 8 x 8 tiles (8 outputs, a group
    of 8 inputs) of int4 codes and their 8 zero points: words 0..7 the qweight words
    (gptq: one per output, its 8 inputs; awq: one per input, its 8 outputs in AWQ's
    order), word 8 the qzeros word (gptq: the zero points less one)."""
    f = block_format("bf(int4,float16,8,zero_point)")
    rng = np.random.default_rng(seed)
    vf = VectorFile(_header("words", format=f.name, layout=layout, bits=4, tile="8x8 (out x in)",
                            codes="two's complement int4, row-major (code[8 o + i]: output o, "
                                  "input i)", zero_points="two's complement, one per output",
                            words="8-hex-digit int32 words: " + (
                                "qweight[0, o] for o = 0..7 (element i at bits 4i, code + 8), "
                                "then qzeros[0, 0] (zero point + 8 - 1 of output j at bits 4j)"
                                if layout == "gptq" else
                                "qweight[i, 0] for i = 0..7 (nibble k: output [0,2,4,6,1,3,5,7][k], "
                                "code + 8), then qzeros[0, 0] (zero point + 8, the same order)"),
                            seed=seed))
    tiles = [(np.zeros(64, int), np.zeros(8, int), "all codes 0, zero points 0"),
             (np.full(64, -8), np.full(8, -8), "all -8: unsigned 0"),
             (np.full(64, 7), np.full(8, 7), "all 7: unsigned 15"),
             (np.arange(64) % 16 - 8, np.arange(8) - 4, "codes by position: the word order"),
             (np.tile(np.arange(8) - 8, 8), np.arange(8) - 8, "code = input index - 8")]
    for t in range(8):
        tiles.append((rng.integers(-8, 8, 64), rng.integers(-8, 8, 8), f"random tile {t}"))
    for codes, zps, note in tiles:
        a = BlockArray((codes.reshape(8, 8) & 15).astype(np.uint8), np.ones((8, 1), np.float16),
                       f, 8, 1, zero_points=zps.reshape(8, 1))
        data, rest = pack(a, layout)
        qz = rest[1]
        words = (list(data[0]) if layout == "gptq" else list(data[:, 0])) + [qz[0, 0]]
        vf.rows.append([f"{int(c) & 15:02x}" for c in codes] + [f"{int(z) & 0xFF:02x}" for z in zps]
                       + [f"{int(w) & 0xFFFFFFFF:08x}" for w in words])
        vf.notes.append(note)
    return vf


INT_GROUP_FILES = ("int4_g32", "int4_g32_sym", "int8_g32_bf16", "int4_g32_bf16:compressed_tensors",
                   "int8_g32:compressed_tensors", "int4_g32_sym_fp32:compressed_tensors")


def nvfp4_blocks(rng, amax=1000.0):
    """The blocks of one NVFP4 test tensor (16 values each), with a purpose for
    each: the tensor's amax, then blocks whose scales land everywhere in E4M3."""
    def blk(*vals):
        b = np.zeros(16, np.float32)
        b[:len(vals)] = vals
        return b
    yield blk(amax, -1.0, 300.0, 0.5), "the tensor's amax: block scale 448"
    yield blk(), "all zero"
    yield -blk(), "all negative zero"
    yield blk(1.0, np.nan, 3.0), "one NaN: NaN block scale"
    yield blk(1.0, -np.inf, 3.0), "one -Inf: NaN block scale"
    yield blk(amax * 1e-6, -amax * 4e-7), "block scale below E4M3's smallest subnormal"
    yield blk(amax * 1e-5, amax * 2e-6, -amax * 5e-6), "block scale an E4M3 subnormal"
    yield blk(amax * 3e-5, -1e-30, 0.0, -0.0), "tiny and signed zeros beside a small amax"
    yield np.linspace(-amax / 7, amax / 7, 16).astype(np.float32), "mixed signs"
    for e in (0, -4, -8, -12, -16):
        for _ in range(3):
            yield (rng.standard_normal(16) * amax * 2.0 ** e / 4).astype(np.float32), \
                f"random, amax x 2^{e}"


def nvfp4_vectors(fmt="nvfp4", kind="quantize", seed=0) -> VectorFile:
    """NVFP4 vectors: the rows are the 16-element blocks of *one* tensor (its
    tensor scale, from the amax of all rows, is in the header)."""
    f = block_format(fmt)
    rng = np.random.default_rng(seed)
    blocks, notes = zip(*nvfp4_blocks(rng))
    x = np.stack(blocks)
    mx = encode(x, f)
    ts = np.float32(1.0 if mx.tensor_scale is None else mx.tensor_scale)
    vf = VectorFile(_header(kind, format=f.name, block_size=16, recipe=f.recipe.name,
                            tensor_scale=f"{int(ts.view(np.uint32)):08x}", seed=seed,
                            tensor="all rows form one tensor of shape (rows, 16); its tensor "
                                   "scale (float32 bits) is tensor_scale"))
    out = mx.decode().view(np.uint32)
    for i, note in enumerate(notes):
        sc = f"{int(mx.scales[i, 0]):02x}"
        codes = [f"{int(c):02x}" for c in mx.codes[i]]
        if kind == "quantize":
            packed = pack_codes(mx.codes[i], 4).tobytes().hex()
            vf.rows.append([f"{int(b):08x}" for b in x[i].view(np.uint32)] + [sc] + codes +
                           [packed])
        else:
            vf.rows.append([sc] + codes + [f"{int(b):08x}" for b in out[i]])
        vf.notes.append(note)
    return vf


def tile_matrix(rng, rows=32, cols=64, tile=16, amax=1000.0):
    """A matrix of 2D tiles (tile x tile) for the tile formats (SPEC.md 9.12), with
    a purpose per tile: the tensor's amax, a zero tile, one with a NaN, one whose
    scale is an E4M3 subnormal, one whose max sits in another block than most of
    its values, and random tiles 2^0 .. 2^-12 below the amax."""
    x = (rng.standard_normal((rows, cols)) * amax / 64).astype(np.float32)
    t = x.reshape(rows // tile, tile, cols // tile, tile)
    notes = {}
    t[0, 3, 0, 5] = amax
    notes[0, 0] = "the tensor's amax"
    t[0, :, 1] = 0.0
    t[0, 7, 1, 2] = -0.0
    notes[0, 1] = "all zero (one -0)"
    t[0, 2, 2, 9] = np.nan
    notes[0, 2] = "one NaN: every block of the tile NaN-scaled"
    t[0, :, 3] *= 2e-6
    notes[0, 3] = "block scale an E4M3 subnormal"
    t[1, :, 0] *= 0.01
    t[1, 15, 0, 15] = amax / 8
    notes[1, 0] = "the tile's max in its last block: the other 15 rows' blocks take it"
    for j, e in zip(range(1, cols // tile), (0, -6, -12)):
        t[1, :, j] *= 2.0 ** e
        notes[1, j] = f"random, 2^{e}"
    return x, notes


def tile_vectors(fmt="nvfp4_2d", kind="quantize", seed=0) -> VectorFile:
    """Vectors of a 2D tile format: one matrix, its 1 x 16 blocks as rows in C
    order (row r of the matrix, block j of the row), each with its tile's scale."""
    f = block_format(fmt)
    x, notes = tile_matrix(np.random.default_rng(seed), tile=f.tile_rows)
    R, C = x.shape
    bs = f.block_size
    mx = encode(x, f)
    ts = np.float32(1.0 if mx.tensor_scale is None else mx.tensor_scale)
    vf = VectorFile(_header(kind, format=f.name, block_size=bs, recipe=f.recipe.name,
                            tensor_scale=f"{int(ts.view(np.uint32)):08x}", seed=seed,
                            tile_rows=f.tile_rows, shape=f"{R} {C}",
                            tensor=f"the rows are the 1 x {bs} blocks of one matrix of shape "
                                   f"(shape), in C order (row i: matrix row i // {C // bs}, "
                                   f"block i % {C // bs}); each {f.tile_rows} x {bs} tile "
                                   f"has one scale, repeated on its rows; the tensor scale "
                                   f"(float32 bits) is tensor_scale"))
    out = mx.decode().view(np.uint32)
    for r in range(R):
        for j in range(C // bs):
            sc = f"{int(mx.scales[r, j]):02x}"
            cs = mx.codes[r, j * bs:(j + 1) * bs]
            if kind == "quantize":
                vf.rows.append([f"{int(b):08x}" for b in x[r, j * bs:(j + 1) * bs]
                                .view(np.uint32)] + [sc] + [f"{int(c):02x}" for c in cs] +
                               [pack_codes(cs, 4).tobytes().hex()])
            else:
                vf.rows.append([sc] + [f"{int(c):02x}" for c in cs] +
                               [f"{int(b):08x}" for b in out[r, j * bs:(j + 1) * bs]])
            vf.notes.append(notes.get((r // f.tile_rows, j), "random") +
                            f" (tile {r // f.tile_rows},{j})")
    return vf


# DeepSeek-V3's FP8 groups under the recipes kernels run (SPEC.md 9.9, 9.13): Triton's
# act_quant and DeepGEMM's casts on CUDA
FP8_GROUP_RECIPES = ("deepseek", "deepseek_ue8m0", "deepgemm", "deepgemm_recip")


def fp8_groups(rng):
    """Groups of 128 with a purpose each (SPEC.md 9.9's edges and the directed
    elements of 9.13 that tell the element rules apart)."""
    def grp(*vals):
        g = np.zeros(128, np.float32)
        g[:len(vals)] = vals
        return g
    yield grp(), "all zero: amax clamped to 1e-4"
    yield grp(2e-5, -1e-9), "under the 1e-4 clamp"
    yield grp(-448.0, 1.0, 0.5), "amax exactly 448: s = 1"
    yield grp(3.0, -1.5, 1.0), "SPEC.md 9.9 and 9.13's worked example"
    yield grp(2.0 ** 60, -2.0 ** 59, 3.0), "a power of two over 448: ue8m0's s exact"
    yield grp(1.3125, -1.078125, 0.25), "fl(fl(1/a) x 448) and fl(1/s) round a code apart"
    yield grp(1.5, -1.125, 0.75), "the same, amax 1.5"
    yield np.linspace(-7.0, 7.0, 128).astype(np.float32), "mixed signs, evenly spaced"
    for e in (0, -12, -30, 12, 30):
        for _ in range(2):
            yield (rng.standard_normal(128) * 2.0 ** e).astype(np.float32), f"random, 2^{e}"


def fp8_group_vectors(fmt="deepseek_fp8", kind="quantize", seed=0) -> VectorFile:
    """Vectors of a 1 x 128 FP8 group format with float32 scales: one group a row,
    its scale as float32 bits."""
    f = block_format(fmt)
    groups, notes = zip(*fp8_groups(np.random.default_rng(seed)))
    x = np.stack(groups)
    mx = encode(x, f)
    vf = VectorFile(_header(kind, format=f.name, block_size=f.block_size, recipe=f.recipe.name,
                            scale="float32", seed=seed,
                            tensor="each row is one group; scale: the group's float32 scale "
                                   "(bits), values are fl32(element x scale)"))
    s = mx.scales.reshape(-1).astype(np.float32).view(np.uint32)
    out = mx.decode().view(np.uint32)
    for i, note in enumerate(notes):
        sc = f"{int(s[i]):08x}"
        codes = [f"{int(c):02x}" for c in mx.codes[i]]
        if kind == "quantize":
            vf.rows.append([f"{int(b):08x}" for b in x[i].view(np.uint32)] + [sc] + codes +
                           [mx.codes[i].tobytes().hex()])
        else:
            vf.rows.append([sc] + codes + [f"{int(b):08x}" for b in out[i]])
        vf.notes.append(note)
    return vf


def tapered_vectors(fmt="hifloat8", kind="encode", rounding="rna", overflow="ieee",
                    nan="keep") -> VectorFile:
    """Tapered-format vectors (SPEC.md section 10): every code (decode), or every
    value, every midpoint between neighbours, their float32 neighbours, the
    overflow threshold and the specials, both signs (encode, float32 input)."""
    f = tapered_format(fmt)
    if kind == "decode":
        vf = VectorFile(_header("decode", format=f.name))
        v = decode_elements(np.arange(256, dtype=np.uint8), f).view(np.uint32)
        for c, b in enumerate(v):
            vf.rows.append([f"{c:02x}", f"{int(b):08x}"])
            vf.notes.append(f"code {c:#04x}")
        return vf
    vals, _ = f.table
    mids = (vals[:-1] + vals[1:]) / 2
    top = vals[-1]
    pts = np.concatenate([vals, mids, [1.25 * top, 1.5 * top, 2 * top, 1e9, vals[1] / 2]])
    p32 = pts.astype(np.float32)
    xs = [p32, np.nextafter(p32, np.float32(0)), np.nextafter(p32, np.float32(np.inf))]
    why = (["value"] * vals.size + ["midpoint"] * mids.size +
           ["overflow threshold", "past max", "past max", "far past max", "half the smallest"])
    notes = why + [w + ", just below" for w in why] + [w + ", just above" for w in why]
    x = np.concatenate(xs)
    x = np.concatenate([x, -x, np.float32([0.0, -0.0, np.nan, np.inf, -np.inf])])
    notes = notes + ["negative: " + n for n in notes] + ["zero", "negative zero", "NaN",
                                                         "+Inf", "-Inf"]
    kw, extra = {}, {}
    if rounding == "hybrid":  # each input with r = 0, r = 2^32 - 1 and two random r
        x = np.repeat(x, 4)
        notes = [n for n in notes for _ in range(4)]
        r = np.random.default_rng(0).integers(0, 1 << 32, x.size, dtype=np.uint32)
        r[0::4], r[1::4] = 0, 0xFFFFFFFF
        kw, extra = dict(rbits=r), dict(seed="0 (rows 4k: r = 0, 4k+1: r = 2^32 - 1)")
    codes, flags = encode_elements(x, f, rounding=rounding, overflow=overflow, nan=nan, return_flags=True, **kw)
    vf = VectorFile(_header("encode", format=f.name, input="float32", rounding=rounding,
                            overflow=overflow, nan=nan, int_range="symmetric", **extra))
    if kw:
        vf.header["columns"] = "input rbits code flags"
    for i, (b, c, fl, n) in enumerate(zip(x.view(np.uint32), codes, flags, notes)):
        r = [f"{int(kw['rbits'][i]):08x}"] if kw else []
        vf.rows.append([f"{int(b):08x}"] + r + [f"{int(c):02x}", f"{int(fl):02x}"])
        vf.notes.append(n)
    return vf


def micro_vectors(fmt, seed=0) -> VectorFile:
    """Micro-exponent quantize vectors (SPEC.md 11): each row one unit, its
    float32 inputs and the packed unit (base, level bits, elements) as hex."""
    f = micro_format(fmt)
    rng = np.random.default_rng(seed)
    units = [(np.zeros(f.unit), "all zero")]
    one = np.zeros(f.unit)
    one[5] = 3.0
    units.append((one, "one value"))
    units.append((np.linspace(-7, 7, f.unit), "a ramp: every level's threshold crossed"))
    units.append((np.full(f.unit, 1.999), "just below a power of two"))
    units.append((np.full(f.unit, 2.0 ** -60), "tiny"))
    for e in (-20, -3, 0, 3, 20):
        for _ in range(3):
            units.append((rng.standard_normal(f.unit) * 2.0 ** e, f"Gaussian, sigma 2^{e}"))
    vf = VectorFile(_header("units", format=f.name, block_size=f.unit, seed=seed))
    for x, note in units:
        x32 = np.asarray(x, np.float32)
        u = encode_packed(x32, f)[0][0]
        vf.rows.append([f"{int(b):08x}" for b in x32.view(np.uint32)] + [u.tobytes().hex()])
        vf.notes.append(note)
    return vf


def rht_groups(rng):
    """The groups of the RHT files, each with its purpose: SPEC.md 13.1's worked
    examples (one with a final tie), every one-hot group (each output is one
    entry of the matrix: the signs and H's order, one row at a time), signed
    zeros, bfloat16 subnormals, Gaussian groups, groups spanning 2^-120 to
    2^100, and five maxima whose sum overflows."""
    bmax = float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    groups = []

    def grp(v, note):
        g = np.zeros(16)
        g[:len(v)] = v
        groups.append((g, note))
    grp([1.0, 3.0], "worked example: (1, 3, 0, ...)")
    grp([512.0, 2.0], "worked example: 514/4 = 128.5 ties to 128; 510/4 = 127.5 exact")
    for i in range(16):
        g = np.zeros(16)
        g[i] = 1.0
        groups.append((g, f"one-hot {i}: row {i} of the matrix"))
    groups.append((np.array([0.0, -0.0] * 8), "signed zeros"))
    groups.append((np.full(16, -0.0), "all -0"))
    tiny = float(np.array([1], np.uint16).view(ml_dtypes.bfloat16)[0])
    groups.append((tiny * np.arange(1, 17), "bfloat16 subnormals (k x the smallest)"))
    for _ in range(8):
        groups.append((rng.standard_normal(16), "Gaussian"))
    for _ in range(8):
        groups.append((rng.standard_normal(16) * np.exp2(rng.integers(-120, 100, 16)),
                       "magnitudes from 2^-120 to 2^100"))
    g = np.zeros(16)
    g[[5, 6, 11, 12, 13]] = -bmax
    groups.append((g, "five -max: outputs of 5 max / 4 overflow to -Inf or +Inf"))
    g = np.zeros(16)
    g[[1, 2, 3]] = bmax
    groups.append((g, "three max: 3 max / 4 is finite"))
    return groups


def rht_vectors(signs="te", inverse=False, seed=0) -> VectorFile:
    """Random Hadamard transform vectors (SPEC.md 13.1): each row one group of 16
    bfloat16 inputs (bits) and the transform's 16 bfloat16 outputs, each the
    exact sum of its products rounded once (nearest even)."""
    sv = np.sign(rht_matrix(16, signs)[:, 0]).astype(int)
    vf = VectorFile(_header("rht", format="bfloat16", block_size=16, signs=signs,
                            sign_vector=" ".join(f"{s:+d}" for s in sv),
                            inverse="yes" if inverse else "no", seed=seed,
                            transform="output j = sum over i of input i x M[i, j] (inverse: "
                                      "M[j, i]), M = diag(sign_vector) H / 4, H the 16 x 16 "
                                      "Sylvester Hadamard matrix; the exact sum rounded once "
                                      "to bfloat16, nearest even, overflow to Inf"))
    for g, note in rht_groups(np.random.default_rng(seed)):
        x = g.astype(ml_dtypes.bfloat16)
        y = rht(x, signs=signs, inverse=inverse)
        vf.rows.append([f"{int(b):04x}" for b in x.view(np.uint16)] +
                       [f"{int(b):04x}" for b in y.view(np.uint16)])
        vf.notes.append(note)
    return vf


def slice_vectors(anchor, target, k=32, rule="requantize", rounding="rne", seed=0) -> VectorFile:
    a, t = mx_format(anchor), mx_format(target)
    rng = np.random.default_rng(seed)
    vf = VectorFile(_header("slice", anchor=a.name, format=t.name, block_size=k, rule=rule,
                            rounding=rounding, overflow="saturate", seed=seed))
    blocks = [(x, n) for x, n in edge_blocks(k, rng)]
    # anchors whose largest element is below the top exponent (paper != requantize)
    for e in (-6, -2):
        blocks.append(((rng.standard_normal(k) * 2.0 ** e).astype(np.float32), "ceil-made anchor"))
    for x, note in blocks:
        rule_for = "ceil" if note == "ceil-made anchor" else "floor"
        A = encode(x, a, block_size=k, scale_rule=rule_for)
        T = slice_and_scale(A, t, rounding=rounding, rule=rule)
        vf.rows.append([f"{int(A.scales[0]):02x}"] + [f"{int(c):02x}" for c in A.codes] +
                       [f"{int(T.scales[0]):02x}"] + [f"{int(c):02x}" for c in T.codes])
        vf.notes.append(note)
    return vf


# The block scales of a dot file's rows (its "scale" header): E8M0 codes (MX blocks),
# UE4M3 codes (the NVFP4 family's blocks), or none (element codes only: the scale
# columns hold 7f, 2^0, for the instructions that have no scales).
DOT_SCALES = ("e8m0", "ue4m3", "none")


def dot_operand(codes, scales, fmt, bs, scale):
    """The BlockArray of one dot-file operand (one block row)."""
    bf = block_format("nvfp4_block_only") if scale == "ue4m3" else mx_format("mx" + fmt)
    return BlockArray(np.asarray(codes, np.uint8), np.asarray(scales, np.uint8), bf, bs, 0)


def dot_result(ca, sa, cb, sb, c, fa, fb, bs, model, scale="e8m0"):
    """The float32 result of one dot row under the model."""
    if scale == "none":
        return dot_elements(np.asarray(ca, np.uint8), np.asarray(cb, np.uint8), fa, fb,
                            accumulator=model, c=np.float32(c))
    return dot(dot_operand(ca, sa, fa, bs, scale), dot_operand(cb, sb, fb, bs, scale),
               accumulator=model, c=np.float32(c))


def _dot_row(ca, sa, cb, sb, c, fa, fb, bs, model, scale="e8m0"):
    r = np.asarray(dot_result(ca, sa, cb, sb, c, fa, fb, bs, model, scale), np.float32)
    return ([f"{int(v):02x}" for v in sa] + [f"{int(v):02x}" for v in ca] +
            [f"{int(v):02x}" for v in sb] + [f"{int(v):02x}" for v in cb] +
            [f"{int(np.float32(c).view(np.uint32)):08x}", f"{int(r.view(np.uint32)):08x}"])


def _ue4m3_of(e8):
    """The UE4M3 scale code that stands for an E8M0 case code: 1 for 2^0, 448 for
    the largest, the smallest subnormal for the smallest, NaN for NaN, and near 2^0
    a step of one binade per E8M0 step."""
    fixed = {127: 0x38, 254: 0x7E, 0: 0x01, 255: 0x7F}
    return fixed.get(int(e8), min(max(0x38 + (int(e8) - 127) * 8, 0x08), 0x7E))


def dot_cases(fa, fb, k, bs, rng):
    """(codes_a, scales_a, codes_b, scales_b, c, note): the distinguishing cases
    of SPEC.md 8.6 first, then random ones."""
    ea, eb = element_format(fa), element_format(fb)
    n = k // bs
    one = [127] * n

    def enc(f, x):
        return [int(v) for v in encode_elements(np.asarray(x, np.float32), f)]
    fin_a = [c for c in range(ea.n_codes) if np.isfinite(ea.values[c])]
    fin_b = [c for c in range(eb.n_codes) if np.isfinite(eb.values[c])]
    z = [0] * k
    big_a = [ea.max_mag_code] * k
    big_b = [eb.max_mag_code] * k
    tiny_a = tiny_b = [1] * k  # the smallest positive code
    alt = [float((-1) ** i) for i in range(k)]
    yield z, one, z, one, 0.0, "all zero"
    yield enc(fa, [1.0] + [0.0] * (k - 1)), one, enc(fb, [1.0] + [0.0] * (k - 1)), one, 0.0, "one product"
    yield enc(fa, alt), one, enc(fb, [1.0] * k), one, 0.0, "exact cancellation to +0"
    yield z, one, z, one, -0.0, "zero products and C = -0"
    yield enc(fa, alt), one, enc(fb, [1.0] * k), one, 0.75, "cancellation, C left"
    yield big_a, [254] * n, big_b, [254] * n, 0.0, "overflow of the float32 result"
    yield tiny_a, [0] * n, tiny_b, [127] * n, 0.0, "float32 subnormal result"
    yield tiny_a, [0] * n, tiny_b, [0] * n, 0.0, "below float32's range"
    yield big_a, one, tiny_b, one, float(np.float32(-3.0e-5)), "wide exponent range and C"
    yield enc(fa, [1.0] * k), [255] + one[1:], enc(fb, [1.0] * k), one, 0.0, "NaN scale"
    if ea.has_nan:
        yield [ea.nan_code] + z[1:], one, enc(fb, [1.0] * k), one, 0.0, "NaN element"
    if ea.has_inf:
        yield [ea.inf_mag_code] + z[1:], one, enc(fb, [2.0] * k), one, 0.0, "Inf element"
        yield [ea.inf_mag_code] + z[1:], one, z, one, 0.0, "Inf times 0"
    for i in range(24):
        ca = [int(v) for v in rng.choice(fin_a, k)]
        cb = [int(v) for v in rng.choice(fin_b, k)]
        sa = [int(v) for v in rng.integers(120, 135, n)]
        sb = [int(v) for v in rng.integers(120, 135, n)]
        c = float(np.float32(rng.standard_normal() * 2.0 ** rng.integers(-8, 9))) if i % 2 else 0.0
        yield ca, sa, cb, sb, c, "random"


def dot_vectors(fa, fb, model="exact", k=64, block_size=32, seed=0, scale="e8m0") -> VectorFile:
    """Dot-product vectors: A and B blocks with their scales, C, and the float32
    result of the named accumulator model (SPEC.md section 8).  ``scale``: one of
    DOT_SCALES (the header says which; e8m0 files say nothing)."""
    m = accumulator(model)
    rng = np.random.default_rng(seed)
    extra = {} if scale == "e8m0" else {"scale": scale}
    vf = VectorFile(_header("dot", format_a=fa, format_b=fb, accumulator=m.name, rounding="rne",
                            out="float32", block_size=block_size, k=k, seed=seed, **extra))
    n = k // block_size
    for ca, sa, cb, sb, c, note in dot_cases(fa, fb, k, block_size, rng):
        if scale == "none":
            if note == "random":
                sa = sb = [127] * n  # the same codes, unscaled
            elif sa != [127] * n or sb != [127] * n:
                continue  # the cases made of scales: the instruction has none
        elif scale == "ue4m3":
            sa, sb = [_ue4m3_of(v) for v in sa], [_ue4m3_of(v) for v in sb]
        vf.rows.append(_dot_row(ca, sa, cb, sb, c, fa, fb, block_size, m, scale))
        vf.notes.append(note)
    return vf


# The H100 capture (tests/data/h100/mma_sync.npz) whose rows the h100_fp8_mma
# files carry, with the silicon's own results.
H100_GENERATORS = ("random", "narrow", "single", "two", "few", "cancel", "c_big", "c_cancel",
                   "c_tiny", "special")


def h100_dot_vectors(pair, capture) -> VectorFile:
    """h100_fp8_mma vectors taken from the H100 capture: for each generator,
    the 16 outputs of one held-out tile's first column; the result column is
    the tensor core's own output (and h100_fp8_mma's)."""
    d = np.load(capture)
    ta, tb = pair.split("_")
    fa, fb = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}[ta], {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}[tb]
    vf = VectorFile(_header("dot", format_a=fa, format_b=fb, accumulator="h100_fp8_mma",
                            rounding="rne", out="float32", block_size=32, k=32,
                            source=f"tests/data/h100/mma_sync.npz {pair}"))
    cat = d[pair + "_cat"]
    for g, name in enumerate(H100_GENERATORS):
        t = int(np.flatnonzero((cat == g) & (np.arange(cat.size) % 2 == 1))[0])
        for i in range(16):
            vf.rows.append([_hx(127)] + [_hx(v) for v in d[pair + "_A"][t, i]] + [_hx(127)] +
                           [_hx(v) for v in d[pair + "_B"][t, 0]] +
                           [f"{int(d[pair + '_C'][t, i, 0]):08x}", f"{int(d[pair + '_D'][t, i, 0]):08x}"])
            vf.notes.append(f"{name}: tile {t} row {i} col 0")
    return vf


# The wgmma capture rows that the wgmma files carry: capture output -> accumulator.
WGMMA_RECIPES = {"triton": "h100_fp8_wgmma", "cublas": "cublas_fp8",
                 "triton_imp32": "triton_fp8(max_num_imprecise_acc=32)"}
WGMMA_GENERATORS = ("single", "dist", "binade", "subnormal", "tiny_large", "cancel0", "special",
                    "random", "c_cancel", "c_rand")


def h100_wgmma_vectors(pair, capture, recipe) -> VectorFile:
    """wgmma vectors taken from tests/data/h100/wgmma_directed.npz (captured after
    the model was fixed): 4 outputs of each generator at K = 128 (K = 32 for
    E5M2 x E5M2, which cuBLAS refuses); the result column is the H100's own
    output through ``recipe`` (a key of WGMMA_RECIPES), with C where the Triton
    kernel started from one."""
    d = np.load(capture)
    ta, tb = pair.split("_")
    fa, fb = "fp8_" + ta, "fp8_" + tb
    K = 32 if pair == "e5m2_e5m2" else 128
    vf = VectorFile(_header("dot", format_a=fa, format_b=fb,
                            accumulator=WGMMA_RECIPES[recipe], rounding="rne", out="float32",
                            block_size=32, k=K,
                            source=f"tests/data/h100/wgmma_directed.npz {pair} {recipe}"))
    for gen in WGMMA_GENERATORS:
        case = f"{pair}_K{K}_{gen}"
        key = case + "_" + recipe
        with_c = case + "_C" in d.files
        if with_c:
            key = case + "_" + recipe.replace("triton", "tritonC")
        if key not in d.files:
            continue
        for i in range(4, 64, 16):
            j = (i * 7 + 3) % 64
            c = int(d[case + "_C"][i, j]) if with_c else 0
            vf.rows.append([_hx(127)] * (K // 32) + [_hx(v) for v in d[case + "_A"][i]] +
                           [_hx(127)] * (K // 32) + [_hx(v) for v in d[case + "_B"][j]] +
                           [f"{c:08x}", f"{int(d[key][i, j]):08x}"])
            vf.notes.append(f"{gen}: {key} row {i} col {j}")
    return vf


def _hx(v):
    return f"{int(v):02x}"


def render(vf: VectorFile, checked: str | None = None) -> str:
    lines = [f"# mxspec conformance vectors, layout {LAYOUT}"]
    h = dict(vf.header)
    if checked:
        h["checked"] = checked
    lines += [f"# {k}: {v}" for k, v in h.items()]
    lines += [" ".join(r) + (f"  # {n}" if n else "") for r, n in zip(vf.rows, vf.notes)]
    return "\n".join(lines) + "\n"


# -- reading -------------------------------------------------------------------
_HEX = re.compile(r"[0-9a-fA-F]+")


def hex_fields(body: str, name: str, line: int) -> list:
    """A row's fields; one that is not plain hex digits is a ``file:line`` error."""
    fields = body.split()
    for fld in fields:
        if not _HEX.fullmatch(fld):
            raise VectorFileError(f"{name}:{line}: {fld!r} is not a hex number (plain hex "
                                  "digits only: no 0x, sign or _)")
    return fields


def parse(text: str, name: str = "<vectors>", header_required: bool = True) -> VectorFile:
    """A vector (or results) file's header and rows.  A field is plain hex digits
    (no ``0x``, sign or ``_``): anything else is a :class:`VectorFileError` that
    names ``file:line``."""
    header, rows, notes = {}, [], []
    for i, line in enumerate(text.splitlines(), 1):
        body, _, note = line.partition("#")
        if not body.strip():
            if ":" in note and not rows:
                k, _, v = note.partition(":")
                header[k.strip()] = v.strip()
            continue
        rows.append((i, hex_fields(body, name, i)))
        notes.append(note.strip())
    if header_required and header.get("kind") not in KINDS:
        raise VectorFileError(f"{name}: header has no valid '# kind:' line (one of {', '.join(KINDS)})")
    return VectorFile(header, rows, notes, name)


def read_text(path) -> str:
    """A vector or results file's text; a byte that is not UTF-8 is a
    :class:`VectorFileError` naming its line."""
    data = open(path, "rb").read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise VectorFileError(f"{os.fspath(path)}:{line}: byte 0x{data[err.start]:02x} is not "
                              "UTF-8 text") from None


def load_vectors(path) -> VectorFile:
    vf = parse(read_text(path), os.fspath(path))
    check_header(vf)
    return vf


# What each kind's header must hold for its rows to be read (and, for encode, explained).
REQUIRED = {"encode": ("format", "input", "rounding", "overflow"), "decode": ("format",),
            "quantize": ("format", "block_size"), "dequantize": ("format", "block_size"),
            "slice": ("format", "block_size"), "dot": ("format_a", "format_b", "block_size", "k"),
            "units": ("format", "block_size"), "words": ("format", "layout"),
            "rht": ("format", "block_size", "signs", "inverse")}


def _positive(vf, key):
    v = vf.header[key]
    if not re.fullmatch(r"[1-9][0-9]{0,6}", v):
        raise VectorFileError(f"{vf.name}: header '{key}: {v}' must be a positive integer")
    return int(v)


def check_header(vf: VectorFile) -> None:
    """Refuse a header that lacks what its kind needs or holds a bad size, and
    rows whose field count is not the kind's (both as ``file:line`` errors)."""
    h, kind = vf.header, vf.kind
    for key in REQUIRED[kind]:
        if key not in h:
            raise VectorFileError(f"{vf.name}: header has no '# {key}:' line (a {kind} file "
                                  f"needs {', '.join(REQUIRED[kind])})")
    if kind == "encode" and h["input"] not in INPUT_TYPES:
        raise VectorFileError(f"{vf.name}: header 'input: {h['input']}' is not one of "
                              f"{', '.join(INPUT_TYPES)}")
    if "block_size" in REQUIRED[kind]:
        bs = _positive(vf, "block_size")
        if kind == "dot" and _positive(vf, "k") % bs:
            raise VectorFileError(f"{vf.name}: header k: {h['k']} is not a multiple of "
                                  f"block_size: {bs}")
    cols, _ = _column_names(kind, int(h.get("block_size", 1)), h)
    for line, row in vf.rows:
        if len(row) != len(cols):
            raise VectorFileError(f"{vf.name}:{line}: {len(row)} fields, expected {len(cols)} "
                                  f"({h.get('columns', COLUMNS[kind])})")


# -- verification ----------------------------------------------------------------
def _f32(h):
    return float(np.array([int(h, 16)], np.uint32).view(np.float32)[0])


def _input_value(h, itype):
    dt, ut, _ = INPUT_TYPES[itype]
    return float(np.array([int(h, 16)], ut).view(dt)[0].astype(np.float64))


def explain_encode(header, x: float) -> str:
    """The rule at stake when encoding ``x``."""
    if is_tapered_name(header["format"]):
        t = tapered_format(header["format"])
        vals = t.table[0]
        a = abs(x)
        if math.isnan(x) or math.isinf(x) or a >= vals[-1]:
            return (f"special or past max {vals[-1]:g}: expected overflow policy "
                    f"{header['overflow']}, nan policy {header['nan']}")
        lo = vals[vals <= a][-1]
        hi = vals[vals > a][0]
        tie = " (a tie)" if a == (lo + hi) / 2 else ""
        rule = header["rounding"]
        if rule == "hybrid":
            e = math.frexp(a)[1] - 1
            rule = ("hybrid: |E| < 4, ties away" if abs(e) < 4 else
                    "hybrid: |E| >= 4, stochastic: up iff frac32 + rbits >= 2^32")
        return f"between {lo:g} and {hi:g}{tie}, expected {rule}"
    f = element_format(header["format"])
    if math.isnan(x):
        return f"NaN input, expected nan profile {header.get('nan', 'keep_sign')}"
    if math.isinf(x):
        return f"infinite input, expected overflow policy {header['overflow']}"
    a = abs(x)
    if a > f.max_normal:
        return f"beyond max {f.max_normal:g}, expected overflow policy {header['overflow']}"
    vals = np.unique(np.abs(f.values[np.isfinite(f.values)]))
    hi = vals[np.searchsorted(vals, a)] if a <= vals[-1] else vals[-1]
    lo = vals[max(np.searchsorted(vals, a, "right") - 1, 0)]
    mode = header["rounding"]
    rule = {"rne": "round to even", "rna": "round away from zero", "rtz": "round toward zero",
            "up": "round toward +inf", "down": "round toward -inf",
            "stochastic": "stochastic: up iff frac32 + rbits >= 2^32"}.get(mode, mode)
    if lo < a < hi and a == (lo + hi) / 2:
        return f"tie between {lo:g} and {hi:g}, expected {rule}"
    if a < f.min_normal and f.kind == "float" and a != lo:
        return f"subnormal range, expected {rule} to a multiple of {f.min_subnormal:g}"
    return f"rounding between {lo:g} and {hi:g}, expected {rule}" if a != lo else "exact value"


def _describe(kind, header, col, h):
    if kind == "rht":  # bfloat16 bits
        v = float(np.array([int(h, 16)], np.uint16).view(ml_dtypes.bfloat16)[0])
        return f"{h} ({v!r})"
    if col == "code" and "scale_dtype" in header:  # a two's complement integer
        b = block_format(header["format"]).element.bits
        c = int(h, 16)
        return f"{h} ({c - (1 << b) if c >= 1 << (b - 1) else c})"
    if col in ("value_f32",):
        return f"{h} ({_f32(h):g})"
    if col in ("code", "anchor_code"):
        fmt = header["format"] if col == "code" else header.get("anchor", header["format"])
        try:
            el = tapered_format(fmt) if is_tapered_name(fmt) else element_format(fmt)
        except ValueError:
            el = mx_format(fmt).element
        v = float(el.values[int(h, 16)]) if int(h, 16) < el.n_codes else float("nan")
        return f"{h} ({v:g})"
    if col in ("c", "result"):
        v = _f32(h)
        return f"{h} ({v!r})"
    if col == "scale" and "scale_dtype" in header:  # an integer group's float scale
        return f"{h} ({_scale_value(h, header['scale_dtype'])!r})"
    if col == "zero_point":
        z = int(h, 16)
        return f"{h} ({z - 256 if z >= 128 else z})"
    if col == "scale" and "tensor_scale" in header:  # an E4M3 block scale (NVFP4)
        v = float(element_format("fp8_e4m3").values[int(h, 16)])
        return f"{h} ({v:g})"
    if col in ("scale", "anchor_scale", "scale_a", "scale_b"):
        c = int(h, 16)
        return f"{h} ({'NaN' if c == 255 else f'2^{c - 127}'})"
    if col == "flags":
        return f"{h} ({','.join(policies.flag_names(int(h, 16))) or 'none'})"
    return h


_SCALE_BITS = {"float16": (np.float16, np.uint16, 4), "bfloat16": (ml_dtypes.bfloat16, np.uint16, 4),
               "float32": (np.float32, np.uint32, 8)}


def _scale_value(h, dtype):
    dt, ut, _ = _SCALE_BITS[dtype]
    return float(np.array([int(h, 16)], ut).view(dt)[0].astype(np.float64))


def _column_names(kind, k, header=None):
    """Each column's label, element columns indexed: input[0], code[3], ..."""
    def many(name):
        return [f"{name}[{i}]" for i in range(k)]
    if kind == "encode":
        if (header or {}).get("rounding") in ("stochastic", "hybrid"):
            return ["input", "rbits", "code", "flags"], 2
        return ["input", "code", "flags"], 1
    if kind == "decode":
        return ["code", "value_f32"], 1
    zp = ["zero_point"] if (header or {}).get("zero_point") == "yes" else []
    if kind == "quantize":
        return many("input") + ["scale"] + zp + many("code") + ["packed"], k
    if kind == "dequantize":
        return ["scale"] + zp + many("code") + many("value_f32"), k + 1 + len(zp)
    if kind == "units":
        return many("input") + ["unit"], k
    if kind == "rht":
        return many("input") + many("output"), k
    if kind == "words":  # an 8 x 8 tile (out x in) of 4-bit codes in one group along in
        return ([f"code[{i}]" for i in range(64)] + [f"zero_point[{i}]" for i in range(8)]
                + [f"word[{i}]" for i in range(9)]), 72
    if kind == "dot":
        K = int((header or {})["k"])
        n = K // k

        def idx(name, m):
            return [f"{name}[{i}]" for i in range(m)]
        cols = idx("scale_a", n) + idx("code_a", K) + idx("scale_b", n) + idx("code_b", K)
        return cols + ["c", "result"], len(cols) + 1
    return ["anchor_scale"] + many("anchor_code") + ["scale"] + many("code"), k + 1


def _rule_of(kind, header, exp, diffs, cols):
    """The category a mismatch falls in, for the closing summary, and (encode) the
    line that explains it."""
    names = [cols[i].split("[")[0] for i, _ in diffs]
    if kind == "encode":
        x = _input_value(exp[0], header.get("input", "float32"))
        why = explain_encode(header, x)
        if names == ["flags"]:
            return "flags only", why
        for key, cat in (("tie", "ties"), ("NaN", "NaN"), ("infinite", "overflow"),
                         ("beyond max", "overflow"), ("special or past", "overflow"),
                         ("subnormal", "subnormal"), ("stochastic", "stochastic")):
            if key in why:
                return cat, why
        return "rounding", why
    if "packed" in names and len(names) == 1:
        return "packing", ""
    if any(n in ("scale", "anchor_scale", "scale_a", "scale_b", "zero_point") for n in names):
        return "scale rule", ""
    if kind in ("dot",):
        return "accumulation", ""
    if kind == "rht":
        inf = any((int(exp[i], 16) & 0x7FFF) == 0x7F80 for i, _ in diffs)
        return ("overflow" if inf else "rounding"), ""
    return "elements", ""


def _flags_only_note(header, exp, got, cols):
    """Why a right code can come with other flags: an input at the tie that the
    largest value and the overflow threshold share (a design that rounds it away
    overflows, then saturates to the same code)."""
    f = element_format(header["format"]) if not is_tapered_name(header["format"]) else None
    x = _input_value(exp[0], header.get("input", "float32"))
    ex, gf = int(exp[cols.index("flags")], 16), int(got[cols.index("flags")], 16)
    extra = ",".join(policies.flag_names(gf & ~ex)) or "none"
    missing = ",".join(policies.flag_names(ex & ~gf)) or "none"
    note = f"the code is right; only the flags differ (extra: {extra}; missing: {missing})"
    if f is not None and f.kind == "float" and np.isfinite(f.max_normal) and math.isfinite(x):
        vals = np.unique(np.abs(f.values[np.isfinite(f.values)]))
        step = vals[-1] - vals[-2]
        if abs(x) == vals[-1] + step / 2:
            note += (f"; {x:g} is the tie between the largest value {vals[-1]:g} and the "
                     f"overflow threshold: rounding it away from zero overflows (and then "
                     f"saturates to the same code), {header['rounding']} does not")
    return note


def _scaled_values(kind, header, row, cols):
    """Quantize rows: each element's value times its block scale (MX: 2^(scale-127))."""
    if kind != "quantize" or "tensor_scale" in header or "scale_dtype" in header \
            or "scale" not in cols:
        return None
    try:
        f = mx_format(header["format"])
    except ValueError:
        return None
    c = int(row[cols.index("scale")], 16)
    return (lambda code: float("nan") if c == 255 else
            float(f.element.values[code]) * 2.0 ** (c - 127))


# How many mismatches a report prints in full; the counts and the summary by rule
# cover all of them.  A cap keeps a report of a billion-row dump in constant memory.
SHOW = 1000


@dataclass
class Report:
    """What verifying some rows found: the mismatches' text (the first ``show``
    of them), the counts, and per rule [count, first vector line].  Reports of
    consecutive shards merge into the report of the whole file."""
    passed: int = 0
    failed: int = 0
    lines: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    show: int = SHOW

    def merge(self, other: "Report") -> "Report":
        room = max(0, self.show - self.failed)
        shown = other.lines if other.failed <= room else _first_mismatches(other.lines, room)
        self.lines += shown
        self.passed += other.passed
        self.failed += other.failed
        for rule, (n, first) in other.summary.items():
            cat = self.summary.setdefault(rule, [0, first])
            cat[0] += n
        return self

    def emit(self, out=print) -> None:
        for line in self.lines:
            out(line)
        if self.failed > self.show:
            out(f"... {self.failed - self.show} more mismatches not shown (--show)")
        out(f"{self.passed} passed, {self.failed} failed")
        if self.summary:
            out("by rule: " + "; ".join(f"{r}: {n} (first at line {first})"
                                        for r, (n, first) in sorted(self.summary.items(),
                                                                    key=lambda t: -t[1][0])))


def _first_mismatches(lines, n):
    """The text of the first ``n`` mismatches (each starts with MISMATCH)."""
    starts = [i for i, t in enumerate(lines) if t.startswith("MISMATCH")]
    return lines[:starts[n]] if n < len(starts) else lines


@dataclass
class RowCheck:
    """What checking a row needs from the vector file's header, and the results'
    form (``no_flags``: an encode design without exception flags)."""
    header: dict
    vname: str
    rname: str
    no_flags: bool = False

    def __post_init__(self):
        h = self.header
        self.kind = h["kind"]
        self.cols, self.n_in = _column_names(self.kind, int(h.get("block_size", 1)), h)
        self.use = self.cols[:-1] if self.no_flags else self.cols


def check_rows(rc: RowCheck, vrows, rrows, notes, report: Report) -> Report:
    """Compare rows (``(line, fields)`` pairs of both files, in step) into ``report``."""
    h, kind, cols, n_in, use = rc.header, rc.kind, rc.cols, rc.n_in, rc.use
    rname = rc.rname
    for (vline, exp), (rline, got), note in zip(vrows, rrows, notes):
        if len(got) != len(use):
            raise VectorFileError(f"{rname}:{rline}: {len(got)} fields, expected {len(use)} "
                                  f"({h.get('columns', COLUMNS[kind])})"
                                  + (" (the first results row set the width)" if kind == "encode"
                                     else ""))
        for i, (g, e) in enumerate(zip(got, exp)):
            if len(g) != len(e):
                raise VectorFileError(f"{rname}:{rline}: {cols[i]} is {g!r}, {len(g)} hex "
                                      f"digits; the vector file's are {len(e)} wide "
                                      f"({rc.vname}:{vline} has {e!r})")
        if [g.lower() for g in got[:n_in]] != [e.lower() for e in exp[:n_in]]:
            raise VectorFileError(f"{rname}:{rline}: inputs differ from {rc.vname}:{vline}; "
                                  "results must keep the vectors' order and inputs")
        diffs = [(i, c) for i, c in enumerate(use) if i >= n_in and got[i].lower() != exp[i].lower()]
        packed_note = _packed_consistency(kind, h, got, cols)
        if not diffs and packed_note is None:
            report.passed += 1
            continue
        report.failed += 1
        rule, why = _rule_of(kind, h, exp, diffs, cols) if diffs else ("packing", "")
        cat = report.summary.setdefault(rule, [0, vline])
        cat[0] += 1
        if report.failed > report.show:
            continue
        out = report.lines.append
        out(f"MISMATCH vector line {vline} (results line {rline}) [{note}]")
        if kind == "encode":
            x = _input_value(exp[0], h.get("input", "float32"))
            if rule == "flags only":
                why = _flags_only_note(h, exp, got, cols)
            out(f"  input {exp[0]} ({x!r}); rule: {why}")
        scaled = _scaled_values(kind, h, exp, cols)
        for i, c in diffs:
            base = c.split("[")[0]
            line = (f"  {c}: expected {_describe(kind, h, base, exp[i])}, "
                    f"got {_describe(kind, h, base, got[i])}")
            if scaled is not None and base == "code":
                gs = _scaled_values(kind, h, got, cols)
                line += (f"; x scale: expected {scaled(int(exp[i], 16)):g}, got "
                         f"{gs(int(got[i], 16)):g}")
            out(line)
        if packed_note:
            out(f"  packed: {packed_note}")
    return report


def no_flags_column(kind, header, first_results_row) -> bool:
    """Whether an encode results file leaves out the flags column, from its first row."""
    cols, _ = _column_names(kind, int(header.get("block_size", 1)), header)
    return kind == "encode" and first_results_row is not None and \
        len(first_results_row) == len(cols) - 1


def verify(vectors: VectorFile, results: VectorFile, out=print, show: int = SHOW) -> int:
    """Compare a design's results with the vectors; print each mismatch (the
    first ``show`` of them) with both values, their bits and the rule at stake,
    then a summary by rule (ties, overflow, NaN, subnormal, flags only, scale
    rule, packing, ...) with counts and the first vector of each.  Returns the
    number of mismatching vectors.  Each result field must be the vector file's
    field as text: the same width, plain hex digits (``7`` is not the code
    ``07``, ``0`` not sixteen zero bytes); a results file that breaks that, or
    the vectors' order and inputs, is a :class:`VectorFileError` naming
    ``file:line``.  An encode results file may leave out the flags column (a
    design without exception flags): then the codes alone are compared.
    Quantize rows show a wrong code as its value times the block scale, and a
    ``packed`` field that is not the packing of the row's own codes is reported
    as such.  Files of any size: :func:`mxspec.app.verify_files.verify_files`."""
    check_header(vectors)
    h = vectors.header
    rname = results.name
    if len(results.rows) != len(vectors.rows):
        where = results.rows[-1][0] if results.rows else 1
        raise VectorFileError(f"{rname}:{where}: results have {len(results.rows)} vectors, the "
                              f"vector file {vectors.name} has {len(vectors.rows)}")
    first = results.rows[0][1] if results.rows else None
    rc = RowCheck(h, vectors.name, rname, no_flags_column(h["kind"], h, first))
    if rc.no_flags:
        out(f"{rname}: no flags column: comparing codes only (a design without exception flags)")
    report = check_rows(rc, vectors.rows, results.rows, vectors.notes, Report(show=show))
    report.emit(out)
    return report.failed


def _packed_consistency(kind, header, got, cols):
    """None, or what is wrong with a quantize row's ``packed`` field: it must be the
    packing (SPEC.md 5, or the header's layout) of the row's own codes."""
    if kind != "quantize" or "packed" not in cols or header.get("layout") == "gguf":
        return None
    k = int(header["block_size"])
    try:
        bits = block_format(header["format"]).element.bits
    except ValueError:
        return None
    c0 = cols.index("code[0]")
    try:
        codes = np.array([int(v, 16) for v in got[c0:c0 + k]], np.int64)
    except ValueError:
        return None
    if codes.size != k or codes.max(initial=0) >= 1 << bits:
        return None
    if "scale_dtype" in header:  # compressed-tensors words: code + 2^(b-1)
        codes = codes ^ (1 << (bits - 1))
    want = pack_codes(codes.astype(np.uint8), bits).tobytes().hex()
    have = got[cols.index("packed")].lower()
    want = want.ljust(len(have), "0")
    if have != want:
        return f"{have} is not the packing of the row's codes (that is {want})"
    return None


# -- the standard set ------------------------------------------------------------
ELEMENT_FORMATS = ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8", "int4", "e8m0",
                   "e6m2")
MX_FORMATS = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint4")
SLICE_PAIRS = (("mxint8", "mxint4"), ("mxint8", "mxint2"), ("mxfp8_e4m3", "mxfp4_e2m1"),
               ("mxfp8_e4m3", "mxfp6_e3m2"), ("mxfp8_e5m2", "mxfp6_e2m3"))


# Formats beyond OCP MX (SPEC.md 1.5): ml_dtypes' other types, whose casts check
# them, and P3109 formats of every kind of specials, which gfloat checks.
ML_DTYPES_FORMATS = ("fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp8_e4m3b11fnuz", "fp8_e4m3_ieee",
                     "fp8_e3m4_ieee", "int2", "uint2", "uint4")
P3109_FORMATS = ("p3109_k8p3se", "p3109_k8p4sf", "p3109_k8p1ue", "p3109_k6p3uf", "p3109_k4p2se",
                 "p3109_k3p1uf")
IEEE_MODES = ("rne", "rtz", "rna", "up", "down")


DOT_PAIRS = (("fp8_e4m3", "fp8_e4m3"), ("fp8_e5m2", "fp8_e5m2"), ("fp8_e4m3", "fp8_e5m2"),
             ("fp6_e3m2", "fp6_e3m2"), ("fp6_e2m3", "fp6_e2m3"), ("fp4_e2m1", "fp4_e2m1"),
             ("int8", "int8"), ("int4", "int4"), ("fp8_e4m3", "fp4_e2m1"))
DOT_MODELS = ("exact", "fp32_sequential", "fixed(24,rz,16)")
# Blackwell and CDNA3 rows (SPEC.md 8.7, 8.10): (accumulator, pairs, K, block, scale, suffix).
_F8F6F4_PAIRS = tuple(p for p in DOT_PAIRS if not p[0].startswith("int"))
TENSOR_CORE_DOT = (
    ("b200_f8f6f4", _F8F6F4_PAIRS, 64, 64, "none", ""),
    ("b200_mxf8f6f4", _F8F6F4_PAIRS, 64, 32, "e8m0", ""),
    ("b200_mxf4", (("fp4_e2m1", "fp4_e2m1"),), 128, 32, "e8m0", ""),
    ("b200_mxf4nvf4", (("fp4_e2m1", "fp4_e2m1"),), 128, 32, "e8m0", ""),
    ("b200_mxf4nvf4", (("fp4_e2m1", "fp4_e2m1"),), 128, 16, "ue4m3", ".ue4m3"),
    ("mi300_fp8", tuple((a, b) for a in ("fp8_e4m3fnuz", "fp8_e5m2fnuz")
                        for b in ("fp8_e4m3fnuz", "fp8_e5m2fnuz")), 64, 64, "none", ""))
# the repository root: mxspec/app/vectors.py is three levels below it
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H100_CAPTURE = os.path.join(_REPO, "tests", "data", "h100", "mma_sync.npz")


def standard_set(h100_capture=H100_CAPTURE):
    """(relative path, VectorFile) for every file of the committed suite.  The
    h100_fp8_mma files come from the H100 capture, when it is there."""
    for fa, fb in DOT_PAIRS:
        for m in DOT_MODELS:
            name = m.replace("(", "").replace(")", "").replace(",", "_")  # shell-safe
            yield f"dot/{fa}-{fb}.{name}.txt", dot_vectors(fa, fb, m)
    for m, pairs, k, bs, scale, suffix in TENSOR_CORE_DOT:
        for fa, fb in pairs:
            yield f"dot/{fa}-{fb}.{m}{suffix}.txt", dot_vectors(fa, fb, m, k=k, block_size=bs,
                                                               scale=scale)
    if h100_capture and os.path.exists(h100_capture):
        for pair in ("e4m3_e4m3", "e4m3_e5m2", "e5m2_e4m3", "e5m2_e5m2"):
            fa, fb = ("fp8_" + t for t in pair.split("_"))
            yield f"dot/{fa}-{fb}.h100_fp8_mma.txt", h100_dot_vectors(pair, h100_capture)
    wg = h100_capture and os.path.join(os.path.dirname(h100_capture), "wgmma_directed.npz")
    if wg and os.path.exists(wg):
        for pair in ("e4m3_e4m3", "e4m3_e5m2", "e5m2_e4m3", "e5m2_e5m2"):
            fa, fb = ("fp8_" + t for t in pair.split("_"))
            for recipe, model in WGMMA_RECIPES.items():
                if recipe == "cublas" and pair == "e5m2_e5m2":
                    continue  # cuBLAS refuses the pair
                name = model.split("(")[0] + ("_imp32" if "(" in model else "")
                yield f"dot/{fa}-{fb}.{name}.txt", h100_wgmma_vectors(pair, wg, recipe)
    for f in ML_DTYPES_FORMATS:
        yield f"decode/{f}.txt", decode_vectors(f)
        if element_format(f).is_int:  # ml_dtypes' casts: rtz and wrap (0.5-0.6) or zero (0.7)
            rules = (("rne", "saturate"), ("rtz", "wrap"), ("rtz", "zero"))
        else:
            rules = (("rne", "saturate"), ("rne", "ieee"))
        for r, o in rules:
            yield f"encode/{f}.float32.{r}.{o}.txt", encode_vectors(f, "float32", r, o)
    for f in P3109_FORMATS:
        yield f"decode/{f}.txt", decode_vectors(f)
        for r in IEEE_MODES:
            for o in ("saturate", "ieee"):
                yield f"encode/{f}.float32.{r}.{o}.txt", encode_vectors(f, "float32", r, o)
        yield f"encode/{f}.float32.rne.sat_propagate.txt", \
            encode_vectors(f, "float32", "rne", "sat_propagate")
    for f in ELEMENT_FORMATS:
        yield f"decode/{f}.txt", decode_vectors(f)
        for r in ("rne", "rtz", "rna", "up", "down", "stochastic"):
            for o in ("saturate", "ieee"):
                yield f"encode/{f}.float32.{r}.{o}.txt", encode_vectors(f, "float32", r, o)
        for it in ("float16", "bfloat16", "float64"):
            yield f"encode/{f}.{it}.rne.saturate.txt", encode_vectors(f, it, "rne", "saturate")
    for f in MX_FORMATS:
        for rule in policies.SCALE_RULE:
            if rule != "gguf":  # the gguf recipe's rule: its own files below
                yield f"quantize/{f}.{rule}.txt", block_vectors(f, "quantize", scale_rule=rule)
        yield f"dequantize/{f}.txt", block_vectors(f, "dequantize")
    yield "quantize/mxfp4_e2m1.gguf.txt", block_vectors("mxfp4_e2m1:gguf", "quantize")
    yield "dequantize/mxfp4_e2m1.gguf.txt", block_vectors("mxfp4_e2m1:gguf", "dequantize")
    for m in ("mx4", "mx6", "mx9", "hif4"):
        yield f"units/{m}.txt", micro_vectors(m)
    for g in INT_GROUP_FILES:
        name = g.replace(":", ".")
        yield f"quantize/{name}.txt", int_group_vectors(g, "quantize")
        yield f"dequantize/{name}.txt", int_group_vectors(g, "dequantize")
    for layout in ("gptq", "awq"):
        yield f"words/int4.{layout}.txt", int_group_word_vectors(layout)
    yield "decode/hifloat8.txt", tapered_vectors("hifloat8", "decode")
    for r, o, n in (("rna", "ieee", "keep"), ("rna", "saturate", "zero"), ("rtz", "ieee", "keep"),
                    ("up", "ieee", "keep"), ("down", "saturate", "keep"),
                    ("hybrid", "ieee", "keep")):
        yield f"encode/hifloat8.float32.{r}.{o}.{n}.txt", tapered_vectors("hifloat8", "encode",
                                                                           r, o, n)
    for r in NVFP4_RECIPES:
        name = "nvfp4" if r == "exact" else f"nvfp4:{r}"
        yield f"quantize/nvfp4.{r}.txt", nvfp4_vectors(name, "quantize")
        yield f"dequantize/nvfp4.{r}.txt", nvfp4_vectors(name, "dequantize")
    for r in NVFP4_RECIPES:  # Four Over Six chooses per tile (its sum order: SPEC.md 9.12)
        yield f"quantize/nvfp4_2d.{r}.txt", tile_vectors(f"nvfp4_2d:{r}", "quantize")
        yield f"dequantize/nvfp4_2d.{r}.txt", tile_vectors(f"nvfp4_2d:{r}", "dequantize")
    for r in FP8_GROUP_RECIPES:
        yield f"quantize/deepseek_fp8.{r}.txt", fp8_group_vectors(f"deepseek_fp8:{r}")
        yield f"dequantize/deepseek_fp8.{r}.txt", fp8_group_vectors(f"deepseek_fp8:{r}",
                                                                    "dequantize")
    for r in IF4_RECIPES:
        name = "if4" if r == "if4" else f"if4:{r}"
        yield f"quantize/if4.{r}.txt", nvfp4_vectors(name, "quantize")
        yield f"dequantize/if4.{r}.txt", nvfp4_vectors(name, "dequantize")
        name = "if4_2d" if r == "if4" else f"if4_2d:{r}"  # chosen per 16 x 16 tile
        yield f"quantize/if4_2d.{r}.txt", tile_vectors(name, "quantize")
        yield f"dequantize/if4_2d.{r}.txt", tile_vectors(name, "dequantize")
    for a, t in SLICE_PAIRS:
        for rule in ("requantize", "paper"):
            yield f"slice/{a}-{t}.{rule}.txt", slice_vectors(a, t, rule=rule)
    for signs, inverse in (("te", False), ("te", True), ("none", False)):
        yield f"rht/bfloat16.{signs}{'.inverse' if inverse else ''}.txt", \
            rht_vectors(signs, inverse)


CHECKS = {
    "encode": "decode(code) against tests/spec_reference.py (an independent float64 "
              "reference from SPEC.md){ml}; re-checked by pytest conformance/",
    "decode": "every code against the SPEC.md bit-field formula in tests/spec_reference.py{ml}; "
              "re-checked by pytest conformance/",
    "quantize": "tests/block_reference.py (an independent float64 block reference from SPEC.md); "
                "re-checked by pytest conformance/",
    "dequantize": "tests/block_reference.py (an independent float64 block reference from SPEC.md); "
                  "re-checked by pytest conformance/",
    "slice": "decode-then-encode with the floor rule (requantize) or the paper's scale "
             "(paper), float64; re-checked by pytest conformance/",
    "rht": "each output the exact rational sum of its 16 products, rounded once to "
           "bfloat16 by comparing its neighbours exactly, the Hadamard matrix built from the "
           "header's sign vector (tests/rht_reference.py, not mxspec's code); rht itself equals torch 2.13's CPU bfloat16 matmul "
           "(tests/test_rht.py); re-checked by pytest conformance/",
    "dot": "tests/dot_reference.py (an independent fractions reference of SPEC.md section 8); "
           "re-checked by pytest conformance/",
    "micro": "each unit unpacked by the byte layout of SPEC.md 11.2 (in conformance/"
             "test_vectors.py, not mxspec's unpacker) and its values compared with "
             "tests/micro_reference.py, written from the published recipes' rules; "
             "re-checked by pytest conformance/",
    "tapered": "tests/hifloat8_reference.py (every code written out from its bit fields; "
               "rounding and flags as a search among the sorted values, hybrid's stochastic "
               "choice in fractions) and en-dtypes 0.0.4's hifloat8 "
               "cast (decode, and encode under rna/ieee/keep); re-checked by pytest conformance/",
    "nvfp4": "tests/nvfp4_reference.py (an independent fractions reference of SPEC.md section "
             "9, run on the whole tensor); the recipes match torchao 0.18, ModelOpt 0.47 and "
             "compressed-tensors 0.20 bit for bit (tests/test_nvfp4_libraries.py), fouroversix "
             "and 4over6* and if4* the fouroversix 1.0.5 PyTorch reference "
             "(tests/test_fouroversix.py); "
             "re-checked by pytest conformance/",
    "fp8_groups": "the float32 operations of SPEC.md 9.9 and 9.13 in numpy, E4M3 by ml_dtypes' "
                  "float8_e4m3fn cast after clipping to +-448 (conformance/test_vectors.py); "
                  "deepseek and deepseek_ue8m0 equal the H200 capture of DeepSeek-V3's Triton "
                  "act_quant (tests/test_deepseek_fp8.py), deepgemm* torch running DeepGEMM's "
                  "casts (tests/test_deepgemm.py); re-checked by pytest conformance/",
    "tiles": "tests/nvfp4_reference.py with tile_rows (an independent fractions reference of "
             "SPEC.md 9.2 and 9.12, each block's amax its tile's, run on the whole matrix); "
             "Four Over Six and IF4 there choose per tile, its 256 terms in PyTorch's AVX2 "
             "sum order; nvfp4_2d:fouroversix, nvfp4_2d:4over6* and if4_2d* equal "
             "fouroversix 1.0.5's block_scale_2d=True reference (tests/test_fouroversix.py); "
             "re-checked by pytest conformance/",
    "int_groups": "tests/int_group_reference.py (exact rationals; the exact recipe) or the "
                  "op-by-op rounding in numpy and ml_dtypes (the compressed_tensors recipe: "
                  "torch's float32 operations rounded to the weight dtype) in "
                  "conformance/test_vectors.py; the recipe equals compressed-tensors 0.20.1 bit "
                  "for bit (tests/test_int_groups.py); re-checked by pytest conformance/",
    "words": "the pack loops of AutoGPTQ (qweight along in, qzeros less one) and AutoAWQ "
             "(order_map 0, 2, 4, 6, 1, 3, 5, 7), written out in conformance/test_vectors.py; "
             "tests/test_int_groups.py holds mxspec's words to their dequantizers; re-checked "
             "by pytest conformance/",
    "gguf": "gguf-py's quants.MXFP4 (llama.cpp's Python quantizer and dequantizer; scale "
            "byte, codes, the block_mxfp4 bytes and the float32 values bit for bit) in the "
            "release CI installs (0.18 and 0.19); re-checked by pytest conformance/",
    "dot_b200": "MMA-Sim 2.1.1 (mmasim, the published simulator of B200 silicon), row by row "
                "(tests/test_blackwell.py::test_conformance_files_equal_mmasim), and "
                "tests/dot_reference.py (fractions, SPEC.md 8.7); re-checked by pytest "
                "conformance/",
    "dot_mi300": "MMA-Sim 2.1.1 (mmasim's CDNA3 model), row by row "
                 "(tests/test_cdna3.py::test_conformance_files_equal_mmasim), and "
                 "tests/dot_reference.py (fractions, SPEC.md 8.10); re-checked by pytest "
                 "conformance/",
    "dot_h100": "the result column is the NVIDIA H100's own mma.sync output "
                "(tests/data/h100/mma_sync.npz, held-out tiles); h100_fp8_mma and "
                "tests/dot_reference.py give the same bits; re-checked by pytest conformance/",
    "dot_h100_wgmma": "the result column is the NVIDIA H100's own wgmma output through "
                      "cuBLAS or Triton (tests/data/h100/wgmma_directed.npz, captured after "
                      "the model was fitted); the model and tests/dot_reference.py give the "
                      "same bits; re-checked by pytest conformance/",
}


# The ml_dtypes releases whose casts a file's codes equal, by the file's rule (the
# rows of policies.ELEMENT_RECIPES): integers wrap in 0.5-0.6 and give 0 out of
# range in 0.7; floats agree in every release, but for E8M0's rounding of
# (2^-127, 1.5 x 2^-127), which 0.5-0.6 round up (docs/verification.md).
ML_RELEASES = {"wrap": "0.5-0.6", "zero": "0.7", "float": "0.5-0.7"}
E8M0_NOTE = " (0.5-0.6 agree except on (2^-127, 1.5 x 2^-127), which they round up)"


def ml_dtypes_rule(f, header) -> tuple | None:
    """How a file's codes compare with ml_dtypes' cast: ("cast" (equal) or
    "clamped" (equal once the cast's non-finite results are clamped to max),
    the releases that cast so), or None."""
    if not f.ml_dtype:
        return None
    rel = "0.7" if f.name == "e8m0" else ML_RELEASES["float"]
    if header.get("kind") == "decode":
        return "cast", ML_RELEASES["float"]
    r, o = header.get("rounding"), header.get("overflow")
    if f.is_int:
        return ("cast", ML_RELEASES[o]) if r == "rtz" and o in ML_RELEASES else None
    if r == "rne" and o in ("ieee", "saturate"):
        return ("cast" if o == "ieee" else "clamped"), rel
    return None


def ml_dtypes_installed_casts(releases: str) -> bool:
    """Whether the installed ml_dtypes is one of ``releases`` ("0.5-0.6", ...)."""
    return (policies.installed_ml_dtypes_recipe() == "ml_dtypes-0.7") == ("0.7" in releases)


def gfloat_checks(f, header) -> bool:
    """Whether gfloat (Graphcore's P3109 implementation) checks a file."""
    if not f.name.startswith("p3109_"):
        return False
    return header.get("kind") == "decode" or (
        header.get("rounding") in IEEE_MODES and header.get("overflow") in
        ("saturate", "ieee", "sat_propagate"))


def checks_for(vf: VectorFile) -> str:
    ml = ""
    if is_tapered_name(vf.header.get("format", "")):
        return CHECKS["tapered"]
    if vf.kind in ("encode", "decode"):
        f = element_format(vf.header["format"])
        rule = ml_dtypes_rule(f, vf.header)
        if rule:
            rule, releases = rule
            ml = f"; the {f.ml_dtype} cast of ml_dtypes {releases}"
            if f.name == "e8m0" and vf.kind == "encode":
                ml += E8M0_NOTE
            if vf.kind == "encode" and rule == "clamped":
                ml += " clamped to max finite"
            if vf.header.get("input") == "float64":
                ml += (" on the inputs float32 holds exactly (ml_dtypes rounds float64 through "
                       "float32 first)")
        if gfloat_checks(f, vf.header):
            ml += ("; gfloat 0.5.2's P3109 format_info_p3109 with decode_ndarray"
                   if vf.kind == "decode" else
                   "; gfloat 0.5.2's P3109 round_ndarray + encode_ndarray (saturating or not)")
    if "tile_rows" in vf.header:
        return CHECKS["tiles"]
    if vf.header.get("scale") == "float32" and vf.kind in ("quantize", "dequantize"):
        return CHECKS["fp8_groups"]
    if "tensor_scale" in vf.header:
        return CHECKS["nvfp4"]
    if vf.header.get("recipe") == "gguf":
        return CHECKS["gguf"]
    if "scale_dtype" in vf.header:
        return CHECKS["int_groups"]
    if vf.kind == "words":
        return CHECKS["words"]
    if family_of(vf.header.get("format", "")) == "micro":
        return CHECKS["micro"]
    if vf.kind == "dot" and vf.header.get("accumulator") == "h100_fp8_mma":
        return CHECKS["dot_h100"]
    if vf.kind == "dot" and "wgmma_directed" in vf.header.get("source", ""):
        return CHECKS["dot_h100_wgmma"]
    if vf.kind == "dot" and vf.header.get("accumulator", "").startswith("b200_"):
        return CHECKS["dot_b200"]
    if vf.kind == "dot" and vf.header.get("accumulator", "") == "mi300_fp8":
        return CHECKS["dot_mi300"]
    return CHECKS[vf.kind].format(ml=ml)


def write_standard_set(root, progress=True):
    """Write the standard set under ``root``, its manifest, and the ``$readmemh``
    twins of its element files beside it (``<root>/../memh``)."""
    from tqdm import tqdm
    files = list(standard_set())
    for rel, vf in tqdm(files, desc="vector files", disable=not progress):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(render(vf, checks_for(vf)))
    rels = [rel for rel, _ in files]
    write_manifest(root, rels)
    write_memh(root, os.path.join(os.path.dirname(os.path.abspath(root)), "memh"))
    return rels


# -- $readmemh twins ------------------------------------------------------------
# The element files a Verilog testbench reads with $readmemh: one fixed-width hex
# word per row, no comments, the fields packed most significant first as the
# sidecar (<name>.json) lists them.
MEMH_FIELDS = {"decode": (("code", 8), ("value_f32", 32)),
               "encode": (("input", 32), ("code", 8), ("flags", 8))}


def memh_sources() -> list:
    """The vector files that have a $readmemh twin: every OCP element format's decode
    file and its float32 rne/saturate encode file."""
    return ([f"decode/{f}.txt" for f in ELEMENT_FORMATS]
            + [f"encode/{f}.float32.rne.saturate.txt" for f in ELEMENT_FORMATS])


def memh_twin(rel, text) -> tuple:
    """(the twin's text, its sidecar) of the vector file ``rel`` with ``text``."""
    vf = parse(text, rel)
    fields = MEMH_FIELDS[vf.kind]
    width = sum(w for _, w in fields)
    words = []
    for _, row in vf.rows:
        word = 0
        for (name, w), v in zip(fields, row):
            word = (word << w) | int(v, 16)
        words.append(f"{word:0{width // 4}x}")
    bit, layout = width, []
    for name, w in fields:
        layout.append({"name": name, "msb": bit - 1, "lsb": bit - w})
        bit -= w
    side = {"source": rel, "source_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "kind": vf.kind, "format": vf.header["format"], "rows": len(words),
            "word_bits": width, "fields": layout,
            "verilog": f"reg [{width - 1}:0] mem [0:{len(words) - 1}]; "
                       f"$readmemh(\"{os.path.basename(rel)[:-4]}.memh\", mem);"}
    return "\n".join(words) + "\n", side


def write_memh(root, out):
    for rel in memh_sources():
        text = open(os.path.join(root, rel), encoding="utf-8").read()
        twin, side = memh_twin(rel, text)
        base = os.path.join(out, rel[:-4])
        os.makedirs(os.path.dirname(base), exist_ok=True)
        with open(base + ".memh", "w") as fh:
            fh.write(twin)
        with open(base + ".json", "w") as fh:
            json.dump(side, fh, indent=1, sort_keys=True)
            fh.write("\n")


# -- the manifest ---------------------------------------------------------------
MANIFEST = "MANIFEST.json"


def file_entry(path) -> dict:
    """What the manifest holds of one vector file: its SHA-256, row count and
    what its header says (kind, format, columns, what checked it)."""
    data = open(path, "rb").read()
    vf = parse(data.decode("utf-8"), os.fspath(path))
    h = vf.header
    fmt = h.get("format") or f"{h.get('format_a')} x {h.get('format_b')}"
    return {"sha256": hashlib.sha256(data).hexdigest(), "rows": len(vf.rows),
            "kind": h["kind"], "format": fmt, "columns": h.get("columns", ""),
            "checked": h.get("checked", "")}


def manifest_of(root, rels) -> dict:
    files = {rel: file_entry(os.path.join(root, rel)) for rel in sorted(rels)}
    whole = hashlib.sha256("".join(f"{r} {e['sha256']}\n" for r, e in files.items()).encode())
    return {"layout": LAYOUT, "mxspec": __version__, "files": len(files),
            "sha256": whole.hexdigest(), "entries": files}


def write_manifest(root, rels) -> None:
    with open(os.path.join(root, MANIFEST), "w") as fh:
        json.dump(manifest_of(root, rels), fh, indent=1, sort_keys=True)
        fh.write("\n")


def check_set(root, out=print) -> int:
    """Check a copy of the vector set against its MANIFEST.json: every file there,
    none extra, each with the manifest's SHA-256 (a truncated or edited file
    names its row count against the manifest's).  Returns the number of
    problems; a missing or malformed manifest is a :class:`VectorFileError`."""
    mpath = os.path.join(root, MANIFEST)
    try:
        with open(mpath) as fh:
            man = json.load(fh)
        entries = man["entries"]
    except FileNotFoundError:
        raise VectorFileError(f"{mpath}: no manifest (is {root} a vector set?)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise VectorFileError(f"{mpath}: malformed manifest: {err}") from None
    found = sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                   for d, _, fs in os.walk(root) for f in fs if f.endswith(".txt"))
    bad = matched = 0
    for rel in sorted(set(entries) - set(found)):
        out(f"{rel}: missing (the manifest lists it)")
        bad += 1
    for rel in sorted(set(found) - set(entries)):
        out(f"{rel}: not in the manifest (from another version of the set?)")
        bad += 1
    for rel in sorted(set(found) & set(entries)):
        want = entries[rel]
        try:
            got = file_entry(os.path.join(root, rel))
        except (VectorFileError, UnicodeDecodeError, KeyError) as err:
            out(f"{rel}: unreadable: {err}")
            bad += 1
            continue
        if got["sha256"] != want["sha256"]:
            why = (f"{got['rows']} rows, the manifest says {want['rows']}"
                   if got["rows"] != want["rows"] else "same row count, other bytes")
            out(f"{rel}: SHA-256 differs ({why})")
            bad += 1
        else:
            matched += 1
    out(f"{matched} of {len(entries)} files match "
        f"{MANIFEST} (set {man.get('sha256', '?')[:16]}, mxspec {man.get('mxspec', '?')})")
    return bad
