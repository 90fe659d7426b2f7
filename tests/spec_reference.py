"""An independent reference, written from SPEC.md in plain numpy float64.

It shares nothing with mxspec's codec except each format's *defining* fields
(kind, bits, ebits, mbits, bias, specials).  Values come from the bit-field
formulas of SPEC.md section 1; encoding finds the two neighbouring representable
values of each input by search and picks one by the rule of each rounding mode,
the way SPEC.md section 2 states it: no bit tricks, no shared helper.
"""
from __future__ import annotations

import functools

import numpy as np

INEXACT, UNDERFLOW, OVERFLOW, INVALID = 1, 2, 4, 16


UNSIGNED = ("p3109_uf", "p3109_ue")
P3109_STYLE = ("fnuz", "p3109_se", "p3109_uf", "p3109_ue")  # ties to the even code


def is_signed(f) -> bool:
    """SPEC.md 1.5: uint, E8M0 and P3109's unsigned specials have no sign bit."""
    return f.kind in ("float", "int") and f.specials not in UNSIGNED


def ref_values(f) -> np.ndarray:
    """Value of every code of format ``f`` from the SPEC.md section 1 formulas."""
    out = np.empty(1 << f.bits, np.float64)
    signed = is_signed(f)
    for code in range(1 << f.bits):
        if f.kind in ("int", "uint"):
            c = code - (1 << f.bits) if (signed and code >= 1 << (f.bits - 1)) else code
            out[code] = c * 2.0 ** -f.bias
            continue
        if f.kind == "scale":  # unsigned, no zero, no subnormals, all ones NaN (E8M0, E6M2)
            e, m = code >> f.mbits, code & ((1 << f.mbits) - 1)
            out[code] = np.nan if code == 0xFF else (1 + m / 2.0 ** f.mbits) * 2.0 ** (e - f.bias)
            continue
        s = code >> (f.bits - 1) if signed else 0
        mag = code & ((1 << (f.bits - 1)) - 1) if signed else code
        all_ones = (1 << (f.bits - 1 if signed else f.bits)) - 1
        e = (mag >> f.mbits) & ((1 << f.ebits) - 1)
        m = mag & ((1 << f.mbits) - 1)
        top_e = (1 << f.ebits) - 1
        if f.specials == "fn" and e == top_e and m == (1 << f.mbits) - 1:
            out[code] = np.nan
            continue
        if f.specials == "ieee" and e == top_e:
            out[code] = (-np.inf if s else np.inf) if m == 0 else np.nan
            continue
        if f.specials in ("fnuz", "p3109_se") and s == 1 and mag == 0:
            out[code] = np.nan  # where -0 would be
            continue
        if f.specials == "p3109_se" and mag == all_ones:
            out[code] = -np.inf if s else np.inf
            continue
        if f.specials in UNSIGNED and mag == all_ones:
            out[code] = np.nan
            continue
        if f.specials == "p3109_ue" and mag == all_ones - 1:
            out[code] = np.inf
            continue
        if e == 0:
            v = m / 2.0 ** f.mbits * 2.0 ** (1 - f.bias)
        else:
            v = (1 + m / 2.0 ** f.mbits) * 2.0 ** (e - f.bias)
        out[code] = -v if s else v
    return out


