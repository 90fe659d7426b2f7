"""Capture the NVIDIA H100's FP8 dot products, for the accumulator models of
issues #11 (mma.sync) and #18 (wgmma through cuBLAS and Triton).

Runs on the device machine (CuPy, PyTorch, Triton, ml_dtypes there):

    OUT=/some/folder python3 tools/h100_capture.py

and writes, under $OUT:
  mma_sync.npz   for each type pair (e4m3 x e4m3, e4m3 x e5m2, e5m2 x e4m3, e5m2 x e5m2):
                 A codes (T,16,32), B codes as B^T (T,8,32), C bits (T,16,8) float32,
                 D bits (T,16,8) from mma.sync.aligned.m16n8k32.row.col.f32.<a>.<b>.f32,
                 and the generator of each tile (cat, T); D = A @ B + C per tile.
  wgmma.npz      for e4m3 x e4m3, e4m3 x e5m2, e5m2 x e4m3 and K in KS: A (M,K),
                 B^T (N,K) codes and the float32 bits of torch._scaled_mm (unit scales,
                 fast accumulation on and off) and of a Triton tl.dot kernel (default
                 and max_num_imprecise_acc=32).
  log.txt        what ran, device and versions, and quick diagnostics.

Inputs are seeded (numpy default_rng) and stored with the outputs, so the tests
read codes and results from the files alone.  Every input is finite except in
the generator 'special' (Inf/NaN codes and float32-overflowing C).
"""
import os
import sys
import time

import numpy as np

OUT = os.environ.get("OUT", ".")
LOG = open(os.path.join(OUT, "log.txt"), "w")


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.write(s + "\n")
    LOG.flush()


rng = np.random.default_rng(20261123)
TYPES = {"e4m3": (4, 3, 7, 0x7F), "e5m2": (5, 2, 15, 0x7C)}  # ebits, mbits, bias, first non-finite mag


def finite_mags(t):
    e, m, b, top = TYPES[t]
    return np.arange(0, top, dtype=np.uint8)  # magnitudes below the first NaN/Inf code


def rand_codes(t, shape, emin=None, emax=None, zero_frac=0.0):
    """Random finite codes of type t with biased exponent field in [emin, emax]."""
    e, m, b, top = TYPES[t]
    mags = finite_mags(t)
    ef = mags >> m
    lo = 0 if emin is None else emin
    hi = ef.max() if emax is None else emax
    pool = mags[(ef >= lo) & (ef <= hi)]
    c = rng.choice(pool, size=shape).astype(np.uint8)
    c |= (rng.integers(0, 2, size=shape).astype(np.uint8) << 7)
    if zero_frac:
        c[rng.random(shape) < zero_frac] = 0
    return c


def value(t, codes):
    import ml_dtypes
    dt = ml_dtypes.float8_e4m3fn if t == "e4m3" else ml_dtypes.float8_e5m2
    return codes.view(dt).astype(np.float64)


def c_values(shape, scale_exp, spread=6):
    """float32 C of random sign, exponent scale_exp +- spread."""
    e = rng.integers(scale_exp - spread, scale_exp + spread + 1, size=shape)
    m = 1 + rng.random(shape)
    s = np.where(rng.integers(0, 2, size=shape) == 1, -1.0, 1.0)
    return (s * m * 2.0 ** e).astype(np.float32)


GENS = ["random", "narrow", "single", "two", "few", "cancel", "c_big", "c_cancel", "c_tiny",
        "special"]


