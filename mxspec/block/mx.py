"""The MX engine: element codes under one level of E8M0 scales (SPEC.md
section 4).  Reached through the one dispatch, :mod:`mxspec.block.api`.

>>> import numpy as np, mxspec
>>> mx = mxspec.encode(np.array([0.1, -2.0, 3.3, 7.9]), "mxfp4_e2m1", block_size=4)
>>> mx.scales.tolist(), mx.codes.tolist()
([127], [0, 12, 5, 7])
>>> mxspec.decode(mx).tolist()
[0.0, -2.0, 3.0, 6.0]
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._kernel import parallel as _parallel
from ..tables import policies
from .._kernel.bitstream import (code_at, group_code, load_group, load_word, pack_span,
                        pack_span_inline, spread_group)
from .._kernel.jit import abs_max_bits, borrowed, claim, kernel_factory
from ..codec.core import (ABS_MAX_RUN_MAX, PASS_FAST32, PASS_RNE32, _bitcast, abs_bits_value,
                   decode_one,
                   abs_max_bits_run, decode_value32, encode_fast, encode_fast32,
                   encode_full_span, encode_rne32, float_abs_bits, is_float32, jit, pass_kind,
                   pow2_f32, rne32_declines_only_specials)
from ..codec.elements import as_float_input, check_codes, decode_table, random_bits, value32_exact
from ..tables.block import BlockFormat
from ..tables.element import P_BITS, P_EMAX
from .array import BlockArray, _check_block_size, _norm_axis
from ..tables.policies import R_IRANGE, R_MODE, R_OVF, R_RULE, R_ZSCALE, R_INF
from ..codec.e8m0 import (E8M0_NAN, FLOOR, GGUF, LOG2F_LO, LOG2F_T32, SCALE_MAX, SCALE_MIN,
                          ZERO_MIN, scale_code)

__all__ = ["encode", "decode", "encode_packed", "decode_packed", "POLICIES"]


def _task_count(rows, nb, G):
    return rows * ((nb + G - 1) // G)


@jit
def scale_of_max(x, mbits, P, zscale, rule):
    """The scale code of a block from its largest magnitude as abs bits (of
    x's width), where integers alone give it: under the floor rule (the
    exponent field is floor(log2 amax)) or, for float32 input, the gguf rule.
    -1 where they do not (NaN, Inf, a subnormal amax): the full path
    (:func:`block_scale`) decides those."""
    if mbits == 0:
        return 0 if (zscale == ZERO_MIN or rule == GGUF) else 127
    if is_float32(x):
        ex, top, bias = numba.int64(mbits >> 23), 255, 127
    else:
        ex, top, bias = numba.int64(mbits >> 52), 2047, 1023
    if ex == 0 or ex == top or (rule == GGUF and not is_float32(x)):
        return -1
    if rule == GGUF:
        # floor of log2 rounded to float32: a threshold per binade (SPEC.md 4.5),
        # the byte modulo 256 as gguf-py's uint8 cast gives it
        bump = numba.int64(mbits) >= LOG2F_T32[ex - bias + 1 - LOG2F_LO]
        sc = (ex - bias - P[P_EMAX] + bump + 127) & 0xFF
        return -1 if sc >= GGUF_LITERAL else sc
    return min(max(ex - bias - P[P_EMAX], SCALE_MIN), SCALE_MAX) + 127


@jit
def block_scale(x, start, end, P, rule, zscale, infp):
    """The scale code of block ``x[start:end]`` under any rule and input (SPEC.md 4)."""
    mbits = abs_max_bits(x, start, end)
    amax = abs_bits_value(x[start], mbits)
    any_nan = amax != amax
    any_inf = amax == math.inf
    if any_inf and not any_nan:  # rare: the largest *finite* magnitude is needed
        amax = 0.0
        for i in range(start, end):
            v = abs(np.float64(x[i]))
            if v != math.inf and v > amax:
                amax = v
    return scale_code(amax, any_nan, any_inf, P, rule, zscale, infp)


# A task is a run of whole blocks of one row, about this many elements; its
# number of blocks is a multiple of 8, so that every task starts on a byte of
# the packed stream whatever the code width (8 codes of b bits = b bytes).
TASK_ELEMENTS = 4096


def blocks_per_task(bs: int) -> int:
    return max(8, TASK_ELEMENTS // bs // 8 * 8)


@jit
def _task(t, nb, G, one_row):
    """Task t of rows x runs of G blocks: (row, first block, end block).  With
    one row (encode_rows folds rows whose blocks never straddle two into one)
    a block starts at a plain multiple of bs, which LLVM vectorizes far better
    than r * L + j * bs."""
    if one_row:
        j0 = numba.int64(t) * G
        return numba.int64(0), j0, min(j0 + G, nb)
    tpr = (nb + G - 1) // G
    r = numba.int64(t) // tpr
    j0 = (numba.int64(t) - r * tpr) * G
    return r, j0, min(j0 + G, nb)


@kernel_factory
def _encode_kernel(kind, packed, spec=None, whole=False):
    """The block encode loop over tasks ``t0 .. t1-1`` with the element pass
    ``kind`` (``core.PASS_*``), for the floor and gguf rules.  ``spec``: None (the record,
    block size and code width read at run time: one compile for every format),
    or (record, block size, code width) frozen in as constants for LLVM to
    fold (large arrays).  Each task's codes are packed at ``bits`` bits into
    the rows of ``nbytes`` bytes of ``out`` (8: one code per byte, written in
    place).  A task with a block that the fast scale or the pass declines is
    marked in ``redo`` and counted; :func:`_encode_full` redoes it.  ``packed``:
    whether ``bits`` < 8 (a kernel for one code per byte has no packer).
    ``whole`` (with ``spec``): one row of whole blocks, so each block's loops
    run a constant ``bs`` times from a known base, which the compiler unrolls
    and vectorizes (about twice the speed of loops whose bounds it cannot
    see)."""
    generic = spec is None
    whole = whole and not generic
    # a whole block's largest magnitude as vector loads and one horizontal max
    vmax = whole and spec[2] <= ABS_MAX_RUN_MAX
    VBS = spec[2] if vmax else 1  # a closure constant: the intrinsic's literal length
    # Whether each element's ok is checked.  Where encode_rne32 declines only NaN
    # and Inf, a block that the fast scale accepted has none, and the check (a
    # reduction per block, a third of the rne encode's time) can go.
    checks = generic or kind != PASS_RNE32 or not rne32_declines_only_specials(
        spec[0], spec[1][R_OVF])

    @jit
    def kernel(t0, t1, counter, run, x, L, R, bs_, bits_, rbits, out, nbytes, scales, redo):
        if generic:
            P, pol = R
            bs, bits = bs_, bits_
        else:
            P, pol, bs, bits = spec
        direct = not packed  # one code per byte, straight into out
        mode, ovf, irange, zscale = pol[R_MODE], pol[R_OVF], pol[R_IRANGE], pol[R_ZSCALE]
        rule = pol[R_RULE]
        G = max(8, TASK_ELEMENTS // bs // 8 * 8)
        nb = scales.shape[1]
        one_row = whole or scales.shape[0] == 1
        # packed: a task's codes go one per byte into ``run``, then are packed
        dst = run if packed else out
        nredo = 0
        while True:  # ranges of tasks claimed from the shared counter (parallel.run)
            c0, c1 = claim(counter, t1)
            if c0 >= t1:
                break
            for t in range(c0, c1):
                r, j0, j1 = _task(t, nb, G, one_row)
                base = 0 if whole else r * L  # a known 0 lets the compiler vectorize more
                e0 = j0 * bs
                coff = 0 if direct else base + e0
                ok = True
                for j in range(j0, j1):
                    s = base + j * bs
                    e = s + bs if whole else min(s + bs, base + L)
                    if vmax:
                        sc = scale_of_max(x, abs_max_bits_run(x, s, VBS), P, zscale, rule)
                    elif whole:  # the reduction written here, so that its trip count is seen
                        mb = float_abs_bits(x[s])
                        for i in range(s, e):
                            mb = max(mb, float_abs_bits(x[i]))
                        sc = scale_of_max(x, mb, P, zscale, rule)
                    else:
                        sc = scale_of_max(x, abs_max_bits(x, s, e), P, zscale, rule)
                    if sc < 0 or (kind == PASS_RNE32 and sc > 126 + 127):
                        ok = False
                        break
                    scales[r, j] = sc
                    shift = sc - 127
                    # the passes of core.*_pass, written out here so that the
                    # record's constants reach the per-element code; over views of
                    # the block from 0, which the compiler vectorizes (twice as fast
                    # as loops that index the whole arrays), borrowed (jit.borrowed):
                    # a slice raised and dropped a reference count, atomically, per block
                    ns = 0
                    if kind == PASS_RNE32:
                        m = pow2_f32(-shift)  # exact
                        xs, ds = borrowed(x, s, e - s), borrowed(dst, s - coff, e - s)
                        for k in range(e - s):
                            c, okc = encode_rne32(xs[k] * m, P, ovf)
                            ds[k] = c
                            if checks:
                                ns += not okc
                    elif kind == PASS_FAST32:
                        xs, ds = borrowed(x, s, e - s), borrowed(dst, s - coff, e - s)
                        for k in range(e - s):
                            c, okc = encode_fast32(_bitcast(xs[k], np.int32(0)), shift, P, mode,
                                                   ovf, irange)
                            ds[k] = c
                            ns += not okc
                    else:
                        use_r = rbits.size > 0
                        xs, ds = borrowed(x, s, e - s), borrowed(dst, s - coff, e - s)
                        for k in range(e - s):
                            rb = rbits[s + k] if use_r else numba.uint32(0)
                            c, okc = encode_fast(np.float64(xs[k]), shift, P, mode, ovf, irange, rb)
                            ds[k] = c
                            ns += not okc
                    if ns:
                        ok = False
                        break
                if ok and packed:
                    if whole:  # the width a constant: the packer's loops fold with it
                        pack_span_inline(dst, 0, min(j1 * bs, L) - e0, bits, out,
                                         r * nbytes + ((e0 * bits) >> 3))
                    else:
                        pack_span(dst, 0, min(j1 * bs, L) - e0, bits, out,
                                  r * nbytes + ((e0 * bits) >> 3))
                redo[t] = not ok
                nredo += not ok
        return nredo
    return kernel


@jit
def _encode_full(t0, t1, run, x, L, R, bs, bits, rbits, out, nbytes, scales, redo):
    """The tasks marked in ``redo``, every block and element decided: the
    scale by :func:`block_scale` (any rule, NaN, Inf, subnormals), the
    elements by the full path where the fast one declines."""
    P, pol = R
    rule, zscale, infp = pol[R_RULE], pol[R_ZSCALE], pol[R_INF]
    G = max(8, TASK_ELEMENTS // bs // 8 * 8)
    nb = scales.shape[1]
    one_row = scales.shape[0] == 1
    direct = bits == 8
    dst = out if direct else run
    for t in range(t0, t1):
        if not redo[t]:
            continue
        r, j0, j1 = _task(t, nb, G, one_row)
        base = r * L
        e0 = j0 * bs
        coff = 0 if direct else base + e0
        for j in range(j0, j1):
            s = base + j * bs
            e = min(s + bs, base + L)
            sc = block_scale(x, s, e, P, rule, zscale, infp)
            scales[r, j] = sc
            if rule == GGUF and (sc >= GGUF_LITERAL or (sc == 0 and not _all_finite(x, s, e))):
                _gguf_literal_block(x, s, e, sc, P, dst, coff)
            elif sc == E8M0_NAN:
                for i in range(s, e):
                    dst[i - coff] = 0
            else:
                encode_full_span(x, s, e, sc - 127, R, rbits, dst, coff)
        if not direct:
            pack_span(run, 0, min(j1 * bs, L) - e0, bits, out, r * nbytes + ((e0 * bits) >> 3))
    return 0


@jit
def _all_finite(x, s, e):
    for i in range(s, e):
        if not math.isfinite(x[i]):
            return False
    return True


# Scale bytes from which ggml's half scale 2^(e-128) times a doubled E2M1 value
# can overflow float32 (253: 8 x 2^125 = 2^128), so gguf-py's candidates are Inf.
GGUF_LITERAL = 253


@jit
def _gguf_literal_block(x, s, e, sc, P, dst, coff):
    """gguf-py's codes for a block where its float32 arithmetic parts from
    nearest-with-ties-toward-zero (SPEC.md 4.5): one that holds a NaN or an Inf
    (scale byte 0), or whose byte is 253 or more.  For each element x, the first
    code c minimizing fl32(|fl32(2 v_c * d) - x|), d = 2^(sc-128) in float32 and
    v_c the code's value.  NaN and +-Inf give code 0, and so does a finite x
    once the candidates vanish in the float32 subtraction (byte 0: |x| past
    about 2^-99); under byte 253 the candidates 4 and 6 times 2^126 are Inf, so
    a block's codes stop at 3 times 2^126."""
    d = np.float32(2.0 ** (sc - 128))
    n = numba.int64(1) << P[P_BITS]
    for i in range(s, e):
        xv = np.float32(x[i])
        best, best_err = numba.int64(0), np.float32(0)
        for c in range(n):
            cand = np.float32(np.float32(2.0 * decode_one(c, P)) * d)
            err = abs(np.float32(cand - xv))
            if c == 0 or err < best_err:
                best, best_err = c, err
        dst[i - coff] = best


