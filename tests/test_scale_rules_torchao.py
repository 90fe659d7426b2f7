"""The E8M0 scale rules against torchao's ScaleCalculationMode, bit for bit, on the
CPU (SPEC.md 4.2): FLOOR is mxspec's floor, RCEIL its ceil, EVEN its even, and CEIL
its torchao_ceil.  Skips where torchao is not installed; the rules' own laws are
held against tests/block_reference.py in test_blocks.py either way."""
import numpy as np
import pytest

import mxspec

torch = pytest.importorskip("torch")
mx_tensor = pytest.importorskip("torchao.prototype.mx_formats.mx_tensor")
config = pytest.importorskip("torchao.prototype.mx_formats.config")

MODES = {"FLOOR": "floor", "RCEIL": "ceil", "EVEN": "even", "CEIL": "torchao_ceil"}
ELEMENTS = {"mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2,
            "mxfp6_e2m3": "fp6_e2m3", "mxfp6_e3m2": "fp6_e3m2"}


def _blocks():
    """Blocks of 32 whose largest magnitude walks every float32 exponent with the
    mantissas that decide the rules (0, 1 ulp, the element's max significand and
    past it, all ones), beside smaller values of both signs."""
    rng = np.random.default_rng(2026)
    tops = []
    for e in range(-126, 128):
        for m in (0, 1, 0x400000, 0x600000, 0x700000, 0x780000, 0x7FFFFF):
            tops.append(np.uint32(((e + 127) << 23) | m).view(np.float32))
    tops = np.array(tops, np.float32)
    x = (rng.uniform(-1, 1, (tops.size, 32)) * tops[:, None]).astype(np.float32)
    x[np.arange(tops.size), rng.integers(0, 32, tops.size)] = 0.0   # a zero in each block
    x[np.arange(tops.size), rng.integers(0, 32, tops.size)] = tops * rng.choice([-1, 1], tops.size)
    return x


@pytest.mark.parametrize("fmt", list(ELEMENTS))
@pytest.mark.parametrize("mode", list(MODES))
def test_scales_equal_torchao(fmt, mode):
    x = _blocks()
    sc, _ = mx_tensor.to_mx(torch.from_numpy(x), ELEMENTS[fmt], 32,
                            getattr(config.ScaleCalculationMode, mode))
    want = sc.view(torch.uint8).numpy().reshape(-1)
    got = mxspec.encode(x, fmt, scale_rule=MODES[mode]).scales.reshape(-1)
    assert np.array_equal(got, want), (fmt, mode, np.flatnonzero(got != want)[:5])


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp8_e5m2"])
def test_elements_equal_torchao_where_the_scale_is_a_float32_normal(fmt):
    """torchao divides by the scale clamped to float32's smallest normal (2^-126), so a
    block whose scale code is 0 (2^-127) gets other elements there; everywhere else the
    FP8 codes are mxspec's, under every mode."""
    x = _blocks()
    for mode, rule in MODES.items():
        sc, data = mx_tensor.to_mx(torch.from_numpy(x), ELEMENTS[fmt], 32,
                                   getattr(config.ScaleCalculationMode, mode))
        a = mxspec.encode(x, fmt, scale_rule=rule)
        ok = a.scales.reshape(-1) > 0
        want = data.view(torch.uint8).numpy().reshape(x.shape)[ok]
        assert np.array_equal(a.codes[ok], want), (fmt, mode)


@pytest.mark.parametrize("mode", list(MODES))
def test_torchao_names_are_the_same_rules(mode):
    """scale_rule="torchao_<mode>" under torchao's own names (SPEC.md 4.2): the same
    scales as to_mx with that mode, and the same codes as mxspec's name for it."""
    x = _blocks()
    name = "torchao_" + mode.lower()
    sc, _ = mx_tensor.to_mx(torch.from_numpy(x), torch.float8_e4m3fn, 32,
                            getattr(config.ScaleCalculationMode, mode))
    a = mxspec.encode(x, "mxfp8_e4m3", scale_rule=name)
    b = mxspec.encode(x, "mxfp8_e4m3", scale_rule=MODES[mode])
    assert np.array_equal(a.scales, sc.view(torch.uint8).numpy().reshape(a.scales.shape))
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.scales, b.scales)

