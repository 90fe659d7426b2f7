"""The kernel plumbing: the thread split, the cache folder, warmup."""
import numba
import numpy as np
import pytest

import mxspec
from mxspec._kernel import cache as _cache
from mxspec._kernel import parallel as _parallel
from mxspec.block import scaled
from mxspec.codec import core


@numba.njit(nogil=True)
def _mark(t0, t1, buf, seen):
    """Mark tasks t0..t1-1 and write the part's buffer: returns the task count."""
    for t in range(t0, t1):
        seen[t] += 1
    buf[:] = t0
    return t1 - t0


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("ntasks", [0, 1, 2, 7, 1000])
def test_run_does_every_task_once_and_adds_the_counts(monkeypatch, threads, ntasks):
    monkeypatch.setattr(_parallel, "threads", lambda: threads)
    seen = np.zeros(max(ntasks, 1), np.int64)
    total = _parallel.run(_mark, ntasks, seen, work=1 << 30, scratch=(4, np.int64))
    assert total == ntasks
    assert (seen[:ntasks] == 1).all()


def test_small_work_stays_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(_parallel, "threads", lambda: 4)
    calls = []
    _parallel.run(lambda t0, t1: calls.append((t0, t1)) or 0, 10, work=100)
    assert calls == [(0, 10)]


