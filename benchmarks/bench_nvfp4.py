"""NVFP4 quantize and dequantize speed (issue #12's target: 2^24 float32 values
at least as fast as mxfp4_e2m1, and faster than torchao's NVFP4 quantization on
the CPU; issue #31's: Four Over Six at 0.3x a copy or more, beside fouroversix's
reference quantizer), with a float32 copy as the memory reference, in one run.

    python benchmarks/bench_nvfp4.py [--n 16777216]
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

from timing import best, gaussian_rows

import mxspec

# every recipe of the nvfp4 format (DeepSeek's take FP8 elements; IF4's are the if4 format's)
NVFP4 = [r for r, v in mxspec.tables.block.RECIPES.items()
         if (v.takes is None or ("fp4_e2m1", "ue4m3") in v.takes) and v.choice != "if4"]
IF4 = [r for r, v in mxspec.tables.block.RECIPES.items() if v.choice == "if4"]


def fouroversix_reference():
    """fouroversix's PyTorch reference (quantize_to_fp4), imported past the package's
    __init__ (which needs transformers and its CUDA kernels); None where absent."""
    spec = importlib.util.find_spec("fouroversix")
    if spec is None:
        return None
    root = spec.submodule_search_locations[0]
    for name, sub in (("fouroversix", ""), ("fouroversix.quantize", "quantize"),
                      ("fouroversix.quantize.pytorch", os.path.join("quantize", "pytorch"))):
        m = types.ModuleType(name)
        m.__path__ = [os.path.join(root, sub)]
        sys.modules.setdefault(name, m)
    return (importlib.import_module("fouroversix.quantize.pytorch.reference"),
            importlib.import_module("fouroversix.utils"))


def main(argv=None):
    a, x, t_copy = gaussian_rows(__doc__, argv)
    n = x.size
    print(f"  float32 copy                 {n / t_copy / 1e6:8,.0f} M/s")
    mxspec.encode(x[:2], "mxfp4_e2m1")
    t_mx = best(lambda: mxspec.encode(x, "mxfp4_e2m1"), a.repeat)
    print(f"  mxfp4_e2m1 encode            {n / t_mx / 1e6:8,.0f} M/s  "
          f"({t_copy / t_mx:.2f} x copy)")
    t_tao = None
    try:
        import torch
        from torchao.prototype.mx_formats.nvfp4_tensor import (nvfp4_quantize,
                                                               per_tensor_amax_to_scale)
        t = torch.from_numpy(x)

        def tao():
            return nvfp4_quantize(t, 16, per_tensor_amax_to_scale(torch.max(torch.abs(t))))
        tao()
        t_tao = best(tao, a.repeat)
        print(f"  torchao nvfp4_quantize       {n / t_tao / 1e6:8,.0f} M/s")
    except ImportError:
        print("  torchao: not installed")
    t_ref = {}
    loaded = fouroversix_reference()
    if loaded is not None:
        import torch
        ref, utils = loaded
        tb = torch.from_numpy(x).bfloat16()
        for rule, dt in (("static_6", "nvfp4"), ("mse", "nvfp4"), ("mse", "if4")):
            def run(rule=rule, dt=dt):
                return ref.quantize_to_fp4(tb, fp4_format=utils.DataType(dt),
                                           scale_rule=utils.ScaleRule(rule),
                                           use_blackwell_scale_layout=False)
            t_ref[rule, dt] = best(run, 1)
            print(f"  fouroversix 1.0.5 {dt} {rule:9s}{n / t_ref[rule, dt] / 1e6:8,.0f} M/s  "
                  f"(its PyTorch reference, bfloat16 in; {t_copy / t_ref[rule, dt]:.2f} x copy)")
    else:
        print("  fouroversix: not installed")
    theirs = {"fouroversix": ("static_6", "nvfp4"), "4over6": ("mse", "nvfp4"),
              "4over6_mse": ("mse", "nvfp4"), "if4": ("mse", "if4")}
    rows = [("nvfp4", r) for r in NVFP4] + [("if4", r) for r in IF4]
    for fmt, r in rows:
        mxspec.encode(x[:2], fmt, recipe=r)
        t_nv = best(lambda: mxspec.encode(x, fmt, recipe=r), a.repeat)
        extra = f", {t_tao / t_nv:.1f} x torchao" if t_tao else ""
        if theirs.get(r) in t_ref:
            extra += f", {t_ref[theirs[r]] / t_nv:.0f} x fouroversix"
        print(f"  {fmt} encode, {r:15s}{n / t_nv / 1e6:8,.0f} M/s  ({t_mx / t_nv:.2f} x "
              f"mxfp4_e2m1{extra}, {t_copy / t_nv:.2f} x copy)")
    # the 2D rows: NVIDIA's 16 x 16 tiles (a choice recipe chooses per tile, SPEC.md 9.12),
    # DeepSeek's FP8 1 x 128 groups and 128 x 128 weight tiles (SPEC.md 9.9, 9.13)
    w = x if x.ndim == 2 and x.shape[0] % 128 == 0 else None  # rows of 4096: whole tiles
    for fmt in ("nvfp4_2d", "nvfp4_2d:4over6", "if4_2d", "deepseek_fp8",
                "deepseek_fp8:deepgemm", "deepseek_fp8_2d", "deepseek_fp8_2d_ue8m0"):
        src = w if "_2d" in fmt else x
        if src is None:
            continue
        mxspec.encode(src[:128], fmt)
        t_ds = best(lambda: mxspec.encode(src, fmt), a.repeat)
        print(f"  {fmt + ' encode':29s}{n / t_ds / 1e6:8,.0f} M/s  ({t_copy / t_ds:.2f} x copy)")
    mxa = mxspec.encode(x, "mxfp4_e2m1")
    t_mxd = best(lambda: mxspec.decode(mxa), a.repeat)
    print(f"  mxfp4_e2m1 decode            {n / t_mxd / 1e6:8,.0f} M/s  "
          f"({t_copy / t_mxd:.2f} x copy)")
    for fmt, r in rows:
        mx = mxspec.encode(x, fmt, recipe=r)
        t_dec = best(lambda: mxspec.decode(mx), a.repeat)
        print(f"  {fmt} decode, {r:15s}{n / t_dec / 1e6:8,.0f} M/s  ({t_mxd / t_dec:.2f} x "
              f"mxfp4_e2m1, {t_copy / t_dec:.2f} x copy)")


if __name__ == "__main__":
    main()
