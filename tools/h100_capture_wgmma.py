"""Second H100 capture for issue #18: distinguishing inputs for the wgmma FP8
datapath, an addend C, E5M2 x E5M2, Inf/NaN, K that is not a multiple of the
promotion interval, and realistic (Gaussian, per-tensor scaled) magnitudes.

Runs on the device machine (PyTorch, Triton there):

    OUT=/some/folder python3 tools/h100_capture_wgmma.py

and writes, under $OUT:
  wgmma_directed.npz  per case <pair>_K<K>_<gen>: A codes (64, K), B^T codes (64, K),
                      and the float32 bits of
                        _cublas_fast / _cublas   torch._scaled_mm (unit scales,
                                                 use_fast_accum True / False),
                        _triton / _triton_imp32  tl.dot from a zero accumulator
                                                 (max_num_imprecise_acc default / 32),
                      and for the C cases _C (float32 bits) with
                        _tritonC / _tritonC_imp32  the same kernels starting from C.
  log_wgmma.txt       what ran, versions, errors (E5M2 x E5M2 in cuBLAS is expected
                      to be refused).

Inputs are seeded (numpy default_rng) and stored with the outputs; nothing in
mxspec is used here.
"""
import os
import sys
import time

import numpy as np
from triton_mm import triton_kernel

OUT = os.environ.get("OUT", ".")
LOG = open(os.path.join(OUT, "log_wgmma.txt"), "w")
rng = np.random.default_rng(20261124)
TYPES = {"e4m3": (4, 3, 7, 0x7F), "e5m2": (5, 2, 15, 0x7C)}  # ebits, mbits, bias, first non-finite mag
PAIRS = [("e4m3", "e4m3"), ("e4m3", "e5m2"), ("e5m2", "e4m3"), ("e5m2", "e5m2")]
MN = 64


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.write(s + "\n")
    LOG.flush()


def codes(t, shape, elo=None, ehi=None, sub=False):
    """Random finite codes of type t, biased exponent field in [elo, ehi] (sub: 0 only)."""
    e, m, b, top = TYPES[t]
    mags = np.arange(1, top, dtype=np.uint8)
    ef = mags >> m
    lo, hi = (0, 0) if sub else (0 if elo is None else elo, ef.max() if ehi is None else ehi)
    pool = mags[(ef >= lo) & (ef <= hi)]
    c = rng.choice(pool, size=shape).astype(np.uint8)
    return c | (rng.integers(0, 2, size=shape).astype(np.uint8) << 7)


def with_field(t, ef, shape):
    """Codes with the given biased exponent field (an array), random mantissa and sign."""
    e, m, b, top = TYPES[t]
    c = (np.asarray(ef, np.int64) << m) | rng.integers(0, 1 << m, size=shape)
    c = np.minimum(c, top - 1)
    return (c | (rng.integers(0, 2, size=shape) << 7)).astype(np.uint8)


