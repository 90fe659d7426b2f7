"""Trim the full-matrix case of an H200 scaled_mm capture to what the tests read:
rows and columns below 64 and those the scaled calls sampled (_vrows/_vcols).

    python tools/trim_h200_capture.py IN.npz OUT.npz
"""
import sys

import numpy as np


def main(src, dst):
    d = dict(np.load(src))
    for key in sorted({k.rsplit("_", 1)[0] for k in d if k.endswith("_A")}):
        rows, cols = d[key + "_rows"], d[key + "_cols"]
        if len(rows) <= 96 and len(cols) <= 96:
            continue
        vr, vc = d[key + "_vrows"], d[key + "_vcols"]
        kr = np.union1d(np.arange(min(64, len(rows))), vr)
        kc = np.union1d(np.arange(min(64, len(cols))), vc)
        d[key + "_rows"], d[key + "_cols"] = rows[kr], cols[kc]
        d[key + "_A"], d[key + "_B"] = d[key + "_A"][kr], d[key + "_B"][kc]
        d[key + "_vrows"] = np.searchsorted(kr, vr)
        d[key + "_vcols"] = np.searchsorted(kc, vc)
        for k in [k for k in d if k.startswith(key + "_unit_")]:
            d[k] = d[k][kr][:, kc]
        print(f"{key}: {len(rows)} x {len(cols)} stored rows -> {len(kr)} x {len(kc)}")
    np.savez_compressed(dst, **d)


if __name__ == "__main__":
    main(*sys.argv[1:3])