@jit
def _group_word(src, b, bits):
    """The group of eight codes at byte ``b``: one 8-byte load where the array
    has 8 bytes left (the bytes past the group masked off), else byte by byte."""
    w = load_word(src, b, numba.uint64(0)) if b + 8 <= src.size else load_group(src, b, bits)
    if bits < 8:
        w &= numba.uint64((1 << (8 * bits)) - 1)
    return w


@jit
def _unpack_groups(src, soff, lo, ng, bits, run, r0):
    """Codes lo .. lo + 8*ng (lo a multiple of 8) into ``run[r0:]`` as int32,
    eight at a time (:func:`spread_group`).  Returns the OR of the words read."""
    acc = numba.uint64(0)
    for g in range(ng):
        w = _group_word(src, soff + ((lo >> 3) + g) * bits, bits)
        acc |= w
        spread_group(w, bits, run, r0 + 8 * g)
    return acc


@jit
def _unpack_block(src, soff, e, end, bits, run):
    """Codes e .. end of the stream at byte ``soff`` into ``run[0:end-e]`` as
    int32: those before the first group boundary one by one, whole groups a
    word at a time, the rest one by one.  Returns the OR of the words and codes
    read, for the caller's range check."""
    acc = numba.uint64(0)
    g0 = min(e + ((-e) & 7), end)
    ng = (end - g0) >> 3
    for i in range(e, g0):
        c = code_at(src, soff, i, bits)
        acc |= c
        run[i - e] = c
    acc |= _unpack_groups(src, soff, g0, ng, bits, run, g0 - e)
    for i in range(g0 + 8 * ng, end):
        c = code_at(src, soff, i, bits)
        acc |= c
        run[i - e] = c
    return acc


