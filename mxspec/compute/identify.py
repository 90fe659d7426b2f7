"""Which accumulator does my chip run?  Search the accumulator table and the
block-FMA family for the rows that reproduce a captured result (SPEC.md 8.9).

Given a chip's operands (element codes, no scales: what a tensor-core atom
takes), an optional addend C and its float32 results, :func:`identify` tries
every named row and every member of the block-FMA family (bits kept, rounding,
group, accumulator width, promotion interval, order, operand clamp, where C
enters), on more and more of the outputs (a candidate that misses on a few is
dropped before it costs a full run), and returns the rows that reproduce the
result, best first, with the fraction each matches.  Where several reproduce
it equally, it proposes inputs on which they differ.

>>> import numpy as np, mxspec
>>> rng = np.random.default_rng(0)
>>> a = rng.integers(0, 0x7F, (8, 64)).astype(np.uint8)
>>> b = rng.integers(0, 0x7F, (64, 8)).astype(np.uint8)
>>> d = mxspec.matmul_elements(a, b, "fp8_e4m3", "fp8_e4m3", "cublas_fp8_fast")
>>> r = mxspec.identify(a, b, "fp8_e4m3", "fp8_e4m3", d, progress=False)
>>> r.best.fraction, r.best.model.group, r.best.model.frac_bits, r.best.model.acc_bits
(1.0, 32, 13, 14)
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..tables.accumulators import AccumulatorModel, accumulator, accumulators
from ..codec.elements import decode_table
from ..tables.element import element_format
from .dot import dot_elements

__all__ = ["identify", "Identification", "Match", "candidate_models"]

GROUPS = (1, 2, 4, 8, 16, 32, 64)
FRAC_BITS = tuple(range(8, 31))
PROMOTE = (0, 32, 64, 128, 256, 512)
STAGES = (24, 192, 1536)  # outputs per round before the full run


@dataclass(frozen=True)
class Match:
    """One row that was tried: the model, the fraction of outputs it
    reproduces, and how many outputs that fraction is of."""
    model: AccumulatorModel
    fraction: float
    outputs: int

    @property
    def name(self) -> str:
        return self.model.name


@dataclass
class Identification:
    """What :func:`identify` found: ``matches`` best first; ``tied`` the models
    at the best fraction; ``probes`` inputs on which the tied ones differ (each
    a dict of codes_a, codes_b, c and every tied model's float32 output);
    ``tried`` how many candidates were searched."""
    matches: list
    tied: list
    probes: list = field(default_factory=list)
    tried: int = 0

    @property
    def best(self) -> Match:
        return self.matches[0]

    def report(self, top: int = 10) -> str:
        """The result as text: the best rows and the probes."""
        lines = [f"searched {self.tried} accumulator models; the best {min(top, len(self.matches))}:"]
        for m in self.matches[:top]:
            lines.append(f"  {m.fraction:9.5f}  of {m.outputs:>8,}  {m.name}")
        if len(self.tied) > 1 and not self.probes:
            lines.append(f"{len(self.tied)} models reproduce the result equally, and no "
                         f"directed input told them apart: on these formats and this K "
                         f"they may compute the same function")
        elif len(self.tied) > 1:
            among = "" if len(self.tied) <= PROBE_MODELS else \
                f" (among the first {PROBE_MODELS})"
            lines.append(f"{len(self.tied)} models reproduce the result equally; "
                         f"{len(self.probes)} inputs tell them apart{among}:")
            for p in self.probes:
                items = list(p["outputs"].items())
                outs = ", ".join(f"{k}: {v!r}" for k, v in items[:6])
                more = f", ... ({len(items) - 6} more)" if len(items) > 6 else ""
                lines.append(f"  [{p['generator']}] {outs}{more}")
        return "\n".join(lines)


def _family_name(m: dict) -> str:
    parts = [f"group={m['group']}", f"frac_bits={m['frac_bits']}", m["rounding"]]
    if m["acc_bits"] != 24:
        parts.append(f"acc_bits={m['acc_bits']}")
    if m["inst_k"]:
        parts.append(f"promote={m['inst_k']}")
    if m["k_order"] != "natural":
        parts.append(f"k_order={m['k_order']}")
    if m["input_emin"] is not None:
        parts.append(f"input_emin={m['input_emin']}")
    if m["c"] != "align":
        parts.append(f"c={m['c']}")
    return "blockfma(" + ",".join(parts) + ")"


def candidate_models(fmt_a, fmt_b, with_c: bool = False) -> list:
    """Every model :func:`identify` tries for this pair: the named rows that take
    it, then the block-FMA family (a family member with a named row's
    arithmetic is left out)."""
    fa, fb = element_format(fmt_a).name, element_format(fmt_b).name
    out, seen = [], set()

    def takes(m):
        if m.formats is not None and (fa not in m.formats or fb not in m.formats):
            return False
        return not any((fa, fb) == pair for pair, _ in m.refuses) and (m.takes_c or not with_c)

    def key(m):  # the arithmetic, not the NaN payload
        return m.params[:9] + m.params[10:]

    named = [accumulator(n) for n in accumulators()]
    # the wgmma datapath at every promotion interval has names of its own
    named += [accumulator(f"triton_fp8(max_num_imprecise_acc={n})") for n in PROMOTE if n]
    for m in named:
        if takes(m) and key(m) not in seen:
            seen.add(key(m))
            out.append(m)
    for g, f, rnd, acc_bits, inst, emin, c in itertools.product(
            GROUPS, FRAC_BITS, ("rz", "rne"), (24, 14), PROMOTE, (None, -14),
            ("align", "add") if with_c else ("align",)):
        if f > 51 - g.bit_length() or (inst and inst % g) or (acc_bits == 14 and f != 13):
            continue  # acc_bits 14 is the wgmma datapath's (13 bits kept)
        orders = ("natural", "h100_mma") if (g == 16 and inst == 32) else ("natural",)
        for order in orders:
            kw = dict(group=g, frac_bits=f, rounding=rnd, acc_bits=acc_bits, inst_k=inst,
                      k_order=order, input_emin=emin, c=c)
            m = AccumulatorModel(_family_name(kw), "blockfma", nan_bits=0x7FFFFFFF, **kw)
            if key(m) in seen:
                continue
            seen.add(key(m))
            out.append(m)
    return out


def _same(got_bits, want_bits):
    """Equal float32 bits; any NaN equals any NaN (payloads are the model's own)."""
    g = got_bits.view(np.float32)
    w = want_bits.view(np.float32)
    return (got_bits == want_bits) | (np.isnan(g) & np.isnan(w))


class _Pairs:
    """The dot products to reproduce: row pairs of codes, their C and result bits."""

    def __init__(self, codes_a, codes_b, fa, fb, result, c):
        a = np.asarray(codes_a)
        b = np.asarray(codes_b)
        r = np.asarray(result)
        if a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0] and \
                r.shape == (a.shape[0], b.shape[1]):
            M, N = a.shape[0], b.shape[1]
            self.ra, self.rb = a, np.ascontiguousarray(b.T)
            self.ia = np.repeat(np.arange(M), N)
            self.ib = np.tile(np.arange(N), M)
        elif a.shape[-1:] == b.shape[-1:] and a.ndim >= 1:
            shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
            if r.shape != shape:
                raise ValueError(f"result has shape {r.shape}; the dot products of codes_a "
                                 f"{a.shape} and codes_b {b.shape} have shape {shape}")
            K = a.shape[-1]
            self.ra, self.rb = a.reshape(-1, K), b.reshape(-1, K)
            na, nb = self.ra.shape[0], self.rb.shape[0]
            self.ia = np.broadcast_to(np.arange(na).reshape(a.shape[:-1]), shape).reshape(-1)
            self.ib = np.broadcast_to(np.arange(nb).reshape(b.shape[:-1]), shape).reshape(-1)
        else:
            raise ValueError(f"codes_a {a.shape}, codes_b {b.shape} and result {r.shape}: "
                             f"give an (M, K) and a (K, N) matrix with an (M, N) result, or "
                             f"rows of K codes along the last axis with one result per row")
        if r.dtype == np.uint32:
            bits = r.reshape(-1)
        elif r.dtype == np.float32:
            bits = r.reshape(-1).view(np.uint32)
        else:
            raise TypeError(f"result must be float32 values or their uint32 bits, got "
                            f"dtype {r.dtype}")
        self.bits = np.ascontiguousarray(bits)
        self.fa, self.fb = fa, fb
        n = self.bits.size
        if c is None:
            self.c = np.zeros(n, np.float32)
        else:
            cv = np.asarray(c)
            cv = cv.view(np.float32) if cv.dtype == np.uint32 else cv.astype(np.float32)
            self.c = np.ascontiguousarray(np.broadcast_to(cv, r.shape).reshape(-1))
        self.with_c = bool(np.any(self.c != 0))
        self.n = n

    def run(self, model, idx):
        a = self.ra[self.ia[idx]]
        b = self.rb[self.ib[idx]]
        c = self.c[idx] if self.with_c else None
        r = dot_elements(a, b, self.fa, self.fb, model, c=c)
        return np.ascontiguousarray(r, np.float32).view(np.uint32)

    def score(self, model, idx):
        return float(_same(self.run(model, idx), self.bits[idx]).mean())


def identify(codes_a, codes_b, fmt_a, fmt_b, result, c=None, candidates=None,
             progress: bool = True, probes: int = 8, seed: int = 0) -> Identification:
    """The accumulator rows that reproduce ``result`` from the element codes
    (SPEC.md 8.9).

    codes_a, codes_b  an (M, K) and a (K, N) matrix of codes with an (M, N) result,
                      or rows of K codes along the last axis (leading axes
                      broadcast) with one result per row.
    fmt_a, fmt_b      their element formats.
    result            float32 values or their uint32 bits.
    c                 the addend (float32, broadcast to the result), or None.
    candidates        models or names to try (default: :func:`candidate_models`).
    probes            at most this many distinguishing inputs for tied rows.

    Returns an :class:`Identification` (``.best``, ``.matches``, ``.tied``,
    ``.probes``, ``.report()``).
    """
    fa, fb = element_format(fmt_a).name, element_format(fmt_b).name
    P = _Pairs(codes_a, codes_b, fa, fb, result, c)
    if P.n == 0:
        raise ValueError("result is empty: nothing to identify")
    cands = candidate_models(fa, fb, P.with_c) if candidates is None else \
        [accumulator(m) for m in candidates]
    if candidates is not None and not cands:
        raise ValueError("candidates is empty: give models or names, or None for the whole "
                         "table and the block-FMA family")
    if not cands:
        raise ValueError(f"no accumulator model takes a={fa} with b={fb}")
    order = np.random.default_rng(seed).permutation(P.n)
    alive = list(cands)
    scores = {}
    stages = [s for s in STAGES if s < P.n] + [P.n]
    for si, size in enumerate(stages):
        idx = order[:size]
        it = alive
        if progress:
            from tqdm import tqdm
            it = tqdm(alive, desc=f"mxspec identify: {len(alive)} models on {size:,} outputs",
                      unit="model", leave=False)
        for m in it:
            scores[m] = P.score(m, idx)
        best = max(scores[m] for m in alive)
        if si < len(stages) - 1:
            # a row that reproduces the chip matches every output: keep those near the
            # best, and never fewer than 16, so the report has its runners-up
            ranked = sorted(alive, key=lambda m: -scores[m])
            keep = [m for m in ranked if scores[m] >= best - 0.15]
            alive = keep if len(keep) >= 16 else ranked[:16]
    matches = sorted((Match(m, scores[m], P.n) for m in alive),
                     key=lambda x: (-x.fraction, cands.index(x.model)))
    best = matches[0].fraction
    tied = [x.model for x in matches if x.fraction == best]
    res = Identification(matches, tied, tried=len(cands))
    if len(tied) > 1 and probes > 0:
        res.probes = _probes(tied, fa, fb, P.ra.shape[1], P.with_c, probes, seed)
    return res


# ---- inputs that tell tied models apart -------------------------------------------------

def _finite_codes(fmt):
    v = decode_table(element_format(fmt), np.float64)
    codes = np.flatnonzero(np.isfinite(v) & (v != 0))
    return codes.astype(np.uint8), v


def _probe_rows(fa, fb, K, with_c, rng, n=64):
    """Directed rows, as the H100 fits used: two products at every exponent
    distance, one large product among many tiny ones, products of one binade
    (carries and ties), exact cancellation, random codes; C of many magnitudes."""
    ca, va = _finite_codes(fa)
    cb, vb = _finite_codes(fb)
    ea = np.frexp(np.abs(va[ca]))[1]
    eb = np.frexp(np.abs(vb[cb]))[1]
    rows = []

    def row(gen, a, b):
        rows.append((gen, a, b))

    for _ in range(n):
        a = np.zeros(K, np.uint8)
        b = np.zeros(K, np.uint8)
        k0, k1 = rng.choice(K, 2, replace=False)
        i, j = rng.integers(len(ca)), rng.integers(len(ca))
        a[k0], a[k1] = ca[i], ca[j]
        b[k0], b[k1] = rng.choice(cb), rng.choice(cb)
        row("two", a, b)
        a = np.zeros(K, np.uint8)
        b = np.zeros(K, np.uint8)
        a[:] = ca[np.argsort(ea)[rng.integers(0, max(1, len(ca) // 4), K)]]
        b[:] = cb[np.argsort(eb)[rng.integers(0, max(1, len(cb) // 4), K)]]
        a[rng.integers(K)] = ca[np.argmax(ea)]
        row("tiny_large", a, b)
        top = ea.max() - 1
        a = ca[rng.choice(np.flatnonzero(ea == top), K)].astype(np.uint8)
        b = cb[rng.choice(np.flatnonzero(eb == eb.max() - 1), K)].astype(np.uint8)
        row("binade", a, b)
        a = rng.choice(ca, K).astype(np.uint8)
        b = rng.choice(cb, K).astype(np.uint8)
        half = K // 2
        a[half:2 * half] = a[:half] ^ 0x80
        b[half:2 * half] = b[:half]
        row("cancel", a, b)
        row("random", rng.choice(ca, K).astype(np.uint8), rng.choice(cb, K).astype(np.uint8))
    A = np.stack([r[1] for r in rows])
    B = np.stack([r[2] for r in rows])
    gens = [r[0] for r in rows]
    if with_c:
        exact = dot_elements(A, B, fa, fb, "exact", out="float64")
        scale = np.exp2(rng.integers(-30, 30, len(rows)))
        C = (np.where(np.isfinite(exact), exact, 1.0) * scale *
             rng.choice([-1.0, 1.0], len(rows))).astype(np.float32)
        C[::3] = -exact[::3].astype(np.float32)  # near cancellation against the sum
    else:
        C = None
    return gens, A, B, C


PROBE_MODELS = 64  # tied models the probes are sought for (the best-ranked, named first)


def _probes(tied, fa, fb, K, with_c, limit, seed):
    rng = np.random.default_rng(seed + 1)
    gens, A, B, C = _probe_rows(fa, fb, K, with_c, rng)
    tied = tied[:PROBE_MODELS]
    outs = []
    for m in tied:
        r = np.ascontiguousarray(dot_elements(A, B, fa, fb, m, c=C), np.float32)
        bits = r.view(np.uint32).copy()
        bits[np.isnan(r)] = 0x7FC00000  # any NaN equals any NaN
        outs.append(bits)
    outs = np.stack(outs)  # (models, rows)
    # greedy refinement: each chosen row splits the models into classes by their
    # outputs on the rows chosen so far; take the row that makes the most classes
    cls = np.zeros(len(tied), np.int64)
    chosen = []
    while len(chosen) < limit:
        best, best_n, best_cls = None, len(np.unique(cls)), None
        for r in range(outs.shape[1]):
            _, new = np.unique(np.stack([cls, outs[:, r].astype(np.int64)], 1), axis=0,
                               return_inverse=True)
            n = int(new.max()) + 1
            if n > best_n:
                best, best_n, best_cls = r, n, new.reshape(-1)
        if best is None:
            break
        chosen.append(best)
        cls = best_cls
    probes = []
    for r in chosen:
        probes.append({"generator": gens[r], "codes_a": A[r], "codes_b": B[r],
                       "c": None if C is None else float(C[r]),
                       "outputs": {m.name: float(outs[i, r:r + 1].view(np.float32)[0])
                                   for i, m in enumerate(tied)}})
    return probes
