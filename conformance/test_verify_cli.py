"""`mxspec vectors verify`: what a hardware team sees for right, wrong and
malformed results."""
from pathlib import Path

from mxspec.app.cli import main

ROOT = Path(__file__).parent / "vectors"
ENC = ROOT / "encode" / "fp4_e2m1.float32.rne.saturate.txt"


def data_lines(path):
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def test_correct_results_pass(tmp_path, capsys):
    res = tmp_path / "res.txt"
    res.write_text("\n".join(ln.split("#")[0] for ln in data_lines(ENC)) + "\n")
    assert main(["vectors", "verify", str(ENC), str(res)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{len(data_lines(ENC))} passed, 0 failed")


def test_a_wrong_tie_is_named(tmp_path, capsys):
    lines = data_lines(ENC)
    i = next(k for k, ln in enumerate(lines) if "+tie 2|3" in ln)  # 2.5: expected 2.0 (0x4)
    lines[i] = lines[i].split("#")[0].replace(" 04 ", " 05 ")
    res = tmp_path / "res.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(ENC), str(res)]) == 1
    out = capsys.readouterr().out
    assert "tie between 2 and 3, expected round to even" in out
    assert "expected 04 (2), got 05 (3)" in out and "1 failed" in out


def test_block_mismatch_names_the_element(tmp_path, capsys):
    q = ROOT / "quantize" / "mxfp4_e2m1.floor.txt"
    lines = data_lines(q)
    f = lines[6].split("#")[0].split()  # "saturates under floor (FP4)"
    f[33] = "06"                         # element 0: expected 0x7 (6.0)
    lines[6] = " ".join(f)
    res = tmp_path / "res.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(q), str(res)]) == 1
    out = capsys.readouterr().out
    assert "code[0]: expected 07 (6), got 06 (4)" in out and "saturates under floor" in out


def test_malformed_results_get_a_line_number(tmp_path, capsys):
    res = tmp_path / "res.txt"
    lines = [ln.split("#")[0] for ln in data_lines(ENC)]
    lines[3] = "zz 00 00"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(ENC), str(res)]) == 2
    assert "res.txt:4: 'zz' is not a hex number" in capsys.readouterr().err
    lines[3] = "00 00"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(ENC), str(res)]) == 2
    assert "res.txt:4: 2 fields, expected 3" in capsys.readouterr().err
    res.write_text("\n".join(lines[:5]) + "\n")
    assert main(["vectors", "verify", str(ENC), str(res)]) == 2
    assert "results have 5 vectors" in capsys.readouterr().err


def test_reordered_results_are_refused(tmp_path, capsys):
    lines = [ln.split("#")[0] for ln in data_lines(ENC)]
    lines[0], lines[1] = lines[1], lines[0]
    res = tmp_path / "res.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(ENC), str(res)]) == 2
    assert "res.txt:1: inputs differ from" in capsys.readouterr().err


def test_stochastic_results_carry_their_random_bits(tmp_path, capsys):
    st = ROOT / "encode" / "fp4_e2m1.float32.stochastic.saturate.txt"
    lines = [ln.split("#")[0] for ln in data_lines(st)]
    i = next(k for k, ln in enumerate(data_lines(st)) if "+tie 2|3" in ln)
    f = lines[i].split()
    f[2] = "05" if f[2] == "04" else "04"  # the other neighbour
    lines[i] = " ".join(f)
    res = tmp_path / "res.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(st), str(res)]) == 1
    assert "stochastic: up iff frac32 + rbits >= 2^32" in capsys.readouterr().out


def test_custom_generation(tmp_path):
    out = tmp_path / "c.txt"
    assert main(["vectors", "gen", "--format", "mxint4", "--kind", "quantize", "--count", "5",
                 "--seed", "3", "--out", str(out)]) == 0
    text = out.read_text()
    assert "# kind: quantize" in text and "not cross-checked" in text
    assert len([ln for ln in text.splitlines() if not ln.startswith("#")]) == 5
    assert main(["vectors", "gen", "--format", "mxint9", "--out", str(out)]) == 2


