"""Every committed vector file, checked three ways: against mxspec, against the
independent references the file's header names, and for an unchanged layout
(regenerating it gives the same text)."""
import math
import warnings
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import mxspec
from mxspec.tables.tapered import is_tapered_name
from mxspec.app import vectors as V

# the independent references are test dependencies (the [test] extra): a missing one
# fails the run instead of skipping the cross-checks it would make
import gfloat  # noqa: F401  (the P3109 reference)

ROOT = Path(__file__).parent / "vectors"
FILES = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.txt"))


def fields(vf, k):
    return [np.array([int(f, 16) for f in row[1]], np.uint64) for row in vf.rows]


def fail(path, line, what, exp, got):
    pytest.fail(f"{path}:{line}: {what}: expected {exp}, got {got}")


def dot_row(h, row):
    """(codes_a, scales_a, codes_b, scales_b, c, result bits) of a dot row."""
    K, bs = int(h["k"]), int(h["block_size"])
    n = K // bs
    v = [int(f, 16) for f in row]
    sa, ca = v[:n], v[n:n + K]
    sb, cb = v[n + K:2 * n + K], v[2 * n + K:2 * n + 2 * K]
    return ca, sa, cb, sb, np.uint32(v[-2]).view(np.float32), v[-1]


def _nvfp4_rows(vf):
    """(inputs (rows, 16) float32 or None, scale codes, codes, expected tail per row)."""
    rows = [r for _, r in vf.rows]
    if vf.kind == "quantize":
        x = np.array([[int(f, 16) for f in r[:16]] for r in rows], np.uint32).view(np.float32)
        return x, rows
    return None, rows


def _matrix(vf, a):
    """Rows of 1 x 16 blocks as the matrix a tile file's header names (other
    NVFP4 files: the rows are the matrix)."""
    if "shape" not in vf.header:
        return a
    R, C = (int(v) for v in vf.header["shape"].split())
    return a.reshape(R, C)



def check_nvfp4_against_mxspec(path, vf):
    """NVFP4 files are one tensor: encode (or decode) all rows at once."""
    h = vf.header
    ts = np.uint32(int(h["tensor_scale"], 16)).view(np.float32)
    fmt = h["format"]
    x, rows = _nvfp4_rows(vf)
    if vf.kind == "quantize":
        mx = mxspec.encode(_matrix(vf, x), fmt)
        assert mx.tensor_scale is None or np.float32(mx.tensor_scale) == ts, path
        codes, scales = mx.codes.reshape(-1, 16), mx.scales.reshape(-1)
        for i, ((line, _), r) in enumerate(zip(vf.rows, rows)):
            got = [f"{int(scales[i]):02x}"] + [f"{int(c):02x}" for c in codes[i]] + \
                [V.pack_codes(codes[i], 4).tobytes().hex()]
            if got != r[16:]:
                fail(path, line, "nvfp4 quantize", r[16:], got)
    else:
        f = mxspec.block_format(fmt)
        codes = _matrix(vf, np.array([[int(c, 16) for c in r[1:17]] for r in rows], np.uint8))
        scales = np.array([[int(r[0], 16)] for r in rows], np.uint8)
        scales = scales.reshape(codes.shape[0], -1)
        mx = mxspec.MXArray(codes, scales, f, 16, 1, ts if f.tensor_scale else None)
        got = mxspec.decode(mx).view(np.uint32).reshape(-1, 16)
        for i, ((line, _), r) in enumerate(zip(vf.rows, rows)):
            want = [f"{int(b):08x}" for b in got[i]]
            if want != r[17:]:
                fail(path, line, "nvfp4 dequantize", r[17:], want)


def _fp8_group_rows(vf):
    """(inputs (rows, 128) float32 or None, scales float32, codes uint8, values bits)."""
    rows = [r for _, r in vf.rows]
    k = int(vf.header["block_size"])
    o = k if vf.kind == "quantize" else 0
    x = np.array([[int(f, 16) for f in r[:k]] for r in rows], np.uint32).view(np.float32) \
        if vf.kind == "quantize" else None
    s = np.array([int(r[o], 16) for r in rows], np.uint32).view(np.float32)
    c = np.array([[int(f, 16) for f in r[o + 1:o + 1 + k]] for r in rows], np.uint8)
    tail = [r[o + 1 + k:] for r in rows]
    return x, s, c, tail


def check_fp8_groups_against_mxspec(path, vf):
    x, s, c, tail = _fp8_group_rows(vf)
    if vf.kind == "quantize":
        mx = mxspec.encode(x, vf.header["format"])
        assert np.array_equal(mx.scales.reshape(-1).view(np.uint32), s.view(np.uint32)), path
        assert np.array_equal(mx.codes, c), path
        assert all(t == [c[i].tobytes().hex()] for i, t in enumerate(tail)), path
    else:
        mx = mxspec.MXArray(c, s.reshape(-1, 1), mxspec.block_format(vf.header["format"]),
                            int(vf.header["block_size"]), 1, None)
        got = mxspec.decode(mx).view(np.uint32)
        assert [[f"{int(b):08x}" for b in row] for row in got] == tail, path


