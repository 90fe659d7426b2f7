"""H200 capture for issue #33: torch._scaled_mm as users call it, across shapes,
and the kernels cuBLAS picks; Triton at max_num_imprecise_acc=64 for identify.

Runs on the device machine (PyTorch, Triton there):

    OUT=/some/folder SEED=1 python3 tools/h200_capture_scaled_mm.py

and writes, under $OUT:
  scaled_mm_<seed>.npz  per case <pair>_<M>x<N>x<K>: the sampled rows of A (codes,
                        R x K), of B^T (codes, C x K), their indices, the scales and
                        bias, and the output bits at the sampled rows x columns of
                        every call variant (unit scales: all of them; the others at
                        _vrows x _vcols, positions in the stored rows; tensor / row-wise scales, float32 /
                        bfloat16 / float16 out, bias, use_fast_accum 0/1);
  probe_<seed>.npz      per shape: which pairs of K segments a GEMM adds in float32
                        (a product 256 at segment a, 2^-6 at segment b: kept only when
                        the two are summed apart) for both accumulation modes;
  triton_<seed>.npz     64 x 64 x K Triton tl.dot outputs at max_num_imprecise_acc=64;
  kernels_<seed>.txt    per call: the CUDA kernels that ran (torch.profiler);
  cublaslt_<seed>_<pid>.log  cuBLASLt's own log (CUBLASLT_LOG_LEVEL=5) of the run
                        (gzip it after the process ends: it is written until then);
  log_<seed>.txt        versions, errors, timings.

Nothing in mxspec is used here; inputs are drawn on the GPU and stored.
"""
import os
import sys
import time

OUT = os.environ.get("OUT", ".")
SEED = int(os.environ.get("SEED", "1"))
os.environ.setdefault("CUBLASLT_LOG_LEVEL", "5")
os.environ.setdefault("CUBLASLT_LOG_FILE", os.path.join(OUT, f"cublaslt_{SEED}_%i.log"))

import numpy as np  # noqa: E402

LOG = open(os.path.join(OUT, f"log_{SEED}.txt"), "w")
KLOG = open(os.path.join(OUT, f"kernels_{SEED}.txt"), "w")


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.write(s + "\n")
    LOG.flush()


SHAPES = [(48, 80, 160), (64, 64, 1024), (128, 256, 2048), (256, 256, 4096), (256, 256, 8192),
          (256, 256, 16384), (512, 512, 8192), (1024, 1024, 8192), (4096, 4096, 4096),
          (2048, 2048, 16384), (4096, 4096, 16384), (16, 4096, 8192), (4096, 16, 8192),
          (256, 1024, 16384), (1024, 256, 16384), (512, 4096, 512)]
PAIRS = [("e4m3", "e4m3"), ("e4m3", "e5m2"), ("e5m2", "e4m3")]
OTHER_PAIR_SHAPES = {(64, 64, 1024), (256, 256, 8192), (1024, 1024, 8192), (4096, 4096, 16384),
                     (48, 80, 160)}
FULL = {(256, 256, 8192), (48, 80, 160), (64, 64, 1024)}  # every row and column stored
SAMPLE = 24