def test_new_kinds_gen_and_verify(tmp_path, capsys):
    """Custom files for HiF8, NVFP4 and the micro-exponent units; a HiF8 rounding
    error is explained by its neighbours; bad combinations are refused by name."""
    for args in (["--kind", "encode", "--format", "hifloat8", "--rounding", "rtz"],
                 ["--kind", "quantize", "--format", "nvfp4:torchao"],
                 ["--kind", "units", "--format", "hif4"]):
        f = tmp_path / "v.txt"
        assert main(["vectors", "gen", *args, "--out", str(f)]) == 0
        res = tmp_path / "r.txt"
        res.write_text("\n".join(ln.split("#")[0] for ln in data_lines(f)) + "\n")
        assert main(["vectors", "verify", str(f), str(res)]) == 0, args
    enc = ROOT / "encode" / "hifloat8.float32.rna.ieee.keep.txt"
    lines = data_lines(enc)
    i = next(k for k, ln in enumerate(lines) if ln.startswith("3e000000 "))  # 0.125: 0x38
    lines[i] = lines[i].split("#")[0].replace(" 38 ", " 39 ")
    res = tmp_path / "r.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(enc), str(res)]) == 1
    assert "between 0.125 and 0.140625, expected rna" in capsys.readouterr().out
    for args, msg in ((["--kind", "encode", "--format", "hifloat8", "--rounding", "rne"],
                       "rounding='rne' is not valid for hifloat8"),
                      (["--kind", "quantize", "--format", "hif4"], "--kind units"),
                      (["--kind", "units", "--format", "mxint8"], "--kind units is for the"),
                      (["--kind", "encode", "--format", "nvfp4"], "--kind quantize or dequantize")):
        assert main(["vectors", "gen", *args, "--out", str(tmp_path / "x.txt")]) == 2
        assert msg in capsys.readouterr().err, msg


def _clean(path):
    return [ln.split("#")[0].strip() for ln in data_lines(path)]


def test_a_field_must_be_the_files_text(tmp_path, capsys):
    """Fields were compared as integers, so 0 passed for sixteen zero bytes and
    0x07, 0007, 0_7 or -0 for a code; now a field has the file's width and plain
    hex digits, and anything else names file:line."""
    lines = _clean(ENC)
    res = tmp_path / "res.txt"
    f = lines[0].split()
    for bad in ("0x" + f[1], "00" + f[1], f[1][0] + "_" + f[1][1], "-" + f[1], f[1][1:]):
        lines[0] = " ".join([f[0], bad, f[2]])
        res.write_text("\n".join(lines) + "\n")
        assert main(["vectors", "verify", str(ENC), str(res)]) == 2, bad
        assert "res.txt:1:" in capsys.readouterr().err, bad
    units = ROOT / "units" / "hif4.txt"
    ul = _clean(units)
    row = ul[0].split()
    row[-1] = "0"                                  # the packed unit as one short number
    ul[0] = " ".join(row)
    res.write_text("\n".join(ul) + "\n")
    assert main(["vectors", "verify", str(units), str(res)]) == 2
    assert "res.txt:1: unit is '0', 1 hex digits" in capsys.readouterr().err


