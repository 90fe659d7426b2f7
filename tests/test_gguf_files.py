"""GGUF files (SPEC.md 4.5): a file gguf-py writes loads in mxspec with gguf-py's
dequantized values; a file mxspec writes reads back in gguf-py with the bytes of
gguf-py's own quantizer; and a bad file (truncated anywhere, a bad magic or
version, a misaligned offset, an unknown tensor type) raises an error naming the
file and what is wrong, without reading past its end."""
import struct
import warnings

import ml_dtypes
import numpy as np
import pytest

import mxspec

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFWriter, quants  # noqa: E402


def _x(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * np.exp2(rng.integers(-8, 8, shape[:-1] + (1,)))
            ).astype(np.float32)


def _write_with_gguf_py(path, tensors, kv=None, alignment=None):
    w = GGUFWriter(str(path), "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    for k, v in (kv or {}).items():
        w.add_string(k, v) if isinstance(v, str) else w.add_uint32(k, v)
    for name, (arr, kind) in tensors.items():
        if kind == T.MXFP4 or kind == T.Q8_0:
            w.add_tensor(name, quants.quantize(arr, kind), raw_dtype=kind)
        else:
            w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_py_file_loads_with_its_dequantized_values(tmp_path):
    p = tmp_path / "model.gguf"
    w1, w2, b = _x((64, 128), 1), _x((3, 4, 96), 2), _x((128,), 3)
    _write_with_gguf_py(p, {"blk.0.ffn_up.weight": (w1, T.MXFP4), "blk.0.ffn_down.weight":
                            (w2, T.MXFP4), "blk.0.bias": (b, T.F32), "tok.weight": (w1, T.Q8_0)},
                        {"general.name": "tiny", "llama.block_count": 1})
    assert mxspec.layout(p) == "gguf"
    with pytest.warns(mxspec.io.gguf.GGUFSkipped, match=r"model.gguf: skipped 1 tensor\(s\).*"
                                                         r"tok.weight \(Q8_0\)"):
        t, md = mxspec.load(p, return_metadata=True)
    assert sorted(t) == ["blk.0.bias", "blk.0.ffn_down.weight", "blk.0.ffn_up.weight"]
    assert md["general.name"] == "tiny" and md["llama.block_count"] == 1
    assert md["general.architecture"] == "llama"
    for name, x in (("blk.0.ffn_up.weight", w1), ("blk.0.ffn_down.weight", w2)):
        a = t[name]
        assert a.format.name == "mxfp4_e2m1:gguf" and a.shape == x.shape and a.block_size == 32
        want = quants.dequantize(quants.quantize(x, T.MXFP4), T.MXFP4)
        assert np.array_equal(mxspec.decode(a).view(np.uint32), want.view(np.uint32))
        # and equal to mxspec's own encode of the same values under the gguf recipe
        e = mxspec.encode(x, "mxfp4_e2m1:gguf")
        assert np.array_equal(a.codes, e.codes) and np.array_equal(a.scales, e.scales)
    assert np.array_equal(t["blk.0.bias"], b)


def test_mxspec_file_reads_in_gguf_py_with_its_quantizer_bytes(tmp_path):
    p = tmp_path / "out.gguf"
    w = _x((32, 256), 4)
    h = _x((5, 64), 5)
    tensors = {"w": mxspec.encode(w, "mxfp4_e2m1:gguf"), "h": mxspec.encode(h, "mxfp4_e2m1:gguf"),
               "f32": w[0], "f16": h.astype(np.float16), "bf16": h.astype(ml_dtypes.bfloat16),
               "i32": np.arange(6, dtype=np.int32).reshape(2, 3)}
    mxspec.save(p, tensors, {"general.name": "x", "n": 3, "r": 0.5, "ok": True,
                             "names": ["a", "b"], "general.alignment": 64}, layout="gguf")
    r = GGUFReader(str(p))
    assert r.alignment == 64
    got = {t.name: t for t in r.tensors}
    assert got["w"].tensor_type == T.MXFP4 and list(reversed(got["w"].shape.tolist())) == [32, 256]
    assert np.array_equal(np.asarray(got["w"].data).reshape(32, -1), quants.quantize(w, T.MXFP4))
    assert np.array_equal(np.asarray(got["h"].data).reshape(5, -1), quants.quantize(h, T.MXFP4))
    assert all(t.data_offset % 64 == 0 for t in r.tensors)
    back, md = mxspec.load(p, return_metadata=True)
    assert md["n"] == 3 and md["r"] == 0.5 and md["ok"] is True and md["names"] == ["a", "b"]
    assert md["general.architecture"] == "mxspec"
    for k in ("f32", "f16", "bf16", "i32"):
        assert back[k].dtype == tensors[k].dtype and np.array_equal(back[k], tensors[k])
    assert np.array_equal(back["w"].codes, tensors["w"].codes)


def test_what_gguf_cannot_hold_is_refused(tmp_path):
    p = tmp_path / "bad.gguf"
    x = _x((4, 64))
    with pytest.raises(ValueError, match="GGUF holds MX blocks as MXFP4 only, not mxfp8_e4m3"):
        mxspec.save(p, {"w": mxspec.encode(x, "mxfp8_e4m3")}, layout="gguf")
    with pytest.raises(ValueError, match="blocked along axis 0 of 2"):
        mxspec.save(p, {"w": mxspec.encode(x.T.copy(), "mxfp4_e2m1", axis=0)}, layout="gguf")
    y = x.copy()
    y[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN scale \(0xFF\): ggml's E8M0 has no NaN"):
        mxspec.save(p, {"w": mxspec.encode(y, "mxfp4_e2m1")}, layout="gguf")
    with pytest.raises(ValueError, match="holds whole blocks: the blocked axis has 48"):
        mxspec.save(p, {"w": mxspec.encode(x[:, :48], "mxfp4_e2m1")}, layout="gguf")
    with pytest.raises(TypeError, match="dtype complex64"):
        mxspec.save(p, {"c": np.zeros(3, np.complex64)}, layout="gguf")
    # plain MX codes (ties to even, -0) are valid block_mxfp4 bytes: they save and load
    mxspec.save(p, {"w": mxspec.encode(x, "mxfp4_e2m1")}, layout="gguf")
    assert np.array_equal(mxspec.load(p)["w"].codes, mxspec.encode(x, "mxfp4_e2m1").codes)


@pytest.fixture
def good(tmp_path):
    p = tmp_path / "good.gguf"
    _write_with_gguf_py(p, {"a": (_x((2, 64)), T.MXFP4), "b": (_x((8,)), T.F32)},
                        {"general.name": "g"})
    return p, p.read_bytes()


def _info_offset(data, name):
    """Byte position of tensor ``name``'s info record (its name's length field)."""
    key = struct.pack("<Q", len(name)) + name.encode()
    pos = data.index(key)
    return pos


def test_truncated_anywhere(good, tmp_path):
    p, data = good
    r = GGUFReader(str(p))
    cuts = sorted({0, 3, 10, 23, 24, 40, 80, r.data_offset - 1, r.data_offset, r.data_offset + 5,
                   len(data) - 1})
    for n in cuts:
        q = tmp_path / f"cut{n}.gguf"
        q.write_bytes(data[:n])
        with pytest.raises(mxspec.CheckpointError, match=f"cut{n}.gguf: "):
            mxspec.load(q)


def test_bad_magic_version_offset_and_type(good, tmp_path):
    p, data = good
    q = tmp_path / "magic.gguf"
    q.write_bytes(b"GGUG" + data[4:])
    for call in (mxspec.load, mxspec.layout):  # a .gguf name is read as GGUF, and refused
        with pytest.raises(mxspec.CheckpointError, match=r"magic.gguf: not a GGUF file: the "
                                                         r"magic is b'GGUG', not b'GGUF'"):
            call(q)
    q = tmp_path / "magic.bin"
    q.write_bytes(b"GGUG" + data[4:])  # any other name: the safetensors reader refuses it
    with pytest.raises(mxspec.CheckpointError, match="magic.bin: not a readable safetensors"):
        mxspec.load(q)
    for v in (1, 4):
        q = tmp_path / f"v{v}.gguf"
        q.write_bytes(data[:4] + struct.pack("<I", v) + data[8:])
        with pytest.raises(mxspec.CheckpointError, match=f"v{v}.gguf: GGUF version {v}; mxspec "
                                                         "reads versions 2, 3"):
            mxspec.load(q)
    # tensor a's offset moved off the alignment (its data still inside the file)
    pos = _info_offset(data, "a") + 8 + 1 + 4 + 2 * 8 + 4
    (off,) = struct.unpack("<Q", data[pos:pos + 8])
    q = tmp_path / "align.gguf"
    q.write_bytes(data[:pos] + struct.pack("<Q", off + 4) + data[pos + 8:])
    with pytest.raises(mxspec.CheckpointError, match=r"align.gguf: tensor 'a' starts at data "
                                                     r"offset 4, not a multiple of the file's "
                                                     r"alignment 32"):
        mxspec.load(q)
    # an offset past the end
    pos = _info_offset(data, "b") + 8 + 1 + 4 + 8 + 4
    (off,) = struct.unpack("<Q", data[pos:pos + 8])
    q = tmp_path / "past.gguf"
    q.write_bytes(data[:pos] + struct.pack("<Q", off + (1 << 20)) + data[pos + 8:])
    with pytest.raises(mxspec.CheckpointError, match=r"past.gguf: truncated GGUF file: a header "
                                                     r"field or a tensor's data runs past the end"):
        mxspec.load(q)
    # a type id no ggml release has
    tpos = _info_offset(data, "b") + 8 + 1 + 4 + 8  # after the name, n_dims and one dim
    q = tmp_path / "type.gguf"
    q.write_bytes(data[:tpos] + struct.pack("<I", 250) + data[tpos + 4:])
    with pytest.raises(mxspec.CheckpointError, match=r"type.gguf: not a readable GGUF file: a tensor has ggml type "
                                                    r"250, which gguf [\d.]+ does not know"):
        mxspec.load(q)


def test_without_gguf_py_the_error_says_what_to_install(monkeypatch, tmp_path, good):
    import builtins
    real = builtins.__import__

    def no_gguf(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "gguf" and level == 0:
            raise ImportError("no gguf")
        return real(name, globals, locals, fromlist, level)
    monkeypatch.setattr(builtins, "__import__", no_gguf)
    with pytest.raises(ImportError, match=r"pip install 'mxspec\[gguf\]'"):
        mxspec.load(good[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mxspec.layout(good[0]) == "gguf"  # told by the magic alone
