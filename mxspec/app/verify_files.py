"""Verify a design's results against a vector file of any size, in constant
memory, on every core or a Dask cluster, with the same report every way.

Both files are scanned once for where their rows start (numpy over 64 MiB
blocks); the rows are then cut into shards of ``rows_per_shard`` vectors, each
shard read from its byte offsets in both files and checked by
:func:`mxspec.app.vectors.check_rows`, and the shards' reports merged in order.
A row whose fields equal the vector file's (the usual case) is passed without
being decoded; any other row takes the full diagnosis.

>>> import os, tempfile
>>> from mxspec.app import vectors as V
>>> d = tempfile.mkdtemp(); vec = os.path.join(d, "v.txt"); res = os.path.join(d, "r.txt")
>>> _ = open(vec, "w").write(V.render(V.decode_vectors("fp4_e2m1")))
>>> rows = [ln.split("#")[0] for ln in open(vec) if not ln.startswith("#")]
>>> _ = open(res, "w").write("".join(r + "\\n" for r in rows))
>>> verify_files(vec, res, workers=1, progress=False)
16 passed, 0 failed
0
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from . import vectors as V
from .shards import run_shards

ROWS_PER_SHARD = 1 << 20
_BLOCK = 1 << 26
_HEX_BODY = re.compile(rb"[0-9a-fA-F \t\r\n]*")
_LAYOUT = re.compile(r"# mxspec conformance vectors, layout (\d+)")
_NOT_ROW = np.zeros(256, bool)
_NOT_ROW[[ord(c) for c in "#\n\r"]] = True
_SPACE = np.zeros(256, bool)
_SPACE[[ord(c) for c in " \t"]] = True


@dataclass(frozen=True)
class Scan:
    """Where a file's rows are: the byte offset and line number of rows 0,
    every, 2 every, ...; the row count; the last row's line; the text before the
    first row (the header); the first row's bytes."""
    starts: list
    rows: int
    last_line: int
    head: str
    first: bytes | None
    width: int = 0  # every row this many bytes, newline included (0: not known)


class _NotFixed(Exception):
    """A shard of a file taken as fixed-width found otherwise: scan it instead."""


def _is_row(line: bytes) -> bool:
    s = line.lstrip()
    return bool(s) and s[:1] != b"#"


def _head(path):
    """(header text, offset and line of the first row, the first row) of ``path``,
    read from its first block; None where the header runs past it."""
    with open(path, "rb") as f:
        block = f.read(_BLOCK)
    at, line = 0, 1
    while at < len(block):
        end = block.find(b"\n", at)
        if end < 0:
            return None
        if _is_row(block[at:end]):
            return block[:at], at, line, block[at:end]
        at, line = end + 1, line + 1
    return None


def fixed_scan(path, every: int = ROWS_PER_SHARD) -> Scan | None:
    """The scan of a file whose rows all have the first row's width and no
    comment or blank line among them, from its size alone; None where the size
    says otherwise.  (Each shard then checks that its bytes are such rows.)"""
    h = _head(path)
    if h is None:
        return None
    head, at, line, first = h
    w = len(first) + 1
    size = os.path.getsize(path)
    if (size - at) % w:
        return None
    with open(path, "rb") as f:
        f.seek(size - 1)
        if f.read(1) != b"\n":
            return None
    rows = (size - at) // w
    starts = [(at + i * w, line + i) for i in range(0, rows, every)]
    return Scan(starts, rows, line + rows - 1, _utf8(head, path), first, w)


def _utf8(head, path):
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as err:
        line = head.count(b"\n", 0, err.start) + 1
        raise V.VectorFileError(f"{os.fspath(path)}:{line}: byte 0x{head[err.start]:02x} is not "
                                "UTF-8 text") from None


def scan(path, every: int = ROWS_PER_SHARD) -> Scan:
    """Scan ``path`` for its rows (a row: a line with something before any ``#``)."""
    starts, rows, line_no, last_line, first, head_end = [], 0, 0, 0, None, None
    with open(path, "rb") as f:
        base, carry = 0, b""
        while True:
            chunk = f.read(_BLOCK)
            buf = carry + chunk
            if not buf:
                break
            cut = buf.rfind(b"\n") + 1 if chunk else len(buf)
            if cut == 0:  # one line longer than a block
                carry = buf
                continue
            block, carry = buf[:cut], buf[cut:]
            a = np.frombuffer(block, np.uint8)
            ls = np.concatenate(([0], np.flatnonzero(a == 10) + 1))
            ls = ls[ls < len(block)]
            fb = a[ls]
            is_row = ~_NOT_ROW[fb]
            for j in np.flatnonzero(_SPACE[fb]):  # indented lines: look past the spaces
                end = block.find(b"\n", ls[j])
                is_row[j] = _is_row(block[ls[j]:end if end >= 0 else len(block)])
            idx = np.flatnonzero(is_row)
            if idx.size:
                if head_end is None:
                    head_end = base + int(ls[idx[0]])
                    end = block.find(b"\n", ls[idx[0]])
                    first = block[ls[idx[0]]:end if end >= 0 else len(block)]
                k = np.arange(rows, rows + idx.size)
                for j in idx[k % every == 0]:
                    starts.append((base + int(ls[j]), line_no + int(j) + 1))
                last_line = line_no + int(idx[-1]) + 1
                rows += idx.size
            line_no += ls.size
            base += len(block)
        if head_end is None:
            head_end = base
        f.seek(0)
        head = f.read(head_end)
    return Scan(starts, rows, last_line, _utf8(head, path), first)


