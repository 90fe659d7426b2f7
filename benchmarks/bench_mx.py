"""MX quantize (float32 in, packed codes and scales out) and dequantize (packed
codes and scales in, float32 out) for every MX format: mxspec against a plain
numpy + ml_dtypes implementation of the same rule (floor scales, rne,
saturate), ratios printed in one run.  Also dequantize from an MXArray's
unpacked codes (``decode``), and into a reused output array (``out=``, which
leaves out the kernel's zeroing of fresh pages).

The memory limit is a plain float32 ``x.copy()`` of the same size, timed in the
same run, and a copy on as many threads as mxspec's kernels use (a fresh output
each call, as ``x.copy()`` and the encoders have), the faster of the two being the
limit on a many-core machine: ``/copy`` columns are each rate over it (issue #16's targets:
encode 0.5 or more, decode 0.9 or more).  Where torchao is installed, its
``to_mx`` on the CPU is timed too (target: mxspec 2x or more).

  python benchmarks/bench_mx.py [--n 4194304] [--repeat 3] [--rounds 8]
"""
import argparse
import warnings

import ml_dtypes
import numba
import numpy as np
from tqdm import tqdm

import mxspec
from timing import best, threaded_copy

FORMATS = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint4"]


def np_pack(c, bits):
    c = c.reshape(-1)
    if bits == 8:
        return c.copy()
    if bits == 4:
        return (c[0::2] | (c[1::2] << 4)).astype(np.uint8)
    g = c.reshape(-1, 4).astype(np.uint32)  # 6 bits: 4 codes -> 3 bytes, LSB first
    w = g[:, 0] | (g[:, 1] << 6) | (g[:, 2] << 12) | (g[:, 3] << 18)
    return np.stack([w & 0xFF, (w >> 8) & 0xFF, w >> 16], axis=1).astype(np.uint8).reshape(-1)


def np_quantize(x, el):
    """The floor rule, rne and saturate, in numpy + ml_dtypes (blocks of 32)."""
    xb = x.reshape(-1, 32)
    amax = np.abs(xb).max(axis=1)
    _, e = np.frexp(amax)
    s = np.clip(np.where(amax > 0, e - 1 - el.emax, -127), -127, 127)
    y = xb * np.ldexp(np.float32(1), -s)[:, None]
    if el.ml_dtype:
        codes = np.clip(y, -el.max_normal, el.max_normal).astype(getattr(ml_dtypes, el.ml_dtype))
        codes = codes.view(np.uint8)
    else:
        lim = 2 ** (el.bits - 1) - 1
        codes = (np.clip(np.rint(y * 2.0 ** (el.bits - 2)), -lim, lim).astype(np.int8)
                 .view(np.uint8) & (el.n_codes - 1))
    return np_pack(codes, el.bits), (s + 127).astype(np.uint8)


def np_unpack(p, bits):
    if bits == 8:
        return p
    if bits == 4:
        return np.stack([p & 15, p >> 4], axis=1).reshape(-1)
    b = p.reshape(-1, 3).astype(np.uint32)  # 6 bits: 3 bytes -> 4 codes
    w = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    return np.stack([(w >> s) & 63 for s in (0, 6, 12, 18)], axis=1).astype(np.uint8).reshape(-1)


def np_dequantize(packed, scales, table, bits):
    codes = np_unpack(packed, bits)
    return (table[codes].reshape(-1, 32)
            * np.ldexp(np.float32(1), scales.astype(np.int32) - 127)[:, None]).reshape(-1)


