"""GGUF's MXFP4 (SPEC.md 4.5) against gguf-py, the quantizer and dequantizer that
llama.cpp's Python tools ship (PyPI ``gguf``; CI runs the newest release and the
oldest that pyproject.toml allows): the ``gguf`` recipe's scale bytes, codes and
decoded values bit for bit, on blocks whose largest magnitude walks every float32
exponent, on every tie of every E2M1 step, and on the special blocks (all zero,
amax below 2^-125, NaN, Inf).  The file layer (load, save, layout, bad files) is
in tests/test_gguf_files.py."""
import warnings

import numpy as np
import pytest

import mxspec
from mxspec.codec import e8m0

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType, quants  # noqa: E402

MXFP4 = GGMLQuantizationType.MXFP4


def gguf_py(x):
    """gguf-py's (scale bytes, codes, dequantized float32) for x of shape (rows, 32 k)."""
    x = np.asarray(x, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its uint8 casts of NaN, Inf and negatives warn
        q = quants.quantize(x, MXFP4)
        dq = quants.dequantize(q, MXFP4)
    blocks = q.reshape(x.shape[0], -1, 17)
    qs = blocks[..., 1:]
    codes = np.concatenate([qs & 15, qs >> 4], axis=-1).reshape(x.shape)
    return blocks[..., 0], codes, dq


def assert_same(x):
    sc, codes, dq = gguf_py(x)
    a = mxspec.encode(x, "mxfp4_e2m1", recipe="gguf")
    bad = np.argwhere(a.scales != sc)
    assert bad.size == 0, f"scale of block {bad[0]}: {a.scales[tuple(bad[0])]} vs gguf-py " \
                          f"{sc[tuple(bad[0])]}"
    bad = np.argwhere(a.codes != codes)
    assert bad.size == 0, f"{bad.shape[0]} codes differ, first at {bad[0]}: x = " \
                          f"{x[tuple(bad[0])]!r}, {a.codes[tuple(bad[0])]} vs {codes[tuple(bad[0])]}"
    got = mxspec.decode(a)
    assert np.array_equal(got.view(np.uint32), dq.reshape(x.shape).view(np.uint32))
    # the gguf-py bytes decode the same through mxspec's own tables too
    assert np.array_equal(mxspec.decode(mxspec.MXArray(codes, sc, a.format, 32, 1)), got,
                          equal_nan=True)


def rows(blocks, k=8):
    """Blocks of 32, shape (N, 32), as rows of k blocks (the leftover blocks dropped)."""
    n = blocks.shape[0] // k * k
    return np.ascontiguousarray(blocks[:n]).reshape(-1, 32 * k)


def _tops():
    """A largest magnitude per block at every float32 exponent (subnormals too), with
    the mantissas where rules part: a power of two, one ulp past, the float32 just
    below the next power of two and the gguf threshold of that binade (SPEC.md 4.5)."""
    tops = set()
    for n in range(-149, 129):
        t = e8m0.LOG2F_T32[n + 149]
        if t != 0x7F800000:
            tops.update({int(t) - 1, int(t), int(t) + 1})
        if n < 128:
            b = int(np.float32(2.0 ** n).view(np.uint32))
            tops.update({b, b + 1, b - 1, b + 0x2AAAAA})
    tops = np.array(sorted(b for b in tops if 0 < b < 0x7F800000), np.uint32).view(np.float32)
    return tops


def test_every_exponent_range():
    rng = np.random.default_rng(30)
    tops = _tops()
    x = (rng.uniform(-1, 1, (tops.size, 32)) * tops[:, None]).astype(np.float32)
    x[np.arange(tops.size), rng.integers(0, 32, tops.size)] = tops * rng.choice([-1, 1], tops.size)
    x[::3, 7] = -0.0
    assert_same(rows(x))
    assert_same(x.reshape(1, -1))


def test_every_tie_of_every_step():
    """Each block's amax fixes its scale 2^s; its other 31 elements are the E2M1
    midpoints (0.25, 0.75, ... 5 times 2^s), one ulp either side, and past 6, both
    signs: gguf-py's first-index argmin is nearest with ties toward zero."""
    mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])
    rows = []
    for s in list(range(-127, -120)) + list(range(-20, 20)) + list(range(120, 126)):
        base = np.float32(2.0 ** s)
        v = (mids * base).astype(np.float32)
        near = np.concatenate([v, np.nextafter(v, np.float32(0)), np.nextafter(v, np.float32(9e37))])
        row = np.concatenate([[np.float32(7.5) * base], near, [np.float32(6.5) * base,
                                                                np.float32(7.99) * base]])
        row = np.resize(row, 32).astype(np.float32)
        rows += [row, -row, row * np.resize([1, -1], 32).astype(np.float32)]
    assert_same(np.array(rows, np.float32).reshape(-1, 32 * 3))