_MESSY = np.zeros(256, bool)
_MESSY[[ord(c) for c in "#\r\t"]] = True


def _shard_rows(data: bytes, first_line: int, lead: bool):
    """A shard's rows, their bodies (without notes and blanks), each body's field
    count, and the rows' line numbers (None: consecutive from ``first_line``).
    Where the bytes are as mxspec writes them (fields apart by one space, no
    notes or comments), numpy does all of it; otherwise each line is looked at."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    a = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(a == 10)
    ends = nl[:len(lines)] if len(nl) >= len(lines) else np.append(nl, len(a))
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    first = a[np.minimum(starts, max(len(a) - 1, 0))] if len(a) else np.zeros(0, np.uint8)
    odd = (_NOT_ROW[first] | _SPACE[first] | (starts == ends)) if len(lines) else np.zeros(0, bool)
    simple = not (odd.any() or _MESSY[a].any() or (a[ends - 1] == 32).any()
                  or ((a[1:] == 32) & (a[:-1] == 32)).any()) if len(lines) else True
    if simple:
        width = int(ends[0] - starts[0]) + 1
        if len(a) == width * len(lines) and a[width - 1::width].size == len(lines) \
                and (a[width - 1::width] == 10).all():  # fixed width: one row's count
            grid = a.reshape(len(lines), width) == 32
            if (grid == grid[0]).all():
                return lines, lines, np.full(len(lines), int(grid[0].sum()) + 1), None
        sp = np.flatnonzero(a == 32)
        counts = np.searchsorted(sp, ends) - np.searchsorted(sp, starts) + 1
        return lines, lines, counts, None
    numbers = None
    if odd.any():
        keep = [i for i in range(len(lines)) if not odd[i] or _is_row(lines[i])]
        lines, numbers = [lines[i] for i in keep], [first_line + i for i in keep]
    bodies = [ln.split(b"#", 1)[0].strip() if lead else ln.split(b"#", 1)[0].rstrip()
              for ln in lines]
    return lines, bodies, np.array([len(b.split()) for b in bodies], np.int64), numbers


def _fields(raw, name, line):
    """A row's fields and note, as :func:`mxspec.app.vectors.parse` reads them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise V.VectorFileError(f"{name}:{line}: byte 0x{raw[err.start]:02x} is not UTF-8 "
                                "text") from None
    body, _, note = text.partition("#")
    return V.hex_fields(body, name, line), note.strip()


def _read(path, at, end):
    with open(path, "rb") as f:
        f.seek(at)
        return f.read(end - at)


_RUN = 1024  # rows compared as one list: equal runs pass at C speed


def verify_shard(rc: V.RowCheck, vpath, rpath, v_at, r_at, n, show) -> V.Report:
    """The report of ``n`` rows: ``v_at`` and ``r_at`` are (offset, line, end
    offset) of the shard in the vectors and in the results."""
    report = V.Report(show=show)
    ncols, nres = len(rc.cols), len(rc.use)
    vdata, rdata = _read(vpath, v_at[0], v_at[2]), _read(rpath, r_at[0], r_at[2])
    vrows, vbody, counts, vlines = _shard_rows(vdata, v_at[1], False)
    rrows, rbody, _, rlines = _shard_rows(rdata, r_at[1], True)
    # A range cut by arithmetic holds its n rows exactly when it is n whole lines,
    # all of them rows: then every shard starts at its row and line.
    for at, data, rows, lines in ((v_at, vdata, vrows, vlines), (r_at, rdata, rrows, rlines)):
        if at[3] and (lines is not None or len(rows) != n or not data.endswith(b"\n")):
            raise _NotFixed
    vrows, vbody, counts, rrows, rbody = vrows[:n], vbody[:n], counts[:n], rrows[:n], rbody[:n]
    if (counts != ncols).any():  # a vector row of the wrong width
        k = int(np.flatnonzero(counts != ncols)[0])
        line = vlines[k] if vlines else v_at[1] + k
        raise V.VectorFileError(f"{rc.vname}:{line}: {counts[k]} fields, expected {ncols} "
                                f"({rc.header.get('columns', V.COLUMNS[rc.kind])})")
    exp_res = vbody if nres == ncols else [b.rsplit(None, 1)[0] for b in vbody]
    slow = []
    for i in range(0, len(vrows), _RUN):
        j = min(len(vrows), i + _RUN)
        if exp_res[i:j] == rbody[i:j] and _HEX_BODY.fullmatch(b"\n".join(vbody[i:j])):
            report.passed += j - i
            continue
        for k in range(i, j):
            if exp_res[k] == rbody[k] and _HEX_BODY.fullmatch(vbody[k]):
                report.passed += 1
                continue
            vl = vlines[k] if vlines else v_at[1] + k
            rl = rlines[k] if rlines else r_at[1] + k
            exp, note = _fields(vrows[k], rc.vname, vl)
            got, _ = _fields(rrows[k], rc.rname, rl)
            slow.append(((vl, exp), (rl, got), note))
    if slow:
        vs, rs, notes = zip(*slow)
        V.check_rows(rc, vs, rs, notes, report)
    return report


