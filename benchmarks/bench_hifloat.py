"""HiFloat8 and the micro-exponent formats' speed (issue #15's targets: HiF8
element encode at 4x or more en-dtypes' cast; HiF4 quantize of 2^24 float32
values at least as fast as NVFP4 quantize), with a float32 copy as the memory
reference, all in one run.

    python benchmarks/bench_hifloat.py [--n 16777216]
"""
from __future__ import annotations

import numpy as np
from timing import best, gaussian_rows

import mxspec


def main(argv=None):
    a, x, t_copy = gaussian_rows(__doc__, argv)
    n = x.size
    print(f"  float32 copy                   {n / t_copy / 1e6:8,.0f} M/s")

    def row(label, t, ref=None, ref_name=""):
        extra = f", {ref / t:5.2f} x {ref_name}" if ref else ""
        print(f"  {label:30s} {n / t / 1e6:8,.0f} M/s  ({t_copy / t:.2f} x copy{extra})")

    print("HiFloat8 elements (float32 in, rna / ieee / keep)")
    t_en = None
    try:
        import en_dtypes
        t_en = best(lambda: x.astype(en_dtypes.hifloat8), a.repeat)
        row("en-dtypes hifloat8 cast", t_en)
    except ImportError:
        print("  en-dtypes not installed: no ratio (pip install en-dtypes)")
    t8 = best(lambda: mxspec.encode_elements(x, "hifloat8"), a.repeat)
    row("mxspec encode_elements", t8, t_en, "en-dtypes")
    c8 = mxspec.encode_elements(x, "hifloat8")
    r = np.random.default_rng(1).integers(0, 1 << 32, x.shape, dtype=np.uint32)
    row("mxspec encode, hybrid", best(lambda: mxspec.encode_elements(
        x, "hifloat8", rounding="hybrid", rbits=r), a.repeat), t_en, "en-dtypes")
    row("mxspec decode_elements", best(lambda: mxspec.decode_elements(c8, "hifloat8"), a.repeat))

    print("Block formats: quantize (encode) along rows, against NVFP4 in the same run")
    t_nv = best(lambda: mxspec.encode(x, "nvfp4"), a.repeat)
    row("nvfp4 encode (exact recipe)", t_nv)
    for name in ("hif4", "mx4", "mx6", "mx9"):
        row(f"{name} encode", best(lambda: mxspec.encode(x, name), a.repeat), t_nv, "NVFP4")
    mx = mxspec.encode(x, "hif4")
    nv = mxspec.encode(x, "nvfp4")
    t_nvd = best(lambda: mxspec.decode(nv), a.repeat)
    row("nvfp4 decode", t_nvd)
    row("hif4 decode", best(lambda: mxspec.decode(mx), a.repeat), t_nvd, "NVFP4")


if __name__ == "__main__":
    main()
