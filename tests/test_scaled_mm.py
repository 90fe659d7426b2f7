"""mxspec.scaled_mm (SPEC.md 8.8): torch._scaled_mm as cuBLAS 13.1 runs it on an
H200, against captures of the silicon (tests/data/h200/README.md)."""
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import mxspec

DATA = Path(__file__).parent / "data" / "h200"
FMT = {"e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2"}
OUT = {"f32": ("float32", np.int32), "bf16": ("bfloat16", np.int16), "f16": ("float16", np.int16)}
F32 = np.float32


def _calls(d):
    """Every captured call: (case, M, N, K, pair, name, kind, out, fast, bias type)."""
    for key in sorted({k.rsplit("_", 1)[0] for k in d.files if k.endswith("_A")}):
        ta, tb, shp = key.split("_")
        M, N, K = map(int, shp.split("x"))
        for name in (k for k in d.files if k.startswith(key + "_") and "_fast" in k):
            rest = name[len(key) + 1:]
            kind, o = rest.split("_")[:2]
            bo = rest.split("_bias")[1].split("_")[0] if "_bias" in rest else None
            yield key, (M, N, K), (FMT[ta], FMT[tb]), name, kind, o, int(rest[-1]), bo


def _check_capture(d):
    """scaled_mm on the stored rows and columns of every call, with the kernel
    choice of the call's full shape (torch's N % 16 rule met by repeating columns):
    (outputs equal, outputs, calls that differ)."""
    lib = mxspec.gemm_library("cublas")
    equal = total = 0
    bad = []
    for key, (M, N, K), (fa, fb), name, kind, o, fast, bo in _calls(d):
        A, Bt = d[key + "_A"], d[key + "_B"]
        if kind == "unit":
            a, b, sa, sb = A, Bt.T, F32(1), F32(1)
        else:
            vr, vc = d[key + "_vrows"], d[key + "_vcols"]
            a, b = A[vr], Bt[vc].T
            if kind == "tensor":
                sa, sb = d[key + "_sa"].view(F32)[0], d[key + "_sb"].view(F32)[0]
            else:
                sa, sb = d[key + "_ra"].view(F32)[:, None], d[key + "_rb"].view(F32)[None, :]
        bias = None
        if bo:
            bias = d[f"{key}_bias_{bo}"].view(ml_dtypes.bfloat16 if bo == "bf16" else np.float16)
        n = b.shape[1]
        pad = (-n) % 16
        if pad:
            b = np.concatenate([b, b[:, :1].repeat(pad, 1)], 1)
            if kind == "row":
                sb = np.concatenate([sb, sb[:, :1].repeat(pad, 1)], 1)
            if bias is not None:
                bias = np.concatenate([bias, bias[:1].repeat(pad)])
        parts = lib.splits(M, N, K, "row" if kind == "row" else "tensor", OUT[o][0])
        y = mxspec.scaled_mm(a, b, sa, sb, out_dtype=OUT[o][0], use_fast_accum=bool(fast),
                             bias=bias, fmt_a=fa, fmt_b=fb, split_k=parts)[:, :n]
        eq = y.view(OUT[o][1]) == d[name]
        equal += int(eq.sum())
        total += eq.size
        if not eq.all():
            bad.append((name, float(eq.mean())))
    return equal, total, bad


def test_fit_capture():
    """The capture the rows were chosen on (seed 1: 16 shapes, 3 type pairs, every
    scale kind, output type, bias and mode): every output equal."""
    equal, total, bad = _check_capture(np.load(DATA / "scaled_mm_1.npz"))
    assert total == 356_928 and equal == total, bad[:10]


def test_held_out_capture():
    """A capture taken after the rows were fixed (seed 2, 13 other shapes, 8 of
    which cuBLAS splits 2 to 6 ways), its kernels chosen by the sweep's table:
    every output equal."""
    equal, total, bad = _check_capture(np.load(DATA / "scaled_mm_2.npz"))
    assert total == 244_800 and equal == total, bad[:10]


