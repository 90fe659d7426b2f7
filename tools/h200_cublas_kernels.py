"""H200 capture for issue #33, part two: which kernel cuBLAS picks for
torch._scaled_mm at each shape (its own log), and in which order a split-K
kernel adds its partial sums.

    OUT=/some/folder python3 tools/h200_cublas_kernels.py

writes, under $OUT:
  sweep_calls.csv     one line per call: M, N, K, variant, use_fast_accum, ok
  sweep_<pid>.log     cuBLASLt's trace (CUBLASLT_LOG_LEVEL=2): one cublasLtMatmul line per
                      call that ran, with its algo (tile, numSplitsK, reductionScheme);
                      gzip it after the process ends
  order.npz           per split shape: A and B^T codes of directed inputs (one product
                      256 in one split, products 2^-16 in others) and the float32 bits
                      of the outputs, unit scales and scale_a = fl32(1/3)
  log_sweep.txt       versions, errors, timings.

Nothing in mxspec is used here.
"""
import os
import sys
import time

OUT = os.environ.get("OUT", ".")
os.environ["CUBLASLT_LOG_LEVEL"] = "2"
os.environ["CUBLASLT_LOG_FILE"] = os.path.join(OUT, "sweep_%i.log")

import numpy as np  # noqa: E402

LOG = open(os.path.join(OUT, "log_sweep.txt"), "w")
MN = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]
KS = [128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384]
ORDER_SHAPES = {(256, 256, 8192): 3, (256, 256, 16384): 3, (16, 4096, 8192): 2}


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.write(s + "\n")
    LOG.flush()


def main():
    import torch
    t0 = time.time()
    log("device:", torch.cuda.get_device_name(), "torch", torch.__version__, "cuda",
        torch.version.cuda)
    e4 = torch.float8_e4m3fn
    one = torch.tensor(1.0, device="cuda")
    sa = torch.tensor(0.0123, device="cuda")
    calls = open(os.path.join(OUT, "sweep_calls.csv"), "w")
    calls.write("M,N,K,variant,fast,ok\n")
    for K in KS:
        for M in MN:
            for N in MN:
                a = torch.empty((M, K), dtype=torch.uint8, device="cuda").fill_(0x38).view(e4)
                bt = torch.empty((N, K), dtype=torch.uint8, device="cuda").fill_(0x38).view(e4)
                variants = [("unit_f32", one, one, torch.float32)]
                if K >= 2048:
                    variants.append(("tensor_bf16", sa, sa, torch.bfloat16))
                if K >= 8192 and M <= 512:
                    variants.append(("row_bf16", torch.full((M, 1), 0.5, device="cuda"),
                                     torch.full((1, N), 0.5, device="cuda"), torch.bfloat16))
                for name, s_a, s_b, o in variants:
                    for fast in (0, 1):
                        ok = 1
                        try:
                            torch._scaled_mm(a, bt.t(), scale_a=s_a, scale_b=s_b, out_dtype=o,
                                             use_fast_accum=bool(fast))
                        except Exception as err:  # noqa: BLE001
                            ok = 0
                            log(f"refused {M}x{N}x{K} {name} fast={fast}: {err!r}"[:200])
                        calls.write(f"{M},{N},{K},{name},{fast},{ok}\n")
        torch.cuda.synchronize()
        log(f"K={K} done at {time.time() - t0:.1f} s")
    calls.close()

    out = {}
    for (M, N, K), S in ORDER_SHAPES.items():
        ch = -(-(-(-K // 128)) // S) * 128
        big = [s * ch for s in range(S)]
        small = [s * ch + 1 for s in range(S)]
        small2 = [s * ch + 128 + 2 for s in range(S)]
        A = np.zeros((M, K), np.float32)
        Bt = np.zeros((N, K), np.float32)
        for s in range(S):
            Bt[:, big[s]] = 16.0
            Bt[:, small[s]] = 2.0 ** -8
            Bt[:, small2[s]] = 2.0 ** -8
        kinds = []
        for r in range(S):  # the big product in split r, one small in each other split
            kinds.append([(big[r], 16.0)] + [(small[s], 2.0 ** -8) for s in range(S) if s != r])
        kinds.append([(big[0], 16.0), (small[1], 2.0 ** -8), (small2[1], 2.0 ** -8)])
        kinds.append([(big[S - 1], -16.0), (small[0], 2.0 ** -8), (small2[0], 2.0 ** -8)])
        kinds.append([(big[0], -16.0)] + [(small[s], -(2.0 ** -8)) for s in range(1, S)])
        for i in range(M):
            for k, v in kinds[i % len(kinds)]:
                A[i, k] = v
        a = torch.from_numpy(A).cuda().to(e4)
        bt = torch.from_numpy(Bt).cuda().to(e4)
        key = f"{M}x{N}x{K}"
        out[key + "_A"] = a.view(torch.uint8).cpu().numpy()
        out[key + "_B"] = bt.view(torch.uint8).cpu().numpy()
        third = torch.tensor(1.0 / 3.0, device="cuda")
        for fast in (0, 1):
            for sname, s_a in (("unit", one), ("third", third)):
                r = torch._scaled_mm(a, bt.t(), scale_a=s_a, scale_b=one, out_dtype=torch.float32,
                                     use_fast_accum=bool(fast))
                out[f"{key}_{sname}_fast{fast}"] = r.cpu().numpy().view(np.uint32)
                vals, counts = np.unique(r.cpu().numpy(), return_counts=True)
                log(f"order {key} {sname} fast={fast}:", dict(zip(vals.tolist(), counts.tolist())))
    np.savez_compressed(os.path.join(OUT, "order.npz"), **out)
    log(f"done at {time.time() - t0:.1f} s")
    LOG.close()


if __name__ == "__main__":
    sys.exit(main())
