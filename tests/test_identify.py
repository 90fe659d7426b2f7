"""mxspec.identify (SPEC.md 8.9): the accumulator rows that reproduce a chip's
dot products, on silicon captures the rows were not built from."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mxspec

DATA = Path(__file__).parent / "data"


def _names(r):
    return [m.name for m in r.tied]


def test_mma_sync_tiles_with_c_name_the_mma_row():
    """H100 mma.sync m16n8k32 tiles with an addend C (tests/data/h100/mma_sync.npz;
    h100_fp8_mma was fitted on the e4m3 x e4m3 tiles, this is e4m3 x e5m2)."""
    d = np.load(DATA / "h100" / "mma_sync.npz")
    A, B, C, D = (d["e4m3_e5m2_" + k][:48] for k in "ABCD")
    ra = np.repeat(A[:, :, None, :], 8, 2)
    rb = np.repeat(B[:, None, :, :], 16, 1)
    r = mxspec.identify(ra, rb, "fp8_e4m3", "fp8_e5m2", D, c=C.view(np.float32), progress=False)
    assert r.best.fraction == 1.0
    assert r.best.name == "h100_fp8_mma"
    # a neighbour of the row (one bit more) does not reproduce it
    worse = [m for m in r.matches if m.model.frac_bits == 26 and m.model.group == 16]
    assert worse and all(m.fraction < 1.0 for m in worse)


def test_cublas_default_mode_on_an_h200_capture_names_cublas_fp8():
    """torch._scaled_mm's default mode on an H200 (tests/data/h200, not used to
    build any accumulator row): cublas_fp8 reproduces it, and the fast mode's
    row does not."""
    d = np.load(DATA / "h200" / "scaled_mm_1.npz")
    key = "e4m3_e4m3_64x64x1024"
    A, Bt = d[key + "_A"][:32], d[key + "_B"][:32]
    got = d[key + "_unit_f32_fast0"][:32, :32].view(np.uint32)
    r = mxspec.identify(A, Bt.T, "fp8_e4m3", "fp8_e4m3", got, progress=False)
    assert "cublas_fp8" in _names(r) and r.best.fraction == 1.0
    fast = [m for m in r.matches if m.name == "cublas_fp8_fast"]
    assert not fast or fast[0].fraction < 1.0


def test_triton_imprecise_64_on_an_h200_capture():
    """Triton's tl.dot with max_num_imprecise_acc=64 on an H200: the wgmma
    datapath promoted every 64 products, a row no fit used."""
    d = np.load(DATA / "h200" / "triton_2.npz")
    A, Bt, D = d["K512_A"][:24], d["K512_B"][:24], d["K512_imp64"][:24, :24]
    r = mxspec.identify(A, Bt.T, "fp8_e4m3", "fp8_e4m3", D, progress=False)
    assert r.best.fraction == 1.0
    assert "triton_fp8(max_num_imprecise_acc=64)" in _names(r)
    assert all(m.inst_k == 64 and m.group == 32 for m in r.tied)


def test_a_synthetic_family_member_is_found_and_ties_are_split():
    """Results made by a row of the family are reproduced by that row; the
    probes for tied rows are inputs on which their outputs really differ."""
    rng = np.random.default_rng(3)
    m = mxspec.AccumulatorModel("secret", "blockfma", group=8, frac_bits=18, rounding="rne",
                                inst_k=64, nan_bits=0x7FFFFFFF)
    a = rng.integers(0, 0x7F, (12, 128)).astype(np.uint8) | (rng.integers(0, 2, (12, 128)) << 7).astype(np.uint8)
    b = rng.integers(0, 0x7F, (128, 12)).astype(np.uint8)
    d = mxspec.matmul_elements(a, b, "fp8_e4m3", "fp8_e4m3", m)
    r = mxspec.identify(a, b, "fp8_e4m3", "fp8_e4m3", d, progress=False)
    assert r.best.fraction == 1.0
    same = [x for x in r.tied if (x.group, x.frac_bits, x.rounding, x.inst_k) == (8, 18, "rne", 64)]
    assert same, _names(r)
    for p in r.probes:
        outs = {}
        for x in r.tied:
            v = float(mxspec.dot_elements(p["codes_a"], p["codes_b"], "fp8_e4m3", "fp8_e4m3", x))
            outs[x.name] = v
            assert np.array_equal(np.float32(v), np.float32(p["outputs"][x.name]), equal_nan=True)
        assert len({np.float32(v).tobytes() for v in outs.values()}) > 1
    assert "tell them apart" in r.report() or len(r.tied) == 1


def test_bad_input_names_the_argument():
    a = np.zeros((4, 32), np.uint8)
    b = np.zeros((32, 4), np.uint8)
    with pytest.raises(ValueError, match="result has shape|give an"):
        mxspec.identify(a, b, "fp8_e4m3", "fp8_e4m3", np.zeros(3, np.float32), progress=False)
    with pytest.raises(TypeError, match="result must be float32"):
        mxspec.identify(a, b, "fp8_e4m3", "fp8_e4m3", np.zeros((4, 4)), progress=False)
    with pytest.raises(mxspec.FormatError, match="fp8_e9m9"):
        mxspec.identify(a, b, "fp8_e4m3", "fp8_e9m9", np.zeros((4, 4), np.float32), progress=False)
    with pytest.raises(ValueError, match="candidates is empty"):
        mxspec.identify(a, b, "fp8_e4m3", "fp8_e4m3", np.zeros((4, 4), np.float32),
                        candidates=[], progress=False)


def test_cli_identify_reads_a_dot_vector_file():
    """`mxspec identify FILE` on a conformance file whose result column is the
    H100's own mma.sync output names h100_fp8_mma (exit 0: a row matches all)."""
    f = Path(__file__).parents[1] / "conformance" / "vectors" / "dot" / \
        "fp8_e4m3-fp8_e5m2.h100_fp8_mma.txt"
    out = subprocess.run([sys.executable, "-m", "mxspec", "identify", str(f), "--quiet",
                          "--top", "3"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "h100_fp8_mma" in out.stdout.splitlines()[1]
    bad = subprocess.run([sys.executable, "-m", "mxspec", "identify", "--a", "x.npy"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--format-a" in bad.stderr
