"""Integer-group speed (issue #30's target: the INT4 group encode at 0.5x a float32
copy or more, 2^24 values), for both recipes and the packings, beside
compressed-tensors' own CPU quantizer (calculate_qparams, quantize, pack_to_int32 in
torch) in one run.  Also prints the first-call compile cost of the kernels (an empty
cache: run with NUMBA_CACHE_DIR pointing at an empty folder).

    python benchmarks/bench_int_groups.py [--n 16777216] [--repeat 5]
"""
from __future__ import annotations

import time

from timing import best, gaussian_rows, print_rates

import numpy as np

import mxspec


def main(argv=None):
    t0 = time.perf_counter()
    for f in ("int4_g128", "int4_g128_bf16:compressed_tensors"):
        mxspec.decode(mxspec.encode(np.ones((1, 128), np.float32), f))
    print(f"first calls (import done, compile or cache load): {time.perf_counter() - t0:.2f} s")
    a, x, t_copy = gaussian_rows(__doc__, argv)
    n = x.size
    print(f"  float32 copy                            {n / t_copy / 1e6:8,.0f} M/s")
    enc = mxspec.encode(x, "int4_g128")
    rows = [("int4_g128 encode (exact)", lambda: mxspec.encode(x, "int4_g128")),
            ("int4_g128 encode_packed (bytes)", lambda: mxspec.encode_packed(x, "int4_g128")),
            ("int4_g128 compressed-tensors words",
             lambda: mxspec.encode_packed(x, "int4_g128", layout="compressed-tensors")),
            ("int4_g128_bf16:compressed_tensors encode",
             lambda: mxspec.encode(x, "int4_g128_bf16:compressed_tensors")),
            ("int8_g128 encode (exact)", lambda: mxspec.encode(x, "int8_g128")),
            ("int4_g128 decode", lambda: mxspec.decode(enc))]
    print_rates(rows, n, t_copy, a.repeat, 38)
    try:
        import torch
        from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
        from compressed_tensors.quantization import QuantizationArgs
        from compressed_tensors.quantization.lifecycle.forward import quantize
        from compressed_tensors.quantization.utils import calculate_qparams
    except ImportError:
        print("  compressed-tensors: not installed")
        return
    from importlib.metadata import version
    w = torch.from_numpy(x.reshape(-1, 4096) if x.size % 4096 == 0 else x).to(torch.bfloat16)
    args = QuantizationArgs(num_bits=4, type="int", strategy="group", group_size=128,
                            symmetric=False)

    def ct():
        g = w.unflatten(-1, (w.shape[-1] // 128, 128))
        s, z = calculate_qparams(g.amin(-1), g.amax(-1), args)
        return pack_to_int32(quantize(w, s, z, args, dtype=torch.int8), 4)
    t_ct = best(ct, 1)
    xm = w.float().numpy()
    t_m = best(lambda: mxspec.encode_packed(xm, "int4_g128_bf16:compressed_tensors",
                                            layout="compressed-tensors"), a.repeat)
    print(f"  compressed-tensors {version('compressed-tensors')} (torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads) quantize + pack  {n / t_ct / 1e6:8,.0f} M/s  "
          f"(mxspec's words, same recipe: {t_ct / t_m:.1f} x as fast)")
    mine = mxspec.encode_packed(xm, "int4_g128_bf16:compressed_tensors", layout="compressed-tensors")
    assert np.array_equal(mine[0], ct().numpy()), "the words differ from compressed-tensors'"


if __name__ == "__main__":
    main()
