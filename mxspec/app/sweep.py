"""Exhaustive float32 sweeps: mxspec's element encode on every float32 input
(all 2^32, or a range of bit patterns) against an independent implementation,
cut into shards that run on every core or a Dask cluster and resume where an
interrupted run stopped (each shard writes its result file under ``state``).

References (``against``), each with the policies under which it is a check:

- ``ml_dtypes``: ml_dtypes' cast, for formats it has; ``rne`` with overflow
  ``ieee`` (the cast itself, NaN as ml_dtypes makes it) or ``saturate`` (the cast
  with its non-finite results of non-NaN inputs clamped to the largest finite).
- ``en_dtypes``: en-dtypes' ``hifloat8`` cast (``rna``, ``ieee``).
- ``gfloat``: Graphcore's P3109 implementation (``round_ndarray`` and
  ``encode_ndarray``) for the ``p3109_*`` formats, every rounding, ``saturate``
  or ``ieee``.
- ``spec``: SPEC.md 2.2's rule from the format's value table in float64 (the
  nearest value, a tie to the even code, beyond the largest the largest), for the
  OCP float element types under ``rne``/``saturate``; NaN inputs are left to the
  other references.

>>> r = sweep("fp4_e2m1", "spec", start=0x40000000, stop=0x40400000, shards=2,
...           workers=1, progress=False)
fp4_e2m1 rne/saturate against spec: 0 mismatches of 4,194,304 float32 inputs (2 shards)
>>> r
0
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from .. import element_format, encode_elements
from ..tables.policies import OVERFLOW, ROUNDING
from ..tables.tapered import is_tapered_name
from .shards import run_shards

CHUNK = 1 << 22
FULL = 1 << 32


@dataclass(frozen=True)
class Job:
    """One sweep: what is compared, over which bit patterns, in how many shards."""
    format: str
    against: str
    rounding: str
    overflow: str
    start: int
    stop: int
    shards: int

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def bounds(self, i):
        n = self.stop - self.start
        return self.start + n * i // self.shards, self.start + n * (i + 1) // self.shards


# -- the references: (does it check this format and policy, expected codes + mask) --
def _ml_dtypes_checks(name, rounding, overflow):
    if is_tapered_name(name):
        return False
    f = element_format(name)
    return bool(f.ml_dtype) and not f.is_int and rounding == "rne" and overflow in ("ieee",
                                                                                    "saturate")


def _ml_dtypes_expect(name, rounding, overflow, x):
    import ml_dtypes
    f = element_format(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = x.astype(getattr(ml_dtypes, f.ml_dtype)).view(np.uint8).astype(np.int64)
    xv = x.astype(np.float64)
    ok = np.ones(x.size, bool)
    if overflow == "saturate":
        nonfin = ~np.isfinite(f.values[ref]) & ~np.isnan(xv)
        if f.signed:
            sign = np.signbit(xv).astype(np.int64) << (f.bits - 1)
            ref = np.where(nonfin, f.max_mag_code | sign, ref)
        else:
            ok = xv > 0
            ref = np.where(nonfin & ok, f.max_mag_code, ref)
    return ref, ok


def _en_dtypes_checks(name, rounding, overflow):
    return name == "hifloat8" and rounding == "rna" and overflow == "ieee"


def _en_dtypes_expect(name, rounding, overflow, x):
    import en_dtypes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x.astype(en_dtypes.hifloat8).view(np.uint8).astype(np.int64), np.ones(x.size, bool)


_GFLOAT_MODES = {"rne": "TiesToEven", "rna": "TiesToAway", "rtz": "TowardZero",
                 "up": "TowardPositive", "down": "TowardNegative"}


def _gfloat_checks(name, rounding, overflow):
    return name.startswith("p3109_") and rounding in _GFLOAT_MODES and overflow in ("saturate",
                                                                                   "ieee")


def _gfloat_expect(name, rounding, overflow, x):
    from gfloat import Domain, RoundMode, Signedness, encode_ndarray, round_ndarray
    from gfloat.formats import format_info_p3109
    f = element_format(name)
    fi = format_info_p3109(f.bits, f.mbits + 1, Signedness.Signed if f.signed else
                           Signedness.Unsigned, Domain.Extended if f.has_inf else Domain.Finite)
    xv = x.astype(np.float64)
    ok = np.ones(x.size, bool) if f.signed else ~(np.signbit(xv) & (xv != 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = round_ndarray(fi, np.where(ok, xv, 0.0), getattr(RoundMode, _GFLOAT_MODES[rounding]),
                          overflow == "saturate")
        return np.asarray(encode_ndarray(fi, r)).astype(np.int64), ok


def _spec_checks(name, rounding, overflow):
    return name in ("fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1") and \
        rounding == "rne" and overflow == "saturate"


def _spec_expect(name, rounding, overflow, x):
    """The nearest finite value of the table (float64 distances: exact, since every
    float32 and every value are float64s and so is their difference here), a
    tie to the even code, beyond the largest the largest; NaN inputs skipped."""
    f = element_format(name)
    mags = np.arange(f.max_mag_code + 1)  # positive codes 0 .. max, increasing
    vals = f.values[mags].astype(np.float64)
    xv = x.astype(np.float64)
    a = np.abs(xv)
    hi = np.clip(np.searchsorted(vals, a), 1, mags.size - 1)
    lo = hi - 1
    dlo, dhi = a - vals[lo], vals[hi] - a
    pick = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(mags[lo] % 2 == 0, lo, hi)))
    pick = np.where(a >= vals[-1], mags.size - 1, pick)
    code = mags[pick] | (np.signbit(xv).astype(np.int64) << (f.bits - 1))
    return code, ~np.isnan(xv)


REFERENCES = {
    "ml_dtypes": (_ml_dtypes_checks, _ml_dtypes_expect),
    "en_dtypes": (_en_dtypes_checks, _en_dtypes_expect),
    "gfloat": (_gfloat_checks, _gfloat_expect),
    "spec": (_spec_checks, _spec_expect),
}
DEFAULTS = {"en_dtypes": ("rna", "ieee")}


def _mxspec_codes(job, x):
    kw = {"nan": "ml_dtypes"} if job.against == "ml_dtypes" else {}
    return encode_elements(x, job.format, rounding=job.rounding, overflow=job.overflow,
                           **kw).astype(np.int64)


def _known(job, x):
    """Inputs where a reference is known to differ, counted apart (SPEC.md 2.6):
    ml_dtypes 0.5-0.6 round E8M0 inputs in (2^-127, 1.5 2^-127) up."""
    if job.against == "ml_dtypes" and job.format == "e8m0":
        with np.errstate(invalid="ignore"):
            xv = x.astype(np.float64)
        return (xv > 2.0 ** -127) & (xv < 1.5 * 2.0 ** -127)
    return None


def run_shard(job: Job, i: int, state: str | None) -> dict:
    """Shard ``i`` of ``job``: compared inputs, mismatches (the first 8 as
    (bits, mxspec's code, the reference's)), the known differences; written to
    ``state`` (if given) as ``<key>.<i>.json``."""
    lo, hi = job.bounds(i)
    expect = REFERENCES[job.against][1]
    res = {"job": asdict(job), "shard": i, "lo": lo, "hi": hi, "compared": 0, "mismatches": 0,
           "known": 0, "first": []}
    for a in range(lo, hi, CHUNK):
        bits = np.arange(a, min(hi, a + CHUNK), dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32)
        with np.errstate(invalid="ignore"):  # signalling NaNs widened to float64
            want, ok = expect(job.format, job.rounding, job.overflow, x)
        got = _mxspec_codes(job, x)
        bad = (got != want) & ok
        known = _known(job, x)
        if known is not None:
            res["known"] += int((bad & known).sum())
            bad &= ~known
        res["compared"] += int(ok.sum())
        res["mismatches"] += int(bad.sum())
        room = 8 - len(res["first"])
        res["first"] += [[f"{int(bits[k]):08x}", int(got[k]), int(want[k])]
                         for k in np.flatnonzero(bad)[:room]]
    if state:
        path = os.path.join(state, f"{job.key}.{i:05d}.json")
        with open(path + ".tmp", "w") as fh:
            json.dump(res, fh)
        os.replace(path + ".tmp", path)  # whole or absent: a killed run leaves no half file
    return res


def _done(job, state):
    """The shard results already under ``state`` for this very job."""
    out = {}
    if not state or not os.path.isdir(state):
        return out
    for i in range(job.shards):
        p = os.path.join(state, f"{job.key}.{i:05d}.json")
        if os.path.exists(p):
            try:
                with open(p) as fh:
                    r = json.load(fh)
            except (OSError, ValueError):  # damaged by hand: run the shard again
                continue
            if isinstance(r, dict) and r.get("job") == asdict(job) and r.get("shard") == i:
                out[i] = r
    return out


def sweep(format: str, against: str = "ml_dtypes", rounding: str | None = None,
          overflow: str | None = None, start: int = 0, stop: int = FULL, shards: int = 256,
          state: str | None = None, workers: int | None = None, scheduler: str | None = None,
          progress: bool = True, out=print) -> int:
    """Sweep ``format``'s encode of the float32 bit patterns ``start`` .. ``stop - 1``
    against the reference ``against`` (a key of REFERENCES); print the mismatch
    count (and the first ones) and return it.  With ``state``, shards finished
    by an earlier run of the same sweep are read back instead of run again."""
    if against not in REFERENCES:
        raise ValueError(f"against={against!r}; allowed: {', '.join(REFERENCES)}")
    r0, o0 = DEFAULTS.get(against, ("rne", "saturate"))
    rounding, overflow = rounding or r0, overflow or o0
    for arg, v, allowed in (("rounding", rounding, ROUNDING), ("overflow", overflow, OVERFLOW)):
        if v not in allowed:
            raise ValueError(f"{arg}={v!r}; allowed: {', '.join(allowed)}")
    if not REFERENCES[against][0](format, rounding, overflow):
        raise ValueError(f"{against} does not check {format} under rounding={rounding!r}, "
                         f"overflow={overflow!r} (see mxspec.app.sweep's docstring for what "
                         "each reference checks)")
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= FULL):
        raise ValueError(f"start={start!r}, stop={stop!r}; allowed: 0 <= start < stop <= 2**32")
    if not isinstance(shards, int) or not 1 <= shards <= stop - start:
        raise ValueError(f"shards={shards!r}; allowed: 1 .. {stop - start} (one input a shard "
                         "at most)")
    job = Job(element_format(format).name if not is_tapered_name(format) else format,
              against, rounding, overflow, start, stop, shards)
    if state:
        os.makedirs(state, exist_ok=True)
    done = _done(job, state)
    todo = [i for i in range(shards) if i not in done]
    if done:
        out(f"{len(done)} of {shards} shards read back from {state}")
    for r in run_shards(run_shard, [(job, i, state) for i in todo], workers=workers,
                        scheduler=scheduler, progress=progress,
                        desc=f"mxspec sweep {job.format} against {against}"):
        done[r["shard"]] = r
    parts = [done[i] for i in range(shards)]
    bad = sum(p["mismatches"] for p in parts)
    compared = sum(p["compared"] for p in parts)
    known = sum(p["known"] for p in parts)
    first = [f for p in parts for f in p["first"]][:8]
    out(f"{job.format} {rounding}/{overflow} against {against}: {bad:,} mismatches of "
        f"{compared:,} float32 inputs ({shards} shards)"
        + (f"; {known:,} known differences counted apart (SPEC.md 2.6)" if known else ""))
    for bits, got, want in first:
        out(f"  input {bits}: mxspec {got:#04x}, {against} {want:#04x}")
    return bad
