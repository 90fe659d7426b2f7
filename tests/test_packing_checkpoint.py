"""Packing layouts and safetensors checkpoints (SPEC.md sections 5 and 6)."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import mxspec
from mxspec import pack_codes, unpack_codes

MX = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "mxint8", "mxint4",
      "mxint2", "mxfp5_e2m2", "mxint7",
      "mxfp8_e4m3fnuz", "mxp3109_k3p2se", "mxp3109_k5p2ue", "mxuint2"]


def stream_pack(codes, bits):
    """The layout as SPEC.md 5.1 words it: an LSB-first bit stream, by string."""
    stream = "".join(format(int(c), f"0{bits}b")[::-1] for c in codes)
    stream += "0" * (-len(stream) % 8)
    return [int(stream[i:i + 8][::-1], 2) for i in range(0, len(stream), 8)]


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 4097, 9000])
def test_pack_layout_and_round_trip(bits, n):
    c = np.random.default_rng(bits * 1000 + n).integers(0, 1 << bits, (2, n)).astype(np.uint8)
    p = pack_codes(c, bits)
    assert p.shape == (2, (n * bits + 7) // 8)
    for row in range(2):
        assert p[row].tolist() == stream_pack(c[row], bits)
    assert np.array_equal(unpack_codes(p, bits, n), c)


def test_pack_worked_examples():
    """SPEC.md 5.1, verbatim."""
    assert pack_codes(np.array([0x1, 0x2, 0x3], np.uint8), 4).tolist() == [0x21, 0x03]
    assert pack_codes(np.array([0x3F, 0x00, 0x3F, 0x00], np.uint8), 6).tolist() == [0x3F, 0xF0, 0x03]
    assert pack_codes(np.array([0x01, 0x02, 0x03, 0x04], np.uint8), 6).tolist() == [0x81, 0x30, 0x10]


@pytest.mark.parametrize("name", MX)
@pytest.mark.parametrize("shape,axis", [((37,), 0), ((3, 64), 1), ((64, 3), 0), ((2, 5, 33), 1)])
def test_mx_pack_unpack_identity(name, shape, axis):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    mx = mxspec.encode(x, name, axis=axis, block_size=32)
    packed, scales = mx.pack()
    back = mxspec.unpack(packed, scales, name, shape, axis, 32)
    assert back.equals(mx)


def test_unpack_refuses_wrong_sizes_and_padding():
    mx = mxspec.encode(np.ones(33, np.float32), "mxfp4_e2m1")
    packed, scales = mx.pack()
    with pytest.raises(ValueError, match=r"packed has shape \(16,\); .* pack to \(17,\)"):
        mxspec.unpack(packed[:-1], scales, "mxfp4_e2m1", (33,))
    with pytest.raises(ValueError, match=r"scales have shape \(1,\).* needs \(2,\)"):
        mxspec.unpack(packed, scales[:1], "mxfp4_e2m1", (33,))
    with pytest.raises(TypeError, match="packed must be uint8"):
        mxspec.unpack(packed.astype(np.int16), scales, "mxfp4_e2m1", (33,))
    bad = packed.copy()
    bad[-1] |= 0xF0  # a 34th code where there are 33
    with pytest.raises(ValueError, match="nonzero padding bits"):
        mxspec.unpack(bad, scales, "mxfp4_e2m1", (33,))


def test_checkpoint_round_trip_and_layout(tmp_path):
    rng = np.random.default_rng(3)
    w = mxspec.encode(rng.standard_normal((4, 64)).astype(np.float32), "mxfp4_e2m1", axis=1)
    v = mxspec.encode(rng.standard_normal((33, 5)).astype(np.float32), "mxfp6_e2m3", axis=0)
    b = rng.standard_normal(7).astype(np.float32)
    path = tmp_path / "m.safetensors"
    mxspec.save(path, {"w": w, "v": v, "b": b}, metadata={"note": "test"})
    back, md = mxspec.load(path, return_metadata=True)
    assert back["w"].equals(w) and back["v"].equals(v) and np.array_equal(back["b"], b)
    assert md == {"note": "test"}
    raw = load_file(str(path))
    # the published MXFP4 layout: (..., n_blocks, 16) bytes and (..., n_blocks) scales
    assert raw["w.blocks"].shape == (4, 2, 16) and raw["w.scales"].shape == (4, 2)
    assert raw["v.blocks"].shape == (5, 25) and raw["v.scales"].shape == (5, 2)  # rows layout


def _rewrite(path, out, mutate):
    from safetensors import safe_open
    with safe_open(str(path), framework="np") as fh:
        md = fh.metadata()
        t = {k: fh.get_tensor(k) for k in fh.keys()}
    mutate(t, md)
    save_file(t, str(out), metadata=md)
    return out


@pytest.mark.parametrize("mutate,match", [
    (lambda t, md: t.update({"w.scales": t["w.scales"][:, :1]}), r"w.scales has shape \(4, 1\)"),
    (lambda t, md: t.update({"w.blocks": t["w.blocks"][:, :, :8]}), r"w.blocks has shape"),
    (lambda t, md: t.update({"w.scales": t["w.scales"].astype(np.int8)}), "must be uint8"),
    (lambda t, md: t.pop("w.scales"), "needs both"),
    (lambda t, md: md.update({"mxspec": md["mxspec"].replace("mxfp4_e2m1", "mxfp9")}),
     "malformed"),
    (lambda t, md: md.update({"mxspec": "not json"}), "malformed"),
])
def test_checkpoint_mismatch_refused(tmp_path, mutate, match):
    w = mxspec.encode(np.ones((4, 64), np.float32), "mxfp4_e2m1", axis=1)
    path = tmp_path / "a.safetensors"
    mxspec.save(path, {"w": w})
    bad = _rewrite(path, tmp_path / "b.safetensors", mutate)
    with pytest.raises(mxspec.CheckpointError, match=match):
        mxspec.load(bad)


def test_checkpoint_not_a_file(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"\x00" * 20)
    with pytest.raises(mxspec.CheckpointError, match="not a readable safetensors file"):
        mxspec.load(p)
    with pytest.raises(TypeError, match="BlockArray or numpy array"):
        mxspec.save(p, {"w": [1, 2]})