def test_malformed_files_are_file_line_errors_not_tracebacks(tmp_path, capsys):
    """Non-UTF-8 bytes, headers without what their kind needs, bad sizes and
    vector rows with extra fields: exit 2 and file:line, no traceback."""
    good = "\n".join(_clean(ENC)) + "\n"
    res = tmp_path / "res.txt"
    res.write_bytes(good.encode().replace(b"\n", b"\n\xff", 1))
    assert main(["vectors", "verify", str(ENC), str(res)]) == 2
    assert "res.txt:2: byte 0xff is not UTF-8 text" in capsys.readouterr().err
    res.write_text(good)
    text = ENC.read_text()
    vec = tmp_path / "vec.txt"
    cases = [
        (text.replace("# rounding: rne\n", ""), "header has no '# rounding:' line"),
        (text.replace("# format: fp4_e2m1\n", ""), "header has no '# format:' line"),
        (text.encode().replace(b"# kind", b"# \xfe kind", 1), "vec.txt:2: byte 0xfe"),
    ]
    q = (ROOT / "quantize" / "mxfp4_e2m1.floor.txt").read_text()
    cases += [(q.replace("# block_size: 32", "# block_size: x2"), "'block_size: x2' must be"),
              (q.replace("# block_size: 32", "# block_size: 0"), "'block_size: 0' must be")]
    d = (ROOT / "dot" / "fp8_e4m3-fp8_e4m3.exact.txt").read_text()
    cases += [(d.replace("# k: 64\n", ""), "header has no '# k:' line"),
              (d.replace("# k: 64", "# k: 48"), "k: 48 is not a multiple of block_size: 32")]
    lines = text.splitlines()
    i = next(n for n, ln in enumerate(lines) if not ln.startswith("#"))
    lines[i] = lines[i].split("#")[0] + " 00  # an extra field"
    cases.append(("\n".join(lines) + "\n", f"vec.txt:{i + 1}: 4 fields, expected 3"))
    for content, msg in cases:
        if isinstance(content, str):
            vec.write_text(content)
        else:
            vec.write_bytes(content)
        assert main(["vectors", "verify", str(vec), str(res)]) == 2, msg
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err, (msg, err)


def test_the_manifest_holds_every_file():
    """MANIFEST.json lists every committed file with its SHA-256, row count, kind,
    format, columns and what checked it (regenerated with the set)."""
    import json
    from mxspec.app import vectors as V
    man = json.loads((ROOT / V.MANIFEST).read_text())
    rels = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.txt"))
    assert man == V.manifest_of(ROOT, rels)
    assert man["files"] == len(rels) == len(man["entries"])


