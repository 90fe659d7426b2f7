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
    assert set(OCP) | {"e8m0", "e6m2"} | {"fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp8_e4m3b11fnuz",
                                   "fp8_e4m3_ieee", "fp8_e3m4_ieee", "int2", "uint2",
                                   "uint4"} == set(mxspec.formats())
    assert len(mxspec.formats.__globals__["p3109_formats"]()) == 120
    assert "mxfp6_e2m3" in mxspec.mx_formats()
    assert mxspec.mx_format("mxint2").element.name == "int2"


# SPEC.md 1.5, typed in by hand: (ml_dtypes name, bits, bias, specials, max, min normal,
# min subnormal)
BEYOND = {
    "fp8_e4m3fnuz": ("float8_e4m3fnuz", 8, 8, "fnuz", 240.0, 2.0 ** -7, 2.0 ** -10),
    "fp8_e5m2fnuz": ("float8_e5m2fnuz", 8, 16, "fnuz", 57344.0, 2.0 ** -15, 2.0 ** -17),
    "fp8_e4m3b11fnuz": ("float8_e4m3b11fnuz", 8, 11, "fnuz", 30.0, 2.0 ** -10, 2.0 ** -13),
    "fp8_e4m3_ieee": ("float8_e4m3", 8, 7, "ieee", 240.0, 2.0 ** -6, 2.0 ** -9),
    "fp8_e3m4_ieee": ("float8_e3m4", 8, 3, "ieee", 15.5, 2.0 ** -2, 2.0 ** -6),
    "int2": ("int2", 2, 0, "none", 1.0, 1.0, 1.0),
    "uint2": ("uint2", 2, 0, "none", 3.0, 2.0, 1.0),
    "uint4": ("uint4", 4, 0, "none", 15.0, 8.0, 1.0),
}


@pytest.mark.parametrize("name", BEYOND)
def test_beyond_ocp_facts_and_aliases(name):
    ml, bits, bias, specials, mx, mn, ms = BEYOND[name]
    f = mxspec.element_format(name)
    assert (f.ml_dtype, f.bits, f.bias, f.specials) == (ml, bits, bias, specials)
    assert (f.max_normal, f.min_normal, f.min_subnormal) == (mx, mn, ms)
    assert mxspec.element_format(ml) is f  # ml_dtypes' name is an alias
    assert mxspec.element_format(ml.upper()) is f


def test_fnuz_and_p3109_specials():
    f = mxspec.element_format("fp8_e4m3fnuz")
    assert np.isnan(f.values).sum() == 1 and np.isnan(f.values[0x80])
    assert not f.has_inf and not f.has_negative_zero and f.nan_code == 0x80
    se = mxspec.element_format("p3109_k8p3se")
    assert se.values[0x7F] == np.inf and se.values[0xFF] == -np.inf and np.isnan(se.values[0x80])
    ue = mxspec.element_format("p3109_k8p3ue")
    assert not ue.signed and ue.values[0xFE] == np.inf and np.isnan(ue.values[0xFF])
    assert (ue.values[:0xFE] >= 0).all()
    uf = mxspec.element_format("p3109_k8p3uf")
    assert uf.max_normal == uf.values[0xFE] and np.isnan(uf.values[0xFF])
    # ml_dtypes' plain int4 is int4_b0; mxspec's int4 keeps its MX meaning
    assert mxspec.element_format("int4").max_normal == 1.75
    assert mxspec.element_format("int4_b0").max_normal == 7.0
    assert mxspec.element_format("fp7_e4m3_p3109_uf").bits == 7


@pytest.mark.parametrize("bad,match", [
    ("p3109_k8p8se", "precision must be 1..7"), ("p3109_k9p3se", "k must be 3..8"),
    ("p3109_k8p9uf", "precision must be 1..8"), ("fp8_e4m3_p3109_uf", "must have 7 bits"),
    ("int9", "bits must be 2..8"), ("uint4_b200", "bias must be an integer in -8..140"),
])
def test_bad_new_names(bad, match):
    with pytest.raises(FormatError, match=match):
        mxspec.element_format(bad)


def test_wrap_is_for_integers():
    with pytest.raises(ValueError, match="overflow='wrap' is for integer formats"):
        mxspec.encode_elements(1.0, "fp8_e4m3", overflow="wrap")
    with pytest.raises(ValueError, match="recipe='ml_dtypes' sets rounding='rtz'"):
        mxspec.encode_elements(1.0, "uint4", rounding="rna", recipe="ml_dtypes")
    with pytest.raises(ValueError, match="recipe='nope' is not valid; allowed values: ml_dtypes"):
        mxspec.encode_elements(1.0, "uint4", recipe="nope")
    # the old name of the keyword still works, for one release
    assert mxspec.encode_elements([-3.0, 17.9], "uint4", profile="ml_dtypes-0.6").tolist() == [13, 1]
    with pytest.raises(ValueError, match="profile is recipe's old name; give one"):
        mxspec.encode_elements(1.0, "uint4", recipe="ml_dtypes-0.6", profile="ml_dtypes-0.7")
    # an explicit value that happens to be the plain default still contradicts the profile
    with pytest.raises(ValueError, match="recipe='ml_dtypes' sets overflow='ieee'; do not pass "
                                         "overflow='saturate'"):
        mxspec.encode_elements(1.0, "fp8_e4m3", overflow="saturate", recipe="ml_dtypes")
    assert mxspec.encode_elements(1.0, "fp8_e4m3", rounding="rne", recipe="ml_dtypes") == 0x38



@pytest.mark.parametrize("name", mxspec.formats() + mxspec.p3109_formats()
                         + ["fp6_e3m2_b2", "int5_b1", "uint3", "fp8_e4m3b11fnuz", "fp5_e2m2_ieee"])
def test_the_row_s_values_equal_the_codec_s_decode_bit_for_bit(name):
    """ElementFormat.values is read off the row (the tables do not call the codec);
    the codec's decoder (code_parts, decode_one) is a second derivation: they agree on
    every code, NaN signs included."""
    from mxspec.codec.elements import decode_table
    f = mxspec.element_format(name)
    assert np.array_equal(f.values.view(np.uint64), decode_table(f, np.float64).view(np.uint64))
