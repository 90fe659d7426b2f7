"""`mxspec vectors verify` on files of any size: streamed in shards, on local
processes or Dask, with the report of the whole-file verifier; and the bad input
a sign-off flow meets (truncated, reordered, wrong width, another version)."""
import tracemalloc
from pathlib import Path

import pytest

from mxspec.app import vectors as V
from mxspec.app import verify_files as VF
from mxspec.app.cli import main
from test_verify_cli import _chip_results, data_lines

ROOT = Path(__file__).parent / "vectors"
E4M3 = ROOT / "encode" / "fp8_e4m3.float32.rne.saturate.txt"
QUANT = ROOT / "quantize" / "mxfp4_e2m1.floor.txt"


def _whole_file_report(vec, res):
    out = []
    vf = V.load_vectors(vec)
    rf = V.parse(V.read_text(res), str(res), header_required=False)
    bad = V.verify(vf, rf, out=out.append)
    return bad, out


def _streamed(vec, res, **kw):
    out = []
    bad = VF.verify_files(vec, res, out=out.append, progress=False, **kw)
    return bad, out


@pytest.mark.parametrize("flags", [True, False])
def test_shards_give_the_whole_file_report(tmp_path, flags):
    """A chip that rounds ties away: the same report from the whole-file verifier
    and from every shard size, with and without the flags column."""
    res = tmp_path / "rna.txt"
    res.write_text(_chip_results(E4M3, "rna", flags=flags))
    want = _whole_file_report(E4M3, res)
    assert want[0] > 50
    for rows in (1, 7, 64, 1 << 20):
        assert _streamed(E4M3, res, workers=1, rows_per_shard=rows) == want, rows


def test_quantize_rows_with_notes_and_a_bad_packing(tmp_path):
    """Rows with notes, comments and blank lines among them, an indented row,
    CRLF line ends and upper-case hex: the slow path, same report."""
    lines = [ln.split("#")[0].strip() for ln in data_lines(QUANT)]
    f = lines[6].split()
    f[33] = "06"
    lines[6] = " ".join(f)
    f = lines[9].split()
    f[-1] = "0" * len(f[-1])
    lines[9] = " ".join(f)
    lines[3] = lines[3].upper()
    body = "\r\n".join(lines[:5]) + "\n# a comment\n\n   " + "\n".join(lines[5:]) + "\n"
    res = tmp_path / "res.txt"
    res.write_text(body)
    want = _whole_file_report(QUANT, res)
    assert want[0] == 2 and any("packed" in ln for ln in want[1])
    for rows in (1, 3, 1000):
        assert _streamed(QUANT, res, workers=1, rows_per_shard=rows) == want


def test_processes_and_dask_give_the_same_report(tmp_path):
    """Two local processes, and a local Dask cluster of two workers: the report of
    one process, shard for shard."""
    res = tmp_path / "rna.txt"
    res.write_text(_chip_results(E4M3, "rna"))
    want = _streamed(E4M3, res, workers=1, rows_per_shard=50)
    assert _streamed(E4M3, res, workers=2, rows_per_shard=50) == want
    pytest.importorskip("distributed")
    assert _streamed(E4M3, res, workers=2, scheduler="local", rows_per_shard=50) == want


def test_a_dump_streams_in_constant_memory(tmp_path, monkeypatch):
    """Shards of 2^12 rows and scan blocks of 64 KiB: the traced peak for 2^18 rows
    (4 MiB a file) is that for 2^15 rows, about 200 bytes per row of one shard."""
    monkeypatch.setattr(VF, "_BLOCK", 1 << 16)
    peaks = []
    for n in (1 << 15, 1 << 18):
        vec, res = tmp_path / f"v{n}.txt", tmp_path / f"r{n}.txt"
        start = 0x3f480000 - n // 2  # 0.78125, a tie of E4M3, in the middle
        V.write_encode_range(vec, "fp8_e4m3", start, start + n)
        V.write_encode_range(res, "fp8_e4m3", start, start + n, rounding="rna", header=False)
        tracemalloc.start()
        bad, out = _streamed(vec, res, workers=1, rows_per_shard=1 << 12)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert out[-2] == f"{n - bad} passed, {bad} failed" and bad == 1
        assert out[-1].startswith("by rule: ties: 1 (first at line")
    assert peaks[1] < 1.2 * peaks[0] and peaks[1] < 300 * (1 << 12) + (1 << 19), peaks


def test_the_range_writer_is_the_vector_generator():
    """write_encode_range's rows are encode_vectors' for the same inputs."""
    import numpy as np
    import tempfile
    p = Path(tempfile.mkdtemp()) / "e.txt"
    V.write_encode_range(p, "fp6_e3m2", 0x3f7ffff0, 0x3f800010, chunk=7)
    rows = [ln for ln in p.read_text().splitlines() if not ln.startswith("#")]
    import mxspec
    x = np.arange(0x3f7ffff0, 0x3f800010, dtype=np.uint32)
    c, fl = mxspec.encode_elements(x.view(np.float32), "fp6_e3m2", return_flags=True)
    assert rows == [f"{int(b):08x} {int(k):02x} {int(g):02x}" for b, k, g in zip(x, c, fl)]