def test_vectors_check_finds_truncated_edited_and_foreign_files(tmp_path, capsys):
    import shutil
    copy = tmp_path / "vectors"
    shutil.copytree(ROOT, copy)
    assert main(["vectors", "check", str(copy)]) == 0
    assert "files match MANIFEST.json" in capsys.readouterr().out
    f = copy / "encode" / "fp4_e2m1.float32.rne.saturate.txt"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[:-3]))                       # truncated
    g = copy / "decode" / "fp8_e4m3.txt"
    g.write_text(g.read_text().replace(" 43e00000", " 43e00001", 1))   # one bit edited
    (copy / "decode" / "stale.txt").write_text("# kind: decode\n# format: int4\n00 00000000\n")
    assert main(["vectors", "check", str(copy)]) == 1
    out = capsys.readouterr().out
    n = sum(1 for ln in lines if ln.strip() and not ln.startswith("#"))
    assert f"fp4_e2m1.float32.rne.saturate.txt: SHA-256 differs ({n - 3} rows, the manifest " \
           f"says {n})" in out
    assert "decode/fp8_e4m3.txt: SHA-256 differs (same row count, other bytes)" in out
    assert "decode/stale.txt: not in the manifest" in out
    (copy / "MANIFEST.json").unlink()
    assert main(["vectors", "check", str(copy)]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_integer_group_mismatch_names_integers_and_the_scale(tmp_path, capsys):
    """Integer-group files (SPEC.md 12): a wrong code is shown as its integer, a
    wrong zero point as its signed value, the scale as its float16 value."""
    q = ROOT / "quantize" / "int4_g32.txt"
    lines = data_lines(q)
    i = next(k for k, ln in enumerate(lines) if "worked example" in ln)
    f = lines[i].split("#")[0].split()
    assert f[32:34] == ["3266", "fd"] and f[36] == "00"  # scale fp16(0.2), zp -3; 0.5 -> 0
    f[36], f[33], f[32] = "0f", "fe", "3267"
    lines[i] = " ".join(f)
    res = tmp_path / "res.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(q), str(res)]) == 1
    out = capsys.readouterr().out
    assert "code[2]: expected 00 (0), got 0f (-1)" in out
    assert "zero_point: expected fd (-3), got fe (-2)" in out
    assert "scale: expected 3266 (0.199951171875), got 3267 (0.2000732421875)" in out


def _chip_results(path, rounding, flags=True):
    """A design's results for an encode file: mxspec's encoder under another rounding."""
    import numpy as np
    import mxspec
    from mxspec.app import vectors as V
    vf = V.load_vectors(path)
    h = vf.header
    dt, ut, _ = V.INPUT_TYPES[h["input"]]
    rows = []
    for _, r in vf.rows:
        x = np.array([int(r[0], 16)], ut).view(dt)
        c, fl = mxspec.encode_elements(x, h["format"], rounding=rounding, overflow=h["overflow"],
                                       return_flags=True)
        rows.append(" ".join([r[0], f"{int(c[0]):02x}"] + ([f"{int(fl[0]):02x}"] if flags else [])))
    return "\n".join(rows) + "\n"


def test_a_chip_that_rounds_ties_away(tmp_path, capsys):
    """SPEC.md's E4M3 under a design that rounds ties away from zero: a summary
    that counts the tie failures, 464 diagnosed as a flag difference at the
    overflow tie (not as saturation), and a results file without flags accepted."""
    enc = ROOT / "encode" / "fp8_e4m3.float32.rne.saturate.txt"
    res = tmp_path / "rna.txt"
    res.write_text(_chip_results(enc, "rna"))
    assert main(["vectors", "verify", str(enc), str(res)]) == 1
    out = capsys.readouterr().out
    summary = next(ln for ln in out.splitlines() if ln.startswith("by rule: "))
    assert "ties: " in summary
    ties = int(summary.split("ties: ")[1].split(" ")[0])
    failed = int(next(ln for ln in out.splitlines() if ln.endswith("failed")).split(", ")[1]
                 .split()[0])
    assert ties >= 0.9 * failed and ties > 50
    block = out.split("(464.0)")[1].split("MISMATCH")[0]
    assert "the code is right; only the flags differ (extra: overflow" in block
    assert "tie between the largest value 448 and the overflow threshold" in block
    nof = tmp_path / "noflags.txt"
    nof.write_text(_chip_results(enc, "rna", flags=False))
    assert main(["vectors", "verify", str(enc), str(nof)]) == 1
    out2 = capsys.readouterr().out
    assert "no flags column: comparing codes only" in out2
    assert "(464.0)" not in out2  # its code is right: without flags it passes
    ok = tmp_path / "ok.txt"
    ok.write_text(_chip_results(enc, "rne", flags=False))
    assert main(["vectors", "verify", str(enc), str(ok)]) == 0


def test_quantize_mismatch_shows_scaled_values_and_checks_packed(tmp_path, capsys):
    q = ROOT / "quantize" / "mxfp4_e2m1.floor.txt"
    lines = [ln.split("#")[0] for ln in data_lines(q)]
    f = lines[6].split()
    f[33] = "06"  # element 0: expected 0x7 (6.0)
    lines[6] = " ".join(f)
    g = lines[7].split()
    g[-1] = ("1" if g[-1][0] != "1" else "2") + g[-1][1:]  # the packed field alone
    lines[7] = " ".join(g)
    res = tmp_path / "res.txt"
    res.write_text("\n".join(lines) + "\n")
    assert main(["vectors", "verify", str(q), str(res)]) == 1
    out = capsys.readouterr().out
    scale = int(f[32], 16) - 127
    assert f"x scale: expected {6.0 * 2.0 ** scale:g}, got {4.0 * 2.0 ** scale:g}" in out
    assert "is not the packing of the row's codes" in out
    assert "packing: 1" in out and "2 failed" in out