def _e4m3(v):
    return np.clip(v, np.float32(-448), np.float32(448)).astype(ml_dtypes.float8_e4m3fn) \
        .view(np.uint8)


def check_fp8_groups_independently(path, vf):
    """SPEC.md 9.9 and 9.13 step by step in numpy float32 (each operation rounds
    once, RNE), E4M3 by ml_dtypes after the saturating clip."""
    f32 = np.float32
    x, s, c, tail = _fp8_group_rows(vf)
    recipe = vf.header["recipe"]
    if vf.kind == "quantize":
        amax = np.maximum(np.abs(x).max(axis=1), f32(1e-4))
        want_s = (amax * (f32(1) / f32(448))).astype(f32)
        if recipe == "deepseek_ue8m0":
            m, e = np.frexp(want_s.astype(np.float64))
            want_s = np.where(m == 0.5, want_s, np.ldexp(1.0, e)).astype(f32)
        if recipe == "deepgemm":
            mult = ((f32(1) / amax) * f32(448)).astype(f32)
            y = x * mult[:, None]
        elif recipe == "deepgemm_recip":
            y = x * (f32(1) / want_s)[:, None]
        else:
            y = x / want_s[:, None]
        assert np.array_equal(want_s.view(np.uint32), s.view(np.uint32)), path
        assert np.array_equal(_e4m3(y.astype(f32)), c), path
    else:
        want = (c.view(ml_dtypes.float8_e4m3fn).astype(f32) * s[:, None]).astype(f32)
        got = np.array([[int(b, 16) for b in t] for t in tail], np.uint32)
        assert np.array_equal(want.view(np.uint32), got), path


def check_nvfp4_independently(path, vf):
    import nvfp4_reference as ref
    h = vf.header
    recipe = h["recipe"]
    tensor = mxspec.block_format(h["format"]).tensor_scale
    x, rows = _nvfp4_rows(vf)
    ts_h = float(np.uint32(int(h["tensor_scale"], 16)).view(np.float32))
    if vf.kind == "quantize":
        codes, scodes, ts = ref.quantize(_matrix(vf, x), recipe, tensor=tensor,
                                         tile_rows=int(h.get("tile_rows", 1)))
        assert float(np.float32(ts)) == ts_h, path
        codes, scodes = codes.reshape(-1, 16), scodes.reshape(-1)
        for i, r in enumerate(rows):
            assert [f"{int(scodes[i]):02x}"] + [f"{int(c):02x}" for c in codes[i]] == r[16:33]
    else:
        codes = np.array([[int(c, 16) for c in r[1:17]] for r in rows], np.uint8)
        scodes = np.array([[int(r[0], 16)] for r in rows], np.uint8)
        want = ref.dequantize(codes, scodes, ts_h, recipe)
        got = np.array([[int(b, 16) for b in r[17:]] for r in rows], np.uint32).view(np.float32)
        assert np.array_equal(want.view(np.uint32), got.view(np.uint32)) or \
            np.array_equal(want, got, equal_nan=True), path


def check_tapered_independently(path, vf):
    """HiF8 files: tests/hifloat8_reference.py, and en-dtypes' cast where it has the policy."""
    import hifloat8_reference as ref
    h = vf.header
    rows = [r for _, r in vf.rows]
    if vf.kind == "decode":
        got = np.array([int(r[1], 16) for r in rows], np.uint32).view(np.float32)
        codes = [int(r[0], 16) for r in rows]
        assert np.array_equal(got.astype(np.float64), ref.SPEC[codes], equal_nan=True), path
        want = ref.SPEC[codes]
    else:
        x = np.array([int(r[0], 16) for r in rows], np.uint32).view(np.float32).astype(np.float64)
        o = 1 if h["rounding"] == "hybrid" else 0   # the rbits column
        rb = np.array([int(r[1], 16) for r in rows], np.uint32) if o else None
        codes = np.array([int(r[1 + o], 16) for r in rows], np.uint8)
        flags = np.array([int(r[2 + o], 16) for r in rows], np.uint8)
        args = (h["rounding"], h["overflow"], h["nan"], rb)
        assert np.array_equal(ref.ref_encode(x, *args), codes), path
        assert np.array_equal(ref.ref_flags(x, codes, *args), flags), path
    import en_dtypes  # a test dependency ([test] extra): missing, the run fails, not skips
    if vf.kind == "decode":
        theirs = np.array(codes, np.uint8).view(en_dtypes.hifloat8).astype(np.float64)
        assert np.array_equal(theirs, want, equal_nan=True), path
    elif (h["rounding"], h["overflow"], h["nan"]) == ("rna", "ieee", "keep"):
        theirs = x.astype(np.float32).astype(en_dtypes.hifloat8).view(np.uint8)
        assert np.array_equal(theirs, codes), path