def main():
    import torch
    t0 = time.time()
    log("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "torch", torch.__version__, "cuda",
        torch.version.cuda, "capability",
        torch.cuda.get_device_capability() if torch.cuda.is_available() else None)
    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")
    try:
        import ctypes
        for lib in ("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"):
            try:
                v = ctypes.CDLL(lib).cublasLtGetVersion
                v.restype = ctypes.c_size_t
                log("cublasLt", lib, v())
                break
            except OSError:
                continue
    except Exception as err:  # noqa: BLE001
        log("cublasLt version:", repr(err))
    try:
        import triton
        log("triton", triton.__version__)
    except Exception as err:  # noqa: BLE001
        log("triton import failed", repr(err))
    log("seed", SEED)
    dev = os.environ.get("DEV", "cuda")  # DEV=cpu SMALL=1: a dry run of the script's logic
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    shapes = SHAPES[:3] if os.environ.get("SMALL") else SHAPES
    if os.environ.get("SHAPES"):  # "MxNxK,MxNxK,...": a held-out set
        shapes = [tuple(int(v) for v in t.split("x")) for t in os.environ["SHAPES"].split(",")]
        OTHER_PAIR_SHAPES.update(shapes[::3])
        FULL.clear()
    tdt = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
    odt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
    bits = {"f32": torch.int32, "bf16": torch.int16, "f16": torch.int16}
    g = torch.Generator(device=dev)
    g.manual_seed(SEED)
    out, probe = {}, {}

    def kernels(fn):
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            sync()
        names = [e.name for e in prof.events() if e.device_type.name == "CUDA"]
        return names

    def operands(ta, tb, M, N, K):
        # Gaussian elements, each row of A and of B^T at its own power of two
        ea = torch.randint(-3, 4, (M, 1), generator=g, device=dev).float()
        eb = torch.randint(-3, 4, (N, 1), generator=g, device=dev).float()
        a = (torch.randn(M, K, generator=g, device=dev) * torch.exp2(ea)).to(tdt[ta])
        bt = (torch.randn(N, K, generator=g, device=dev) * torch.exp2(eb)).to(tdt[tb])
        return a, bt

    def call(a, bt, sa, sb, o, fast, bias=None):
        kw = dict(scale_a=sa, scale_b=sb, out_dtype=odt[o], use_fast_accum=bool(fast))
        if bias is not None:
            kw["bias"] = bias
        return torch._scaled_mm(a, bt.t(), **kw)

    if os.environ.get("TRITON_ONLY"):
        shapes = []
    for (M, N, K) in shapes:
        for ta, tb in PAIRS:
            if (ta, tb) != PAIRS[0] and (M, N, K) not in OTHER_PAIR_SHAPES:
                continue
            key = f"{ta}_{tb}_{M}x{N}x{K}"
            t1 = time.time()
            a, bt = operands(ta, tb, M, N, K)
            full = (M, N, K) in FULL and (ta, tb) == PAIRS[0]
            rows = torch.arange(M) if full or M <= SAMPLE else \
                torch.randperm(M, generator=torch.Generator().manual_seed(SEED * 7 + M))[:SAMPLE].sort().values
            cols = torch.arange(N) if full or N <= SAMPLE else \
                torch.randperm(N, generator=torch.Generator().manual_seed(SEED * 11 + N))[:SAMPLE].sort().values
            out[key + "_rows"], out[key + "_cols"] = rows.numpy(), cols.numpy()
            # every output of the unit-scale calls; of the others, a 32 x 32 sample
            # where every row is stored (positions in _rows / _cols)
            vr = torch.arange(len(rows))[::max(1, len(rows) // 32)]
            vc = torch.arange(len(cols))[::max(1, len(cols) // 32)]
            out[key + "_vrows"], out[key + "_vcols"] = vr.numpy(), vc.numpy()
            out[key + "_A"] = a.view(torch.uint8)[rows.to(dev)].cpu().numpy()
            out[key + "_B"] = bt.view(torch.uint8)[cols.to(dev)].cpu().numpy()
            one = torch.tensor(1.0, device=dev)
            # per-tensor scales: float32 values with full significands
            sa = (torch.rand((), generator=g, device=dev) * 0.05 + 0.001).float()
            sb = (torch.rand((), generator=g, device=dev) * 3 + 0.5).float()
            ra = (torch.rand((M, 1), generator=g, device=dev) * 0.02 + 1e-3).float()
            rb = (torch.rand((1, N), generator=g, device=dev) * 2 + 0.25).float()
            bias32 = torch.randn(N, generator=g, device=dev) * 4
            out[key + "_sa"] = sa.cpu().numpy().reshape(1).view(np.uint32)
            out[key + "_sb"] = sb.cpu().numpy().reshape(1).view(np.uint32)
            out[key + "_ra"] = ra[rows.to(dev), 0].cpu().numpy().view(np.uint32)[vr.numpy()]
            out[key + "_rb"] = rb[0, cols.to(dev)].cpu().numpy().view(np.uint32)[vc.numpy()]
            variants = [("unit", "f32", None)] + \
                [("tensor", o, None) for o in ("f32", "bf16", "f16")] + \
                [("tensor", o, o) for o in ("f32", "bf16", "f16")] + \
                [("row", o, None) for o in ("f32", "bf16", "f16")] + \
                [("row", "bf16", "bf16")]
            for kind, o, bo in variants:
                bias = None
                if bo is not None:
                    bias = bias32.to(odt[bo])
                    bname = f"{key}_bias_{bo}"
                    if bname not in out:
                        b = bias.cpu()
                        out[bname] = (b.view(torch.int16) if bo != "f32" else b.view(torch.int32)).numpy()[cols.numpy()][vc.numpy()]
                s_a, s_b = {"unit": (one, one), "tensor": (sa, sb), "row": (ra, rb)}[kind]
                for fast in (0, 1):
                    name = f"{key}_{kind}_{o}" + (f"_bias{bo}" if bo else "") + f"_fast{fast}"
                    try:
                        r = call(a, bt, s_a, s_b, o, fast, bias)
                        sync()
                        sub = r[rows.to(dev)][:, cols.to(dev)]
                        if kind != "unit":
                            sub = sub[vr.to(dev)][:, vc.to(dev)]
                        sub = sub.contiguous()
                        out[name] = sub.view(bits[o]).cpu().numpy()
                    except Exception as err:  # noqa: BLE001
                        log(f"refused {name}: {err!r}"[:300])
                        continue
                    if (ta, tb) == PAIRS[0] and (kind != "tensor" or o == "bf16"):
                        try:
                            ks = kernels(lambda: call(a, bt, s_a, s_b, o, fast, bias))
                            KLOG.write(f"{name}\t{' | '.join(ks)}\n")
                            KLOG.flush()
                        except Exception as err:  # noqa: BLE001
                            log(f"profiler {name}: {err!r}"[:300])
            log(f"{key}: {time.time() - t1:.1f} s")
            del a, bt
        # the probe: which K segments are summed apart (E4M3 x E4M3, unit scales)
        if K >= 1024:
            S = min(M, N, K // 32)
            L = K // S
            i = torch.arange(M, device=dev)
            j = torch.arange(N, device=dev)
            A = torch.zeros(M, K, device=dev)
            A[:, torch.arange(S, device=dev) * L + 1] = 1.0
            A[i, (i * S // M) * L] = 16.0
            Bt = torch.zeros(N, K, device=dev)
            Bt[:, torch.arange(S, device=dev) * L] = 16.0
            Bt[j, (j * S // N) * L + 1] = 2.0 ** -6
            a8, b8 = A.to(tdt["e4m3"]), Bt.to(tdt["e4m3"])
            one = torch.tensor(1.0, device=dev)
            for fast in (0, 1):
                try:
                    r = call(a8, b8, one, one, "f32", fast).cpu().numpy()
                except Exception as err:  # noqa: BLE001
                    log(f"probe {M}x{N}x{K} fast={fast}: {err!r}"[:300])
                    continue
                kept = r != 256.0
                odd = int(((r != 256.0) & (r != 256.0 + 2.0 ** -6)).sum())
                pk = f"{M}x{N}x{K}_fast{fast}"
                probe[pk + "_kept"] = np.packbits(kept, axis=1)
                probe[pk + "_SL"] = np.array([S, L, M, N, K])
                log(f"probe {pk}: S={S} L={L} kept {kept.mean():.4f}, other values {odd}")
            del A, Bt, a8, b8
        if dev == "cuda":
            torch.cuda.empty_cache()

    np.savez_compressed(os.path.join(OUT, f"scaled_mm_{SEED}.npz"), **out)
    np.savez_compressed(os.path.join(OUT, f"probe_{SEED}.npz"), **probe)
    log(f"scaled_mm done at {time.time() - t0:.1f} s")

    # Triton at max_num_imprecise_acc=64 (and its default) for identify's held-out check
    tri = {}
    try:
        from triton_mm import triton_kernel
        mm = triton_kernel()

        for K in (256, 512, 1024):
            a, bt = operands("e4m3", "e4m3", 64, 64, K)
            tri[f"K{K}_A"] = a.view(torch.uint8).cpu().numpy()
            tri[f"K{K}_B"] = bt.view(torch.uint8).cpu().numpy()
            for imp in (64,):
                d = torch.empty((64, 64), dtype=torch.float32, device=dev)
                c = torch.zeros((64, 64), dtype=torch.float32, device=dev)
                mm[(1,)](a, bt, c, d, K, USE_C=False, IMPRECISE=imp, BK=128, num_warps=4)  # imp <= BK
                tri[f"K{K}_imp{imp}"] = d.cpu().numpy().view(np.uint32)
        log("triton done")
    except Exception as err:  # noqa: BLE001
        import traceback
        log("triton failed", repr(err)[-3000:], traceback.format_exc()[-3000:])
    np.savez_compressed(os.path.join(OUT, f"triton_{SEED}.npz"), **tri)
    KLOG.close()
    sync()
    log(f"done at {time.time() - t0:.1f} s;",
        {f: os.path.getsize(os.path.join(OUT, f)) for f in sorted(os.listdir(OUT))})
    LOG.close()


if __name__ == "__main__":
    sys.exit(main())
