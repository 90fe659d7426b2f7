"""The arithmetic decoder (SPEC.md 4.1): decode_value32 against the bit-field
formulas of the independent reference on every code of every format it is used
for, spread_group against one code at a time, and the block kernels that use
them against the table kernels they replace."""
import numba
import numpy as np
import pytest

import mxspec
from mxspec._kernel.bitstream import group_code, spread_group
from mxspec.block.mx import SPECIALIZE_MIN, _decode_kernel, _padded_table, _SCALE_TABLES, \
    _task_count, blocks_per_task
from mxspec.codec.core import decode_value32
from mxspec.codec.elements import decode_table, value32_exact
from mxspec.tables.element import FormatError, float_format, int_format
from mxspec import pack_codes
from spec_reference import ref_values

MX_ELEMENTS = ["fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8", "int4"]


@numba.njit
def _all_values32(P, n):
    out = np.empty(n, np.float32)
    for c in range(n):
        out[c] = decode_value32(c, P)
    return out


def _generic_floats():
    """Every float_format the library accepts, over every bias it allows."""
    for e in range(1, 8):
        for m in range(0, 8 - e):
            for specials in ("none", "fn", "ieee"):
                for bias in range(-130, 160):
                    try:
                        yield float_format(e, m, bias, specials)
                    except FormatError:
                        continue


def _ref_bits32(f):
    """The reference values as float32 bits, NaN as the quiet NaN with the code's sign."""
    v = ref_values(f)
    out = v.astype(np.float32).view(np.uint32).copy()
    codes = np.arange(f.n_codes)
    sign = (codes >> (f.bits - 1)) & 1 if f.kind != "scale" else 0 * codes
    out[np.isnan(v)] = np.where(sign[np.isnan(v)] == 1, 0xFFC00000, 0x7FC00000)
    return out


@pytest.mark.parametrize("name", MX_ELEMENTS)
def test_mx_elements_decode_by_arithmetic(name):
    """Every MX element format takes the arithmetic path, and it gives the
    reference value's float32 bits on all its codes."""
    f = mxspec.element_format(name)
    assert value32_exact(f)
    got = _all_values32(f.params, f.n_codes).view(np.uint32)
    assert np.array_equal(got, _ref_bits32(f))


def test_every_generic_format_is_exact_or_declined():
    """Over every small float the library accepts (18k formats) and every MX
    integer: where value32_exact says yes, decode_value32 equals the reference
    on every code; it says no only where the format's smallest step lies below
    float32's normal range (the arithmetic's documented limit), and the table
    path serves those."""
    seen = declined = 0
    for f in list(_generic_floats()) + [int_format(b) for b in range(2, 9)]:
        seen += 1
        ref = _ref_bits32(f)
        assert np.array_equal(decode_table(f, np.float32).view(np.uint32), ref), f
        if value32_exact(f):
            assert np.array_equal(_all_values32(f.params, f.n_codes).view(np.uint32), ref), f
        else:
            declined += 1
            assert f.kind == "float" and f.qmin < -126, f
    assert seen > 18000 and 0 < declined < seen // 10


def test_e8m0_is_declined():
    assert not value32_exact("e8m0")  # no subnormals, code 0 is 2^-127: table only


def _spread_fn(bits):
    @numba.njit
    def literal(w, out):  # bits is a closure constant: the shuffle path
        spread_group(w, bits, out, 3)

    @numba.njit
    def runtime(w, b, out):  # bits known only at run time: eight shifts
        spread_group(w, b, out, 3)
    return literal, runtime


@pytest.mark.parametrize("bits", range(1, 9))
def test_spread_group_gives_each_code(bits):
    literal, runtime = _spread_fn(bits)
    rng = np.random.default_rng(bits)
    words = list(rng.integers(0, 1 << 63, 300, dtype=np.uint64)) + \
        [np.uint64(0), np.uint64(0xFFFFFFFFFFFFFFFF)]
    for w in words:
        w = np.uint64(w) & np.uint64((1 << (8 * bits)) - 1)  # a group's bits bytes
        want = np.int32([group_code(w, j, bits) for j in range(8)])
        for fill in (runtime, None):
            out = np.full(12, -1, np.int32)
            literal(w, out) if fill is None else runtime(w, bits, out)
            assert np.array_equal(out[3:11], want), (bits, hex(w))
            assert out[:3].tolist() == [-1] * 3 and out[11] == -1  # nothing else written