def _trace(path):
    import gzip
    import re
    for line in gzip.open(path, "rt"):
        if "[Trace][cublasLtMatmul]" not in line:
            continue
        K, N = (int(v) for v in re.search(r"Adesc=\[type=\w+ rows=(\d+) cols=(\d+)", line).groups())
        M = int(re.search(r"Bdesc=\[type=\w+ rows=\d+ cols=(\d+)", line).group(1))
        out = {"R_32F": "float32", "R_16BF": "bfloat16", "R_16F": "float16"}[
            re.search(r"Ddesc=\[type=(\w+)", line).group(1)]
        s = re.search(r"numSplitsK=(\d+)", line)
        yield (M, N, K), "row" if "OUTER_VEC" in line else "tensor", out, int(s.group(1)) if s else 1


def test_kernel_choice_of_the_held_out_capture():
    """cuBLASLt's own trace of the held-out capture (another process than the
    sweep the table came from): the table gives every call's numSplitsK, for
    float32, bfloat16 and float16 outputs, with and without bias, both modes."""
    lib = mxspec.gemm_library("cublas")
    calls = list(_trace(DATA / "cublaslt-2.log.gz"))
    assert len(calls) == 644 and sum(s > 1 for *_, s in calls) > 200
    for shape, kind, out, s in calls:
        assert lib.splits(*shape, kind, out) == s, (shape, kind, out)


def test_split_table_is_the_sweep_log():
    """mxspec/tables/cublas_sm90_splits.py is what tools/h200_split_table.py writes
    from the committed trace of the 2,816-shape sweep."""
    import subprocess
    import sys
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, str(root / "tools" / "h200_split_table.py"),
                          str(DATA / "cublaslt-sweep.log.gz"), str(DATA / "sweep-calls.csv.gz")],
                         capture_output=True, text=True, check=True).stdout
    assert out == (root / "mxspec" / "tables" / "cublas_sm90_splits.py").read_text()


def test_split_reduction_order_and_alpha():
    """Directed inputs at the split shapes (one product 256 in one part, products
    2^-16, half its float32 ulp, in others): cuBLAS adds the partial sums as
    (p0 + p1) + p2 and applies alpha once, to the sum; the other orders and a
    per-part alpha miss."""
    d = np.load(DATA / "order.npz")
    lib = mxspec.gemm_library("cublas")
    for key in sorted({k.split("_")[0] for k in d.files}):
        M, N, K = map(int, key.split("x"))
        A, Bt = d[key + "_A"][:48], d[key + "_B"][:16]  # every row kind, 16 columns
        S = lib.splits(M, N, K, "tensor")
        parts = lib.split_bounds(K, S)
        for fast in (0, 1):
            model = "cublas_fp8_fast" if fast else "cublas_fp8"
            P = [mxspec.matmul_elements(A[:, a:b], Bt[:, a:b].T, "fp8_e4m3", "fp8_e4m3", model)
                 for a, b in parts]
            for sname, sa in (("unit", F32(1)), ("third", F32(1 / 3))):
                got = d[f"{key}_{sname}_fast{fast}"][:48, :16]
                y = mxspec.scaled_mm(A, Bt.T, sa, F32(1), out_dtype="float32",
                                     use_fast_accum=bool(fast), fmt_a="fp8_e4m3", fmt_b="fp8_e4m3",
                                     split_k=S)
                assert np.array_equal(y.view(np.uint32), got), (key, fast, sname)
                if len(P) == 3:
                    other = ((P[0] + P[2]) + P[1]) * sa
                    assert np.mean(other.view(np.uint32) == got) < 0.7
                if sname == "third":
                    per_part = sum(p * sa for p in P[1:]) + P[0] * sa
                    assert np.mean(per_part.view(np.uint32) == got) < 0.6