def torchao_to_mx():
    """torchao's CPU MX quantizer, or None where torchao is not installed."""
    try:
        import torch
        from torchao.prototype.mx_formats.mx_tensor import to_mx
    except Exception:  # noqa: BLE001 - any import failure means: not available
        return None
    dtypes = {"mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2}
    if hasattr(torch, "float4_e2m1fn_x2"):  # torchao 0.18 names FP4 by this dtype
        dtypes["mxfp4_e2m1"] = torch.float4_e2m1fn_x2
    names = {"mxfp6_e3m2": "fp6_e3m2", "mxfp6_e2m3": "fp6_e2m3", "mxfp4_e2m1": "fp4_e2m1"}

    def run(x, name):
        elem = dtypes.get(name) or names.get(name)
        if elem is None:
            return None
        t = torch.from_numpy(x)
        return lambda: to_mx(t, elem, 32)
    return run


def _measure(x, name, tao, repeat):
    """One round of every column of one format: rates in M elements/s, and
    whether every output is the same bits as numpy + ml_dtypes."""
    n = x.size
    rate = lambda f: n / best(f, repeat) / 1e6  # noqa: E731
    el = mxspec.mx_format(name).element
    r = {"encode": rate(lambda: mxspec.encode(x, name)),
         "packed": rate(lambda: mxspec.encode_packed(x, name)),
         "numpy": rate(lambda: np_quantize(x, el))}
    fn = tao(x, name) if tao else None
    try:
        r["torchao"] = rate(fn) if fn else float("nan")
    except Exception:  # noqa: BLE001 - a format this torchao version refuses
        r["torchao"] = float("nan")
    packed, scales = mxspec.encode_packed(x, name)
    r["dpacked"] = rate(lambda: mxspec.decode_packed(packed, scales, name, x.shape))
    table = mxspec.decode_elements(np.arange(el.n_codes), el)
    r["dnumpy"] = rate(lambda: np_dequantize(packed, scales, table, el.bits))
    mx = mxspec.encode(x, name)
    r["decode"] = rate(lambda: mxspec.decode(mx))
    out = np.empty(x.shape, np.float32)
    r["out"] = rate(lambda: mxspec.decode_packed(packed, scales, name, x.shape, out=out))
    p2, s2 = np_quantize(x, el)
    values = mxspec.decode_packed(packed, scales, name, x.shape)
    same = (np.array_equal(packed, p2) and np.array_equal(s2, scales)
            and np.array_equal(mx.pack()[0], packed)
            and np.array_equal(values, np_dequantize(packed, scales, table, el.bits))
            and np.array_equal(values, mxspec.decode(mx)))
    return r, same


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1 << 22)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=8,
                    help="passes over every format; each cell keeps its best (a slow spell "
                         "of a shared machine then spoils one pass, not the figure)")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    x = np.random.default_rng(0).standard_normal(a.n).astype(np.float32)
    tao = torchao_to_mx()
    copy, tcopy, cells, same = 0.0, 0.0, {}, {}
    bar = tqdm(total=a.rounds * len(FORMATS), desc="bench_mx", unit="format", leave=False)
    for _ in range(a.rounds):
        for name in FORMATS:  # the copy beside each format: both see the same spells
            bar.update()
            copy = max(copy, a.n / best(lambda: x.copy(), a.repeat) / 1e6)
            tcopy = max(tcopy, a.n / best(lambda: threaded_copy(x), a.repeat) / 1e6)
            r, ok = _measure(x, name, tao, a.repeat)
            prev = cells.get(name, {})
            cells[name] = {k: max(v, prev.get(k, 0.0)) if v == v else v for k, v in r.items()}
            same[name] = same.get(name, True) and ok
    bar.close()
    print(f"{a.n} float32 elements, blocks of 32, {numba.get_num_threads()} threads; "
          f"M elements/s (best of {a.repeat} calls in each of {a.rounds} rounds); "
          f"x.copy(): {copy:.0f}; copy on {numba.get_num_threads()} threads: {tcopy:.0f}; "
          f"torchao: {'yes' if tao else 'not installed'}")
    plain, copy = copy, max(copy, tcopy)
    print(f"{'format':11s} {'encode':>7s} {'packed':>7s} {'/copy':>5s} {'numpy':>6s} "
          f"{'torchao':>7s} {'ratio':>6s} | {'decode':>7s} {'packed':>7s} {'/copy':>5s} "
          f"{'numpy':>6s} {'out=':>6s} | same bits")
    for name in FORMATS:
        c = cells[name]
        e, q, tq = c["encode"], c["packed"], c["torchao"]
        vs_tao = f"{min(e, q) / tq:5.1f}x" if tq == tq else "     -"
        print(f"{name:11s} {e:7.0f} {q:7.0f} {min(e, q) / copy:5.2f} {c['numpy']:6.0f} "
              f"{tq:7.0f} {vs_tao} | {c['decode']:7.0f} {c['dpacked']:7.0f} "
              f"{min(c['decode'], c['dpacked']) / copy:5.2f} {c['dnumpy']:6.0f} "
              f"{c['out']:6.0f} | {same[name]}")
    print(f"/copy: the slower of the two mxspec columns over the faster copy ({copy:.0f}; "
          f"x.copy() alone {plain:.0f}); "
          "ratio: the slower encode over torchao's to_mx")


if __name__ == "__main__":
    main()
