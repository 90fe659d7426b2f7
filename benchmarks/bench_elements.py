"""Element encode and decode throughput: mxspec against ml_dtypes' cast and a
plain numpy implementation of the same rule, ratios printed in one run.

  python benchmarks/bench_elements.py [--n 16777216] [--repeat 5]

numpy baselines: decode is a table lookup (``table[codes]``); encode for int
formats is ``clip(rint(x * 2^k))`` (the same rne and saturate rule); float
formats have no plain-numpy encoder short of a search, so ml_dtypes is theirs.
"""
import argparse
import warnings

import ml_dtypes
import numba
import numpy as np

import mxspec
from timing import best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    x = np.random.default_rng(0).standard_normal(a.n).astype(np.float32) * 4
    print(f"{a.n} float32 elements, {numba.get_num_threads()} threads; M elements/s (best of {a.repeat})")
    copy = a.n / best(lambda: x.copy(), a.repeat) / 1e6
    print(f"x.copy(): {copy:.0f} M/s (8 bytes moved a value; an encode of float32 moves 5, "
          f"so it can pass the copy's rate)")
    print(f"{'format':15s} {'encode':>8s} {'ml_dt':>8s} {'numpy':>8s} {'ratio':>7s} | "
          f"{'decode':>8s} {'ml_dt':>8s} {'numpy':>8s} {'ratio':>7s} | enc/copy")
    warnings.simplefilter("ignore")
    for name in mxspec.formats():
        f = mxspec.element_format(name)
        if f.kind == "scale":
            continue
        rate = lambda t: a.n / t / 1e6  # noqa: E731
        # where ml_dtypes has the format, mxspec runs ml_dtypes' own rule (the
        # same codes, tests/test_elements_exhaustive.py), else the default
        kw = {"profile": "ml_dtypes"} if f.ml_dtype else {}
        enc = rate(best(lambda: mxspec.encode_elements(x, f, **kw), a.repeat))
        codes = mxspec.encode_elements(x, f)
        dec = rate(best(lambda: mxspec.decode_elements(codes, f), a.repeat))
        table = mxspec.decode_elements(np.arange(f.n_codes), f)
        np_dec = rate(best(lambda: table[codes], a.repeat))
        if f.ml_dtype:
            t = getattr(ml_dtypes, f.ml_dtype)
            ml_enc = rate(best(lambda: x.astype(t), a.repeat))
            y = x.astype(t)
            ml_dec = rate(best(lambda: y.astype(np.float32), a.repeat))
            np_enc = float("nan")
            base_enc, base_dec = ml_enc, ml_dec
        else:
            k = f.bias
            lim = f.max_mag_code
            np_enc = rate(best(lambda: np.clip(np.rint(x * 2.0 ** k), -lim, lim).astype(np.int8), a.repeat))
            ml_enc = ml_dec = float("nan")
            base_enc, base_dec = np_enc, np_dec
        print(f"{name:15s} {enc:8.0f} {ml_enc:8.0f} {np_enc:8.0f} {enc / base_enc:6.1f}x | "
              f"{dec:8.0f} {ml_dec:8.0f} {np_dec:8.0f} {dec / base_dec:6.1f}x | {enc / copy:8.2f}")
    print("ratio: mxspec / ml_dtypes where ml_dtypes has the format (mxspec under "
          "profile='ml_dtypes', the cast's own rule), else / numpy")


if __name__ == "__main__":
    main()