def test_row_wise_bias_fast_refusal_and_unmeasured_shapes():
    """Row-wise scales with a bias and fast accumulation find no cuBLAS kernel
    where the heuristic splits K (16 of 16 such calls refused in the captures,
    none elsewhere); a shape off the measured grid warns and says what it used."""
    e4 = ml_dtypes.float8_e4m3fn
    a, b = np.zeros((16, 8192), e4), np.zeros((8192, 16), e4)
    ra, rb = np.ones((16, 1), F32), np.ones((1, 16), F32)
    bias = np.zeros(16, ml_dtypes.bfloat16)
    with pytest.raises(ValueError, match="CUBLAS_STATUS_NOT_SUPPORTED"):
        mxspec.scaled_mm(a, b, ra, rb, out_dtype="bfloat16", bias=bias, use_fast_accum=True)
    mxspec.scaled_mm(a, b, ra, rb, out_dtype="bfloat16", bias=bias)  # default mode: runs
    lib = mxspec.gemm_library("cublas")
    with pytest.warns(mxspec.tables.gemm.UnmeasuredShapeWarning, match=r"\(48, 48, 8192\)"):
        assert lib.splits(40, 40, 8192, "tensor", "bfloat16") == lib.splits(48, 48, 8192, "tensor", "bfloat16")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lib.splits(40, 40, 4000, "tensor", "float32") == 1  # no measured K <= 4096 splits