MICRO_LAYOUT = {  # name: (element magnitude bits incl. sign, levels' group counts, reference)
    "mx4": (3, (8,)), "mx6": (5, (8,)), "mx9": (8, (8,)), "hif4": (4, (8, 16))}


def _micro_unit_values(name, hexbytes, unit):
    """A unit's values read by SPEC.md 11.2's layout, written out here: base byte,
    level bits LSB first, then the element bit stream (sign-magnitude E1Mn, bias 1)."""
    b = bytes.fromhex(hexbytes)
    bits, groups = MICRO_LAYOUT[name]
    base = b[0]
    if name == "hif4":
        bval = 2.0 ** ((base >> 2) - 48) * (1 + (base & 3) / 4)
    else:
        bval = 2.0 ** (base - 127)
    o = 1
    lv = []
    for n in groups:
        nb = -(-n // 8)
        word = int.from_bytes(b[o:o + nb], "little")
        lv.append([(word >> i) & 1 for i in range(n)])
        o += nb
    stream = int.from_bytes(b[o:], "little")
    nfrac = bits - 2
    out = []
    for i in range(unit):
        c = (stream >> (bits * i)) & ((1 << bits) - 1)
        s = -1.0 if c >> (bits - 1) else 1.0
        mag = c & ((1 << (bits - 1)) - 1)
        e, m = mag >> nfrac, mag & ((1 << nfrac) - 1)
        el = (1 + m / 2 ** nfrac) if e else m / 2 ** nfrac
        shift = sum(level[i * len(level) // unit] for level in lv)
        out.append(s * el * bval * 2.0 ** shift if el else 0.0)
    return np.array(out)


def check_micro_independently(path, vf):
    import micro_reference as ref
    h = vf.header
    unit = int(h["block_size"])
    name = h["format"]
    for line, r in vf.rows:
        x = np.array([int(v, 16) for v in r[:unit]], np.uint32).view(np.float32).astype(np.float64)
        want = ref.hif4(x) if name == "hif4" else ref.mxn(x, {"mx4": 1, "mx6": 3, "mx9": 6}[name])
        got = _micro_unit_values(name, r[unit], unit)
        assert np.array_equal(np.abs(got), np.abs(want)) and \
            np.array_equal(np.sign(got), np.sign(want)), (path, line)


def check_micro_against_mxspec(path, vf):
    h = vf.header
    unit = int(h["block_size"])
    for line, r in vf.rows:
        x = np.array([int(v, 16) for v in r[:unit]], np.uint32).view(np.float32)
        got = mxspec.encode_packed(x, h["format"])[0][0].tobytes().hex()
        if got != r[unit]:
            fail(path, line, "micro quantize", r[unit], got)


def _int_group_row(h, row, kind):
    """(scale value, zero point, signed codes, the rest) of an integer-group row."""
    k = int(h["block_size"])
    f = mxspec.block_format(h["format"])
    b = f.element.bits
    off = k if kind == "quantize" else 0
    zp_col = h["zero_point"] == "yes"
    s = V._scale_value(row[off], h["scale_dtype"])
    z = int(row[off + 1], 16) if zp_col else 0
    z = z - 256 if z >= 128 else z
    c0 = off + 1 + zp_col
    codes = [int(c, 16) for c in row[c0:c0 + k]]
    q = [c - (1 << b) if c >= 1 << (b - 1) else c for c in codes]
    return s, z, q, codes, row[c0 + k:]


def check_int_groups_against_mxspec(path, vf):
    h, k = vf.header, int(vf.header["block_size"])
    f = mxspec.block_format(h["format"])
    for line, row in vf.rows:
        if vf.kind == "quantize":
            x = np.array([int(v, 16) for v in row[:k]], np.uint32).view(np.float32)[None]
            a = mxspec.encode(x, f)
            sbits = a.scales.view(np.uint16 if a.scales.itemsize == 2 else np.uint32)
            got = [f"{int(sbits[0, 0]):0{len(row[k])}x}"]
            got += [f"{int(a.zero_points[0, 0]) & 0xFF:02x}"] if f.zero_point else []
            got += [f"{int(c):02x}" for c in a.codes[0]]
            got += [mxspec.pack(a, "compressed-tensors")[0].astype("<i4").tobytes().hex()]
            if got != row[k:]:
                fail(path, line, "integer-group quantize", row[k:], got)
        else:
            s, z, q, codes, vals = _int_group_row(h, row, "dequantize")
            sc = np.array([[s]]).astype(V._SCALE_BITS[h["scale_dtype"]][0])
            a = mxspec.BlockArray(np.array([codes], np.uint8), sc, f, k, 1,
                                  zero_points=np.array([[z]]) if f.zero_point else None)
            got = [f"{int(b):08x}" for b in mxspec.decode(a)[0].view(np.uint32)]
            if got != vals:
                fail(path, line, "integer-group dequantize", vals, got)


def check_int_groups_independently(path, vf):
    """The exact recipe against tests/int_group_reference.py (exact rationals);
    the compressed_tensors recipe by its operations in numpy and ml_dtypes:
    float32 operations, each result cast to the weight dtype (torch's CPU
    arithmetic, SPEC.md 12.2), not mxspec's code."""
    import int_group_reference as ref
    h, k = vf.header, int(vf.header["block_size"])
    f = mxspec.block_format(h["format"])
    b, dt = f.element.bits, h["scale_dtype"]
    qmin, qmax = -(1 << (b - 1)), (1 << (b - 1)) - 1
    wd = V._SCALE_BITS[dt][0]
    w = (lambda v: np.asarray(v, np.float32).astype(wd).astype(np.float32))
    for _, row in vf.rows:
        if vf.kind == "quantize":
            x = np.array([int(v, 16) for v in row[:k]], np.uint32).view(np.float32)
            s, z, q, codes, rest = _int_group_row(h, row, "quantize")
            if h["recipe"] == "exact":
                rs, rz, rq, _ = ref.group(x.tolist(), b, dt, f.zero_point)
                assert (float(rs), rz, rq) == (s, z, q), (path, row[:4])
            else:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    xw = w(x)
                    lo, hi = w(min(xw.min(), 0.0)), w(max(xw.max(), 0.0))
                    if f.zero_point:
                        rs = w(w(hi - lo) / np.float32((1 << b) - 1))
                        zf = w(np.float32(qmin) - w(lo / rs))
                        rz = 0 if np.isnan(zf) else int(np.rint(np.clip(zf, qmin, qmax)))
                    else:
                        rs = w(max(-lo, hi) / np.float32((1 << b) / 2 - 0.5))
                        rz = 0
                    eps = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23}[dt]
                    rs = np.float32(eps) if rs == 0 else rs
                    t = w(w(xw / rs) + np.float32(rz))
                    rq = np.clip(np.rint(t), qmin, qmax).astype(int).tolist()
                assert (float(rs), rz, rq) == (s, z, q), (path, row[:4])
            u = (np.array(q) - qmin).astype(np.uint8)
            assert V.pack_codes(u, b).tobytes().hex().ljust(len(rest[0]), "0") == rest[0]
        else:
            s, z, q, codes, vals = _int_group_row(h, row, "dequantize")
            v = (np.array(q, np.float64) - z) * s  # exact: a 9-bit integer times the scale
            if h["recipe"] != "exact":
                v = w(v)
            want = [f"{int(u):08x}" for u in np.float32(v).view(np.uint32)]
            assert want == vals, (path, row[:3])


def _tile(row):
    u = np.array([int(c, 16) for c in row[:64]]) ^ 8  # two's complement -> code + 8
    zu = np.array([int(z, 16) for z in row[64:72]])
    zu = (np.where(zu >= 128, zu - 256, zu) + 8)
    return u.reshape(8, 8), zu, [int(w, 16) for w in row[72:]]


def check_words_against_mxspec(path, vf):
    """mxspec.unpack reads each row's words back to its codes and zero points."""
    h = vf.header
    f = mxspec.block_format(h["format"])
    for line, row in vf.rows:
        u, zu, words = _tile(row)
        w = np.array(words, np.uint32).view(np.int32)
        sc = np.ones((1, 8), np.float16)
        if h["layout"] == "gptq":
            a = mxspec.unpack(w[:8].reshape(1, 8), (sc, w[8:].reshape(1, 1), np.zeros(8, np.int32)),
                              f, (8, 8), layout="gptq")
        else:
            a = mxspec.unpack(w[:8].reshape(8, 1), (sc, w[8:].reshape(1, 1)), f, (8, 8),
                              layout="awq")
        if not (np.array_equal(a.codes ^ 8, u) and np.array_equal(a.zero_points[:, 0] + 8, zu)):
            fail(path, line, f"{h['layout']} words", row[72:], "codes/zero points differ")


def check_words_independently(path, vf):
    """AutoGPTQ's and AutoAWQ's pack loops, written out: GPTQ packs each output's 8
    inputs (element j at bits 4j) and the zero points less one; AWQ packs each
    input's 8 outputs in order_map [0, 2, 4, 6, 1, 3, 5, 7]."""
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    for _, row in vf.rows:
        u, zu, words = _tile(row)
        if vf.header["layout"] == "gptq":
            want = [sum(int(u[o, j]) << (4 * j) for j in range(8)) for o in range(8)]
            want.append(sum(((int(zu[j]) - 1) & 15) << (4 * j) for j in range(8)))
        else:
            want = [sum(int(u[order[k], i]) << (4 * k) for k in range(8)) for i in range(8)]
            want.append(sum(int(zu[order[k]]) << (4 * k) for k in range(8)))
        assert want == words, (path, row[72:])


def _bf16_bits(row):
    return np.array([int(b, 16) for b in row], np.uint16)


def check_rht_independently(path, vf):
    """Each output the exact sum of its products by diag(signs) H / 4 (the
    header's sign vector, H built by tests/rht_reference.py), rounded once to
    bfloat16; an exact zero is +0, even where every product is -0 (SPEC.md 13.1:
    torch's matmul, whose accumulator starts at +0, gives +0 there, not IEEE's -0
    of a sum of -0s)."""
    import rht_reference
    h = vf.header
    n = int(h["block_size"])
    signs = [int(v) for v in h["sign_vector"].split()]
    inv = h["inverse"] == "yes"
    for line, row in vf.rows:
        x = _bf16_bits(row[:n]).view(ml_dtypes.bfloat16)
        want = [f"{b:04x}" for b in rht_reference.transform_bits(x, signs, inv)]
        if want != [c.lower() for c in row[n:]]:
            fail(path, line, "rht outputs", want, row[n:])


def check_against_mxspec(path, vf):
    h = vf.header
    kind, k = vf.kind, int(h.get("block_size", 1))
    if kind == "rht":
        for line, row in vf.rows:
            x = _bf16_bits(row[:k]).view(ml_dtypes.bfloat16)
            y = mxspec.rht(x, signs=h["signs"], inverse=h["inverse"] == "yes")
            got = [f"{int(b):04x}" for b in y.view(np.uint16)]
            if got != [c.lower() for c in row[k:]]:
                fail(path, line, "mxspec.rht", row[k:], got)
        return
    if kind == "words":
        return check_words_against_mxspec(path, vf)
    if "scale_dtype" in h:
        return check_int_groups_against_mxspec(path, vf)
    if h.get("format", "") in mxspec.micro_formats():
        return check_micro_against_mxspec(path, vf)
    if h.get("scale") == "float32" and kind in ("quantize", "dequantize"):
        return check_fp8_groups_against_mxspec(path, vf)
    if "tensor_scale" in h:
        return check_nvfp4_against_mxspec(path, vf)
    for line, row in vf.rows:
        if kind == "dot":
            ca, sa, cb, sb, c, res = dot_row(h, row)
            got = int(np.float32(V.dot_result(ca, sa, cb, sb, c, h["format_a"], h["format_b"],
                                              int(h["block_size"]), h["accumulator"],
                                              h.get("scale", "e8m0"))).view(np.uint32))
            if got != res:
                fail(path, line, "dot", f"{res:08x}", f"{got:08x}")
        elif kind == "encode":
            dt, ut, _ = V.INPUT_TYPES[h["input"]]
            x = np.array([int(row[0], 16)], ut).view(dt)
            st = h["rounding"] in ("stochastic", "hybrid")
            kw = {"rbits": np.array([int(row[1], 16)], np.uint32)} if st else {}
            c, fl = mxspec.encode_elements(x, h["format"], rounding=h["rounding"], overflow=h["overflow"], nan=h["nan"],
                                           int_range=h["int_range"], return_flags=True, **kw)
            got = [f"{int(c[0]):02x}", f"{int(fl[0]):02x}"]
            if got != row[1 + st:]:
                fail(path, line, f"encode of {row[0]} ({float(x[0])!r})", row[1 + st:], got)
        elif kind == "decode":
            v = mxspec.decode_elements(np.uint8(int(row[0], 16)), h["format"])
            got = f"{int(np.float32(v).view(np.uint32)):08x}"
            if got != row[1]:
                fail(path, line, f"decode of {row[0]}", f"{row[1]} ({V._f32(row[1])})",
                     f"{got} ({float(v)})")
        elif kind == "quantize":
            x = np.array([int(f, 16) for f in row[:k]], np.uint32).view(np.float32)
            mx = mxspec.encode(x, h["format"], block_size=k, scale_rule=h["scale_rule"],
                               rounding=h["rounding"], overflow=h["overflow"])
            got = [f"{int(mx.scales[0]):02x}"] + [f"{int(c):02x}" for c in mx.codes] + \
                [mx.pack(layout=h.get("layout", "mxspec"))[0].tobytes().hex()]
            if got != row[k:]:
                fail(path, line, "block quantize", row[k:], got)
        elif kind == "dequantize":
            f = mxspec.mx_format(h["format"])
            mx = mxspec.MXArray(np.array([int(c, 16) for c in row[1:k + 1]], np.uint8),
                                np.array([int(row[0], 16)], np.uint8), f, k, 0)
            got = [f"{int(b):08x}" for b in mxspec.decode(mx).view(np.uint32)]
            if got != row[k + 1:]:
                fail(path, line, "block dequantize", row[k + 1:], got)
        else:
            A = mxspec.MXArray(np.array([int(c, 16) for c in row[1:k + 1]], np.uint8),
                               np.array([int(row[0], 16)], np.uint8), mxspec.mx_format(h["anchor"]), k, 0)
            T = mxspec.slice_and_scale(A, h["format"], rounding=h["rounding"], rule=h["rule"])
            got = [f"{int(T.scales[0]):02x}"] + [f"{int(c):02x}" for c in T.codes]
            if got != row[k + 1:]:
                fail(path, line, "slice", row[k + 1:], got)


def gfloat_format(f):
    from gfloat import Domain, Signedness
    from gfloat.formats import format_info_p3109
    return format_info_p3109(f.bits, f.mbits + 1,
                             Signedness.Signed if f.signed else Signedness.Unsigned,
                             Domain.Extended if f.has_inf else Domain.Finite)


def gfloat_encode(f, x, h):
    """gfloat's round-then-encode of the inputs ``x`` under the file's rules;
    negative inputs to unsigned formats, which gfloat leaves undefined, keep
    the reference's codes (the caller compares those with spec_reference)."""
    from gfloat import RoundMode, encode_ndarray, round_ndarray
    modes = {"rne": RoundMode.TiesToEven, "rna": RoundMode.TiesToAway,
             "rtz": RoundMode.TowardZero, "up": RoundMode.TowardPositive,
             "down": RoundMode.TowardNegative}
    fi, xv = gfloat_format(f), x.astype(np.float64)
    if not f.signed:
        xv = np.where(np.signbit(xv) & (xv != 0), np.nan, xv)

    def enc(sat):
        return np.asarray(encode_ndarray(fi, round_ndarray(fi, xv, modes[h["rounding"]], sat)))
    o = h["overflow"]
    got = enc(o == "saturate") if o != "sat_propagate" else np.where(np.isinf(xv), enc(False),
                                                                      enc(True))
    if not f.signed:  # the SPEC.md 2.4 rule, which tests/test_p3109.py states by hand
        from spec_reference import ref_encode
        below = np.signbit(x.astype(np.float64)) & (x != 0)
        got = np.where(below, ref_encode(x, f, h["rounding"], o)[0], got)
    return got.astype(np.uint8)


def _ue4m3_pair(code):
    """(significand, exponent) of a UE4M3 scale code, from E4M3's value table (the
    sign bit cleared); None for NaN."""
    v = float(mxspec.element_format("fp8_e4m3").values[code & 0x7F])
    if math.isnan(v):
        return None
    if v == 0:
        return (0, -6)
    e = max(math.frexp(v)[1] - 1, -6)
    return (v / 2.0 ** e, e)


def check_dot_independently(path, vf):
    import dot_reference as ref
    h = vf.header
    fa, fb = mxspec.element_format(h["format_a"]), mxspec.element_format(h["format_b"])
    m = mxspec.accumulator(h["accumulator"])
    bs = int(h["block_size"])
    silicon = None
    if "source" in h:  # rows of an H100 capture: the result is the silicon's own output
        src = h["source"].split()
        cap = Path(__file__).parent.parent / src[0]
        if not cap.exists():
            # committed with the vectors: a checkout without it is broken, not partial
            pytest.fail(f"the H100 capture {src[0]} is missing from this checkout")
        silicon = np.load(cap)
        pair = src[1]
    for (line, row), note in zip(vf.rows, vf.notes):
        ca, sa, cb, sb, c, res = dot_row(h, row)
        a = [float(x) for x in fa.values[ca]]
        b = [float(x) for x in fb.values[cb]]
        scale = h.get("scale", "e8m0")
        ea = [None if s == 255 else s - 127 for s in sa]
        eb = [None if s == 255 else s - 127 for s in sb]
        if scale == "none":  # the columns hold 7f: 2^0
            assert set(sa) | set(sb) == {127}, (path, line)
        if m.kind == "exact":
            want = ref.exact(a, b, ea, eb, bs, float(c))
        elif m.name == "fp32_sequential":
            a32 = [float(np.float32(x * 2.0 ** ea[i // bs])) if ea[i // bs] is not None else math.nan
                   for i, x in enumerate(a)]
            b32 = [float(np.float32(x * 2.0 ** eb[i // bs])) if eb[i // bs] is not None else math.nan
                   for i, x in enumerate(b)]
            want = ref.fp32_sequential(a32, b32, float(c))
        elif m.step == "group_sums":
            if scale == "ue4m3":
                pa, pb = [_ue4m3_pair(s) for s in sa], [_ue4m3_pair(s) for s in sb]
            else:
                pa = [None if e is None else (1, e) for e in ea]
                pb = [None if e is None else (1, e) for e in eb]
            want = ref.group_sums_model(a, b, pa, pb, bs, float(c), m)
        elif m.step == "even_odd":
            want = ref.even_odd_model(a, b, float(c), m, fa, fb)
        else:
            want = ref.blockfma_model(a, b, ea, eb, bs, float(c), m, fa, fb)
        exp = int(np.float32(want).view(np.uint32))
        if math.isnan(want):
            assert math.isnan(np.uint32(res).view(np.float32)), (path, line)
        else:
            assert exp == res, (path, line, f"{exp:08x}", f"{res:08x}")
        if silicon is not None and "wgmma" in src[0]:  # note: "<gen>: <key> row i col j"
            key, _, i, _, j = note.split(": ")[1].split()
            i, j, case = int(i), int(j), key.rsplit("_", 1)[0].replace("_tritonC", "").replace(
                "_triton", "").replace("_cublas", "")
            assert int(silicon[key][i, j]) == res, (path, line, "not the silicon's")
            assert list(silicon[case + "_A"][i]) == ca and list(silicon[case + "_B"][j]) == cb
            if case + "_C" in silicon.files:
                assert int(silicon[case + "_C"][i, j]) == int(np.float32(c).view(np.uint32))
        elif silicon is not None:
            t, i, j = (int(x) for x in note.split("tile ")[1].replace("row", "").replace(
                "col", "").split())
            assert int(silicon[pair + "_D"][t, i, j]) == res, (path, line, "not the silicon's")
            assert list(silicon[pair + "_A"][t, i]) == ca and list(silicon[pair + "_B"][t, j]) == cb


def check_gguf_independently(path, vf):
    """gguf-py's MXFP4 quantizer and dequantizer (SPEC.md 4.5), not mxspec's code."""
    from gguf import GGMLQuantizationType, quants
    k = 32
    rows = [r for _, r in vf.rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gguf-py's uint8 casts of NaN, Inf, negatives
        for r in rows:
            if vf.kind == "quantize":
                x = np.array([int(f, 16) for f in r[:k]], np.uint32).view(np.float32)
                q = quants.quantize(x.reshape(1, k), GGMLQuantizationType.MXFP4).reshape(-1)
                codes = np.concatenate([q[1:] & 15, q[1:] >> 4])
                assert [f"{int(q[0]):02x}"] + [f"{int(c):02x}" for c in codes] == r[k:k + 1 + k]
                assert q.tobytes().hex() == r[-1], (path, r)
            else:
                codes = np.array([int(c, 16) for c in r[1:k + 1]], np.uint8)
                q = np.concatenate([[int(r[0], 16)], codes[:16] | (codes[16:] << 4)]).astype(
                    np.uint8)
                v = quants.dequantize(q.reshape(1, 17), GGMLQuantizationType.MXFP4)
                assert [f"{int(b):08x}" for b in v.reshape(-1).view(np.uint32)] == r[k + 1:], \
                    (path, r)


def check_independently(path, vf):
    """The checks each file's header claims, run here with code that is not mxspec's."""
    from block_reference import ref_block_decode, ref_block_encode
    from spec_reference import ref_encode, ref_format
    h = vf.header
    if vf.kind == "rht":
        return check_rht_independently(path, vf)
    if h.get("scale") == "float32" and vf.kind in ("quantize", "dequantize"):
        return check_fp8_groups_independently(path, vf)
    if "tensor_scale" in h:
        return check_nvfp4_independently(path, vf)
    if is_tapered_name(h.get("format", "")):
        return check_tapered_independently(path, vf)
    if h.get("format", "") in mxspec.micro_formats():
        return check_micro_independently(path, vf)
    if h.get("recipe") == "gguf":
        return check_gguf_independently(path, vf)
    if "scale_dtype" in h:
        return check_int_groups_independently(path, vf)
    if vf.kind == "words":
        return check_words_independently(path, vf)
    kind, k = vf.kind, int(h.get("block_size", 1))
    rows = [r for _, r in vf.rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "encode":
            f = mxspec.element_format(h["format"])
            dt, ut, _ = V.INPUT_TYPES[h["input"]]
            x = np.array([int(r[0], 16) for r in rows], ut).view(dt)
            st = h["rounding"] == "stochastic"
            rbits = np.array([int(r[1], 16) for r in rows], np.uint32) if st else None
            codes = np.array([int(r[1 + st], 16) for r in rows], np.uint8)
            flags = np.array([int(r[2 + st], 16) for r in rows], np.uint8)
            rc, rf = ref_encode(x, f, h["rounding"], h["overflow"], h["nan"], h["int_range"],
                                rbits=rbits)
            assert np.array_equal(rc, codes) and np.array_equal(rf, flags), path
            rule = V.ml_dtypes_rule(f, h)
            # against the installed release where it is one the file names; the other
            # rows: tests/test_elements_exhaustive.py::test_each_ml_dtypes_profile_is_its_release
            if rule and V.ml_dtypes_installed_casts(rule[1]):
                rule = rule[0]
                ml = (x.astype(getattr(ml_dtypes, f.ml_dtype)).view(np.uint8)
                      & np.uint8(f.n_codes - 1)).astype(np.int64)
                xv = x.astype(np.float64)
                ok = ~np.isnan(xv)
                if h["input"] == "float64":  # ml_dtypes rounds float64 through float32
                    ok &= xv.astype(np.float32).astype(np.float64) == xv
                if f.name == "e8m0":  # no sign; and the bug of 0.5-0.6 (docs/verification.md)
                    ok &= xv > 0
                    if mxspec.policies.installed_ml_dtypes_recipe() == "ml_dtypes-0.6":
                        ok &= ~((xv > 2.0 ** -127) & (xv < 1.5 * 2.0 ** -127))
                if rule == "clamped":
                    nonfin = ~np.isfinite(f.values[ml])
                    top = f.max_mag_code | (np.signbit(xv).astype(np.int64) << (f.bits - 1)) \
                        if f.signed else f.max_mag_code
                    ml = np.where(nonfin, top, ml)
                assert np.array_equal(ml[ok], codes[ok]), path
            if V.gfloat_checks(f, h):
                assert np.array_equal(gfloat_encode(f, x, h), codes), path
        elif kind == "decode":
            f = mxspec.element_format(h["format"])
            v = np.array([int(r[1], 16) for r in rows], np.uint32).view(np.float32)
            assert np.array_equal(v.astype(np.float64), ref_format(f).vals, equal_nan=True)
            if f.ml_dtype:
                ml = np.arange(f.n_codes, dtype=np.uint8).view(getattr(ml_dtypes, f.ml_dtype))
                assert np.array_equal(ml.astype(np.float32).view(np.uint32), v.view(np.uint32)) \
                    or np.array_equal(ml.astype(np.float32), v, equal_nan=True)
            if V.gfloat_checks(f, h):
                from gfloat import decode_ndarray
                ref = np.asarray(decode_ndarray(gfloat_format(f), np.arange(f.n_codes)), np.float64)
                assert np.array_equal(v.astype(np.float64), ref, equal_nan=True), path
        elif kind in ("quantize", "dequantize"):
            el = mxspec.mx_format(h["format"]).element
            for r in rows:
                if kind == "quantize":
                    x = np.array([int(f, 16) for f in r[:k]], np.uint32).view(np.float32)
                    rc, rs = ref_block_encode(x.astype(np.float64), el, k, h["scale_rule"],
                                              h["rounding"], h["overflow"])
                    assert [f"{int(rs[0]):02x}"] + [f"{int(c):02x}" for c in rc] == r[k:k + 1 + k]
                    assert V.pack_codes(rc, el.bits).tobytes().hex() == r[-1]
                else:
                    codes = np.array([int(c, 16) for c in r[1:k + 1]])
                    ref = ref_block_decode(codes, [int(r[0], 16)], el, k).astype(np.float32)
                    got = np.array([int(b, 16) for b in r[k + 1:]], np.uint32).view(np.float32)
                    assert np.array_equal(ref, got, equal_nan=True)
        else:
            ea = mxspec.mx_format(h["anchor"]).element
            et = mxspec.mx_format(h["format"]).element
            for r in rows:
                S = int(r[0], 16)
                codes = np.array([int(c, 16) for c in r[1:k + 1]])
                vals = ref_block_decode(codes, [S], ea, k)  # independent float64 decode
                if h["rule"] == "requantize":
                    rc, rs = ref_block_encode(vals, et, k, "floor", h["rounding"])
                    exp = [f"{int(rs[0]):02x}"] + [f"{int(c):02x}" for c in rc]
                elif np.isnan(vals).any() or np.isinf(vals).any():
                    exp = ["ff"] + ["00"] * k
                else:
                    s2 = min(max(S - 127 + ea.emax - et.emax, -127), 127)
                    rc, _ = ref_encode(vals * 2.0 ** -s2, et, h["rounding"])
                    exp = [f"{s2 + 127:02x}"] + [f"{int(c):02x}" for c in rc]
                assert exp == r[k + 1:], (path, r)


@pytest.mark.parametrize("rel", FILES)
def test_vector_file(rel):
    vf = V.load_vectors(ROOT / rel)
    assert vf.header.get("checked") == V.checks_for(vf), f"{rel}: header claims other checks"
    check_against_mxspec(rel, vf)
    if vf.kind == "dot":
        check_dot_independently(rel, vf)
    else:
        check_independently(rel, vf)


def test_the_set_is_complete_and_regenerates_unchanged():
    """The files are the standard set exactly, and regenerating gives the same
    text: a rule change shows up as a diff, and nobody edited a file by hand."""
    generated = dict(V.standard_set())
    assert sorted(generated) == FILES
    for rel in FILES[::7]:  # a sample here; `mxspec vectors gen` + git diff checks all
        assert V.render(generated[rel], V.checks_for(generated[rel])) == (ROOT / rel).read_text(), rel