class RefFormat:
    """What the reference needs of a format, derived from the table's fields only."""

    def __init__(self, f):
        self.f = f
        self.signed = is_signed(f)
        self.is_int = f.kind in ("int", "uint")
        vals = ref_values(f)
        self.vals = vals
        fin = np.isfinite(vals)
        pos = np.unique(vals[fin & (vals >= 0)])
        self.pos = pos  # nonnegative finite magnitudes, ascending (0 first except E8M0)
        self.max = pos[-1]
        # the code of each nonnegative magnitude (the sign bit clear)
        self.code_of = {}
        for c in range(len(vals)):
            v = vals[c]
            if np.isfinite(v) and (v > 0 or (v == 0 and not np.signbit(v))):
                self.code_of.setdefault(v, c)
        if self.is_int:
            self.min_normal = 2.0 ** -f.bias  # tininess threshold for int: the step
            self.emin = -f.bias
        elif f.kind == "scale":
            self.min_normal = 2.0 ** -f.bias
            self.emin = -f.bias
        else:
            self.emin = 1 - f.bias
            self.min_normal = 2.0 ** self.emin
        self.ulp_top = float(self.ulp_at(np.array([self.max]))[0])

    def ulp_at(self, lo):
        """The step of the grid at magnitude ``lo`` (the lower neighbour)."""
        f = self.f
        if self.is_int:
            return np.full_like(lo, 2.0 ** -f.bias)
        with np.errstate(divide="ignore"):
            e = np.floor(np.log2(np.where(lo > 0, lo, 1.0)))
        e = np.where(lo > 0, np.maximum(e, self.emin), self.emin)
        return 2.0 ** (e - f.mbits)

    def mag_code(self, mag):
        """Magnitude code of each grid magnitude; past max, the codes continue
        (max + 1 step has code max_code + 1), as the parity rule needs."""
        top = self.code_of[self.max]
        out = []
        for m in mag.tolist():
            if m in self.code_of:
                out.append(self.code_of[m])
            else:
                out.append(top + int(round((m - self.max) / self.ulp_top)))
        return np.array(out, np.int64)


@functools.lru_cache(maxsize=None)
def ref_format(f) -> RefFormat:
    return RefFormat(f)