def test_special_blocks():
    """All zero (-0 too), amax below 2^-125 (gguf-py's byte wraps modulo 256 and
    every code is 0), NaN and Inf anywhere (byte 0, gguf-py's float32 argmin
    against 2^-128 gives 0 for all but the tiniest finite values)."""
    rng = np.random.default_rng(7)
    z = np.zeros((8, 32), np.float32)
    z[1] = -0.0
    z[2] = np.float32(2.0 ** -130) * rng.standard_normal(32).astype(np.float32)
    z[3] = np.float32(2.0 ** -149) * rng.integers(-3, 4, 32)
    z[4, :] = np.float32(2.0 ** -126) * 0.999
    z[5] = rng.standard_normal(32)
    z[5, 3] = np.nan
    z[6] = np.float32(2.0 ** -100) * np.arange(-16, 16)
    z[6, 0] = -np.inf
    z[7] = np.float32(2.0 ** -124) * rng.uniform(-8, 8, 32)
    z[7, 31] = np.inf
    assert_same(z.reshape(2, -1))


def test_subnormal_scales_every_input():
    """Scale bytes 0 and 1 (ggml's half scales 2^-128 and 2^-127 are float32
    subnormals): every float32 below 2^-123 in magnitude beside each amax."""
    b = np.arange(0, 0x02000000, 97, dtype=np.uint32)
    x = b.view(np.float32)
    n = x.size // 31 * 31
    for top in (np.float32(2.0 ** -125 * 1.5), np.float32(2.0 ** -124 * 1.9)):
        blocks = np.column_stack([np.full(n // 31, top), x[:n].reshape(-1, 31)])
        blocks[::2] *= -1
        assert_same(rows(blocks.astype(np.float32), 4))


def test_threshold_table_is_numpy_float32_log2():
    """The gguf rule's thresholds (SPEC.md 4.5) are where numpy's float32 log2, the
    call gguf-py makes, rounds up onto the next integer: checked on the 300 floats
    below and 2 above every power of two (the full 2^31 sweep, 7,456 floats in all,
    is benchmarks/sweep_gguf_log2.py)."""
    moved = 0
    for n in range(-148, 129):
        top = int(np.float32(2.0 ** n).view(np.uint32)) if n < 128 else 0x7F800000
        b = np.arange(max(top - 300, 1), top + (2 if n < 128 else 0), dtype=np.uint32)
        x = b.view(np.float32)
        with np.errstate(divide="ignore"):
            want = np.floor(np.log2(x)).astype(np.int64)
        exact = np.floor(np.log2(x.astype(np.float64))).astype(np.int64)
        got = exact + (b.astype(np.int64) >= e8m0.LOG2F_T32[exact + 1 + 149])
        assert np.array_equal(got, want), f"binade below 2^{n}"
        moved += int((want != exact).sum())
    assert moved == 7456


def test_spellings_and_packed_forms():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    a = mxspec.encode(x, "mxfp4_e2m1:gguf")
    b = mxspec.encode(x.astype(np.float64), "mxfp4_e2m1", recipe="gguf")  # cast to float32 first
    assert a.format.name == "mxfp4_e2m1:gguf" and a.format is not None
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.scales, b.scales)
    data, scales = mxspec.encode_packed(x, "mxfp4_e2m1:gguf")
    assert np.array_equal(mxspec.decode_packed(data, scales, "mxfp4_e2m1:gguf", x.shape),
                          mxspec.decode(a))
    # -0 is never produced: a negative value that rounds to zero is +0 (code 0)
    y = np.float32([-0.1, -0.0, 5.9] + [0.0] * 29)
    assert mxspec.encode(y, "mxfp4_e2m1:gguf").codes[:2].tolist() == [0, 0]
    assert mxspec.encode(y, "mxfp4_e2m1").codes[:2].tolist() == [8, 8]


def _sweep(lo_bits, hi_bits, top, step=1):
    """Every float32 of both signs with bits in [lo_bits, hi_bits), 31 to a block
    beside ``top`` (which fixes the block's scale), against gguf-py in chunks."""
    chunk = 31 * (1 << 15)
    for start in range(lo_bits, hi_bits, chunk * step):
        b = np.arange(start, min(start + chunk * step, hi_bits), step, dtype=np.uint32)
        n = b.size // 31 * 31
        if n == 0:
            continue
        v = b[:n].view(np.float32).reshape(-1, 31)
        blocks = np.column_stack([np.full(v.shape[0], top, np.float32), v])
        blocks = np.concatenate([blocks, -blocks])
        assert_same(rows(blocks, 8) if blocks.shape[0] >= 8 else blocks)


@pytest.mark.slow
def test_every_float32_that_an_element_decision_reads():
    """Exhaustive where the rule is decided (SPEC.md 4.5): under scale 2^0 (amax in
    [4, 8)) every float32 in [2^-4, 8), the range where x is within a factor 32 of
    its nearest E2M1 value (below 2^-4 every element is 0 in both); under the
    subnormal half scales (bytes 0 and 1) every float32 below 2^-123."""
    one = int(np.float32(2.0 ** -4).view(np.uint32))
    _sweep(one, int(np.float32(8.0).view(np.uint32)), np.float32(7.5))
    _sweep(1, int(np.float32(2.0 ** -123).view(np.uint32)), np.float32(2.0 ** -124 * 1.75))
    _sweep(1, int(np.float32(2.0 ** -123).view(np.uint32)), np.float32(2.0 ** -125 * 1.75))


def test_worked_examples():
    """SPEC.md 4.5's table, and gguf-py agrees with every row."""
    def row(v):
        x = np.float32(v + [0.0] * (32 - len(v))).reshape(1, 32)
        assert_same(x)
        a, b = mxspec.encode(x, "mxfp4_e2m1:gguf"), mxspec.encode(x, "mxfp4_e2m1")
        n = len(v)
        return (int(a.scales[0, 0]), a.codes[0, :n].tolist(), mxspec.decode(a)[0, :n].tolist(),
                int(b.scales[0, 0]), b.codes[0, :n].tolist())
    assert row([7.5, 2.5, -0.25, -0.75, 5.0]) == (0x7F, [7, 4, 0, 9, 6], [6, 2, 0, -0.5, 4],
                                                  0x7F, [7, 4, 8, 10, 6])
    top = float(np.float32(8) - np.float32(2.0 ** -21))
    assert row([top, 6.5, -3.5, 0.2]) == (0x80, [6, 5, 11, 0], [8, 6, -3, 0], 0x7F, [7, 7, 14, 0])
    assert row([2.0 ** -130, -2.0 ** -131]) == (0xFB, [0, 0], [0, 0], 0x00, [0, 8])
    got = row([1.0, float("nan"), 2.0 ** -126])
    assert got[:2] == (0x00, [0, 0, 4]) and got[3] == 0xFF
    assert np.signbit(mxspec.decode(mxspec.encode(np.float32([-0.25] + [4.0] * 31),
                                                  "mxfp4_e2m1:gguf"))[0]) == False  # noqa: E712