def tile(ta, tb, gen):
    """One 16x32 A, 8x32 B^T and 16x8 C."""
    ea, eb = TYPES[ta][0], TYPES[tb][0]
    A = rand_codes(ta, (16, 32))
    B = rand_codes(tb, (8, 32))
    C = np.zeros((16, 8), np.float32)
    if gen == "narrow":  # products of one or two binades: carries, ties, cancellation
        mid_a, mid_b = (1 << (ea - 1)), (1 << (eb - 1))
        A = rand_codes(ta, (16, 32), mid_a, mid_a + 1)
        B = rand_codes(tb, (8, 32), mid_b, mid_b)
    elif gen in ("single", "two", "few"):
        n = {"single": 1, "two": 2, "few": int(rng.integers(3, 9))}[gen]
        mask = np.zeros((16, 32), bool)
        for i in range(16):
            mask[i, rng.choice(32, n, replace=False)] = True
        A = np.where(mask, A, 0).astype(np.uint8)
    elif gen == "cancel":  # pairs of products that cancel exactly, plus a few others
        B[:, 16:] = B[:, :16]
        A[:, 16:] = A[:, :16] ^ 0x80
        k = rng.integers(0, 32, size=(16, 3))
        for i in range(16):
            A[i, k[i]] = rand_codes(ta, 3)
    if gen in ("random", "narrow", "single", "two", "few", "cancel"):
        # C: zero for half the rows, else of the products' magnitude
        S = value(ta, A) @ value(tb, B).T
        mag = np.floor(np.log2(np.maximum(np.abs(S), 2.0 ** -60)))
        C = c_values((16, 8), 0)
        C = (np.sign(C) * np.abs(C) / 2.0 * 2.0 ** mag).astype(np.float32)
        C[rng.random((16, 8)) < 0.5] = 0
    elif gen == "c_big":  # C far above or below the products
        C = c_values((16, 8), int(rng.choice([-40, -24, -12, 12, 24, 40])), 4)
    elif gen == "c_cancel":  # C close to minus the product sum: cancellation with C
        S = value(ta, A) @ value(tb, B).T
        C = (-S).astype(np.float32)
        pert = rng.integers(-3, 4, size=C.shape).astype(np.int32)
        C = (C.view(np.int32) + pert).view(np.float32)
    elif gen == "c_tiny":  # subnormal and tiny C, and products that cancel to tiny sums
        C = (rng.integers(-(1 << 23), 1 << 23, size=(16, 8)).astype(np.int32)
             ).astype(np.float32) * np.float32(2.0 ** -149)
        A = rand_codes(ta, (16, 32), 0, 2)
        B = rand_codes(tb, (8, 32), 0, 2)
    elif gen == "special":  # Inf/NaN codes, and C near float32 max
        A.flat[rng.choice(A.size, 6, replace=False)] = rng.choice(
            [0x7F, 0xFF] if ta == "e4m3" else [0x7C, 0xFC, 0x7D, 0xFE], 6)
        C = c_values((16, 8), 127, 0)
    return A, B, C


SRC = r"""
#define MMA(NAME, TA, TB)                                                                  \
extern "C" __global__ void NAME(const unsigned char* A, const unsigned char* B,           \
                                const float* C, float* D, int T) {                          \
  int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;         \
  if (warp >= T) return;                                                                   \
  const unsigned char* a = A + (size_t)warp * 512; const unsigned char* b = B + (size_t)warp * 256; \
  const float* c = C + (size_t)warp * 128; float* d = D + (size_t)warp * 128;              \
  int g = lane >> 2, t = lane & 3;                                                         \
  unsigned ra[4], rb[2]; float rc[4], rd[4];                                               \
  for (int r = 0; r < 4; r++) {                                                            \
    const unsigned char* p = a + (g + ((r & 1) ? 8 : 0)) * 32 + t * 4 + ((r & 2) ? 16 : 0); \
    ra[r] = p[0] | (p[1] << 8) | (p[2] << 16) | ((unsigned)p[3] << 24); }                  \
  for (int r = 0; r < 2; r++) {                                                            \
    const unsigned char* p = b + g * 32 + t * 4 + 16 * r;                                  \
    rb[r] = p[0] | (p[1] << 8) | (p[2] << 16) | ((unsigned)p[3] << 24); }                  \
  for (int i = 0; i < 4; i++) rc[i] = c[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)];      \
  asm volatile("mma.sync.aligned.m16n8k32.row.col.f32." TA "." TB ".f32 "                   \
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"                           \
      : "=f"(rd[0]), "=f"(rd[1]), "=f"(rd[2]), "=f"(rd[3])                                  \
      : "r"(ra[0]), "r"(ra[1]), "r"(ra[2]), "r"(ra[3]), "r"(rb[0]), "r"(rb[1]),             \
        "f"(rc[0]), "f"(rc[1]), "f"(rc[2]), "f"(rc[3]));                                    \
  for (int i = 0; i < 4; i++) d[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)] = rd[i];      \
}
MMA(mma_e4m3_e4m3, "e4m3", "e4m3")
MMA(mma_e4m3_e5m2, "e4m3", "e5m2")
MMA(mma_e5m2_e4m3, "e5m2", "e4m3")
MMA(mma_e5m2_e5m2, "e5m2", "e5m2")
"""