def test_split_k_probe_boundaries():
    """The probe capture (a product 256 in one K segment, 2^-6 in another; kept
    only when the two are summed apart): scaled_mm reproduces which pairs of
    segments every shape sums apart, in both modes, at the shapes small enough
    to run here (the split ones among them)."""
    e4 = ml_dtypes.float8_e4m3fn
    seen = 0
    for p, key in [(p, k[:-3]) for p in (np.load(DATA / "probe_1.npz"), np.load(DATA / "probe_2.npz"))
                   for k in sorted(p.files) if k.endswith("_SL")]:
        S, L, M, N, K = (int(v) for v in p[key + "_SL"])
        if M * N * K > 2 ** 32:
            continue
        i, j = np.arange(M), np.arange(N)
        A = np.zeros((M, K), np.float32)
        A[:, np.arange(S) * L + 1] = 1.0
        A[i, (i * S // M) * L] = 16.0
        Bt = np.zeros((N, K), np.float32)
        Bt[:, np.arange(S) * L] = 16.0
        Bt[j, (j * S // N) * L + 1] = 2.0 ** -6
        # every 4th row and 16th column (each still meets every segment), with the
        # kernel choice of the full shape
        r, c = slice(None, None, 4), slice(None, None, 16 if N >= 256 else 1)
        parts = mxspec.gemm_library("cublas").splits(M, N, K, "tensor")
        y = mxspec.scaled_mm(A[r].astype(e4), Bt[c].T.astype(e4), F32(1), F32(1),
                             out_dtype="float32", use_fast_accum=key.endswith("fast1"),
                             split_k=parts)
        kept = np.unpackbits(p[key + "_kept"], axis=1)[:, :N].astype(bool)[r][:, c]
        assert np.array_equal(y != 256.0, kept), key
        seen += 1
    assert seen == 44


def test_split_bounds_are_whole_k_tiles():
    lib = mxspec.gemm_library("cublas")
    assert lib.split_bounds(8192, 3) == [(0, 2816), (2816, 5632), (5632, 8192)]
    assert lib.split_bounds(16384, 3) == [(0, 5504), (5504, 11008), (11008, 16384)]
    assert lib.split_bounds(160, 1) == [(0, 160)]
    assert lib.splits(256, 256, 8192, "tensor") == 3 and lib.splits(256, 256, 8192, "row") == 1


def test_fast_accumulation_split_changes_the_bits():
    """At (256, 256, 8192) the unsplit fast row equals under 1% of the silicon's
    outputs; the split model all of them (the reason the row needs the shape)."""
    d = np.load(DATA / "scaled_mm_1.npz")
    key = "e4m3_e4m3_256x256x8192"
    A, Bt = d[key + "_A"][:64], d[key + "_B"][:64]
    got = d[key + "_unit_f32_fast1"][:64, :64]
    one = mxspec.matmul_elements(A, Bt.T, "fp8_e4m3", "fp8_e4m3", "cublas_fp8_fast")
    split = mxspec.scaled_mm(A, Bt.T, F32(1), F32(1), out_dtype="float32", use_fast_accum=True,
                             fmt_a="fp8_e4m3", fmt_b="fp8_e4m3", split_k=3)
    assert np.mean(one.view(np.int32) == got) < 0.02
    assert np.array_equal(split.view(np.int32), got)


def test_epilogue_orders():
    """The per-tensor alpha is fl32(sa * sb) applied once; row-wise the column
    scale first: an input where each other order gives other bits."""
    a = np.full((1, 16), 0x38, np.uint8)  # 1.0 x 16 = 16
    b = np.zeros((16, 16), np.uint8)
    b[0, :] = 0x38
    sa, sb = F32(1.1), F32(1.3)
    y = mxspec.scaled_mm(a, b, sa, sb, out_dtype="float32", fmt_a="fp8_e4m3", fmt_b="fp8_e4m3")
    assert y[0, 0] == F32(1.0) * (sa * sb)
    ra = np.full((1, 1), 1.1, F32)
    rb = np.full((1, 16), 1.3, F32)
    acc = np.zeros((1, 16), F32)
    acc[0, :] = 1.0
    r = mxspec.scaled_mm(a, b, ra, rb, out_dtype="float32", fmt_a="fp8_e4m3", fmt_b="fp8_e4m3")
    assert np.array_equal(r, (acc * rb) * ra)


def test_bfloat16_rounds_the_float32_result_once_more():
    """A float32 result between two bfloat16 values rounds to nearest even; the
    bias is added in float32 before that one rounding."""
    e4 = ml_dtypes.float8_e4m3fn
    a = np.array([[1.0] + [0.0] * 15], e4)
    b = np.zeros((16, 16), e4)
    b[0, 0] = 1.0
    s = F32(1 + 2 ** -8)  # halfway between bfloat16 1 and 1 + 2^-7: ties to even, 1
    y = mxspec.scaled_mm(a, b, s, F32(1), out_dtype="bfloat16")
    assert float(y[0, 0]) == 1.0
    bias = np.zeros(16, ml_dtypes.bfloat16)
    bias[0] = 2.0 ** -7  # 1 + 2^-8 + 2^-7 in float32, then 1 + 2^-6 in bfloat16 (even)
    y = mxspec.scaled_mm(a, b, s, F32(1), out_dtype="bfloat16", bias=bias)
    assert float(y[0, 0]) == 1 + 2.0 ** -6


def test_matmul_bfloat16_output_under_the_cublas_rows():
    x = mxspec.encode(np.linspace(-3, 3, 2 * 256, dtype=F32).reshape(2, 256), "mxfp8_e4m3")
    w = mxspec.encode(np.linspace(1, 2, 256 * 3, dtype=F32).reshape(256, 3), "mxfp8_e4m3", axis=0)
    for acc in ("cublas_fp8", "cublas_fp8_fast"):
        f = mxspec.matmul(x, w, accumulator=acc)
        for out, dt in (("bfloat16", ml_dtypes.bfloat16), ("float16", np.float16)):
            y = mxspec.matmul(x, w, accumulator=acc, out=out)
            assert y.dtype == dt and np.array_equal(y.view(np.uint16), f.astype(dt).view(np.uint16))
    with pytest.raises(ValueError, match="allowed here: 'float32'"):
        mxspec.matmul(x, w, accumulator="h100_fp8_mma", out="bfloat16")


@pytest.mark.parametrize("call, err, match", [
    (dict(scale_a=np.float64(1.0)), TypeError, "scale_a must be float32"),
    (dict(scale_a=np.ones((3, 1), F32)), ValueError, r"scale_a has shape \(3, 1\)"),
    (dict(scale_a=np.ones((2, 1), F32)), ValueError, "both per tensor or both row-wise"),
    (dict(scale_a=0.1), ValueError, "not a float32 value"),
    (dict(out_dtype=None), ValueError, "out_dtype is required"),
    (dict(out_dtype="float8_e4m3fn"), ValueError, "allowed: float32, bfloat16, float16"),
    (dict(bias=np.zeros(16, F32)), ValueError, "Bias is not supported"),
    (dict(out_dtype="bfloat16", bias=np.zeros(16, np.float16)), TypeError, "bias must have"),
    (dict(out_dtype="bfloat16", bias=np.zeros(8, ml_dtypes.bfloat16)), ValueError,
     r"bias has shape \(8,\)"),
    (dict(fmt_b="fp8_e5m2", fmt_a="fp8_e5m2"), ValueError, "takes fp8_e4m3 x fp8_e4m3"),
    (dict(fmt_a="fp4_e2m1"), ValueError, "fmt_a='fp4_e2m1'"),
    (dict(use_fast_accum=1), TypeError, "use_fast_accum must be"),
    (dict(library="rocblas"), ValueError, "library='rocblas'; allowed: cublas_sm90"),
    (dict(split_k=0), ValueError, "split_k=0"),
    (dict(split_k=2), ValueError, "only 1 k-tiles"),
])
def test_bad_input_names_the_argument(call, err, match):
    kw = dict(scale_a=F32(1), scale_b=F32(1), out_dtype="float32", fmt_a="fp8_e4m3",
              fmt_b="fp8_e4m3")
    kw.update(call)
    a, b = np.zeros((2, 32), np.uint8), np.zeros((32, 16), np.uint8)
    sa, sb = kw.pop("scale_a"), kw.pop("scale_b")
    with pytest.raises(err, match=match):
        mxspec.scaled_mm(a, b, sa, sb, **kw)


def test_shape_and_operand_errors():
    e4 = ml_dtypes.float8_e4m3fn
    with pytest.raises(ValueError, match="N=24"):
        mxspec.scaled_mm(np.zeros((2, 32), e4), np.zeros((32, 24), e4), F32(1), F32(1),
                         out_dtype="float32")
    with pytest.raises(ValueError, match="K must match"):
        mxspec.scaled_mm(np.zeros((2, 32), e4), np.zeros((48, 16), e4), F32(1), F32(1),
                         out_dtype="float32")
    with pytest.raises(ValueError, match="integer codes: say their format with fmt_a"):
        mxspec.scaled_mm(np.zeros((2, 32), np.uint8), np.zeros((32, 16), e4), F32(1), F32(1),
                         out_dtype="float32")
    with pytest.raises(TypeError, match="must be FP8"):
        mxspec.scaled_mm(np.zeros((2, 32), F32), np.zeros((32, 16), e4), F32(1), F32(1),
                         out_dtype="float32")
    with pytest.raises(ValueError, match="but fmt_a='fp8_e5m2'"):
        mxspec.scaled_mm(np.zeros((2, 32), e4), np.zeros((32, 16), e4), F32(1), F32(1),
                         out_dtype="float32", fmt_a="fp8_e5m2")


def test_torch_tensors_in_and_out():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = torch.randn(32, 64, generator=torch.Generator().manual_seed(1)).to(torch.float8_e4m3fn)
    bt = torch.randn(16, 64, generator=torch.Generator().manual_seed(2)).to(torch.float8_e5m2)
    sa = torch.tensor(float(rng.uniform(0.5, 2)), dtype=torch.float32)
    y = mxspec.scaled_mm(a, bt.t(), sa, torch.tensor(1.0), out_dtype=torch.bfloat16)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16 and tuple(y.shape) == (32, 16)
    want = mxspec.scaled_mm(a.view(torch.uint8).numpy(), bt.view(torch.uint8).numpy().T,
                            np.float32(sa.item()), F32(1), out_dtype="bfloat16",
                            fmt_a="fp8_e4m3", fmt_b="fp8_e5m2")
    assert np.array_equal(y.view(torch.int16).numpy(), want.view(np.int16))