def ref_encode(x, f, rounding="rne", overflow="saturate", nan="keep_sign",
               int_range="symmetric", rbits=None):
    """(codes, flags) for float inputs ``x`` (any float dtype), per SPEC.md."""
    R = ref_format(f)
    a = np.asarray(x).astype(np.float64).reshape(-1)
    n = a.size
    codes = np.zeros(n, np.int64)
    neg = np.signbit(a)
    mag = np.abs(a)
    is_int = R.is_int
    top_bit = 1 << (f.bits - 1)
    nanz = f.specials in ("fnuz", "p3109_se")
    if f.kind == "scale" or f.specials in UNSIGNED:
        nan_pos = (1 << f.bits) - 1
    elif nanz:
        nan_pos = top_bit
    else:
        nan_pos = top_bit - 1
    inf_code = None
    if f.specials == "ieee":
        qnan = (((1 << f.ebits) - 1) << f.mbits) | (1 << (f.mbits - 1))
        inf_code = ((1 << f.ebits) - 1) << f.mbits
    else:
        qnan = nan_pos
        if f.specials == "p3109_se":
            inf_code = top_bit - 1
        elif f.specials == "p3109_ue":
            inf_code = (1 << f.bits) - 2
    has_nan = f.specials != "none" or f.kind == "scale"

    def signed(c, s):
        c = np.asarray(c, np.int64)
        if not R.signed:
            return c
        if is_int:
            return np.where(s, (-c) & ((1 << f.bits) - 1), c)
        if nanz:
            s = s & (c != 0)  # no -0
        return c | (s.astype(np.int64) << (f.bits - 1))

    def nan_code(s):
        if not R.signed or nanz:
            return np.full(s.shape, nan_pos)
        if nan == "canonical":
            return np.full(s.shape, nan_pos)
        return qnan | (s.astype(np.int64) * top_bit)

    # largest magnitude for each sign
    limit_pos = R.max
    limit_neg = R.max + R.ulp_top if (f.kind == "int" and int_range == "full") else R.max
    limit = np.where(neg, limit_neg, limit_pos)
    max_code_pos = R.code_of[R.max]

    isnan = np.isnan(a)
    isinf = np.isinf(a)
    fin = ~isnan & ~isinf
    # --- finite values: neighbours on the grid extended past the max --------
    grid = np.concatenate([R.pos, [R.max + R.ulp_top, R.max + 2 * R.ulp_top]])
    if f.kind == "scale":
        grid = np.concatenate([[0.0], grid])  # a virtual 0 below 2^-127
    m = np.where(fin, mag, 0.0)
    hi_i = np.searchsorted(grid, m, side="left")
    hi_i = np.minimum(hi_i, len(grid) - 1)
    hi = grid[hi_i]
    lo = np.where(hi == m, hi, grid[np.maximum(hi_i - 1, 0)])
    exact = lo == m
    ulp = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(exact, 0.0, (m - lo) / np.where(ulp > 0, ulp, 1.0))
    step = R.ulp_at(lo)
    tie = fin & (frac == 0.5)
    if f.specials in P3109_STYLE and f.kind == "float":
        # P3109: a tie goes to the neighbour whose code is even
        lo_even = np.ones(n, bool)
        if tie.any():
            lo_even[tie] = R.mag_code(lo[tie]) % 2 == 0
    else:
        lo_even = np.mod(np.round(lo / step), 2) == 0
    if rounding == "rne":
        up = (frac > 0.5) | ((frac == 0.5) & ~lo_even)
    elif rounding == "rna":
        up = frac >= 0.5
    elif rounding == "rnz":  # nearest, ties toward zero
        up = frac > 0.5
    elif rounding == "rtz":
        up = np.zeros(n, bool)
    elif rounding == "up":
        up = (frac > 0) & ~neg
    elif rounding == "down":
        up = (frac > 0) & neg
    elif rounding == "stochastic":
        f32 = np.floor(frac * 2.0 ** 32)
        up = (f32 + rbits.astype(np.float64)) >= 2.0 ** 32
    else:
        raise ValueError(rounding)
    res = np.where(exact, lo, np.where(up, hi, lo))
    toward_zero = {"rtz": np.ones(n, bool), "up": neg, "down": ~neg}.get(rounding, np.zeros(n, bool))
    over = fin & ((res > limit) | (m > grid[-1]))
    inexact = fin & ~exact
    fl = np.where(inexact, INEXACT, 0)
    tiny = fin & (m > 0) & (m < R.min_normal)
    fl |= np.where(tiny & inexact, UNDERFLOW, 0)
    # E8M0 has no zero: magnitudes below 2^-127 clamp to 2^-127
    if f.kind == "scale":
        res = np.where(fin & (res < R.pos[0]), R.pos[0], res)
        fl = np.where(fin & (m < R.pos[0]) & (m > 0), INEXACT | UNDERFLOW, fl)
    ok = fin & ~over
    if ok.any():
        codes[ok] = signed(R.mag_code(res[ok]), neg[ok])
    # --- overflow -------------------------------------------------------------
    sat_finite = overflow in ("saturate", "sat_propagate")
    ov_sat = over & (sat_finite | toward_zero)
    ov_big = over & ~ov_sat
    lim_code = np.where(neg & (limit_neg > limit_pos), 1 << (f.bits - 1), max_code_pos)
    codes = np.where(ov_sat, np.where(f.kind == "int", signed(lim_code, neg), signed(np.full(n, max_code_pos), neg)), codes)
    if inf_code is not None:
        big = signed(np.full(n, inf_code), neg)
    elif has_nan:
        big = nan_code(neg)
    else:
        big = signed(np.where(f.kind == "int", lim_code, max_code_pos), neg)
    codes = np.where(ov_big, big, codes)
    fl = np.where(over, INEXACT | OVERFLOW, fl)
    # --- wrap (integer formats): the rounded integer modulo 2^bits ------------
    if overflow in ("wrap", "zero"):
        assert is_int, f"{overflow} is for integer formats"
        kf = m * 2.0 ** f.bias  # exact: |x| in steps
        k0 = np.floor(kf)
        fr = kf - k0
        odd = np.mod(k0, 2) == 1
        wup = {"rne": (fr > 0.5) | ((fr == 0.5) & odd), "rna": fr >= 0.5,
               "rnz": fr > 0.5, "rtz": np.zeros(n, bool), "up": (fr > 0) & ~neg, "down": (fr > 0) & neg}.get(rounding)
        if wup is None:
            wup = (np.floor(fr * 2.0 ** 32) + rbits.astype(np.float64)) >= 2.0 ** 32
        k = k0 + wup
        inexact = fin & (fr > 0)
        v = np.where(neg, -k, k)
        code_w = np.mod(v, 2.0 ** f.bits).astype(np.int64)
        lo_v = -(2.0 ** (f.bits - 1)) if R.signed else 0.0
        hi_v = 2.0 ** (f.bits - 1) - 1 if R.signed else 2.0 ** f.bits - 1
        wrapped = (v < lo_v) | (v > hi_v)
        if overflow == "zero":  # out of range: 0 (ml_dtypes 0.7's integer casts)
            code_w = np.where(wrapped, 0, code_w)
        codes = np.where(fin, code_w, codes)
        fl = np.where(fin, np.where(inexact | wrapped, INEXACT, 0) | np.where(wrapped, OVERFLOW, 0), fl)
    # --- below an unsigned format's range (SPEC.md 2.4) -------------------------
    elif not R.signed and f.kind != "scale":
        below = fin & neg & (m > 0)
        zero_res = below & (res == 0)
        out = below & ~zero_res
        to_zero = out & (sat_finite | toward_zero)
        codes = np.where(zero_res | to_zero, 0, codes)
        fl = np.where(zero_res, np.where(tiny, INEXACT | UNDERFLOW, INEXACT), fl)
        fl = np.where(out, INEXACT | INVALID, fl)
        codes = np.where(out & ~to_zero, nan_pos if has_nan else 0, codes)
    # --- zero, sign and specials --------------------------------------------
    zero = fin & (m == 0)
    codes = np.where(zero, signed(np.zeros(n, np.int64), neg), codes)
    fl = np.where(zero, 0, fl)
    if f.kind == "scale":
        bad = (fin & ((m == 0) | neg)) | (isinf & neg)
        codes = np.where(bad, 0xFF, codes)
        fl = np.where(bad, INVALID, fl)
        isinf = isinf & ~neg
    # Inf
    if overflow in ("wrap", "zero"):
        inf_res, inf_fl = np.zeros(n, np.int64), np.full(n, INEXACT | INVALID)
    elif not R.signed and f.kind != "scale":
        # +Inf as below; -Inf is below the range: 0 under saturate, else NaN (or 0)
        if inf_code is not None:
            pinf = max_code_pos if overflow == "saturate" else inf_code
            pfl = INEXACT if overflow == "saturate" else 0
        else:
            pinf = max_code_pos if (overflow == "saturate" or not has_nan) else nan_pos
            pfl = INEXACT | INVALID
        ninf = 0 if (overflow == "saturate" or not has_nan) else nan_pos
        inf_res = np.where(neg, ninf, pinf)
        inf_fl = np.where(neg, INEXACT | INVALID, pfl)
    elif inf_code is not None:
        inf_res = np.where(overflow == "saturate", signed(np.full(n, max_code_pos), neg),
                           signed(np.full(n, inf_code), neg))
        inf_fl = np.where(overflow == "saturate", INEXACT, 0)
    else:
        if overflow == "saturate" or not has_nan:
            inf_res = signed(np.where(f.kind == "int", lim_code, max_code_pos), neg)
        else:
            inf_res = nan_code(neg)
        inf_fl = np.full(n, INEXACT | INVALID)
    codes = np.where(isinf, inf_res, codes)
    fl = np.where(isinf, inf_fl, fl)
    # NaN
    if has_nan:
        nan_res, nan_fl = nan_code(neg), 0
    else:
        zsign = {"keep_sign": neg, "canonical": np.zeros(n, bool), "ml_dtypes": ~neg}[nan]
        nan_res, nan_fl = signed(np.zeros(n, np.int64), zsign), INVALID
    codes = np.where(isnan, nan_res, codes)
    fl = np.where(isnan, nan_fl, fl)
    return codes.astype(np.uint8), fl.astype(np.uint8)
