"""`mxspec sweep`: every float32 input of an element encode against an
independent implementation, in shards that resume; each reference on the
ranges where formats have their edges (here: slices; the full 2^32 runs are
benchmarks and `mxspec sweep` itself)."""
import json
import os

import pytest

from mxspec.app import sweep as S
from mxspec.app.cli import main

# float32 bit ranges: subnormals and the smallest normals; around 1.0 (ties of
# every OCP type); the top of float32 with Inf and the NaNs; the same negative
EDGES = [(0x00000000, 0x00080000), (0x3f7c0000, 0x3f840000), (0x7f7c0000, 0x7f800400),
         (0xbf7c0000, 0xbf840000), (0xff7fff00, 0xff800100)]


def _run(fmt, against, start, stop, **kw):
    out = []
    bad = S.sweep(fmt, against, start=start, stop=stop, shards=2, workers=1, progress=False,
                  out=out.append, **kw)
    return bad, out


@pytest.mark.parametrize("fmt, against, kw", [
    ("fp8_e4m3", "spec", {}), ("fp8_e5m2", "spec", {}), ("fp6_e3m2", "spec", {}),
    ("fp6_e2m3", "spec", {}), ("fp4_e2m1", "spec", {}),
    ("fp8_e4m3", "ml_dtypes", {}), ("fp8_e5m2", "ml_dtypes", {"overflow": "ieee"}),
    ("fp4_e2m1", "ml_dtypes", {}), ("e8m0", "ml_dtypes", {"overflow": "ieee"}),
    ("p3109_k8p4se", "gfloat", {"rounding": "rna"}), ("p3109_k6p3uf", "gfloat", {"rounding": "up"}),
    ("hifloat8", "en_dtypes", {}),
])
def test_each_reference_agrees_on_the_edge_ranges(fmt, against, kw):
    pytest.importorskip({"gfloat": "gfloat", "en_dtypes": "en_dtypes"}.get(against, "numpy"))
    for start, stop in EDGES:
        bad, out = _run(fmt, against, start, stop, **kw)
        assert bad == 0, out
        assert "0 mismatches of " in out[-1]


def test_a_wrong_encoder_is_found(monkeypatch):
    """A fault put into mxspec's side: the sweep counts it and shows the first."""
    real = S._mxspec_codes

    def faulty(job, x):
        c = real(job, x)
        c[x.view("uint32") == 0x3f800000] ^= 1  # 1.0
        return c
    monkeypatch.setattr(S, "_mxspec_codes", faulty)
    bad, out = _run("fp8_e4m3", "spec", 0x3f7c0000, 0x3f840000)
    assert bad == 1 and "1 mismatches of 524,288" in out[0]
    assert out[1] == "  input 3f800000: mxspec 0x39, spec 0x38"


def test_a_sweep_resumes_from_its_shards(tmp_path, monkeypatch):
    state = str(tmp_path / "state")
    args = dict(start=0x3f000000, stop=0x3f400000, shards=4, state=state, workers=1,
                progress=False)
    first = []
    S.sweep("fp6_e2m3", "spec", out=first.append, **args)
    files = sorted(os.listdir(state))
    assert len(files) == 4 and all(f.endswith(".json") for f in files)
    os.remove(os.path.join(state, files[2]))  # as if killed before shard 2 ended
    ran = []
    real = S.run_shard
    monkeypatch.setattr(S, "run_shard", lambda job, i, st: ran.append(i) or real(job, i, st))
    again = []
    S.sweep("fp6_e2m3", "spec", out=again.append, **args)
    assert ran == [2] and again == ["3 of 4 shards read back from " + state] + first
    # a shard file damaged by hand is run again
    with open(os.path.join(state, files[1]), "w") as fh:
        fh.write('{"job": ')
    ran.clear()
    assert S.sweep("fp6_e2m3", "spec", out=[].append, **args) == 0 and ran == [1]
    # another sweep's shards in the same folder are not taken for this one's
    ran.clear()
    S.sweep("fp6_e3m2", "spec", out=[].append, **args)
    assert ran == [0, 1, 2, 3]
    r = json.load(open(os.path.join(state, files[0])))
    assert r["job"]["format"] == "fp6_e2m3" and r["lo"] == 0x3f000000


def test_processes_and_dask_give_the_same_report():
    kw = dict(start=0x3e000000, stop=0x3e800000, shards=4, progress=False)
    outs = []
    for extra in ({"workers": 1}, {"workers": 2}):
        outs.append([])
        S.sweep("fp4_e2m1", "spec", out=outs[-1].append, **kw, **extra)
    assert outs[0] == outs[1]
    distributed = pytest.importorskip("distributed")
    outs.append([])
    S.sweep("fp4_e2m1", "spec", out=outs[-1].append, workers=2, scheduler="local", **kw)
    assert outs[0] == outs[2]
    # a running cluster, joined by its address
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        outs.append([])
        S.sweep("fp4_e2m1", "spec", out=outs[-1].append, scheduler=c.scheduler_address, **kw)
    assert outs[0] == outs[3]


def test_bad_arguments_name_what_is_allowed(capsys):
    with pytest.raises(ValueError, match="against='numpy'; allowed: ml_dtypes, en_dtypes"):
        S.sweep("fp8_e4m3", "numpy")
    with pytest.raises(ValueError, match="rounding='nearest'; allowed: rne, rtz, rna"):
        S.sweep("fp8_e4m3", "spec", rounding="nearest")
    with pytest.raises(ValueError, match="spec does not check fp8_e4m3 under rounding='rtz'"):
        S.sweep("fp8_e4m3", "spec", rounding="rtz")
    with pytest.raises(ValueError, match="start=5, stop=5; allowed: 0 <= start < stop <= 2\\*\\*32"):
        S.sweep("fp8_e4m3", "spec", start=5, stop=5)
    with pytest.raises(ValueError, match="shards=0; allowed: 1 .. 10"):
        S.sweep("fp8_e4m3", "spec", start=0, stop=10, shards=0)
    assert main(["sweep", "int8", "--quiet"]) == 2
    assert "ml_dtypes does not check int8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "fp8_e4m3", "--start", "0x1g"])
    assert main(["sweep", "fp8_e4m3", "--against", "spec", "--start", "3f800000", "--stop",
                 "3f800100", "--shards", "1", "--workers", "1", "--quiet"]) == 0
    assert "0 mismatches of 256 float32 inputs (1 shards)" in capsys.readouterr().out
