"""Capture what compressed-tensors computes for integer groups (its calculate_qparams,
quantize, dequantize and pack_to_int32 on the CPU) into
tests/data/compressed_tensors/int-groups-<version>.npz, so that tests/test_int_groups.py
holds mxspec's ``compressed_tensors`` recipe to it where compressed-tensors is not
installed (CI); where it is, the test runs it live as well.

mxspec is not imported: the capture must not depend on the code it checks.  Run it
where compressed-tensors imports (it needs torch; on a CPU-only machine):

    pip install --no-deps compressed-tensors transformers
    pip install pydantic psutil loguru regex huggingface-hub pyyaml
    python tools/capture_compressed_tensors_groups.py
"""
import os

import numpy as np
import torch
import compressed_tensors
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
from compressed_tensors.quantization import QuantizationArgs
from compressed_tensors.quantization.lifecycle.forward import dequantize, quantize
from compressed_tensors.quantization.utils import calculate_qparams

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
SHAPE = (8, 256)


def inputs(seed=0):
    """Four tensors: Gaussian; wide exponents (2^-12..2^12, float16 holds them);
    multiples of 1/16 (ties of x / s + zp); one-signed halves and an all-zero row."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(SHAPE).astype(np.float32)
    b = (rng.standard_normal(SHAPE) * np.exp2(rng.integers(-12, 12, SHAPE))).astype(np.float32)
    c = (rng.integers(-64, 64, SHAPE) / 16).astype(np.float32)
    d = rng.standard_normal(SHAPE).astype(np.float32)
    d[:, :128] = np.abs(d[:, :128])
    d[:, 128:192] = -np.abs(d[:, 128:192])
    d[0] = 0.0
    return np.stack([a, b, c, d])


def run(x, dtype, bits, group, symmetric):
    w = torch.from_numpy(x).to(DTYPES[dtype])
    args = QuantizationArgs(num_bits=bits, type="int", strategy="group", group_size=group,
                            symmetric=symmetric)
    g = w.unflatten(-1, (w.shape[-1] // group, group))
    scale, zp = calculate_qparams(g.amin(-1), g.amax(-1), args)
    q = quantize(w, scale, zp, args, dtype=torch.int8)
    d = dequantize(q, scale, zp, args)
    bits_of = (lambda t: t.float().numpy().view(np.uint32))  # each value exact in float32
    out = {"scale": bits_of(scale), "zero_point": zp.numpy().astype(np.int8), "q": q.numpy(),
           "dequant": bits_of(d), "packed": pack_to_int32(q, bits).numpy()}
    if not symmetric:
        out["packed_zero_point"] = pack_to_int32(zp.to(torch.int8), bits, packed_dim=0).numpy()
    return out


def main():
    x = inputs()
    out = {"x": x}
    for dtype in DTYPES:
        for bits in (4, 8):
            for group in (32, 64, 128):
                for symmetric in (False, True):
                    for k in range(len(x)):
                        key = f"{dtype}/{bits}/{group}/{'sym' if symmetric else 'asym'}/{k}"
                        for name, arr in run(x[k], dtype, bits, group, symmetric).items():
                            out[f"{key}/{name}"] = arr
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "data", "compressed_tensors",
                        f"int-groups-{compressed_tensors.__version__}.npz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path, **out)
    print(path, len(out), "arrays")


if __name__ == "__main__":
    main()