@jit
def _lookup_codes(src, soff, o, lo, hi, bits, table, mul, out):
    """The table path: codes lo .. hi one at a time, looked up."""
    acc = numba.uint64(0)
    for i in range(lo, hi):
        c = code_at(src, soff, i, bits)
        acc |= c
        out[o + i] = table[c] * mul
    return acc


@jit
def _lookup_groups(src, soff, o, lo, ng, bits, table, mul, out):
    """The table path: codes lo .. lo + 8*ng (lo a multiple of 8) a group word
    at a time, each code looked up (no scratch: with a run-time width the
    lanes of spread_group cost more than they save)."""
    acc = numba.uint64(0)
    for g in range(ng):
        i = lo + 8 * g
        w = _group_word(src, soff + (i >> 3) * bits, bits)
        acc |= w
        for k in range(8):
            out[o + i + k] = table[group_code(w, k, bits)] * mul
    return acc


# The generic kernel looks values up in the table: decode_value32 with the
# format as run-time data would compute its constants per element.
_NO_PARAMS = (0,) * 16


@kernel_factory
def _decode_kernel(spec=None):
    """The decode loop over tasks ``t0 .. t1-1``: codes of ``bits`` bits from
    the rows of ``nbytes`` bytes of ``src`` into the (rows, L) array ``out``,
    each block's values times its scale (``scale_table[255]`` is NaN, so a NaN
    scale makes the whole block NaN).  Returns how many tasks read a code
    with a bit in ``mask`` (a code past the format).

    ``spec``: None for the generic kernel (everything at run time, each code
    read and looked up in ``table`` one at a time), or (block size, code width,
    mask, format params or None, one row of scales) as constants: one code per
    byte, each turned into its value by :func:`decode_value32` with params
    (over slices of the block, a loop that vectorizes) or looked up without
    (the table holds the values; the product is rounded once either way);
    packed codes with params are unpacked eight at a time and turned into
    values by :func:`decode_value32`, without, looked up a group word at a
    time; a zero mask drops the range check."""
    generic = spec is None
    cbs, cbits, cmask, cP, cone = (0, 8, 0, None, True) if generic else spec
    arith = cP is not None
    PK = cP if arith else _NO_PARAMS
    cmask = np.uint64(cmask)

    @jit
    def kernel(t0, t1, counter, src, L, bs_, bits_, nbytes, scales, table, scale_table, mask_, out):
        if generic:
            bs, bits, mask, one_row = bs_, bits_, mask_, scales.shape[0] == 1
        else:
            bs, bits, mask, one_row = cbs, cbits, cmask, cone
        G = max(8, TASK_ELEMENTS // bs // 8 * 8)
        nb = scales.shape[1]
        if arith:  # one block of codes as int32 lanes
            run = np.empty(bs + 16, np.int32)
        bad = 0
        while True:  # ranges of tasks claimed from the shared counter (parallel.run)
            c0, c1 = claim(counter, t1)
            if c0 >= t1:
                break
            for t in range(c0, c1):
                r, j0, j1 = _task(t, nb, G, one_row)
                # one row: offsets known to be 0 let the compiler vectorize more
                soff, o = (0, 0) if (not generic and cone) else (r * nbytes, r * L)
                acc = numba.uint64(0)
                for j in range(j0, j1):
                    # exact operands, one IEEE multiply: the exact product rounded once
                    mul = scale_table[scales[r, j]]
                    e = j * bs
                    whole = (bs & 7) == 0 and e + bs <= L  # whole groups: constant trip counts
                    end = e + bs if whole else min(e + bs, L)
                    if generic:  # one code at a time: the smallest kernel to compile
                        for i in range(e, end):
                            c = code_at(src, soff, i, bits)
                            acc |= c
                            out[o + i] = table[c] * mul
                    elif cbits == 8 and arith:  # a byte per code, by arithmetic: it vectorizes
                        # borrowed views from 0, as in encode
                        ss, os_ = borrowed(src, soff + e, end - e), borrowed(out, o + e, end - e)
                        for k in range(end - e):
                            c = ss[k]
                            acc |= c
                            os_[k] = decode_value32(np.int32(c), PK) * mul
                    elif cbits == 8:  # a byte per code, looked up (formats without params)
                        ss, os_ = borrowed(src, soff + e, end - e), borrowed(out, o + e, end - e)
                        for k in range(end - e):
                            c = ss[k]
                            acc |= c
                            os_[k] = table[c] * mul
                    elif arith:
                        if whole:
                            acc |= _unpack_groups(src, soff, e, bs >> 3, bits, run, 0)
                        else:
                            acc |= _unpack_block(src, soff, e, end, bits, run)
                        os_ = borrowed(out, o + e, end - e)
                        for k in range(end - e):
                            os_[k] = decode_value32(run[k], PK) * mul
                    elif whole:
                        acc |= _lookup_groups(src, soff, o, e, bs >> 3, bits, table, mul, out)
                    else:
                        # codes before the first group boundary, whole groups, the rest
                        g0 = min(e + ((-e) & 7), end)
                        ng = (end - g0) >> 3
                        acc |= _lookup_codes(src, soff, o, e, g0, bits, table, mul, out)
                        acc |= _lookup_groups(src, soff, o, g0, ng, bits, table, mul, out)
                        acc |= _lookup_codes(src, soff, o, g0 + 8 * ng, end, bits, table, mul, out)
                bad += (acc & mask) != 0
        return bad
    return kernel


def _scale_table(dtype):
    t = np.ldexp(np.ones(255), np.arange(255) - 127).astype(dtype)  # exact: 2^-127..2^127
    return np.append(t, dtype(np.nan))


_SCALE_TABLES = {np.dtype(d): _scale_table(d) for d in (np.float32, np.float64)}


# Arrays this long get kernels specialized to their format, policies and block
# size (compiled on first use, about a second each); shorter ones share generic
# kernels (compiled once), so that a test sweeping many formats and policies
# does not compile a variant for each.
SPECIALIZE_MIN = 1 << 20


# The policies an MX encode takes, with the spec's reading as each default (SPEC.md 2, 4).
POLICIES = dict(rounding="rne", scale_rule="floor", overflow="saturate", nan="keep_sign",
                int_range="symmetric", zero_scale="min", inf="nan_scale", seed=None, rbits=None,
                rbits_layout=None)


def encode(x, f: BlockFormat, axis, block_size, pol) -> BlockArray:
    """Element codes (one per byte) and E8M0 scales; ``pol`` holds every key of POLICIES."""
    codes, scales, ax, bs = encode_rows(x, f, axis, block_size, 8, pol)
    return BlockArray._unchecked(np.ascontiguousarray(np.moveaxis(codes, -1, ax)),
                                 np.ascontiguousarray(np.moveaxis(scales, -1, ax)), f, bs, ax)


def encode_packed(x, f: BlockFormat, axis, block_size, pol):
    """(codes packed at the element's width, scales), the blocked axis last, in one pass."""
    packed, scales, _, _ = encode_rows(x, f, axis, block_size, f.element.bits, pol)
    return packed, scales


def encode_rows(x, f: BlockFormat, axis, block_size, bits, pol):
    """The work of :func:`encode`, with the blocked axis moved last and the
    codes packed at ``bits`` bits per code (8: one per byte): (codes of shape
    (..., ceil(L*bits/8)), scales of shape (..., n_blocks), axis, block size)."""
    rounding, seed, rbits = pol["rounding"], pol["seed"], pol["rbits"]
    a = as_float_input(x)
    if f.recipe is not None and f.recipe.input == "float32" and a.dtype != np.float32:
        a = a.astype(np.float32)  # the recipe's first step (gguf-py: rows.astype(np.float32))
    if a.ndim == 0:
        raise ValueError("x must have at least one dimension (an MX block runs along an axis)")
    ax = _norm_axis(axis, a.ndim)
    bs = _check_block_size(block_size)
    if pol["scale_rule"] == "gguf" and (f.recipe is None or f.recipe.scale_rule != "gguf"):
        raise ValueError("scale_rule='gguf' is the gguf recipe's (it is defined on float32 "
                         "values): write recipe='gguf' (SPEC.md 4.5)")
    R = policies.record(f.element.params, rounding, pol["overflow"], pol["nan"],
                        pol["int_range"], pol["scale_rule"], pol["zero_scale"], pol["inf"],
                        pol.get("zeros", "signed"))
    mode = R[1][R_MODE]
    moved = np.ascontiguousarray(np.moveaxis(a, ax, -1))
    L = moved.shape[-1]
    rows = moved.size // L if L else 0
    nb = -(-L // bs)
    if mode == policies.STOCHASTIC:
        r = random_bits(a.size, seed, rbits, layout=pol.get("rbits_layout") or "per_element",
                        fmt=f.element.name)
        r = np.ascontiguousarray(np.moveaxis(r.reshape(a.shape), ax, -1)).reshape(-1)
    else:
        if seed is not None or rbits is not None or pol.get("rbits_layout") is not None:
            raise ValueError(f"seed=, rbits= and rbits_layout= are for rounding='stochastic', "
                             f"not {rounding!r}")
        r = np.empty(0, np.uint32)
    nbytes = (L * bits + 7) // 8
    out = np.empty(moved.shape[:-1] + (nbytes,), np.uint8)
    scales = np.empty(moved.shape[:-1] + (nb,), np.uint8)
    flat = moved.reshape(-1)
    if flat.size:
        # Rows that end on a block and on a byte concatenate into one row with
        # the same blocks and the same bytes: the kernels' fast one-row case.
        kr, kL, knb = (1, flat.size, rows * nb) if L % bs == 0 and (L * bits) % 8 == 0 \
            else (rows, L, nb)
        o, kbytes, ksc = out.reshape(-1), (kL * bits + 7) // 8, scales.reshape(kr, knb)
        ntasks = _task_count(kr, knb, blocks_per_task(bs))
        args = (flat, kL, R, bs, bits, r, o, kbytes, ksc)
        scratch = (blocks_per_task(bs) * bs if bits < 8 else 0, np.uint8)
        if R[1][R_RULE] in (FLOOR, GGUF):
            kind = pass_kind(flat.dtype, R[0], mode, R[1][R_IRANGE])
            big = flat.size >= SPECIALIZE_MIN
            kernel = _encode_kernel(kind, bits < 8, (R[0], R[1], bs, bits) if big else None,
                                    big and kr == 1 and kL % bs == 0)
            redo = np.empty(ntasks, np.bool_)
            todo = _parallel.run(kernel, ntasks, *args, redo, work=flat.size, scratch=scratch,
                                 claims=True)
        else:  # the ceil and even rules: the full path decides every block
            redo = np.ones(ntasks, np.bool_)
            todo = ntasks
        if todo:
            _parallel.run(_encode_full, ntasks, *args, redo, work=flat.size, scratch=scratch)
    return out, scales, ax, bs


def decode(mx: BlockArray, dtype, out) -> np.ndarray:
    """Element value times 2^(scale-127), NaN for every element of a block whose
    scale is 0xFF (``dtype`` and ``out`` checked by the caller)."""
    el = mx.format.element
    codes = np.asarray(mx.codes)
    if codes.dtype != np.uint8:
        codes = check_codes(codes, el)
    moved, L, nb, sc = blocked_layout(mx, codes)
    res = decode_rows(moved, L, 8, sc, mx.block_size, el, dtype, out, mx.axis,
                      _recipe_decode(mx.format))
    if res is None:
        check_codes(codes, el, "mx.codes")  # raises, naming the bad code
    return res


def decode_packed(packed, scales, f: BlockFormat, L, ax, bs, dtype, out) -> np.ndarray:
    """The values of packed rows (the blocked axis last, every size checked by the caller)."""
    nb = scales.shape[-1]
    sc = np.ascontiguousarray(scales).reshape(-1, nb) if nb else scales.reshape(0, 0)
    return decode_rows(packed, L, f.element.bits, sc, bs, f.element, dtype, out, ax,
                       _recipe_decode(f))


def _recipe_decode(f: BlockFormat) -> str:
    return "mx" if f.recipe is None else f.recipe.decode


def _gguf_tables(el, dtype):
    """ggml's decode tables (SPEC.md 4.5): element values doubled, with -0 as
    +0 (its kvalues), and scale byte e as 2^(e-128) for every e (no NaN), so
    that each product is exact before its one rounding, as in gguf-py."""
    key = ("gguf", el, np.dtype(dtype).name)
    t = _PADDED.get(key)
    if t is None:
        v = np.full(256, np.nan, np.float64)
        v[:el.n_codes] = 2 * decode_table(el, np.float64)
        v[v == 0] = 0.0  # -0 -> +0
        t = (v.astype(dtype), np.ldexp(1.0, np.arange(256) - 128).astype(dtype))
        _PADDED[key] = t
    return t


def blocked_layout(mx: BlockArray, codes: np.ndarray):
    """(codes with the blocked axis last, contiguous; row length L; blocks per row;
    scales as (rows, blocks)), refusing scales whose shape does not match."""
    moved = np.ascontiguousarray(np.moveaxis(codes, mx.axis, -1))
    L = moved.shape[-1]
    nb = -(-L // mx.block_size) if L else 0
    sc = np.ascontiguousarray(np.moveaxis(np.asarray(mx.scales, np.uint8), mx.axis, -1))
    if sc.shape != moved.shape[:-1] + (nb,):
        raise ValueError(f"scales have shape {mx.scales.shape}, but codes of shape {mx.shape} in "
                         f"blocks of {mx.block_size} along axis {mx.axis} need "
                         f"{np.moveaxis(np.empty(moved.shape[:-1] + (nb,)), -1, mx.axis).shape}")
    return moved, L, nb, (sc.reshape(-1, nb) if nb else sc.reshape(0, 0))


def _padded_table(el, dtype):
    """decode_table(el) padded with NaN to 256 entries: any byte indexes it, and
    the range check runs after the lookups, not before each one."""
    key = (el, np.dtype(dtype).name)
    t = _PADDED.get(key)
    if t is None:
        t = np.full(256, np.nan, dtype)
        t[:el.n_codes] = decode_table(el, dtype)
        _PADDED[key] = t
    return t


_PADDED: dict = {}


def decode_rows(src, L, bits, scales, bs, el, dtype, out=None, axis=-1, tables="mx"):
    """Decode rows of codes packed at ``bits`` bits (8: one per byte), the
    blocked axis last, into the values with that axis moved back to ``axis``
    (into ``out`` if given); None if a byte holds a code past the format's
    range (possible only for ``bits`` = 8 and a narrower format).  ``tables``:
    "mx" (OCP's values) or "gguf" (:func:`_gguf_tables`)."""
    src = np.ascontiguousarray(src)
    dtype = np.dtype(dtype)
    shape = src.shape[:-1] + (L,)
    dst = None if out is None else np.moveaxis(out, axis, -1)
    in_place = dst is not None and dst.flags.c_contiguous
    if not in_place:
        dst = np.empty(shape, dtype)  # the kernel writes rows; a strided out gets a copy
    if dst.size:
        if tables == "gguf":
            table, st = _gguf_tables(el, dtype)
        else:
            table = _padded_table(el, dtype) if bits == 8 else decode_table(el, dtype)
            st = _SCALE_TABLES[dtype]
        # a code past the range shows as a bit above the format's width in some byte
        bad_mask = np.uint64(0) if el.bits >= bits else \
            np.uint64(((0xFF >> el.bits) << el.bits) * 0x0101010101010101)
        nbytes = src.shape[-1]
        if L % bs == 0 and (L * bits) % 8 == 0:  # rows fold into one, as in encode_rows
            L, nbytes, scales = dst.size, src.size, scales.reshape(1, -1)
        flat = dst.reshape(-1)
        spec = None
        if dst.size >= SPECIALIZE_MIN:
            arith = value32_exact(el) and tables == "mx"  # by arithmetic, or from the table
            spec = (bs, bits, int(bad_mask), el.params if arith else None, scales.shape[0] == 1)
        ntasks = _task_count(scales.shape[0], scales.shape[1], blocks_per_task(bs))
        bad = _parallel.run(_decode_kernel(spec), ntasks, src.reshape(-1), L, bs, bits, nbytes,
                            scales, table, st, bad_mask, flat, work=dst.size, claims=True)
        if bad:
            return None
    if out is None:
        return np.moveaxis(dst, -1, axis)
    if not in_place:
        np.copyto(np.moveaxis(out, axis, -1), dst)
    return out
