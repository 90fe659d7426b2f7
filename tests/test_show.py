"""`mxspec show` and `mxspec formats`: the views agree with the codecs."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mxspec
from mxspec.app import cli
from mxspec.app.show import describe_format, describe_value, fields

SHOWN = ["fp8_e4m3", "fp8_e4m3fnuz", "p3109_k8p1se", "p3109_k6p3ue", "uint4", "int8", "e8m0",
         "fp4_e2m1"]


@pytest.mark.parametrize("name", SHOWN)
def test_fields_spell_the_code(name):
    f = mxspec.element_format(name)
    for c in range(f.n_codes):
        s = fields(c, f)
        assert int(s.replace(".", ""), 2) == c
        if f.kind == "float":
            widths = [len(p) for p in s.split(".")]
            assert widths == ([1] if f.signed else []) + [f.ebits] + ([f.mbits] if f.mbits else [])


@pytest.mark.parametrize("name", SHOWN)
def test_describe_format_lists_every_code(name):
    f = mxspec.element_format(name)
    rows = [ln for ln in describe_format(f).splitlines() if re.match(r"  0x[0-9A-F]{2}  ", ln)]
    assert len(rows) == f.n_codes
    for c, ln in enumerate(rows):
        v = float(ln.split()[-1])
        assert np.array_equal(v, f.values[c], equal_nan=True) or \
            abs(v - f.values[c]) <= 1e-9 * abs(f.values[c])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SHOWN), st.floats(-1e5, 1e5, allow_nan=False))
def test_neighbours_bracket_the_value_and_hold_its_code(name, x):
    """The printed code is what encode gives, and for a value inside the
    range it is one of the two printed neighbours (or x itself)."""
    f = mxspec.element_format(name)
    text = describe_value(x, f)
    code = int(re.search(r"code 0x([0-9A-F]+)", text)[1], 16)
    assert code == int(mxspec.encode_elements(x, f))
    nb = {m[0]: (int(m[1], 16), f.values[int(m[1], 16)])  # exact, not the printed digits
          for m in re.findall(r"(below|above): 0x([0-9A-F]+) \(\S+\) = (\S+)", text)}
    if "below" in nb:
        assert nb["below"][1] < x
    if "above" in nb:
        assert nb["above"][1] > x
    v = f.values[code]
    fin = f.values[np.isfinite(f.values)]
    if fin.min() <= x <= fin.max() and v != x:
        assert code in {c for c, _ in nb.values()} or v == 0


def test_cli_formats_and_show(capsys):
    assert cli.main(["formats"]) == 0
    out = capsys.readouterr().out
    for name in mxspec.formats():
        assert re.search(rf"^{name}\s", out, re.M), name
    assert cli.main(["formats", "--all"]) == 0
    out = capsys.readouterr().out
    assert all(re.search(rf"^{n}\s", out, re.M) for n in mxspec.p3109_formats())
    assert cli.main(["show", "300", "float8_e4m3fnuz", "--overflow", "ieee"]) == 0
    assert "code 0x80" in capsys.readouterr().out  # FNUZ's one NaN
    assert cli.main(["show", "p3109_k3p1se"]) == 0
    assert "0x07  1.11          -inf" in capsys.readouterr().out
    assert cli.main(["show", "1", "nope"]) == 2
    assert "unknown element format 'nope'" in capsys.readouterr().err
    assert cli.main(["show", "x", "fp4_e2m1"]) == 2
    assert "VALUE must be a number" in capsys.readouterr().err
    # the MX recipes: listed, and shown with their own scale decode
    assert cli.main(["formats"]) == 0
    assert "recipes: gguf (mxfp4_e2m1, as in mxfp4_e2m1:gguf)" in capsys.readouterr().out
    assert cli.main(["show", "mxfp4_e2m1:gguf"]) == 0
    out = capsys.readouterr().out
    assert "every code, 0xFF too: no NaN" in out and "recipe             gguf: gguf-py" in out
    assert cli.main(["show", "2.5", "fp4_e2m1", "--rounding", "rnz"]) == 0
    assert "code 0x4" in capsys.readouterr().out


def test_show_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fp4.png"
    assert cli.main(["show", "fp4_e2m1", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_block_formats_show_a_block_at_a_scale(capsys, tmp_path):
    from mxspec.app.show import block_grid
    # every value of one block is element x scale, for MX (E8M0 code) and NVFP4 (E4M3 value)
    sv, grid = block_grid("mxfp6_e2m3", 125)
    el = mxspec.element_format("fp6_e2m3").values
    assert sv == 0.25 and np.array_equal(grid, np.unique(el * 0.25 + 0.0))
    sv, grid = block_grid("nvfp4", 0.1875)
    assert sv == 0.1875 and grid.max() == 6 * 0.1875 and grid.size == 15
    assert cli.main(["show", "nvfp4", "--scale", "0.75"]) == 0
    out = capsys.readouterr().out
    assert "block size         16" in out and "0.375 0.75 1.125 1.5 2.25 3 4.5" in out
    assert cli.main(["show", "deepseek_fp8_2d"]) == 0
    out = capsys.readouterr().out
    assert "block size         128 (one scale per 128 x 128 tile" in out
    assert "recipe             deepgemm:" in out and "block scale        float32" in out
    # the training recipes' rows say what their choice is (SPEC.md 9.10, 9.11)
    assert cli.main(["show", "if4"]) == 0
    assert "integers -7..7 worth 6/7" in capsys.readouterr().out
    assert cli.main(["show", "nvfp4:4over6_mae"]) == 0
    assert "sum of absolute errors kept" in capsys.readouterr().out
    assert cli.main(["show", "nvfp4", "--scale", "0.7"]) == 2
    assert "not an E4M3 value" in capsys.readouterr().err
    assert cli.main(["show", "mxint8", "--scale", "300"]) == 2
    assert cli.main(["show", "1.0", "nvfp4"]) == 2
    assert cli.main(["show", "fp4_e2m1", "--scale", "2"]) == 2
    pytest.importorskip("matplotlib")
    png = tmp_path / "b.png"
    assert cli.main(["show", "mxfp4_e2m1", "--scale", "130", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000


def test_show_and_formats_describe_integer_groups(capsys):
    """mxspec show names an integer-group row's parts, its rule and recipe and the
    grid of one group (q x s, a zero point of 0); mxspec formats lists the rows."""
    assert cli.main(["show", "int4_g128:compressed_tensors", "--scale", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "element            int4 (codes -8..7, two's complement)" in out
    assert "scale              float16, one per group of 128" in out
    assert "zero point         int8, one per group: value (q - zp) x s" in out
    assert "(max - min) / 15" in out and "recipe             compressed_tensors:" in out
    assert "16 values, 0 0.5 1 1.5 2 2.5 3 3.5" in out
    assert cli.main(["show", "int8_g64_sym_bf16"]) == 0
    out = capsys.readouterr().out
    assert "none (symmetric): value q x s" in out and "max|x| / 127.5" in out
    assert cli.main(["formats"]) == 0
    out = capsys.readouterr().out
    assert "Integer groups: int4_g32, int4_g64, int4_g128, int4_g128_sym" in out
    assert "recipes: exact, compressed_tensors" in out