PAIRS = [("e4m3", "e4m3"), ("e4m3", "e5m2"), ("e5m2", "e4m3"), ("e5m2", "e5m2")]
TILES_PER_GEN = 48


def capture_mma():
    import cupy as cp
    mod = cp.RawModule(code=SRC, options=("-arch=sm_90a", "-std=c++17"))
    out = {}
    for ta, tb in PAIRS:
        As, Bs, Cs, cats = [], [], [], []
        for gi, gen in enumerate(GENS):
            for _ in range(TILES_PER_GEN):
                A, B, C = tile(ta, tb, gen)
                As.append(A), Bs.append(B), Cs.append(C), cats.append(gi)
        A, B, C = np.stack(As), np.stack(Bs), np.stack(Cs)
        T = A.shape[0]
        dA, dB, dC = cp.asarray(A), cp.asarray(B), cp.asarray(C)
        dD = cp.zeros((T, 16, 8), cp.float32)
        k = mod.get_function(f"mma_{ta}_{tb}")
        k(((T * 32 + 127) // 128,), (128,), (dA, dB, dC, dD, np.int32(T)))
        cp.cuda.Device().synchronize()
        D = cp.asnumpy(dD)
        key = f"{ta}_{tb}"
        out[f"{key}_A"], out[f"{key}_B"] = A, B
        out[f"{key}_C"], out[f"{key}_D"] = C.view(np.uint32), D.view(np.uint32)
        out[f"{key}_cat"] = np.array(cats, np.uint8)
        # diagnostics: the layout is right if D is close to A @ B + C in float64
        ref = np.einsum("tik,tjk->tij", value(ta, A), value(tb, B)) + C.astype(np.float64)
        fin = np.isfinite(ref) & np.isfinite(D) & (np.array(cats)[:, None, None] != GENS.index("special"))
        rel = np.abs(D[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1e-30)
        f32 = (ref.astype(np.float32) == D)[fin].mean()
        tz = np.array([(int(b) & -int(b)).bit_length() - 1 if b else 32
                       for b in D.view(np.uint32)[fin].ravel()[:20000] & 0x7FFFFF])
        log(f"mma {key}: {T} tiles, median rel err {np.median(rel):.2e}, max {rel.max():.2e}, "
            f"fraction equal to float64-then-float32 {f32:.4f}, median trailing zero bits "
            f"{np.median(tz)}")
    np.savez_compressed(os.path.join(OUT, "mma_sync.npz"), **out)


KS = [32, 64, 128, 256, 1024, 4096]
MN = 64  # a warpgroup's M: Triton issues wgmma only for tiles of 64 rows or more
WG_GENS = ["random", "narrow", "two", "cancel"]


def wg_inputs(ta, tb, K, gen):
    ea, eb = TYPES[ta][0], TYPES[tb][0]
    A = rand_codes(ta, (MN, K))
    B = rand_codes(tb, (MN, K))
    if gen == "narrow":
        A = rand_codes(ta, (MN, K), 1 << (ea - 1), (1 << (ea - 1)) + 1)
        B = rand_codes(tb, (MN, K), 1 << (eb - 1), 1 << (eb - 1))
    elif gen == "two":
        mask = np.zeros((MN, K), bool)
        for i in range(MN):
            mask[i, rng.choice(K, 2, replace=False)] = True
        A = np.where(mask, A, 0).astype(np.uint8)
    elif gen == "cancel":
        h = K // 2
        B[:, h:] = B[:, :h]
        A[:, h:] = A[:, :h] ^ 0x80
        for i in range(MN):
            ks = rng.integers(0, K, 3)
            A[i, ks] = rand_codes(ta, 3)
    return A, B




def triton_kernels():
    import triton
    import triton.language as tl

    @triton.jit
    def mm(a_ptr, b_ptr, c_ptr, K, IMPRECISE: tl.constexpr, BK: tl.constexpr):
        offs_m = tl.arange(0, 64)
        offs_n = tl.arange(0, 64)
        offs_k = tl.arange(0, BK)
        acc = tl.zeros((64, 64), dtype=tl.float32)
        for k0 in range(0, K, BK):
            a = tl.load(a_ptr + offs_m[:, None] * K + (k0 + offs_k)[None, :])
            b = tl.load(b_ptr + offs_n[None, :] * K + (k0 + offs_k)[:, None])  # B^T rows
            if IMPRECISE > 0:
                acc = tl.dot(a, b, acc, max_num_imprecise_acc=IMPRECISE)
            else:
                acc = tl.dot(a, b, acc)
        tl.store(c_ptr + offs_m[:, None] * 64 + offs_n[None, :], acc)
    return mm


def capture_wgmma():
    import torch
    tdt = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
    one = torch.tensor(1.0, device="cuda")
    out = {}
    try:
        mm = triton_kernels()
    except Exception as err:  # noqa: BLE001
        log("triton unavailable:", repr(err))
        mm = None
    for ta, tb in PAIRS[:3]:
        for K in KS:
            for gen in WG_GENS:
                if K == 4096 and gen != "random":
                    continue
                A, B = wg_inputs(ta, tb, K, gen)
                key = f"{ta}_{tb}_K{K}_{gen}"
                out[key + "_A"], out[key + "_B"] = A, B
                a = torch.from_numpy(A).cuda().view(tdt[ta])
                bt = torch.from_numpy(B).cuda().view(tdt[tb])
                for fast in (True, False):
                    try:
                        r = torch._scaled_mm(a, bt.t(), scale_a=one, scale_b=one,
                                             out_dtype=torch.float32, use_fast_accum=fast)
                        out[key + ("_cublas_fast" if fast else "_cublas")] = \
                            r.cpu().numpy().view(np.uint32)
                    except Exception as err:  # noqa: BLE001
                        log(f"_scaled_mm {key} fast={fast}: {err!r}"[:300])
                if mm is not None:
                    for imp, name in ((0, "_triton"), (32, "_triton_imp32")):
                        try:
                            c = torch.empty((MN, MN), dtype=torch.float32, device="cuda")
                            mm[(1,)](a, bt, c, K, IMPRECISE=imp, BK=32, num_warps=4)
                            out[key + name] = c.cpu().numpy().view(np.uint32)
                        except Exception as err:  # noqa: BLE001
                            log(f"triton {key} imp={imp}: {err!r}"[:300])
                            if imp == 0:
                                mm = None
                if gen == "random" and (key + "_cublas_fast") in out:
                    f = out[key + "_cublas_fast"] & 0x7FFFFF
                    tz = [(int(b) & -int(b)).bit_length() - 1 if b else 23 for b in f.ravel()]
                    same = {n: bool(np.array_equal(out[key + "_cublas_fast"], out[key + n]))
                            for n in ("_cublas", "_triton", "_triton_imp32") if key + n in out}
                    log(f"wgmma {key}: cublas fast median trailing zeros {np.median(tz)}; "
                        f"equal to cublas_fast: {same}")
    np.savez_compressed(os.path.join(OUT, "wgmma.npz"), **out)


def main():
    t0 = time.time()
    try:
        import torch
        log("device:", torch.cuda.get_device_name(), "torch", torch.__version__,
            "cuda", torch.version.cuda)
        import triton
        log("triton", triton.__version__)
        import cupy
        log("cupy", cupy.__version__, "numpy", np.__version__)
    except Exception as err:  # noqa: BLE001
        log("versions:", repr(err))
    for step in (capture_mma, capture_wgmma):
        try:
            step()
        except Exception as err:  # noqa: BLE001
            import traceback
            log(f"{step.__name__} failed: {err!r}")
            log(traceback.format_exc())
        log(f"{step.__name__} done at {time.time() - t0:.1f} s")
    LOG.close()


if __name__ == "__main__":
    sys.exit(main())
