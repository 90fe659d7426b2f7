"""Accumulator models: how a dot product's products are added (SPEC.md section 8).

One table of named models, each a small frozen record; one engine
(:mod:`mxspec.dotcore`) runs every model.  A model says how exact the sum is
and in which order it is formed:

- ``exact``: every product and sum exact, one rounding at the end;
- ``fp32_sequential`` / ``fp32_pairwise`` / ``fp32_blockwise``: IEEE float32
  arithmetic in a stated order;
- the block-FMA family (``fixed(frac_bits, rounding, group)`` and the measured
  ``h100_fp8_mma``): groups of products aligned to their largest exponent with
  ``frac_bits`` bits kept below it, truncated or rounded, added exactly and
  normalized to float32.

>>> accumulator("h100_fp8_mma").group, accumulator("h100_fp8_mma").frac_bits
(16, 25)
>>> accumulator("fixed(12, rne, 8)").name
'fixed(12,rne,8)'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AccumulatorModel", "accumulator", "accumulators", "fixed", "wgmma"]

KINDS = ("exact", "fp32", "blockfma")
FP32_ORDERS = ("sequential", "pairwise", "blockwise")
# Roundings of the block-FMA datapath (aligned terms and normalization): truncate
# toward zero, or round to nearest with ties to even.
DATAPATH_ROUNDINGS = ("rz", "rne")
C_MODES = ("align", "add")
# Orders in which a block-FMA model takes the K products of one instruction.
K_ORDERS = ("natural", "h100_mma")
# What one block-FMA step adds (SPEC.md 8.3, 8.7, 8.10): "products" aligned to the
# largest product exponent; "group_sums": each sum_group products summed exactly,
# times the block scales' significands, aligned on the scales' exponents
# (Blackwell's kind::mxf4 / mxf4nvf4); "even_odd": the even- and odd-indexed
# products summed apart, the halves and then C combined rounding toward minus
# infinity (AMD CDNA3's FP8 MFMA).
STEPS = ("products", "group_sums", "even_odd")
# Block scales a model can take: (scale kind, block size) pairs.
BLOCK_SCALES = ("e8m0", "ue4m3")

# Index of each field in AccumulatorModel.params, the tuple the engine reads.
A_KIND, A_ORDER, A_GROUP, A_FRAC, A_RND, A_INST_K, A_C_ADD, A_K_ORDER, A_EMIN_CLAMP, \
    A_NAN_BITS, A_ACC_BITS, A_ZERO_EXP, A_OVF_INF, A_STEP, A_SUM_GROUP, A_FRAC2, \
    A_ZERO_POS = range(17)
NO_CLAMP = -(1 << 20)


@dataclass(frozen=True)
class AccumulatorModel:
    """One accumulator model; see SPEC.md section 8 for each field's meaning.

    kind        "exact", "fp32" or "blockfma".
    order       fp32 only: "sequential" (fused multiply-adds in index order),
                "pairwise" (float32 products, an adder tree) or "blockwise"
                (a float32 sum per scale block, scaled, added in order).
    group       blockfma: products per block-FMA step.
    frac_bits   blockfma: bits kept below the step's largest exponent.
    rounding    blockfma: "rz" (truncate) or "rne", for the aligned terms and
                for the step's float32 result.
    inst_k      blockfma: products per instruction, or per promotion interval
                (0: the whole dot is one).  An instruction's steps start from
                +0, and its result is added to the running float32 sum with an
                IEEE round-to-nearest-even add.
    acc_bits    blockfma: significand bits of each step's result (24: float32;
                the H100's wgmma keeps 14), rounded like the terms.
    c           blockfma: "align" (the addend C is the first step's
                accumulator) or "add" (C is added last, as a float32 add).
                With inst_k > 0, C is the running sum the instructions add to.
    k_order     blockfma: "natural", or "h100_mma" (an instruction of 32 takes
                k % 4 in {0, 1} first, then k % 4 in {2, 3}).
    input_emin  blockfma: the operands' exponents are clamped below at this
                value when the step finds its largest exponent (-14: the
                operands pass through FP16); None: each format's own emin.
    formats     element formats the model takes (None: all).
    refuses     (format_a, format_b) pairs the model does not take, with why.
    takes_c     whether the model has an addend C (False: a nonzero c is an error).
    nan_bits    float32 bits of the NaN the model returns.
    zero_exp    blockfma: where a step has a zero product (or a zero accumulator), its
                largest exponent is at least this (MMA-Sim's e_zero: -133 for the
                Blackwell kinds); None: zeros never lead.
    overflow    blockfma: "saturate" (a truncated result past float32's range is
                its largest finite value) or "inf" (2^128 and past are Inf).
    step        blockfma: what a step adds, one of STEPS ("products": each product
                aligned on its own exponent; "group_sums": sums of ``sum_group``
                products, scaled, aligned on the scales' exponents; "even_odd":
                CDNA3's two halves, combined toward minus infinity).
    sum_group   group_sums: the products summed exactly into one term.
    frac_bits2  even_odd: the bits below the largest exponent kept where the halves'
                sum meets C (floor), and in the combined sum (floor), before the
                one rounding to float32 (nearest even).
    zero_result blockfma: the sign of a step's zero result: "signed" (a negative sum
                that truncates or underflows to zero is -0) or "positive" (every zero
                is +0, as MMA-Sim's Blackwell datapaths return it).
    block_scales the (scale kind, block size) pairs the model takes from block
                arrays (None: MX blocks of any size; (): none, element codes only,
                through dot_elements / matmul_elements).
    outputs     besides float32, the output types the modelled GEMM writes: its
                float32 result rounded once more, to nearest even (cuBLAS's
                bfloat16 and float16 outputs; SPEC.md 8.8).
    """

    name: str
    kind: str
    order: str = "sequential"
    group: int = 0
    frac_bits: int = 0
    rounding: str = "rz"
    inst_k: int = 0
    c: str = "align"
    k_order: str = "natural"
    input_emin: int | None = None
    formats: tuple | None = None
    refuses: tuple = ()
    takes_c: bool = True
    nan_bits: int = 0x7FC00000
    acc_bits: int = 24
    zero_exp: int | None = None
    overflow: str = "saturate"
    block_scales: tuple | None = None
    step: str = "products"
    sum_group: int = 0
    frac_bits2: int = 0
    zero_result: str = "signed"
    outputs: tuple = ()
    description: str = field(default="", compare=False)

    def __post_init__(self):
        def bad(arg, v, allowed):
            raise ValueError(f"accumulator model {self.name!r}: {arg}={v!r}; allowed: {allowed}")
        if self.kind not in KINDS:
            bad("kind", self.kind, ", ".join(KINDS))
        if self.kind == "fp32" and self.order not in FP32_ORDERS:
            bad("order", self.order, ", ".join(FP32_ORDERS))
        if self.kind == "blockfma":
            if not 1 <= self.group <= 1024:
                bad("group", self.group, "1 .. 1024")
            if not 1 <= self.frac_bits <= 51 - self.group.bit_length():
                # A step's aligned terms and their sum must stay below 2**53.
                bad("frac_bits", self.frac_bits,
                    f"1 .. {51 - self.group.bit_length()} for groups of {self.group}")
            if self.rounding not in DATAPATH_ROUNDINGS:
                bad("rounding", self.rounding, ", ".join(DATAPATH_ROUNDINGS))
            if self.c not in C_MODES:
                bad("c", self.c, ", ".join(C_MODES))
            if self.k_order not in K_ORDERS:
                bad("k_order", self.k_order, ", ".join(K_ORDERS))
            if self.inst_k < 0 or (self.inst_k and self.inst_k % self.group):
                bad("inst_k", self.inst_k, "0 or a positive multiple of group")
            if self.overflow not in ("saturate", "inf"):
                bad("overflow", self.overflow, "saturate, inf")
            if not 2 <= self.acc_bits <= 24:
                bad("acc_bits", self.acc_bits, "2 .. 24")
            if self.k_order == "h100_mma" and (self.inst_k != 32 or self.group != 16):
                bad("k_order", self.k_order, "'natural' unless inst_k=32 and group=16")
            if self.step not in STEPS:
                bad("step", self.step, ", ".join(STEPS))
            if self.zero_result not in ("signed", "positive"):
                bad("zero_result", self.zero_result, "signed, positive")
            if self.step == "group_sums":
                if self.sum_group < 1 or self.group % self.sum_group:
                    bad("sum_group", self.sum_group, f"a divisor of group={self.group}")
                # A term is a sum of E2M1 products (below 2^12 with the two scale
                # significands): F + 12 bits, and the terms' sum, below 2^53.
                if self.formats != ("fp4_e2m1",):
                    bad("formats", self.formats, "('fp4_e2m1',) for step='group_sums'")
                if self.frac_bits + 12 + (self.group // self.sum_group + 1).bit_length() > 52:
                    bad("frac_bits", self.frac_bits, "at most 52 - 12 - bits of the term count")
            if self.step == "even_odd" and not self.frac_bits < self.frac_bits2 <= 40:
                bad("frac_bits2", self.frac_bits2, f"{self.frac_bits + 1} .. 40")
        if self.block_scales is not None:
            for pair in self.block_scales:
                if not (isinstance(pair, tuple) and len(pair) == 2 and pair[0] in BLOCK_SCALES
                        and isinstance(pair[1], int) and pair[1] >= 1):
                    bad("block_scales", pair, f"(scale kind, block size) pairs, the kind one "
                        f"of {', '.join(BLOCK_SCALES)}")

    @property
    def params(self) -> tuple:
        """The integer tuple the engine reads (indices A_* in this module)."""
        return (KINDS.index(self.kind),
                FP32_ORDERS.index(self.order) if self.kind == "fp32" else 0,
                self.group, self.frac_bits, DATAPATH_ROUNDINGS.index(self.rounding),
                self.inst_k, int(self.c == "add"), K_ORDERS.index(self.k_order),
                NO_CLAMP if self.input_emin is None else self.input_emin, self.nan_bits,
                self.acc_bits, NO_CLAMP if self.zero_exp is None else self.zero_exp,
                int(self.overflow == "inf"), STEPS.index(self.step), self.sum_group,
                self.frac_bits2, int(self.zero_result == "positive"))

    @property
    def float32_only(self) -> bool:
        """Whether the model's result is a float32 (every model but exact)."""
        return self.kind != "exact"

    def __repr__(self) -> str:
        return f"AccumulatorModel({self.name!r})"


def fixed(frac_bits: int, rounding: str = "rz", group: int = 16, c: str = "align"):
    """The block-FMA family of the published tensor-core studies: each group of
    ``group`` products and the running sum are aligned to the largest exponent
    among them, ``frac_bits`` bits are kept below it (``rounding``: "rz"
    truncates, "rne" rounds), the terms are added exactly and the sum is
    normalized to float32 with the same rounding.

    >>> fixed(24).name
    'fixed(24,rz,16)'
    """
    for arg, v in (("frac_bits", frac_bits), ("group", group)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"fixed(): {arg} must be an int, got {v!r}")
    name = f"fixed({frac_bits},{rounding},{group}" + ("" if c == "align" else f",{c}") + ")"
    return AccumulatorModel(
        name, "blockfma", group=group, frac_bits=frac_bits, rounding=rounding, c=c,
        description=f"groups of {group} products aligned to the largest exponent, "
                    f"{frac_bits} bits kept below it, {rounding}")


WGMMA_K = 32  # products that one H100 wgmma FP8 instruction accumulates
_FP8 = ("fp8_e4m3", "fp8_e5m2")
_GEMM_OUT = ("bfloat16", "float16")  # cuBLAS's outputs past float32 (SPEC 8.8)
_NO_E5M2_PAIR = ((("fp8_e5m2", "fp8_e5m2"),
                  "cuBLAS (torch._scaled_mm) refuses two E5M2 operands"),)


def wgmma(promote: int = 0, name: str | None = None, **kw) -> AccumulatorModel:
    """The H100's wgmma FP8 datapath (measured, SPEC.md 8.6): steps of 32
    products and the running accumulator, aligned to the largest exponent, 13
    bits kept below it, truncated, the sum truncated to 14 significant bits.
    ``promote=N`` adds the datapath's partial results over each N products into
    a float32 sum (round to nearest even), as cuBLAS without fast accumulation
    (N = 128), Triton's ``max_num_imprecise_acc=N`` and DeepSeek-V3 (N_C = 128) do.

    >>> wgmma(128).inst_k, wgmma().acc_bits
    (128, 14)
    """
    if isinstance(promote, bool) or not isinstance(promote, (int, np.integer)) or \
            promote < 0 or promote % WGMMA_K:
        raise ValueError(f"promote={promote!r}: the promotion interval must be a positive "
                         f"multiple of {WGMMA_K}, the products one wgmma instruction "
                         f"accumulates (0: no promotion)")
    promote = int(promote)
    if name is None:
        name = "h100_fp8_wgmma" + (f"(promote={promote})" if promote else "")
    desc = kw.pop("description", None) or (
        "NVIDIA H100 wgmma FP8 accumulation, measured: steps of 32 products and the "
        "running sum aligned to the largest exponent, 13 bits below it, truncated, "
        "the sum truncated to 14 significant bits"
        + (f"; partial results over each {promote} products added into float32"
           if promote else ""))
    return AccumulatorModel(name, "blockfma", group=WGMMA_K, frac_bits=13, rounding="rz",
                            inst_k=promote, acc_bits=14, formats=_FP8,
                            nan_bits=0x7FFFFFFF, description=desc, **kw)


# NVIDIA B200 tcgen05.mma kind::f8f6f4 / kind::mxf8f6f4 (MMA-Sim, arXiv 2511.10909,
# measured on B200 silicon; SPEC.md 8.7): the five element types of the kind.
F8F6F4 = ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1")


def _b200(name, block_scales, what):
    return AccumulatorModel(
        name, "blockfma", group=32, frac_bits=25, rounding="rz", c="align", zero_exp=-133,
        overflow="inf", formats=F8F6F4, nan_bits=0x7FFFFFFF, block_scales=block_scales,
        zero_result="positive", description=(f"NVIDIA B200 tcgen05.mma {what}: per instruction of 32 products, the "
                     "products (block scales in their exponents) and C aligned to the largest "
                     "exponent (a zero term counts at 2^-133), 25 bits kept, truncated, one "
                     "normalization toward zero; each instruction's result the next one's C"))


def _b200_fp4(name, block_scales, what):
    return AccumulatorModel(
        name, "blockfma", group=64, frac_bits=35, rounding="rz", c="align", zero_exp=-139,
        overflow="inf", formats=("fp4_e2m1",), nan_bits=0x7FFFFFFF, block_scales=block_scales,
        step="group_sums", sum_group=16, zero_result="positive",
        description=(f"NVIDIA B200 tcgen05.mma {what}: per instruction of 64 E2M1 products, "
                     "each 16 summed exactly and multiplied by the two block scales' "
                     "significands, the four sums and C aligned to the largest scale "
                     "exponent (an all-zero group or a zero C counts at 2^-139), 35 bits "
                     "kept, truncated, one normalization toward zero"))


_MXF4NVF4 = (("e8m0", 32), ("e8m0", 16), ("ue4m3", 16))
_TABLE = {m.name: m for m in (
    AccumulatorModel("exact", "exact", description=(
        "every product and sum exact (wide fixed point), rounded once to the output format")),
    AccumulatorModel("fp32_sequential", "fp32", "sequential", description=(
        "IEEE float32 fused multiply-adds in index order, starting from C")),
    AccumulatorModel("fp32_pairwise", "fp32", "pairwise", description=(
        "float32 products summed by a float32 adder tree (adjacent pairs, level by "
        "level), then C added")),
    AccumulatorModel("fp32_blockwise", "fp32", "blockwise", description=(
        "Arm TOSA 1.1 MATMUL_T_BLOCK_SCALED: per scale block a float32 sequential sum "
        "of the unscaled element products, multiplied by the float32 product of the "
        "two scales, added in order to a float32 sum that starts from C")),
    AccumulatorModel(
        "h100_fp8_mma", "blockfma", group=16, frac_bits=25, rounding="rz", inst_k=32,
        c="align", k_order="h100_mma", input_emin=-14,
        formats=("fp8_e4m3", "fp8_e5m2"), nan_bits=0x7FFFFFFF, description=(
            "NVIDIA H100 mma.sync.aligned.m16n8k32 with FP8 inputs and float32 "
            "accumulate, measured: two 16-product block FMAs (25 bits below the "
            "largest exponent, truncated, normalized toward zero), then C added by "
            "a float32 add")),
    wgmma(0),
    wgmma(0, "cublas_fp8_fast", refuses=_NO_E5M2_PAIR, takes_c=False, outputs=_GEMM_OUT,
          description=(
        "cuBLAS FP8 GEMM with fast accumulation (torch._scaled_mm use_fast_accum=True): "
        "the wgmma datapath over all of K")),
    wgmma(128, "cublas_fp8", refuses=_NO_E5M2_PAIR, takes_c=False, outputs=_GEMM_OUT,
          description=(
        "cuBLAS FP8 GEMM in its default mode: the wgmma datapath's partial results "
        "over each 128 products added into float32")),
    _b200("b200_f8f6f4", (), "kind::f8f6f4 (unscaled element codes)"),
    _b200("b200_mxf8f6f4", (("e8m0", 32),), "kind::mxf8f6f4.block32 (UE8M0 scales per 32)"),
    _b200_fp4("b200_mxf4", (("e8m0", 32),), "kind::mxf4.block32 (UE8M0 scales per 32)"),
    _b200_fp4("b200_mxf4nvf4", _MXF4NVF4, "kind::mxf4nvf4 (UE8M0 per 32 or 16, UE4M3 per 16)"),
    AccumulatorModel(
        "mi300_fp8", "blockfma", group=16, frac_bits=24, rounding="rz", c="align",
        formats=("fp8_e4m3fnuz", "fp8_e5m2fnuz"), nan_bits=0x7FFFFFFF, block_scales=(),
        step="even_odd", frac_bits2=31, description=(
            "AMD MI300 (CDNA3) v_mfma_f32_*_fp8/bf8, FNUZ operands (MMA-Sim): per 16 "
            "products, the even- and odd-indexed halves each aligned to their largest "
            "exponent with 24 bits kept (truncated) and summed, the halves added toward "
            "minus infinity, C joined at 31 bits (floor), the sum rounded to nearest even "
            "into float32, which is the next 16's C")),
    wgmma(128, "deepseek_fp8", description=(
        "DeepSeek-V3's FP8 GEMM recipe: wgmma partial results promoted to float32 "
        "every N_C = 128 products")),
)}
ALIASES = {"fp32": "fp32_sequential", "tosa": "fp32_blockwise",
           "triton_fp8": "h100_fp8_wgmma", "sm120_mxf8f6f4": "b200_mxf8f6f4",
           "sm120_f8f6f4": "b200_f8f6f4", "sm120_mxf4": "b200_mxf4",
           "sm120_mxf4nvf4": "b200_mxf4nvf4", "cdna3_fp8": "mi300_fp8"}
_WGMMA = re.compile(r"^(h100_fp8_wgmma|triton_fp8)\((?:(promote|max_num_imprecise_acc)=)?"
                    r"(-?\d+)\)$")

_FIXED = re.compile(r"^fixed\(\s*(\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\d+)\s*)?(?:,\s*(\w+)\s*)?\)$")


def accumulator(name) -> AccumulatorModel:
    """A model by name: one of :func:`accumulators`, an alias (``fp32``), or
    ``fixed(frac_bits[, rounding[, group[, c]]])``; a model passes through."""
    if isinstance(name, AccumulatorModel):
        return name
    if not isinstance(name, str):
        raise TypeError(f"accumulator must be a name or an AccumulatorModel, got "
                        f"{type(name).__name__}")
    key = name.strip().lower().replace(" ", "")
    key = ALIASES.get(key, key)
    if key in _TABLE:
        return _TABLE[key]
    m = _WGMMA.match(key)
    if m:
        base, arg, n = m.groups()
        if arg and arg != {"h100_fp8_wgmma": "promote",
                           "triton_fp8": "max_num_imprecise_acc"}[base]:
            raise ValueError(f"accumulator {name!r}: {base} takes "
                             f"{'promote' if base == 'h100_fp8_wgmma' else 'max_num_imprecise_acc'}=N")
        return wgmma(int(n), f"triton_fp8(max_num_imprecise_acc={n})"
                     if base == "triton_fp8" else None)
    m = _FIXED.match(key)
    if m:
        fb, rnd, grp, c = m.groups()
        return fixed(int(fb), rnd or "rz", int(grp) if grp else 16, c or "align")
    raise ValueError(f"unknown accumulator {name!r}; valid: {', '.join(_TABLE)}, "
                     f"{', '.join(ALIASES)} (alias), fixed(frac_bits, rounding, group), "
                     f"h100_fp8_wgmma(promote=N) or triton_fp8(max_num_imprecise_acc=N)")


def accumulators() -> list[str]:
    """Names of the named models (``fixed(...)`` makes more)."""
    return list(_TABLE)
