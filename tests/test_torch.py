"""PyTorch in and out (SPEC.md 9.7): torch tensors give the same bits as the
numpy path for every MX format and NVFP4; to_torch / from_torch round trip in
PyTorch's own dtypes; torch's float8 casts agree with mxspec's decode.  Skips
without torch; the rest of the suite never imports it."""
from __future__ import annotations

import numpy as np
import pytest

import mxspec
from mxspec.io.torch_interop import as_numpy

torch = pytest.importorskip("torch")

FORMATS = mxspec.mx_formats() + ["nvfp4", "nvfp4:torchao", "nvfp4_block_only"]
MICRO = mxspec.micro_formats()


def _x():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 96, generator=g) * torch.exp(torch.randn(6, 96, generator=g) * 3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_input_same_bits_as_numpy(fmt):
    x = _x()
    for dt in (torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn,
               torch.float8_e5m2, torch.float64):
        t = x.to(dt)
        want = mxspec.encode(t.to(torch.float64).numpy(), fmt)  # exact widening in torch
        assert mxspec.encode(t, fmt).equals(want), (fmt, dt)
        got = mxspec.encode_packed(t, fmt)
        want_packed = mxspec.encode_packed(t.to(torch.float64).numpy(), fmt)
        flat = lambda p: [a for item in p for a in (item if isinstance(item, tuple) else (item,))]  # noqa: E731
        assert all(np.array_equal(a, b) for a, b in zip(flat(got), flat(want_packed))), (fmt, dt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_to_torch_from_torch_round_trip(fmt):
    mx = mxspec.encode(_x(), fmt)
    t = mx.to_torch()
    el = mx.format.element.name
    want = {"fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2,
            "fp4_e2m1": torch.float4_e2m1fn_x2, "int8": torch.int8}.get(el, torch.uint8)
    assert t.codes.dtype == want
    assert t.scales.dtype == (torch.float8_e4m3fn if fmt.startswith("nvfp4")
                              else torch.float8_e8m0fnu)
    assert (t.tensor_scale is not None) == (mx.tensor_scale is not None)
    assert mxspec.from_torch(t).equals(mx)
    assert mxspec.from_torch(t.codes, t.scales, fmt, tensor_scale=t.tensor_scale).equals(mx)
    if el != "fp4_e2m1":  # no copy: the tensor views the MXArray's codes
        assert np.shares_memory(t.codes.view(torch.uint8).numpy(), mx.codes)


def test_torch_float8_agrees_with_mxspec():
    """torch's own float8 casts: every E4M3/E5M2 code and every E8M0 scale
    decodes to what mxspec says (NaN where both say NaN)."""
    codes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    for dt, fmt in ((torch.float8_e4m3fn, "fp8_e4m3"), (torch.float8_e5m2, "fp8_e5m2"),
                    (torch.float8_e8m0fnu, "e8m0")):
        got = codes.view(dt).to(torch.float64).numpy()
        want = mxspec.decode_elements(codes.numpy(), fmt, np.float64)
        assert np.array_equal(got, want, equal_nan=True), fmt


def test_no_copy_and_errors():
    x = torch.randn(4, 32)
    assert np.shares_memory(as_numpy(x), x.numpy())
    b = x.to(torch.bfloat16)
    assert np.shares_memory(as_numpy(b).view(np.uint16), b.view(torch.int16).numpy())
    with pytest.raises(ValueError, match="torch tensor on meta"):
        mxspec.encode(torch.empty(2, 32, device="meta"), "mxint8")
    with pytest.raises(TypeError, match="got dtype int64"):
        mxspec.encode(torch.arange(32), "mxint8")
    mx = mxspec.encode(x, "nvfp4")
    t = mx.to_torch()
    with pytest.raises(ValueError, match="needs tensor_scale"):
        mxspec.from_torch(t.codes, t.scales, "nvfp4")


def test_codes_as_torch_tensors():
    """Functions that take codes take uint8 torch tensors too."""
    c = torch.arange(0, 64, dtype=torch.int32).to(torch.uint8)
    assert np.array_equal(mxspec.decode_elements(c, "fp8_e4m3"),
                          mxspec.decode_elements(c.numpy(), "fp8_e4m3"))
    got = mxspec.dot_elements(c[None, :32], c[None, 32:], "fp8_e4m3", "fp8_e4m3")
    assert got == mxspec.dot_elements(c.numpy()[None, :32], c.numpy()[None, 32:],
                                      "fp8_e4m3", "fp8_e4m3")


def test_generic_block_formats_to_torch():
    for name, sdt in (("bf(int8,float32,32)", torch.float32),
                      ("bf(fp6_e2m3,ue4m3,32,tensor)", torch.float8_e4m3fn)):
        mx = mxspec.encode(_x(), name)
        t = mx.to_torch()
        assert t.scales.dtype == sdt and mxspec.from_torch(t).equals(mx), name
        assert mxspec.encode(_x().to(torch.bfloat16), name).equals(
            mxspec.encode(_x().to(torch.bfloat16).float().numpy(), name))


@pytest.mark.parametrize("fmt", MICRO)
def test_micro_levels_go_to_torch_and_back(fmt):
    """to_torch dropped the micro-exponent levels (the round trip could not decode)."""
    x = _x().numpy()[:, :64]
    mx = mxspec.encode(x, fmt)
    t = mx.to_torch()
    assert len(t.micro) == len(mx.micro) and all(m.dtype == torch.uint8 for m in t.micro)
    back = mxspec.from_torch(t)
    assert back.equals(mx)
    assert np.array_equal(mxspec.decode(back), mxspec.decode(mx), equal_nan=True)


def test_from_torch_refuses_what_does_not_fit():
    mx = mxspec.encode(_x().numpy(), "mxfp8_e4m3")
    t = mx.to_torch()
    with pytest.raises(ValueError, match="axis=7 is out of range"):
        mxspec.from_torch(t.codes, t.scales, "mxfp8_e4m3", axis=7)
    with pytest.raises(TypeError, match="scales of mxfp8_e4m3 must be one-byte codes"):
        mxspec.from_torch(t.codes, t.scales.view(torch.uint8).to(torch.float32), "mxfp8_e4m3")
    with pytest.raises(ValueError, match="block_size must be an integer"):
        mxspec.from_torch(t.codes, t.scales, "mxfp8_e4m3", block_size=0)
    with pytest.raises(ValueError, match="micro-exponent levels"):
        mxspec.from_torch(mxspec.encode(_x().numpy()[:, :64], "mx6").to_torch()._replace(micro=()))
