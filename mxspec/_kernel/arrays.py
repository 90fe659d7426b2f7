"""Array inputs from other libraries: a CPU torch tensor as a numpy view of the
same bytes (bfloat16 and float8 as ml_dtypes arrays).  torch and ml_dtypes are
imported only when a tensor is seen.

>>> import numpy as np
>>> as_numpy(np.float32([1.0])).tolist()
[1.0]
"""
from __future__ import annotations

import sys

import numpy as np

def is_torch_tensor(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


# torch dtype name -> (the ml_dtypes/numpy dtype of the same bytes, the unsigned
# integer torch dtype of the same width used to view them)
def _views():
    import ml_dtypes  # imported with torch, not with mxspec (it takes half a second)
    import torch
    v = {torch.bfloat16: (ml_dtypes.bfloat16, torch.int16),
         torch.float8_e4m3fn: (ml_dtypes.float8_e4m3fn, torch.uint8),
         torch.float8_e5m2: (ml_dtypes.float8_e5m2, torch.uint8)}
    for name, ml in (("float8_e8m0fnu", ml_dtypes.float8_e8m0fnu),
                     ("float8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
                     ("float8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz)):
        if hasattr(torch, name):
            v[getattr(torch, name)] = (ml, torch.uint8)
    return v


def as_numpy(x, argument: str = "x"):
    """``x`` itself, or a numpy view of a CPU torch tensor (no copy)."""
    if not is_torch_tensor(x):
        return x
    if x.device.type != "cpu":
        raise ValueError(f"{argument} is a torch tensor on {x.device}; mxspec takes CPU "
                         f"tensors (call .cpu() first)")
    t = x.detach()
    if not t.is_contiguous():
        t = t.contiguous()  # numpy views need strides torch can export; a copy here
    views = _views()
    if t.dtype in views:
        ml, raw = views[t.dtype]
        return t.view(raw).numpy().view(ml)
    if hasattr(t, "dtype") and str(t.dtype) == "torch.float4_e2m1fn_x2":
        raise TypeError(f"{argument} is a packed float4_e2m1fn_x2 tensor; use "
                        f"mxspec.from_torch to read packed FP4 codes")
    return t.numpy()


def as_torch(arr):
    """A numpy array (float32, float16, or an ml_dtypes bfloat16) as a CPU torch
    tensor of the same bytes."""
    import torch
    if arr.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(arr).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(arr))