def _header_check(vname, rname, vhead, rhead):
    m = _LAYOUT.match(vhead)
    if m and int(m.group(1)) != V.LAYOUT:
        raise V.VectorFileError(f"{vname}:1: layout {m.group(1)}; this mxspec reads layout "
                                f"{V.LAYOUT} (a vector set of another version)")
    vf = V.parse(vhead, vname)
    V.check_header(vf)
    rh = V.parse(rhead, rname, header_required=False).header
    for key in ("kind", "format", "format_a", "format_b", "block_size", "k", "mxspec"):
        if key in rh and key in vf.header and rh[key] != vf.header[key]:
            line = next(i for i, t in enumerate(rhead.splitlines(), 1) if key in t)
            raise V.VectorFileError(f"{rname}:{line}: header '{key}: {rh[key]}' where "
                                    f"{vname} has '{key}: {vf.header[key]}' (results of "
                                    "another file or version of the set)")
    return vf.header


def _with_ends(sc, path):
    """(offset, line, end offset, fixed width or 0) of each shard."""
    ends = [o for o, _ in sc.starts[1:]] + [os.path.getsize(path)]
    return [(o, ln, e, sc.width) for (o, ln), e in zip(sc.starts, ends)]


def verify_files(vectors, results, out=print, workers: int | None = None,
                 scheduler: str | None = None, rows_per_shard: int = ROWS_PER_SHARD,
                 show: int = V.SHOW, progress: bool = True) -> int:
    """Verify the results file against the vector file as
    :func:`mxspec.app.vectors.verify` does, streaming both; returns the number of
    mismatching vectors.  ``workers``: processes (None: every core, where the file
    has more than one shard); ``scheduler``: ``"local"`` or a Dask address to
    shard over Dask distributed instead (see :mod:`mxspec.app.shards`)."""
    if not isinstance(rows_per_shard, int) or rows_per_shard < 1:
        raise ValueError(f"rows_per_shard={rows_per_shard!r}; allowed: a positive integer")
    vname, rname = os.fspath(vectors), os.fspath(results)
    try:
        lines, bad = _verify(vname, rname, workers, scheduler, rows_per_shard, show, progress,
                             fixed_scan)
    except _NotFixed:  # a file only looked fixed-width: scan it line by line
        lines, bad = _verify(vname, rname, workers, scheduler, rows_per_shard, show, progress,
                             None)
    for line in lines:
        out(line)
    return bad


def _verify(vname, rname, workers, scheduler, rows_per_shard, show, progress, quick):
    """(the report's lines, the mismatch count)."""
    lines = []
    vs = (quick and quick(vname, rows_per_shard)) or scan(vname, rows_per_shard)
    rs = (quick and quick(rname, rows_per_shard)) or scan(rname, rows_per_shard)
    header = _header_check(vname, rname, vs.head, rs.head)
    if rs.rows != vs.rows:
        if vs.width or rs.width:  # a count from a size alone: make sure by scanning
            raise _NotFixed
        raise V.VectorFileError(f"{rname}:{rs.last_line or 1}: results have {rs.rows} vectors, "
                                f"the vector file {vname} has {vs.rows}")
    first = _fields(rs.first, rname, rs.starts[0][1])[0] if rs.first is not None else None
    rc = V.RowCheck(header, vname, rname, V.no_flags_column(header["kind"], header, first))
    if rc.no_flags:
        lines.append(f"{rname}: no flags column: comparing codes only (a design without "
                     "exception flags)")
    sizes = [min(rows_per_shard, vs.rows - i * rows_per_shard) for i in range(len(vs.starts))]
    vat, rat = _with_ends(vs, vname), _with_ends(rs, rname)
    args = [(rc, vname, rname, va, ra, n, show) for va, ra, n in zip(vat, rat, sizes)]
    if workers is None and scheduler is None and len(args) <= 1:
        workers = 1
    report = V.Report(show=show)
    for part in run_shards(verify_shard, args, workers=workers, scheduler=scheduler,
                           progress=progress and len(args) > 1, desc="mxspec vectors verify"):
        report.merge(part)
    report.emit(lines.append)
    return lines, report.failed
