"""The NVFP4 recipes against the libraries they are named after, bit for bit:
torchao (nvfp4_quantize), NVIDIA ModelOpt (NVFP4QTensor) and compressed-tensors
(tensor_group FP4 with an E4M3 scale), on the CPU.  Each test skips where its
library is not installed (`pip install torch torchao nvidia-modelopt
compressed-tensors`); SPEC.md 9.2 names the versions checked."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mxspec

torch = pytest.importorskip("torch")


def _unpack(p):
    out = np.empty(p.shape[:-1] + (p.shape[-1] * 2,), np.uint8)
    out[..., 0::2], out[..., 1::2] = p & 15, p >> 4
    return out


def _tensors():
    """Wide exponent ranges, an all-zero block, -0.0, tiny values next to large."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((16, 256)) * np.exp(rng.uniform(-12, 12, (16, 256)))
        x = x.astype(np.float32)
        x[0, :16] = 0
        x[1, 2] = -0.0
        x[2, 5], x[3, 7] = -1e-30, 1e-30
        x[4, 16:32] = np.float32([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0] * 2) * x[4, 16]
        yield x


def _same(a, b):
    return np.array_equal(np.asarray(a, np.float32).view(np.uint32),
                          np.asarray(b, np.float32).view(np.uint32))


def test_torchao():
    nv = pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor")
    from torchao.prototype.mx_formats.kernels import f4_unpacked_to_f32
    for x in _tensors():
        t = torch.from_numpy(x.copy())
        ts = nv.per_tensor_amax_to_scale(torch.max(torch.abs(t)))
        sc, data = nv.nvfp4_quantize(t, 16, ts)
        mx = mxspec.encode(x, "nvfp4", recipe="torchao")
        assert np.array_equal(_unpack(data.view(torch.uint8).numpy()), mx.codes)
        assert np.array_equal(sc.view(torch.uint8).numpy(), mx.scales)
        assert np.float32(ts.item()) == mx.tensor_scale
        # NVFP4Tensor.dequantize: element x (per_tensor_scale x scale), float32
        e = f4_unpacked_to_f32(torch.from_numpy(mx.codes)).view(16, 16, 16)
        hp = (ts * sc.to(torch.float)).view(16, 16, 1)
        assert _same((e * hp).view(16, 256).numpy(), mxspec.decode(mx))


def test_modelopt():
    q = pytest.importorskip("modelopt.torch.quantization.qtensor.nvfp4_tensor")
    for x in _tensors():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qt, s, s2 = q.NVFP4QTensor.quantize(torch.from_numpy(x.copy()), 16,
                                                try_tensorrt=False)
            back = qt.dequantize(dtype=torch.float32, scale=s, double_scale=s2,
                                 block_sizes={-1: 16})
        mx = mxspec.encode(x, "nvfp4", recipe="modelopt")
        assert np.array_equal(_unpack(qt._quantized_data.view(torch.uint8).numpy()), mx.codes)
        assert np.array_equal(s.view(torch.uint8).numpy(), mx.scales)
        assert np.float32(s2.item()) == mx.tensor_scale
        assert _same(back.numpy(), mxspec.decode(mx))


def test_compressed_tensors():
    pytest.importorskip("compressed_tensors")
    from compressed_tensors.quantization import QuantizationArgs
    from compressed_tensors.quantization.lifecycle.forward import dequantize, quantize
    from compressed_tensors.quantization.utils.helpers import calculate_qparams, generate_gparam
    args = QuantizationArgs(num_bits=4, type="float", strategy="tensor_group", group_size=16,
                            symmetric=True, scale_dtype=torch.float8_e4m3fn)
    e2m1 = mxspec.element_format("fp4_e2m1").values.astype(np.float32)
    e4m3 = mxspec.element_format("fp8_e4m3").values.astype(np.float32)
    for x in _tensors():
        t = torch.from_numpy(x.copy())
        gs = generate_gparam(t.min(), t.max())
        blocks = t.view(16, 16, 16)
        scale, zp = calculate_qparams(blocks.amin(-1), blocks.amax(-1), args, global_scale=gs)
        qv = quantize(t, scale, zp, args, global_scale=gs)
        back = dequantize(qv, scale, zp, args, global_scale=gs)
        mx = mxspec.encode(x, "nvfp4", recipe="compressed_tensors")
        assert _same(qv.numpy(), e2m1[mx.codes])          # element values, signs included
        assert _same(scale.float().numpy(), e4m3[mx.scales])
        assert np.float32(gs.item()) == mx.tensor_scale   # the multiplier it stores
        assert _same(back.numpy(), mxspec.decode(mx))
