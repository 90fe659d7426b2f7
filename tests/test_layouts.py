"""Published checkpoint layouts (SPEC.md 9.6, docs/layouts.md): small files
built here by hand from each project's conventions (not by mxspec) load to the
known values; mxspec writes the same tensors back; broken files get errors that
name the tensor and the expected shape."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

import mxspec
from mxspec.io.files import read_raw

# E2M1 by code, as gpt-oss's loader and ModelOpt's table list it
LUT = np.array([0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6], np.float32)


def _pack(codes):
    """Two 4-bit codes per byte, the first in the low nibble."""
    c = np.asarray(codes, np.uint8)
    return (c[..., 0::2] | (c[..., 1::2] << 4)).astype(np.uint8)


def _codes(rng, shape):
    return rng.integers(0, 16, shape).astype(np.uint8)


@pytest.mark.parametrize("names", [(".blocks", ".scales"), ("_blocks", "_scales")])
def test_gpt_oss_mxfp4(tmp_path, names):
    rng = np.random.default_rng(0)
    codes = _codes(rng, (3, 2, 32))                  # 3 experts, 2 blocks of 32 per row...
    scales = rng.integers(120, 135, (3, 2)).astype(np.uint8)
    blocks = _pack(codes)                            # (3, 2, 16)
    base = "block.0.mlp.mlp1_weight" if names[0] == ".blocks" else \
        "model.layers.0.mlp.experts.gate_up_proj"
    path = tmp_path / "gpt.safetensors"
    save_file({base + names[0]: blocks, base + names[1]: scales,
               "norm.scale": np.ones(4, np.float32)}, str(path))
    assert mxspec.layout(path) == ("gpt-oss" if names[0] == ".blocks" else "gpt-oss-hf")
    got = mxspec.load(path)
    mx = got[base]
    # the loader's formula: ldexp(lut[code], scale - 127)
    want = np.ldexp(LUT[codes], scales[..., None].astype(np.int32) - 127).reshape(3, 64)
    assert mx.format.name == "mxfp4_e2m1" and mx.shape == (3, 64) and mx.block_size == 32
    assert np.array_equal(mxspec.decode(mx).view(np.uint32), want.view(np.uint32))
    assert np.array_equal(got["norm.scale"], np.ones(4, np.float32))
    out = tmp_path / "back.safetensors"
    mxspec.save(out, {base: mx, "norm.scale": got["norm.scale"]},
                layout="gpt-oss" if names[0] == ".blocks" else "gpt-oss-hf")
    raw, _ = read_raw(out)
    assert np.array_equal(raw[base + names[0]], blocks) and raw[base + names[0]].shape == (3, 2, 16)
    assert np.array_equal(raw[base + names[1]], scales)


def _nvfp4_files(rng):
    codes = _codes(rng, (4, 32))
    sc = rng.choice(np.arange(1, 0x7F), (4, 2)).astype(np.uint8)  # E4M3 codes, sign 0
    return codes, sc


def test_modelopt_nvfp4(tmp_path):
    rng = np.random.default_rng(1)
    codes, sc = _nvfp4_files(rng)
    ts = np.float32(0.0123)
    path = tmp_path / "mo.safetensors"
    save_file({"model.layers.0.mlp.down_proj.weight": _pack(codes),
               "model.layers.0.mlp.down_proj.weight_scale": sc.view(ml_dtypes.float8_e4m3fn),
               "model.layers.0.mlp.down_proj.weight_scale_2": np.array(ts),
               "model.layers.0.mlp.down_proj.input_scale": np.array(np.float32(0.5))},
              str(path))
    assert mxspec.layout(path) == "modelopt"
    got = mxspec.load(path)
    mx = got["model.layers.0.mlp.down_proj.weight"]
    assert mx.format.name == "nvfp4:modelopt" and mx.tensor_scale == ts and mx.shape == (4, 32)
    bs = sc.view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    want = np.abs(LUT[codes]) * np.sign(LUT[codes]) + 0.0  # ModelOpt decodes -0 as +0
    want = (want.reshape(4, 2, 16) * (bs * ts)[..., None]).reshape(4, 32).astype(np.float32)
    assert np.array_equal(mxspec.decode(mx).view(np.uint32), want.view(np.uint32))
    assert float(got["model.layers.0.mlp.down_proj.input_scale"]) == 0.5
    out = tmp_path / "back.safetensors"
    mxspec.save(out, got, layout="modelopt")
    a, _ = read_raw(out)
    b, _ = read_raw(path)
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and \
            a[k].tobytes() == b[k].tobytes(), k


def test_compressed_tensors_nvfp4(tmp_path):
    rng = np.random.default_rng(2)
    codes, sc = _nvfp4_files(rng)
    gs = np.float32([37.5])
    path = tmp_path / "ct.safetensors"
    save_file({"layer.weight_packed": _pack(codes),
               "layer.weight_scale": sc.view(ml_dtypes.float8_e4m3fn),
               "layer.weight_global_scale": gs}, str(path))
    assert mxspec.layout(path) == "compressed-tensors"
    mx = mxspec.load(path)["layer.weight"]
    assert mx.format.name == "nvfp4:compressed_tensors" and mx.tensor_scale == gs[0]
    bs = sc.view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    want = (LUT[codes].reshape(4, 2, 16) * (bs / gs[0])[..., None]).reshape(4, 32)
    assert np.array_equal(mxspec.decode(mx).view(np.uint32), want.astype(np.float32).view(np.uint32))
    out = tmp_path / "back.safetensors"
    mxspec.save(out, {"layer.weight": mx}, layout="compressed-tensors")
    a, _ = read_raw(out)
    b, _ = read_raw(path)
    assert all(a[k].tobytes() == b[k].tobytes() and a[k].shape == b[k].shape for k in b)


def test_broken_files_say_what_is_wrong(tmp_path):
    p = tmp_path / "a.safetensors"
    save_file({"w.blocks": np.zeros((2, 2, 16), np.uint8)}, str(p))
    with pytest.raises(mxspec.CheckpointError, match="'w.scales' is missing"):
        mxspec.load(p)
    save_file({"w.blocks": np.zeros((2, 2, 16), np.uint8), "w.scales": np.zeros((2, 3), np.uint8)},
              str(p))
    with pytest.raises(mxspec.CheckpointError, match=r"w.blocks has shape \(2, 2, 16\) and "
                                                     r"w.scales \(2, 3\)"):
        mxspec.load(p)
    save_file({"l.weight": np.zeros((4, 16), np.uint8),
               "l.weight_scale": np.zeros((4, 3), np.uint8).view(ml_dtypes.float8_e4m3fn),
               "l.weight_scale_2": np.array(np.float32(1))}, str(p))
    with pytest.raises(mxspec.CheckpointError, match=r"needs scales of shape \(4, 2\)"):
        mxspec.load(p)
    save_file({"l.weight": np.zeros((4, 16), np.uint8),
               "l.weight_scale": np.zeros((4, 2), np.uint8).view(ml_dtypes.float8_e4m3fn)},
              str(p))
    with pytest.raises(mxspec.CheckpointError, match="cannot tell the layout"):
        mxspec.layout(p)
    save_file({"l.weight": np.zeros((4, 16), np.uint8),
               "l.weight_scale": np.zeros((4, 2), np.float32),
               "l.weight_scale_2": np.array(np.float32(1))}, str(p))
    with pytest.raises(mxspec.CheckpointError, match="l.weight_scale must be float8_e4m3fn"):
        mxspec.load(p)


def test_save_refuses_what_a_layout_cannot_hold(tmp_path):
    x = np.ones((2, 64), np.float32)
    with pytest.raises(ValueError, match="layout='ggml'"):
        mxspec.save(tmp_path / "a", {"w": mxspec.encode(x, "mxfp4_e2m1")}, layout="ggml")
    with pytest.raises(ValueError, match="stores MXFP4 \\(mxfp4_e2m1\\) arrays only"):
        mxspec.save(tmp_path / "a", {"w": mxspec.encode(x, "mxfp8_e4m3")}, layout="gpt-oss")
    with pytest.raises(ValueError, match="blocks of 32 along the last axis"):
        mxspec.save(tmp_path / "a", {"w": mxspec.encode(x.T, "mxfp4_e2m1", axis=0)},
                    layout="gpt-oss")
    with pytest.raises(ValueError, match="stores NVFP4 arrays only"):
        mxspec.save(tmp_path / "a", {"l.weight": mxspec.encode(x, "nvfp4:compressed_tensors")},
                    layout="modelopt")
    with pytest.raises(ValueError, match="'<layer>.weight'"):
        mxspec.save(tmp_path / "a", {"w": mxspec.encode(x, "nvfp4")}, layout="modelopt")


def test_scalars_keep_their_shape(tmp_path):
    """A 0-d array comes back 0-d in every layout (np.ascontiguousarray would
    have made it 1-d)."""
    for lay in ("mxspec", "gpt-oss", "modelopt"):
        p = tmp_path / f"{lay}.safetensors"
        mxspec.save(p, {"s": np.array(np.float32(2.5)), "v": np.ones(2, np.float32)}, layout=lay)
        back = mxspec.load(p)
        assert back["s"].shape == () and float(back["s"]) == 2.5 and back["v"].shape == (2,)
