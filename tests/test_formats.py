"""The format table: facts checked against the numbers of the OCP spec tables
(../shared/reference/ocp-mx.md), typed in here by hand, not derived."""
import numpy as np
import pytest

import mxspec
from mxspec import FormatError
from spec_reference import ref_values

# name: (bits, bias, emax, max normal, min normal, min subnormal)
OCP = {
    "fp8_e4m3": (8, 7, 8, 448.0, 2.0 ** -6, 2.0 ** -9),
    "fp8_e5m2": (8, 15, 15, 57344.0, 2.0 ** -14, 2.0 ** -16),
    "fp6_e3m2": (6, 3, 4, 28.0, 2.0 ** -2, 2.0 ** -4),
    "fp6_e2m3": (6, 1, 2, 7.5, 1.0, 2.0 ** -3),
    "fp4_e2m1": (4, 1, 2, 6.0, 1.0, 0.5),
    "int8": (8, 6, 0, 127 / 64, 1.0, 2.0 ** -6),
    "int4": (4, 2, 0, 7 / 4, 1.0, 2.0 ** -2),
}


@pytest.mark.parametrize("name", list(OCP))
def test_ocp_facts(name):
    f = mxspec.element_format(name)
    bits, bias, emax, mx, mn, ms = OCP[name]
    assert (f.bits, f.bias, f.emax, f.max_normal, f.min_normal, f.min_subnormal) == \
        (bits, bias, emax, mx, mn, ms)
    assert f.n_codes == 1 << bits and f.values.shape == (1 << bits,)


def test_specials():
    e4, e5 = mxspec.element_format("fp8_e4m3"), mxspec.element_format("fp8_e5m2")
    assert np.isnan(e4.values[[0x7F, 0xFF]]).all() and np.isnan(e4.values).sum() == 2
    assert e5.values[0x7C] == np.inf and e5.values[0xFC] == -np.inf
    assert np.isnan(e5.values[[0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF]]).all()
    for n in ["fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "int8", "int4"]:
        assert np.isfinite(mxspec.element_format(n).values).all()
    s = mxspec.element_format("e8m0")
    assert s.values[0] == 2.0 ** -127 and s.values[254] == 2.0 ** 127 and np.isnan(s.values[255])


def test_generic_float_and_int():
    f = mxspec.element_format("fp5_e2m2")
    assert (f.bias, f.max_normal, f.min_subnormal) == (1, 7.0, 0.25)
    assert mxspec.float_format(2, 2) == f
    g = mxspec.element_format("fp8_e4m3_ieee")
    assert g.max_normal == 240.0 and g.has_inf
    assert mxspec.element_format("fp7_e3m3_b5").bias == 5
    assert mxspec.element_format("int2").values.tolist() == [0.0, 1.0, -2.0, -1.0]
    assert mxspec.element_format("int6").max_normal == 31 / 16
    # a name that resolves to a table entry gives that entry
    assert mxspec.element_format("fp8_e4m3_b7_fn") is mxspec.element_format("fp8_e4m3")


@pytest.mark.parametrize("name", mxspec.formats() + ["fp5_e2m2", "fp3_e2m0", "int2", "int7",
                                                     "fp8_e4m3_ieee", "fp4_e3m0_fn"])
def test_values_match_bitfield_formula(name):
    f = mxspec.element_format(name)
    assert np.array_equal(f.values, ref_values(f), equal_nan=True)


@pytest.mark.parametrize("bad", ["fp9_e4m4", "fp8_e4m4", "int9", "int1", "mxfp4", "bf16", "",
                                 "fp8_e1m6_ieee"])
def test_bad_names(bad):
    with pytest.raises(FormatError) as e:
        mxspec.element_format(bad)
    assert repr(bad) in str(e.value) or "ieee" in str(e.value)


def test_unknown_name_lists_valid_names():
    with pytest.raises(FormatError, match="fp6_e2m3.*int{2..8}"):
        mxspec.element_format("fp6")
    with pytest.raises(FormatError, match="mxfp6_e2m3"):
        mxspec.mx_format("mxfp6")
    with pytest.raises(FormatError):
        mxspec.mx_format("mxe8m0")


def test_listings():
    assert set(OCP) | {"e8m0"} | {"fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp8_e4m3b11fnuz",
                                   "fp8_e4m3_ieee", "fp8_e3m4_ieee", "int2", "uint2",
                                   "uint4"} == set(mxspec.formats())
    assert len(mxspec.formats.__globals__["p3109_formats"]()) == 120
    assert "mxfp6_e2m3" in mxspec.mx_formats()
    assert mxspec.mx_format("mxint2").element.name == "int2"
