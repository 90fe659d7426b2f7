"""The $readmemh twins of the element files (conformance/memh/), and the C and
Verilog readers (conformance/readers/) that a hardware team starts from: built and
run here against the committed files.  In CI (CI=true) a missing gcc or Icarus
Verilog is a failure, not a skip: .ci/run installs them."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mxspec.app import vectors as V

HERE = Path(__file__).parent
VEC, MEMH, READERS = HERE / "vectors", HERE / "memh", HERE / "readers"


def _tool(name):
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.mark.parametrize("rel", V.memh_sources())
def test_each_twin_is_its_text_file(rel):
    """Every twin regenerates unchanged from its text file, one word per row with
    the fields the sidecar lists, and the sidecar names the text file's SHA-256
    (a stale twin fails here)."""
    text = (VEC / rel).read_text()
    twin, side = V.memh_twin(rel, text)
    base = str(MEMH / rel[:-4])
    assert Path(base + ".memh").read_text() == twin
    assert json.loads(Path(base + ".json").read_text()) == side
    vf = V.parse(text, rel)
    words = twin.split()
    assert len(words) == len(vf.rows) == side["rows"]
    for w, (_, row) in zip(words, vf.rows):
        v = int(w, 16)
        for fld, field in zip(side["fields"], row):
            assert (v >> fld["lsb"]) & ((1 << (fld["msb"] - fld["lsb"] + 1)) - 1) == int(field, 16)


def test_the_c_reader_passes_every_decode_file(tmp_path):
    cc = _tool("gcc")
    exe = tmp_path / "decode_check"
    subprocess.run([cc, "-O2", "-std=c99", "-Wall", "-Werror", "-o", str(exe),
                    str(READERS / "decode_check.c"), "-lm"], check=True)
    for f in V.ELEMENT_FORMATS:
        r = subprocess.run([str(exe), str(VEC / "decode" / f"{f}.txt")], capture_output=True,
                           text=True)
        assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout + r.stderr
    bad = tmp_path / "bad.txt"  # one value bit flipped: the reader must see it
    lines = (VEC / "decode" / "fp8_e4m3.txt").read_text().splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("38 "))
    lines[i] = "38 3f800001" + lines[i][11:]
    bad.write_text("\n".join(lines) + "\n")
    r = subprocess.run([str(exe), str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "code 38: file 3f800001, reference 3f800000" in r.stdout


def test_the_verilog_testbench_reads_the_e4m3_twin(tmp_path):
    """Icarus Verilog loads the twin of decode/fp8_e4m3 with $readmemh as 256 words,
    equal to the text file's values under a decoder written from SPEC.md; a twin
    with one word changed fails it."""
    iverilog = _tool("iverilog")
    vvp = _tool("vvp")
    exe = tmp_path / "tb"
    subprocess.run([iverilog, "-g2005", "-o", str(exe), str(READERS / "tb_decode_e4m3.v")],
                   check=True)
    twin = MEMH / "decode" / "fp8_e4m3.memh"
    r = subprocess.run([vvp, str(exe), f"+memh={twin}"], capture_output=True, text=True)
    assert "fp8_e4m3: 256 words, 256 passed, 0 failed" in r.stdout, r.stdout + r.stderr
    words = twin.read_text().split()
    words[0x40] = words[0x40][:-1] + ("1" if words[0x40][-1] != "1" else "2")
    bad = tmp_path / "bad.memh"
    bad.write_text("\n".join(words) + "\n")
    r = subprocess.run([vvp, str(exe), f"+memh={bad}"], capture_output=True, text=True)
    assert "255 passed, 1 failed" in r.stdout and r.returncode != 0, r.stdout