def _cli(capsys, vec, res):
    rc = main(["vectors", "verify", "--quiet", "--workers", "1", str(vec), str(res)])
    err = capsys.readouterr().err
    return rc, err


def test_bad_input_is_exit_2_with_file_and_line(tmp_path, capsys):
    good = [ln.split("#")[0].strip() for ln in data_lines(E4M3)]
    cases = {}
    cases["truncated"] = good[:-3]
    cases["cut mid-row"] = good[:-1] + [good[-1][:10]]
    cases["reordered"] = good[:5] + [good[6], good[5]] + good[7:]
    w = good[:]
    w[8] = w[8].split()[0] + " 4 00"
    cases["wrong width"] = w
    for name, lines in cases.items():
        res = tmp_path / f"{name}.txt"
        res.write_text("\n".join(lines) + "\n")
        rc, err = _cli(capsys, E4M3, res)
        assert rc == 2, name
        assert err.startswith(f"mxspec vectors verify: {res}:"), (name, err)
        assert "Traceback" not in err
    # a results file that says it is of another format or version of the set
    res = tmp_path / "other.txt"
    res.write_text("# format: fp8_e5m2\n" + "\n".join(good) + "\n")
    rc, err = _cli(capsys, E4M3, res)
    assert rc == 2 and f"{res}:1: header 'format: fp8_e5m2'" in err
    res.write_text("# mxspec: 0.0.9\n" + "\n".join(good) + "\n")
    rc, err = _cli(capsys, E4M3, res)
    assert rc == 2 and "another file or version of the set" in err
    # a vector file of another layout, and one cut in the middle of a row
    text = E4M3.read_text()
    vec = tmp_path / "layout2.txt"
    vec.write_text(text.replace("layout 1", "layout 2", 1))
    rc, err = _cli(capsys, vec, tmp_path / "reordered.txt")
    assert rc == 2 and f"{vec}:1: layout 2; this mxspec reads layout 1" in err
    vec = tmp_path / "cut.txt"
    vec.write_text(text[:text.rindex("\n", 0, len(text) - 1) + 12])
    res = tmp_path / "res.txt"
    res.write_text("\n".join(good) + "\n")
    rc, err = _cli(capsys, vec, res)
    assert rc == 2 and f"{vec}:" in err and "fields, expected 3" in err


def test_bad_arguments_name_what_is_allowed():
    with pytest.raises(ValueError, match="rows_per_shard=0; allowed: a positive integer"):
        VF.verify_files(E4M3, E4M3, rows_per_shard=0)
    with pytest.raises(ValueError, match="workers=0; allowed: a positive integer"):
        VF.verify_files(E4M3, E4M3, workers=0, rows_per_shard=1, progress=False)
    with pytest.raises(ValueError, match="scheduler='nowhere'; allowed: 'local', or a Dask"):
        list(VF.run_shards(pow, [(1, 1), (2, 2)], scheduler="nowhere", progress=False))


def test_fixed_width_dumps_skip_the_scan_and_lookalikes_fall_back(tmp_path, monkeypatch):
    """Rows of one width are found from the file size alone (no scan); a results
    file that only looks so (a comment line of a row's width among the rows) is
    scanned after all, with the same report as the plain one."""
    vec, res = tmp_path / "v.txt", tmp_path / "r.txt"
    start = 0x3f480000 - 5000
    V.write_encode_range(vec, "fp8_e4m3", start, start + 10000)
    V.write_encode_range(res, "fp8_e4m3", start, start + 10000, rounding="rna", header=False)
    want = _streamed(vec, res, workers=1, rows_per_shard=1000)
    real = VF.scan
    scanned = []
    monkeypatch.setattr(VF, "scan", lambda p, every: scanned.append(p) or real(p, every))
    assert _streamed(vec, res, workers=1, rows_per_shard=1000) == want and scanned == []
    lines = res.read_text().splitlines(keepends=True)
    assert len(lines[0]) == 15
    lookalike = tmp_path / "lookalike.txt"
    lookalike.write_text("".join(lines[:4321]) + "# a comment".ljust(14) + "\n"
                         + "".join(lines[4321:]))
    assert lookalike.stat().st_size % 15 == 0  # 10001 lines of 15 bytes, to look at
    moved = (want[0], [t.replace("(results line 5001)", "(results line 5002)") for t in want[1]])
    assert moved != want  # the tie's result sits one line lower, past the comment
    assert _streamed(vec, lookalike, workers=1, rows_per_shard=1000) == moved
    assert str(lookalike) in scanned
