"""Capture what the installed ml_dtypes release casts every float16 and bfloat16 input
to, for each ml_dtypes type that mxspec has a format for, into
tests/data/ml_dtypes/casts-<version>.npz.  tests/test_elements_exhaustive.py holds each
named profile (policies.PROFILE_TABLE) to the capture of the release it names, so
that both rows are tested whichever release is installed.

Run it in a venv with only numpy and that ml_dtypes release (mxspec is not imported:
the capture must not depend on the code it checks):

    python -m venv /tmp/v && /tmp/v/bin/pip install numpy ml_dtypes==0.6.0
    /tmp/v/bin/python tools/capture_ml_dtypes.py
"""
import os
import warnings

import ml_dtypes
import numpy as np

# mxspec's formats that have an ml_dtypes twin (formats.py's ml_dtype column)
TYPES = ("float8_e4m3fn", "float8_e5m2", "float6_e3m2fn", "float6_e2m3fn", "float4_e2m1fn",
         "float8_e8m0fnu", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz",
         "float8_e4m3", "float8_e3m4", "int2", "uint2", "uint4")
BITS = {"float6_e3m2fn": 6, "float6_e2m3fn": 6, "float4_e2m1fn": 4, "int2": 2, "uint2": 2,
        "uint4": 4}


def main():
    all16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    inputs = {"float16": all16.view(np.float16), "bfloat16": all16.view(ml_dtypes.bfloat16)}
    out = {}
    for t in TYPES:
        dt = getattr(ml_dtypes, t)
        mask = np.uint8((1 << BITS.get(t, 8)) - 1)  # sub-byte types keep the code in the low bits
        for name, x in inputs.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[f"{t}/{name}"] = x.astype(dt).view(np.uint8) & mask
    root = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "ml_dtypes")
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, f"casts-{ml_dtypes.__version__}.npz")
    np.savez_compressed(path, **out)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
