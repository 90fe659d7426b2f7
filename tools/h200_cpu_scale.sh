#!/bin/bash
# The CPU figures of the H200 machine's host (no GPU used): MX encode and
# decode at 1, 4 and 16 threads beside a copy on as many threads, `mxspec sweep`
# at 1, 4 and 16 worker processes, and `mxspec vectors verify` on a 10^8-row
# dump in one process, 16 processes and a local Dask cluster of 16.
# Run from the repository root there, with the Dask wheels in .whl/ (the image
# has numba, numpy, ml_dtypes and tqdm; README.md of the device notes):
#   bash tools/h200_cpu_scale.sh      (writes $OUT/cpu_scale.txt)
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD NUMBA_CACHE_DIR=/tmp/nc PYTHONUNBUFFERED=1
log=${OUT:-/tmp}/cpu_scale.txt
{
    python3 -c "import sys, numba, numpy, ml_dtypes, distributed; print('python', sys.version.split()[0], 'numba', numba.__version__, 'numpy', numpy.__version__, 'ml_dtypes', ml_dtypes.__version__, 'distributed', distributed.__version__)"
    lscpu | grep -E "^Model name|^CPU\(s\)|^Thread|^Core|^Socket|^NUMA node\(s\)|^L3"
    for t in 1 4 16; do
        echo "== bench_mx, NUMBA_NUM_THREADS=$t"
        NUMBA_NUM_THREADS=$t timeout 170 python3 benchmarks/bench_mx.py --n 16777216 --rounds 2 --repeat 3 2>/dev/null
    done
    echo "== bench_sweep"
    timeout 200 python3 benchmarks/bench_sweep.py --workers 1,4,16 2>/dev/null
    echo "== bench_verify"
    timeout 240 python3 benchmarks/bench_verify.py --rows 100000000 --workers 16 --dir /tmp/bv 2>/dev/null
    rm -rf /tmp/bv
} 2>&1 | tee "$log"