def inputs(ta, tb, K, gen):
    ea, eb = TYPES[ta][0], TYPES[tb][0]
    mida, midb = 1 << (ea - 1), 1 << (eb - 1)
    A, B = codes(ta, (MN, K)), codes(tb, (MN, K))
    if gen == "single":  # one product per output row
        keep = np.zeros((MN, K), bool)
        keep[np.arange(MN), rng.integers(0, K, MN)] = True
        A = np.where(keep, A, 0).astype(np.uint8)
    elif gen == "dist":  # two products whose exponents differ by d = 0 .. 2 * (field range)
        A[:] = 0
        span = (1 << ea) - 2
        for i in range(MN):
            k1, k2 = rng.choice(K, 2, replace=False)
            d = i % (span + 1)
            A[i, k1] = with_field(ta, span, ())
            A[i, k2] = with_field(ta, max(span - d, 0), ()) if d < span else codes(ta, (), sub=True)
        B = with_field(tb, np.full((MN, K), midb), (MN, K))
        B[:, ::3] = with_field(tb, np.full((MN, (K + 2) // 3), midb - 3), (MN, (K + 2) // 3))
    elif gen == "binade":  # same-sign products of one binade: carries across binades
        A = with_field(ta, np.full((MN, K), mida), (MN, K)) & 0x7F
        B = with_field(tb, np.full((MN, K), midb), (MN, K)) & 0x7F
        B[MN // 2:] |= 0x80
    elif gen == "subnormal":  # subnormal operands, and subnormal times large
        A = codes(ta, (MN, K), sub=True)
        B = codes(tb, (MN, K))
        B[:, ::2] = codes(tb, (MN, (K + 1) // 2), sub=True)
        A[::4, 0] = codes(ta, (MN // 4,), elo=(1 << ea) - 2)
    elif gen == "tiny_large":  # one large product, the rest far below it
        A = codes(ta, (MN, K), elo=1, ehi=3)
        B = codes(tb, (MN, K), elo=1, ehi=3)
        A[:, 0] = codes(ta, (MN,), elo=(1 << ea) - 3)
        B[:, 0] = codes(tb, (MN,), elo=(1 << eb) - 3)
        A[MN // 2:, 1:] = (A[MN // 2:, 1:] & 0x7F) | (~A[MN // 2:, :1] & 0x80)  # opposite sign
    elif gen == "cancel0":  # exact cancellation to zero; rows of -0 products
        h = K // 2
        B[:, h:] = B[:, :h]
        A[:, h:] = A[:, :h] ^ 0x80
        A[::8] = 0x80
        B[1::8] = 0x80
    elif gen == "special":  # NaN and Inf codes, one or two per row
        nan_a = 0x7F if ta == "e4m3" else 0x7E
        for i in range(MN):
            k = rng.integers(0, K)
            kind = i % 4
            if kind == 0:
                A[i, k] = nan_a
            elif kind == 1 and ta == "e5m2":
                A[i, k] = 0x7C
            elif kind == 2 and ta == "e5m2":
                A[i, k], A[i, (k + 1) % K] = 0x7C, 0xFC
            elif kind == 3 and ta == "e5m2":
                A[i, k] = 0x7C
                B[:, k] = 0
    elif gen == "gauss":  # N(0, 1) with per-tensor scaling so that amax -> format max
        import ml_dtypes
        for X, t in ((A, ta), (B, tb)):
            v = rng.standard_normal((MN, K))
            if t == tb and X is B:
                v = rng.standard_t(4, (MN, K))  # heavier tails for the second operand
            dt = ml_dtypes.float8_e4m3fn if t == "e4m3" else ml_dtypes.float8_e5m2
            mx = 448.0 if t == "e4m3" else 57344.0
            X[:] = (v * (mx / np.abs(v).max())).astype(dt).view(np.uint8)
    return A, B


def c_values(kind, A, B, ta, tb):
    """float32 C for the Triton kernels."""
    if kind == "c_rand":
        c = rng.standard_normal((MN, MN)) * 2.0 ** rng.integers(-8, 12, (MN, MN))
    elif kind == "c_big":
        c = rng.standard_normal((MN, MN)) * 2.0 ** rng.integers(14, 40, (MN, MN))
    elif kind == "c_tiny":
        c = rng.standard_normal((MN, MN)) * 2.0 ** rng.integers(-40, -12, (MN, MN))
    else:  # c_cancel: minus the float64 product sum, rounded to float32
        import ml_dtypes
        va = A.view(ml_dtypes.float8_e4m3fn if ta == "e4m3" else ml_dtypes.float8_e5m2)
        vb = B.view(ml_dtypes.float8_e4m3fn if tb == "e4m3" else ml_dtypes.float8_e5m2)
        c = -(va.astype(np.float64) @ vb.astype(np.float64).T)
        c = c * (1 + rng.integers(-3, 4, c.shape) * 2.0 ** -20)
    return c.astype(np.float32)


CASES = ([(g, K) for g in ("single", "dist", "binade", "subnormal", "tiny_large", "cancel0",
                           "special") for K in (32, 128)]
         + [("binade", 1024), ("gauss", 32), ("gauss", 96), ("gauss", 160), ("gauss", 512),
            ("gauss", 4096), ("random", 96), ("random", 160), ("random", 2048)])
C_CASES = [("c_rand", 32), ("c_rand", 256), ("c_big", 32), ("c_tiny", 32), ("c_cancel", 32),
           ("c_cancel", 128)]
E5M2_E5M2 = [("random", 32), ("random", 256), ("dist", 32), ("subnormal", 32), ("special", 32),
             ("gauss", 1024)]


def main():
    import torch
    t0 = time.time()
    log("device:", torch.cuda.get_device_name(), "torch", torch.__version__, "cuda",
        torch.version.cuda)
    import triton
    log("triton", triton.__version__)
    mm = triton_kernel()
    tdt = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
    one = torch.tensor(1.0, device="cuda")
    out = {}

    def run(ta, tb, K, gen, cgen=None):
        key = f"{ta}_{tb}_K{K}_{gen if cgen is None else cgen}"
        A, B = inputs(ta, tb, K, "random" if cgen else gen)
        out[key + "_A"], out[key + "_B"] = A, B
        a = torch.from_numpy(A).cuda().view(tdt[ta])
        bt = torch.from_numpy(B).cuda().view(tdt[tb])
        if cgen is None:
            for fast in (True, False):
                try:
                    r = torch._scaled_mm(a, bt.t(), scale_a=one, scale_b=one,
                                         out_dtype=torch.float32, use_fast_accum=fast)
                    out[key + ("_cublas_fast" if fast else "_cublas")] = \
                        r.cpu().numpy().view(np.uint32)
                except Exception as err:  # noqa: BLE001
                    log(f"_scaled_mm {key} fast={fast}: {err!r}"[:400])
        C = (c_values(cgen, A, B, ta, tb) if cgen else np.zeros((MN, MN), np.float32))
        if cgen:
            out[key + "_C"] = C.view(np.uint32)
        c = torch.from_numpy(C).cuda()
        for imp, name in ((0, ""), (32, "_imp32")):
            d = torch.empty((MN, MN), dtype=torch.float32, device="cuda")
            try:
                mm[(1,)](a, bt, c, d, K, USE_C=cgen is not None, IMPRECISE=imp, BK=32,
                         num_warps=4)
                out[key + ("_tritonC" if cgen else "_triton") + name] = \
                    d.cpu().numpy().view(np.uint32)
            except Exception as err:  # noqa: BLE001
                log(f"triton {key} imp={imp}: {err!r}"[:400])

    for ta, tb in PAIRS[:3]:
        for gen, K in CASES:
            run(ta, tb, K, gen)
        for cgen, K in C_CASES:
            run(ta, tb, K, None, cgen)
        log(f"{ta} x {tb} done at {time.time() - t0:.1f} s")
    for gen, K in E5M2_E5M2:
        run("e5m2", "e5m2", K, gen)
    for cgen, K in C_CASES[:3]:
        run("e5m2", "e5m2", K, None, cgen)
    # quick diagnostics: do cuBLAS fast and Triton agree where both ran?
    same = sum(np.array_equal(out[k], out[k.replace("_cublas_fast", "_triton")])
               for k in out if k.endswith("_cublas_fast") and k.replace("_cublas_fast", "_triton") in out)
    log("cases:", len([k for k in out if k.endswith("_A")]), "cublas_fast == triton in", same)
    np.savez_compressed(os.path.join(OUT, "wgmma_directed.npz"), **out)
    log(f"done at {time.time() - t0:.1f} s; file",
        os.path.getsize(os.path.join(OUT, "wgmma_directed.npz")), "bytes")
    LOG.close()


if __name__ == "__main__":
    sys.exit(main())