# Each case compiles one specialized kernel (seconds, once per machine), so the
# default run takes one of each shape of the loop: 6-bit codes (shuffled lanes),
# unpacked bytes of a narrower format, float64 output with Inf and NaN codes.
# decode_value32 itself is checked on every code above, spread_group on every
# width, and test_packed_api runs the kernels of two more formats end to end.
KERNEL_CASES = [("fp6_e3m2", "packed", np.float32), ("fp4_e2m1", 8, np.float32),
                ("fp8_e5m2", "packed", np.float64)] + [
    pytest.param(n, "packed", np.float32, marks=pytest.mark.slow)
    for n in ("fp8_e4m3", "fp6_e2m3", "fp4_e2m1", "int8", "int4")]


@pytest.mark.parametrize("name,bits,dtype", KERNEL_CASES)
def test_arithmetic_kernel_equals_table_kernel(name, bits, dtype):
    """The specialized decode kernel, with decode_value32 (packed codes, and
    one code per byte over slices of a block), against the generic kernel,
    with table lookups: every code in every position, every scale (NaN
    included), rows that do not fold and a partial last block."""
    f = mxspec.element_format(name)
    b = f.bits if bits == "packed" else 8
    rows, L, bs = 7, 150_001, 32
    assert rows * L >= SPECIALIZE_MIN and value32_exact(f)
    rng = np.random.default_rng(5)
    nbytes = (L * b + 7) // 8
    codes = rng.integers(0, f.n_codes, (rows, L), dtype=np.uint8)
    src = codes if b == 8 else pack_codes(codes, b)
    assert src.shape == (rows, nbytes)
    scales = rng.integers(0, 256, (rows, -(-L // bs)), dtype=np.uint8)
    table = _padded_table(f, dtype) if b == 8 else decode_table(f, dtype)
    st = _SCALE_TABLES[np.dtype(dtype)]
    arith, looked_up = np.empty(rows * L, dtype), np.empty(rows * L, dtype)
    ntasks = _task_count(rows, scales.shape[1], blocks_per_task(bs))
    kernel = _decode_kernel((bs, b, 0, f.params, False))  # seven rows of scales
    args = (src.reshape(-1), L, bs, b, nbytes, scales, table, st, np.uint64(0))
    # one thread claims every range in turn (parallel.run's counter: next task, range size)
    assert kernel(0, ntasks, np.array([0, 3] + [0] * 6, np.int64), *args, arith) == 0
    assert _decode_kernel(None)(0, ntasks, np.array([0, 5] + [0] * 6, np.int64), *args,
                                looked_up) == 0
    assert np.array_equal(arith.view(np.uint8), looked_up.view(np.uint8))
    assert np.isnan(arith.reshape(rows, L)[scales.repeat(bs, 1)[:, :L] == 255]).all()


def test_arithmetic_kernel_still_catches_codes_past_the_format():
    """decode_value32 masks a code to the format's width; the range check on
    the bytes read must still refuse it."""
    n = SPECIALIZE_MIN + 37
    codes = np.full(n, 2, np.uint8)
    bad = mxspec.MXArray(codes, np.full(-(-n // 32), 127, np.uint8), mxspec.mx_format("mxfp4_e2m1"),
                         32, 0)
    bad.codes[n - 5] = 0x13  # written after the MXArray checked it
    with pytest.raises(ValueError, match="holds 19, out of range for fp4_e2m1"):
        mxspec.decode(bad)


def test_float_format_refuses_values_outside_float32():
    with pytest.raises(FormatError, match=r"bias=200 .* allowed: -112..147"):
        float_format(4, 3, 200, "fn")
    with pytest.raises(FormatError, match="needs mbits >= 1"):
        float_format(3, 0, specials="ieee")