def test_cache_folder_is_named_by_the_sources_and_skips_unwritable_roots(monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(_cache, "_roots", lambda: [blocked, tmp_path / "ok"])
    path = _cache.cache_dir()
    assert path == tmp_path / "ok" / f"mxspec-{_cache.sources_digest()}"
    monkeypatch.setattr(_cache, "_roots", lambda: [blocked])
    assert _cache.cache_dir() is None


def test_warmup_refuses_a_bad_format_before_compiling():
    with pytest.raises(mxspec.FormatError, match="unknown MX format 'mxfp9'"):
        mxspec.warmup(["mxfp9"], progress=False)


def _abs_max_kernel(n):
    @numba.njit
    def k(x, starts):
        out = np.empty(starts.size, np.int64)
        for i in range(starts.size):
            out[i] = core.abs_max_bits_run(x, starts[i], n)
        return out
    return k


@pytest.mark.parametrize("dtype,itype", [(np.float32, np.int32), (np.float64, np.int64)])
def test_abs_max_bits_run_equals_the_integer_max(dtype, itype):
    """core.abs_max_bits_run (vector loads, a lane-wise max, one horizontal max)
    gives the block kernels' scale the same integer max as a loop of
    float_abs_bits: at lengths below, at and past one vector and with a
    partial one, at every start alignment, on data with NaNs of both signs,
    Infs, zeros of both signs and subnormals, and where a special is the
    run's first or last value."""
    rng = np.random.default_rng(5)
    bits = rng.integers(np.iinfo(itype).min, np.iinfo(itype).max, 3000, dtype=itype,
                        endpoint=True)
    x = bits.view(dtype).copy()
    x[rng.integers(0, x.size, 40)] = np.inf
    x[rng.integers(0, x.size, 40)] = -0.0
    x[rng.integers(0, x.size, 40)] = np.finfo(dtype).smallest_subnormal
    mags = np.abs(rng.standard_normal(x.size)).astype(dtype)  # runs of plain values too
    x[:1500] = mags[:1500] * np.where(rng.random(1500) < 0.5, -1, 1)
    x[700] = -np.inf
    x[1100] = -np.nan
    want_of = (x.view(itype) & np.iinfo(itype).max).astype(np.int64)
    for n in (1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 1024):
        starts = np.concatenate([np.arange(0, 9), rng.integers(0, x.size - n, 40),
                                 [700 - n + 1, 700, 1100 - n + 1, 1100]])
        starts = starts[(starts >= 0) & (starts + n <= x.size)]
        got = _abs_max_kernel(n)(x, starts)
        want = [want_of[s:s + n].max() for s in starts]
        assert got.tolist() == want, n


def test_kernel_factory_refuses_a_kernel_that_closes_over_a_jitted_function():
    """A dispatcher in a kernel's closure changes Numba's cache key in every
    process (the Four Over Six kernel compiled again in each, 10 s), so the
    factory refuses it; constants in the closure are what it is for."""
    from mxspec._kernel.jit import kernel_factory

    inner = numba.njit(lambda v: v + 1)

    @kernel_factory
    def bad(k):
        f = inner
        return numba.njit(lambda v: f(v) * k)

    @kernel_factory
    def good(k):
        return numba.njit(lambda v: v * k)

    with pytest.raises(TypeError, match="closes over the jitted function"):
        bad(2)
    assert good(3)(2) == 6


def test_borrowed_views_read_and_write_their_array():
    """borrowed(a, s, n) is a[s:s+n] without a reference count: the same
    elements, written through to a, inside inlined helpers too."""
    from mxspec._kernel.jit import borrowed, unref

    @numba.njit(inline="always")
    def fill(v, n, c):
        for k in range(n):
            v[k] = c + k

    @numba.njit
    def run(a, t):
        t = unref(t)
        for s in range(0, a.shape[0], 16):
            fill(borrowed(a, s, min(16, a.shape[0] - s)), min(16, a.shape[0] - s), t[0])
        return borrowed(a, 3, 5).sum()

    a = np.zeros(37, np.float64)
    got = run(a, np.array([10.0]))
    want = np.concatenate([10.0 + np.arange(16), 10.0 + np.arange(16), 10.0 + np.arange(5)])
    assert (a == want).all() and got == want[3:8].sum()


def test_lane_sum16_adds_as_the_loop_it_replaces():
    """lane_sum16 (Four Over Six's and IF4's error of a block of 16) equals the
    loop of SPEC.md 9.10's order bit for bit, on terms of every magnitude, where
    a sequential or pairwise sum differs on most rows."""
    from mxspec._kernel.jit import lane_sum16

    @numba.njit
    def vector(t):
        out = np.empty(t.shape[0] // 16, np.float32)
        for r in range(out.shape[0]):
            out[r] = lane_sum16(t, 16 * r)
        return out

    @numba.njit
    def loop(t):
        out = np.empty(t.shape[0] // 16, np.float32)
        for r in range(out.shape[0]):
            acc = np.float32(0.0)
            for lane in range(8):
                v = np.float32(0.0)
                for k in range(lane, 16, 8):
                    v += t[16 * r + k]
                acc = v if lane == 0 else acc + v
            out[r] = acc
        return out

    rng = np.random.default_rng(0)
    t = np.abs(rng.standard_normal(16 * 20000) * np.exp2(rng.integers(-30, 30, 16 * 20000)))
    t = t.astype(np.float32)
    t[:32] = 0.0
    t[40] = np.float32(3e38)
    t[41] = np.float32(3e38)  # an overflow to Inf in a lane
    got, want = vector(t), loop(t)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    seq = np.array([np.float32(sum(np.float64(v) for v in row)) for row in t[:16 * 200].reshape(-1, 16)])
    assert (seq.view(np.uint32) != got[:200].view(np.uint32)).mean() > 0.3


def test_exact_dot16_is_the_exact_sum_of_integer_products():
    """exact_dot16 (the exact engine's block of 16, one limb a side) equals the
    exact integer sum of the products, on signed integers of up to 24 bits each
    (products to 2^48, sums of 16 below 2^52), at offsets that are not a
    multiple of 16."""
    from mxspec._kernel.jit import exact_dot16

    @numba.njit
    def dots(x, y, starts):
        out = np.empty(starts.shape[0], np.float64)
        for i in range(starts.shape[0]):
            out[i] = exact_dot16(x, y, starts[i])
        return out

    rng = np.random.default_rng(3)
    n = 4096
    width = rng.integers(1, 25, n)
    x = (rng.integers(0, 2 ** 24, n) % (2 ** width) * rng.choice([-1, 1], n)).astype(np.float32)
    y = (rng.integers(0, 2 ** 24, n) % (2 ** width[::-1]) * rng.choice([-1, 1], n)
         ).astype(np.float32)
    starts = rng.integers(0, n - 16, 2000)
    got = dots(x, y, starts)
    xi, yi = x.astype(np.int64), y.astype(np.int64)
    want = [int((xi[s:s + 16] * yi[s:s + 16]).sum()) for s in starts]
    assert [int(g) for g in got] == want and all(float(int(g)) == g for g in got)


def test_fma_rounds_once():
    """jit.fma is a * b + c with one rounding: (1 + 2^-23)^2 - 1 keeps the
    2^-46 that a product rounded first would lose, in float32 and float64."""
    from mxspec._kernel.jit import fma

    @numba.njit
    def f(a, b, c):
        return fma(a, b, c)

    a32 = np.float32(1 + 2.0 ** -23)
    assert f(a32, a32, np.float32(-1)) == np.float32(2.0 ** -22 + 2.0 ** -46)
    assert a32 * a32 - np.float32(1) == np.float32(2.0 ** -22)
    a64 = 1 + 2.0 ** -52
    assert f(a64, a64, -1.0) == 2.0 ** -51 + 2.0 ** -104


def _choice_tops():
    from mxspec.block.scaled import top
    from mxspec.tables.block import RECIPES, block_format
    return sorted({top(block_format("if4" if r.choice == "if4" else "nvfp4", name))
                   for name, r in RECIPES.items() if r.choice is not None})


@numba.njit(parallel=True)
def _reciprocal_quotient_misses(t):
    """Over every float32 bit pattern a (finite): how many where a / t is zero or
    normal and quotient_by_reciprocal(a, t, fl(1/t)) differs from it (a zero's
    sign aside), and how
    many where a / t is subnormal and it differs (allowed: the callers avoid it)."""
    rt = np.float32(1.0) / t
    tiny = np.float32(np.finfo(np.float32).tiny)
    bad = 0
    sub = 0
    for i in numba.prange(1 << 32):
        b = np.uint32(i)
        a = core._bitcast(b, np.float32(0))
        if not np.isfinite(a):
            continue
        q = a / t
        got = scaled.quotient_by_reciprocal(a, t, rt)
        # -0 gives +0 (q0 - q0 t is +0): the same value, and the error term
        # squares it or takes its magnitude
        diff = (core._bitcast(got, np.uint32(0)) != core._bitcast(q, np.uint32(0))) & \
            ((got != 0) | (q != 0))
        if (q == 0) | (abs(q) >= tiny):
            bad += diff
        else:
            sub += diff
    return bad, sub


@pytest.mark.parametrize("t", _choice_tops())
def test_reciprocal_quotient_is_the_division_for_every_float32(t):
    """The Four Over Six and IF4 error terms divide by top (1536, 2688) as two
    FMAs from fl(1/top) (scaled.quotient_by_reciprocal): over all 2^32 float32
    inputs, it equals the division wherever the quotient is zero or normal
    (the case the callers take it in).  It does differ on subnormal quotients,
    so the guard is needed, and this test would see a wrong rt or a dropped
    correction (a plain fl(a rt) misses in the normal range too)."""
    bad, sub = _reciprocal_quotient_misses(np.float32(t))
    assert bad == 0
    assert sub > 0


def test_error_terms_equal_the_division_formula_where_the_guard_chooses_either_path():
    """scaled._block_terms (the reciprocal quotient where a block's values are all
    normal, the division where any could be subnormal) against the formula in
    numpy float32, fl(fl(fl(fl(e s) amax) af) / top) - x squared and its
    magnitude, on blocks whose amax spans 2^-126 .. 2^125 (subnormal quotients
    and products that overflow both take the division), for E2M1 codes and
    IF4's integers."""
    from mxspec.tables.element import element_format
    Pe = tuple(element_format("fp4_e2m1").params)
    e2m1 = mxspec.decode_elements(np.arange(16, dtype=np.uint8), "fp4_e2m1").astype(np.float32)

    @numba.njit
    def terms(x, codes, svs, RI, RF, ints, af, Pe):
        tb = np.empty(x.size, np.float32)
        for j in range(x.size // 16):
            scaled._block_terms(x[j * 16:j * 16 + 16], codes[j * 16:j * 16 + 16], 16, svs[j],
                                RI, RF, Pe, ints, af, tb[j * 16:j * 16 + 16])
        return tb

    rng = np.random.default_rng(11)
    nb = 4000
    svs = mxspec.decode_elements(rng.integers(0, 127, nb).astype(np.uint8), "fp8_e4m3")
    x = (rng.standard_normal(nb * 16) * np.exp2(rng.integers(-140, 100, nb)).repeat(16)
         ).astype(np.float32)
    codes = rng.integers(0, 16, nb * 16).astype(np.uint8)
    taken = 0
    for t in _choice_tops():
        for amax in np.exp2([-126.0, -110, -90, 0, 60, 100, 125]).astype(np.float32):
            for ints, af in ((False, np.float32(1)), (True, np.float32(6 / 7))):
                e = ((codes.astype(np.int32) ^ 8) - 8).astype(np.float32) if ints else e2m1[codes]
                with np.errstate(over="ignore", invalid="ignore"):
                    q = ((e * svs.astype(np.float32).repeat(16)) * amax) * af
                    d = q / np.float32(t) - x
                for sel in (0, 1):
                    RI = np.zeros(11, np.int64)
                    RI[scaled.I_SEL] = sel
                    RF = np.zeros(14)
                    RF[scaled.F_AMAX], RF[scaled.F_TOP] = amax, t
                    RF[scaled.F_RTOP] = np.float32(1) / np.float32(t)
                    with np.errstate(over="ignore", invalid="ignore"):
                        want = d * d if sel == 0 else abs(d)
                    got = terms(x, codes, svs, RI, RF, ints, af, Pe)
                    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
                with np.errstate(over="ignore", invalid="ignore"):
                    qt = np.abs(q / np.float32(t))[q != 0]
                taken += int((qt < np.finfo(np.float32).tiny).any() or np.isinf(q).any())
    assert taken > 0  # some blocks took the division (subnormal quotients)


def test_claimed_ranges_cover_every_task_once_on_every_thread_count(monkeypatch):
    """parallel.run(claims=True): each thread's kernel takes ranges from one
    shared counter by an atomic add (jit.claim); over every thread count and
    task count, every task is done exactly once (a count per task, incremented
    by whichever thread claimed it)."""
    from mxspec._kernel import parallel
    from mxspec._kernel.jit import claim

    @numba.njit(nogil=True)
    def mark(t0, t1, counter, hits):
        n = 0
        while True:
            c0, c1 = claim(counter, t1)
            if c0 >= t1:
                break
            for t in range(c0, c1):
                hits[t] += 1
                n += 1
        return n

    for threads in (1, 2, 3, 8):
        monkeypatch.setattr(parallel, "threads", lambda: threads)
        for ntasks in (1, 7, 64, 1000, 4099):
            hits = np.zeros(ntasks, np.int64)
            assert parallel.run(mark, ntasks, hits, work=1 << 20, claims=True) == ntasks
            assert np.all(hits == 1), (threads, ntasks)
