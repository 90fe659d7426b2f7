"""DeepGEMM's FP8 casts as torch 2.11 (CUDA 13.0) ran them on an NVIDIA H200 and
on its host CPU (``tests/data/h200/deepgemm_fp8_casts.npz``, written by
``tools/h200_deepgemm_fp8_casts.py``; SPEC.md 9.13): every CUDA scale and code
equals mxspec's CUDA rows (``deepgemm``, ``deepgemm_recip``, ``deepseek_ue8m0``),
every CPU scale its ``_cpu`` row, for 128 x 128 tiles and 1 x 128 groups of
bfloat16 and float32 inputs.  The ``torch.log2`` form of the power-of-two ceiling
is checked too: on CUDA it gave the exact ceiling, on the CPU 2^k below s where s
lies a few ulps above 2^k."""
from pathlib import Path

import numpy as np
import pytest

import mxspec

DATA = Path(__file__).parent / "data" / "h200" / "deepgemm_fp8_casts.npz"
R, C, T = 384, 512, 128
# DeepGEMM's variant -> (CUDA row, CPU row)
ROWS = {"v1": ("deepgemm", "deepgemm_cpu"),
        "recip": ("deepgemm_recip", "deepgemm_recip_cpu"),
        "ue8m0": ("deepseek_ue8m0", "deepgemm_ue8m0_cpu")}


@pytest.fixture(scope="module")
def cap():
    return dict(np.load(DATA))


def _x(cap, name):
    b = cap[f"{name}_x"]
    if name == "bf16":
        return (b.astype(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return b.view(np.float32)


def _encode(x, tile, recipe):
    a = mxspec.encode(x, f"{'deepseek_fp8_2d' if tile == 'tile' else 'deepseek_fp8'}:{recipe}")
    s = np.asarray(a.scales)
    s = s.reshape(R // T, T, -1)[:, 0] if tile == "tile" else s
    return np.asarray(a.codes).reshape(R, C), s.reshape(-1).view(np.int32)


def test_capture_names_its_versions(cap):
    assert list(cap["versions"]) == ["torch 2.11.0+cu130", "NVIDIA H200", "cuda 13.0"]


@pytest.mark.parametrize("name", ["bf16", "f32"])
@pytest.mark.parametrize("tile", ["tile", "token"])
@pytest.mark.parametrize("variant", sorted(ROWS))
def test_cuda_casts_equal_the_cuda_rows(cap, name, tile, variant):
    codes, scales = _encode(_x(cap, name), tile, ROWS[variant][0])
    key = f"{name}_cuda_{tile}_{variant}"
    np.testing.assert_array_equal(scales, cap[key + "_scales"])
    np.testing.assert_array_equal(codes, cap[key + "_codes"])


@pytest.mark.parametrize("name", ["bf16", "f32"])
@pytest.mark.parametrize("tile", ["tile", "token"])
@pytest.mark.parametrize("variant", sorted(ROWS))
def test_cpu_scales_equal_the_cpu_rows(cap, name, tile, variant):
    _, scales = _encode(_x(cap, name), tile, ROWS[variant][1])
    np.testing.assert_array_equal(scales, cap[f"{name}_cpu_{tile}_{variant}_scales"])


@pytest.mark.parametrize("name", ["bf16", "f32"])
@pytest.mark.parametrize("tile", ["tile", "token"])
def test_the_quotients_tell_cuda_from_cpu(cap, name, tile):
    """The capture itself separates the rows: the CUDA quotient amax x fl(1/448)
    and the CPU's amax / 448 differ in a share of scales (so the CPU rows would fail
    the CUDA capture), while the power-of-two scales agree."""
    a, b = (cap[f"{name}_{d}_{tile}_v1_scales"] for d in ("cuda", "cpu"))
    assert (a != b).sum() >= 3
    _, cpu_scales = _encode(_x(cap, name), tile, ROWS["recip"][1])
    assert (cpu_scales != cap[f"{name}_cuda_{tile}_recip_scales"]).sum() >= 3
    np.testing.assert_array_equal(cap[f"{name}_cuda_{tile}_ue8m0_scales"],
                                  cap[f"{name}_cpu_{tile}_ue8m0_scales"])


@pytest.mark.parametrize("name", ["bf16", "f32"])
@pytest.mark.parametrize("tile", ["tile", "token"])
def test_log2_ceiling(cap, name, tile):
    """``torch.pow(2, ceil(log2(s)))``: CUDA's equals the exact ceiling (the
    ``deepseek_ue8m0`` row) everywhere; the CPU's equals ``deepgemm_ue8m0_cpu``
    except where float32 s is a few ulps above 2^k, where log2 rounds to k and the
    scale comes out 2^k (half the exact ceiling, and below s)."""
    key = f"{name}_{{}}_{tile}_ue8m0_log2_scales"
    np.testing.assert_array_equal(cap[key.format("cuda")], cap[f"{name}_cuda_{tile}_ue8m0_scales"])
    exact = cap[f"{name}_cpu_{tile}_ue8m0_scales"]
    log2 = cap[key.format("cpu")]
    differ = log2 != exact
    if name == "bf16":
        assert not differ.any()
        return
    assert differ.sum() == (1 if tile == "tile" else 3)
    np.testing.assert_array_equal(log2[differ].view(np.float32) * 2, exact[differ].view(np.float32))
    # the exact quotient s sits just above the power of two the CPU's log2 returned
    x = _x(cap, name)
    _, s = _encode(x, tile, "deepgemm_recip_cpu")
    s = s[differ].view(np.float32)
    assert (s > log2[differ].view(np.float32)).all()
    assert (s.view(np.int32) - log2[differ]).max() <= 5
