"""Write mxspec/tables/cublas_sm90_splits.py from the cuBLASLt trace of
tools/h200_cublas_kernels.py: how many parts cuBLAS 13.1's heuristic splits K
into for torch._scaled_mm at each measured shape (SPEC.md 8.8).

    python tools/h200_split_table.py tests/data/h200/cublaslt-sweep.log.gz \\
        tests/data/h200/sweep-calls.csv.gz > mxspec/tables/cublas_sm90_splits.py

Each call that ran left one cublasLtMatmul trace line, in order; its algo's
numSplitsK (absent: 1) is the split.  The fast-accumulation flag never changes
it (checked here); the float32 output (unit scales) and the bfloat16 output
(per-tensor scales) are kept apart, since they differ at some shapes.
"""
import csv
import gzip
import io
import re
import sys


def main(log, calls):
    lines = [ln for ln in gzip.open(log, "rt") if "[Trace][cublasLtMatmul]" in ln]
    rows = [r for r in csv.DictReader(io.TextIOWrapper(gzip.open(calls), "utf-8")) if r["ok"] == "1"]
    table, MN, KS = {}, set(), set()
    for r, ln in zip(rows, lines):
        m = re.search(r"numSplitsK=(\d+)", ln)
        s = int(m.group(1)) if m else 1
        key = (r["variant"], int(r["M"]), int(r["N"]), int(r["K"]))
        if key in table and table[key] != s:
            raise SystemExit(f"{key}: the fast flag changed the split ({table[key]} and {s})")
        table[key] = s
        MN.update((int(r["M"]), int(r["N"])))
        KS.add(int(r["K"]))
    MN, KS = sorted(MN), sorted(KS)
    out = ['"""How many parts cuBLAS 13.1 (cublasLt 130100, through torch 2.11.0+cu130 on an',
           'NVIDIA H200) splits K into for torch._scaled_mm, per measured shape: written by',
           'tools/h200_split_table.py from tests/data/h200/cublaslt-sweep.log.gz (SPEC.md 8.8).',
           '',
           'SPLITS[out][K] is a string of one digit per (M, N) of GRID x GRID, M major',
           '("1": no shape at that K splits);',
           '"float32" from calls with unit scales, "bfloat16" with per-tensor scales (it also',
           'holds for float16 outputs and for a bias: tests/test_scaled_mm.py).',
           '"""', "", f"GRID = {tuple(MN)}", "SPLITS = {"]
    for var, name in (("unit_f32", "float32"), ("tensor_bf16", "bfloat16")):
        out.append(f'    "{name}": {{')
        for K in KS:
            digits = [table.get((var, M, N, K)) for M in MN for N in MN]
            if any(d is None for d in digits):
                continue
            s = "".join(str(d) for d in digits)
            if set(s) == {"1"}:
                out.append(f'        {K}: "1",  # no shape splits')
                continue
            out.append(f"        {K}: (")
            for i in range(0, len(s), 64):
                out.append(f'            "{s[i:i + 64]}"')
            out.append("        ),")
        out.append("    },")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
