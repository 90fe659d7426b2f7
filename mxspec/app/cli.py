"""The ``mxspec`` command.

  mxspec qat [options]      multi-format QAT: train, store an anchor, slice, report
  mxspec vectors gen|verify conformance vectors for hardware teams
  mxspec demo [VALUES...]   encode and decode values in every element format
  mxspec formats [--all]    list the element and MX formats with their facts
  mxspec show [VALUE] FORMAT a format's codes, or a value's code and neighbours
  mxspec warmup [FORMAT...] compile the kernels into the on-disk cache
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .. import (__version__, block_formats, decode_elements, element_format, encode_elements,
               formats, micro_format, micro_formats, mx_formats, p3109_formats, policies)
from ..tables.block import INT_RECIPES, MX_RECIPES, RECIPES, block_format, family_of
from ..tables.policies import flag_names
from ..tables.tapered import is_tapered_name, tapered_format, tapered_formats

DEMO_VALUES = [0.0, -0.0, 0.3, 1.0, 2.5, -3.3, 7.9, 464.0, 1e9, float("inf"), float("nan")]


def _demo(args) -> int:
    values = np.array(args.values or DEMO_VALUES, np.float64)
    print(f"mxspec {__version__}: rne, overflow={args.overflow}; code / decoded value / flags")
    for name in formats():
        f = element_format(name)
        codes, flags = encode_elements(values, f, overflow=args.overflow, return_flags=True)
        back = decode_elements(codes, f, np.float64)
        print(f"\n{name} ({f.bits} bits, max {f.max_normal:g}, min subnormal {f.min_subnormal:g})")
        for x, c, v, fl in zip(values, codes, back, flags):
            names = ",".join(flag_names(fl)) or "exact"
            print(f"  {x:>12g} -> 0x{int(c):02X} -> {v:<12g} {names}")
    return 0


def _formats(args) -> int:
    from .show import format_rows
    rows = format_rows(all_p3109=args.all)
    print(f"{'name':16s} {'bits':>4s} {'bias':>4s} {'emax':>4s} {'max':>12s} {'min normal':>12s} "
          f"{'min subnorm':>12s} {'specials':10s} ml_dtypes")
    for r in rows:
        print(f"{r['name']:16s} {r['bits']:4d} {r['bias']:4d} {r['emax']:4d} {r['max_normal']:12g} "
              f"{r['min_normal']:12g} {r['min_subnormal']:12g} {r['specials']:10s} "
              f"{r['ml_dtype'] or '-'}")
    if not args.all:
        print(f"\nP3109: {len(p3109_formats())} formats p3109_k{{K}}p{{P}}{{s|u}}{{e|f}}, "
              "K = 3..8 (list them with --all)")
    print("MX formats:", ", ".join(mx_formats()), "(and 'mx' + any element format; "
          "mxfp4 is mxfp4_e2m1); recipes:", "; ".join(
              f"{r.name} ({', '.join('mx' + e for e in r.elements)}, as in mxfp4_e2m1:{r.name})"
              for r in MX_RECIPES.values()))
    print("Tapered element formats:", ", ".join(
        f"{n} ({tapered_format(n).description.split(':')[0]})" for n in tapered_formats()))
    print("NVFP4 family:", ", ".join(block_formats("scaled")), "and bf(element,scale,block_size[,tensor]);"
          " recipes:", "; ".join(
              f"{r.name} (" + (", ".join(f"{e} with {c} scales" for e, c in r.takes)
                               if r.takes else "any") + ")" for r in RECIPES.values()),
          "(as in nvfp4:modelopt; deepseek_fp8 is bf(fp8_e4m3,float32,128):deepseek)")
    print("Micro-exponent formats:", ", ".join(micro_formats()), "(" + "; ".join(
        micro_format(n).description.split(":")[0] for n in micro_formats()) + ")")
    print("Integer groups:", ", ".join(block_formats("affine")), "(int<b>_g<group>: a float16 "
          "scale and a zero point per group; _sym: none; _bf16/_fp32: the scale dtype; or "
          "bf(int4,bfloat16,128,zero_point)); recipes:", ", ".join(INT_RECIPES),
          "(as in int4_g128:compressed_tensors); packed as compressed-tensors, gptq or awq words")
    return 0


def _show(args) -> int:
    from .show import (describe_block_format, describe_format, describe_value, plot_block,
                       plot_format)
    try:
        name = args.args[-1]
        if family_of(name) == "micro":
            if len(args.args) != 1 or args.scale is not None or args.plot:
                print("mxspec show: a micro-exponent format is shown alone (no VALUE, "
                      "--scale or --plot)", file=sys.stderr)
                return 2
            from .show import describe_micro
            print(describe_micro(name))
            return 0
        if family_of(name) is not None or name.strip().lower().startswith("mx"):
            if len(args.args) != 1:
                print("mxspec show: VALUE is for element formats; give a block format alone "
                      "(with --scale)", file=sys.stderr)
                return 2
            print(describe_block_format(name, args.scale))
            if args.plot:
                print(f"wrote {plot_block(name, args.plot, args.scale)}")
            return 0
        if args.scale is not None:
            print("mxspec show: --scale is for block formats (mx..., nvfp4)", file=sys.stderr)
            return 2
        if is_tapered_name(name):
            from .show import describe_tapered
            x = None
            if len(args.args) == 2:
                try:
                    x = float(args.args[0])
                except ValueError:
                    print(f"mxspec show: VALUE must be a number, got {args.args[0]!r}",
                          file=sys.stderr)
                    return 2
            print(describe_tapered(name, x, args.rounding or "rna", args.overflow or "ieee"))
            return 0
        if len(args.args) == 1:
            fmt = element_format(args.args[0])
            print(describe_format(fmt))
        elif len(args.args) == 2:
            try:
                x = float(args.args[0])
            except ValueError:
                print(f"mxspec show: VALUE must be a number, got {args.args[0]!r}", file=sys.stderr)
                return 2
            fmt = element_format(args.args[1])
            print(describe_value(x, fmt, args.rounding or "rne", args.overflow or "saturate"))
        else:
            print("mxspec show: give FORMAT, or VALUE FORMAT", file=sys.stderr)
            return 2
        if args.plot:
            print(f"wrote {plot_format(fmt, args.plot)}")
    except (ValueError, RuntimeError) as err:
        print(f"mxspec show: {err}", file=sys.stderr)
        return 2
    return 0


def _warmup(args) -> int:
    from .. import FormatError, cache_dir, warmup
    try:
        done = warmup(args.formats or None, large=not args.small_only,
                      progress=not args.quiet)
    except FormatError as err:
        print(f"mxspec warmup: {err}", file=sys.stderr)
        return 2
    for what, seconds in done:
        print(f"{what:16s} {seconds:6.2f} s")
    where = cache_dir()
    print(f"cache: {where if where else 'none writable: kernels are compiled in each process'}")
    return 0


def _qat(args) -> int:
    from .qat.pipeline import QATConfig, run, table
    split = lambda s: tuple(x.strip() for x in s.split(",") if x.strip())  # noqa: E731
    cfg = QATConfig(formats=split(args.formats), eval_formats=split(args.eval_formats),
                    anchors=split(args.anchors), mf_mode=args.mf_mode, epochs=args.epochs,
                    seed=args.seed, out=args.out, quant_acts=args.quant_acts,
                    single_format=not args.no_single, hidden=args.hidden, lr=args.lr)
    try:
        report = run(cfg)
    except ValueError as err:
        print(f"mxspec qat: {err}", file=sys.stderr)
        return 2
    print("\ntest accuracy (%), 8x8 digits, * = held out of multi-format training\n")
    print(table(report))
    for a, d in report["anchors"].items():
        print(f"\nanchor {a}: {d['file']} ({d['bytes']} bytes), checkpoint round trip "
              f"{'identical' if d['round_trip'] else 'DIFFERS'}")
    drawn = report.get("plot") or "not drawn (pip install matplotlib, or '.[qat]')"
    print(f"\nreport: {args.out}/report.json, plot: {drawn} ({report['seconds']} s)")
    return 0


def _vectors_gen(args) -> int:
    from . import vectors as V
    if args.format is None:
        files = V.write_standard_set(args.out, progress=not args.quiet)
        print(f"wrote {len(files)} vector files under {args.out}")
        return 0
    try:
        fam = family_of(args.format)
        special = is_tapered_name(args.format) or fam in ("scaled", "micro")
        if args.kind == "units" and fam != "micro":
            raise ValueError(f"--kind units is for the micro-exponent formats (mx4, mx6, mx9, "
                             f"hif4), not {args.format}")
        if args.nan is not None and not is_tapered_name(args.format):
            raise ValueError("--nan is for tapered formats (hifloat8); element formats take "
                             "the spec's keep_sign")
        if is_tapered_name(args.format):
            if args.kind not in ("encode", "decode") or args.input != "float32":
                raise ValueError(f"{args.format}: --kind encode (float32 input) or decode")
            vf = V.tapered_vectors(args.format, args.kind, args.rounding or "rna",
                                   args.overflow or "ieee", args.nan or "keep")
        elif fam == "micro":
            if args.kind != "units":
                raise ValueError(f"{args.format}: --kind units (a unit's inputs and its bytes)")
            vf = V.micro_vectors(args.format, args.seed)
        elif fam == "scaled":
            f = block_format(args.format)
            if args.kind not in ("quantize", "dequantize") or f.element.name != "fp4_e2m1" \
                    or f.scale is None or f.block_size != 16:
                raise ValueError(f"{args.format}: --kind quantize or dequantize, for the NVFP4 "
                                 f"rows (fp4_e2m1 under ue4m3 scales of 16)")
            vf = V.nvfp4_vectors(args.format, args.kind, args.seed)
        if not special:
            vf = _standard_vectors(V, args)
        if args.count is not None:
            vf.rows, vf.notes = vf.rows[:args.count], vf.notes[:args.count]
    except ValueError as err:
        print(f"mxspec vectors gen: {err}", file=sys.stderr)
        return 2
    text = V.render(vf, "generated by mxspec only (custom file; not cross-checked)")
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


def _standard_vectors(V, args):
    """A custom file of the element, MX, slice and dot kinds."""
    if args.kind == "encode":
        return V.encode_vectors(args.format, args.input, args.rounding or "rne",
                                args.overflow or "saturate")
    if args.kind == "decode":
        return V.decode_vectors(args.format)
    if args.kind == "dot":
        if not args.format_b:
            raise ValueError("--kind dot needs --format-b (the second element format)")
        vf = V.dot_vectors(args.format, args.format_b, args.accumulator, args.k,
                           args.block_size, args.seed)
    elif args.kind in ("quantize", "dequantize"):
        vf = V.block_vectors(args.format, args.kind, args.block_size, args.scale_rule,
                             args.rounding or "rne", args.overflow or "saturate", args.seed)
    else:
        if not args.anchor:
            raise ValueError("--kind slice needs --anchor (for example mxint8)")
        vf = V.slice_vectors(args.anchor, args.format, args.block_size,
                             rounding=args.rounding or "rne", seed=args.seed)
    return vf


def _vectors_check(args) -> int:
    from . import vectors as V
    try:
        bad = V.check_set(args.root)
    except V.VectorFileError as err:
        print(f"mxspec vectors check: {err}", file=sys.stderr)
        return 2
    return 1 if bad else 0


def _vectors_verify(args) -> int:
    from . import vectors as V
    from .verify_files import verify_files
    try:
        bad = verify_files(args.vectors, args.results, workers=args.workers,
                           scheduler=args.scheduler, rows_per_shard=args.shard_rows,
                           show=args.show, progress=not args.quiet)
    except (V.VectorFileError, OSError, ImportError, ValueError) as err:
        print(f"mxspec vectors verify: {err}", file=sys.stderr)
        return 2
    return 1 if bad else 0


def _sweep(args) -> int:
    from .sweep import sweep
    try:
        bad = sweep(args.format, args.against, args.rounding, args.overflow, args.start,
                    args.stop, args.shards, args.state, args.workers, args.scheduler,
                    progress=not args.quiet)
    except (ValueError, ImportError, OSError) as err:
        print(f"mxspec sweep: {err}", file=sys.stderr)
        return 2
    return 1 if bad else 0


def _bits32(text):
    try:
        v = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hex bit pattern") from None
    if not 0 <= v <= 1 << 32:
        raise argparse.ArgumentTypeError(f"{text!r} is past 2^32")
    return v


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return v


def _shard_options(p, what):
    """--workers, --scheduler and --quiet, for the commands that run in shards."""
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="processes (default: every core; with --scheduler, the local "
                        "cluster's workers)")
    p.add_argument("--scheduler", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help=f"shard the {what} over Dask distributed: a scheduler's address, or "
                        "none for a local cluster (needs mxspec[dask]; every worker must "
                        "see the files at the same paths)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _identify(args) -> int:
    import numpy as np
    import mxspec
    from . import vectors as V
    try:
        if args.vectors:
            vf = V.load_vectors(args.vectors)
            h = vf.header
            if h.get("kind") != "dot":
                raise ValueError(f"{args.vectors}: a dot vector file is needed (kind: dot), "
                                 f"got kind {h.get('kind')!r}")
            fa, fb, K = h["format_a"], h["format_b"], int(h["k"])
            nb = -(-K // int(h.get("block_size", "32")))
            rows = [f for _, f in vf.rows]
            unit = [r for r in rows if all(int(v, 16) == 127 for v in r[:nb] + r[nb + K:2 * nb + K])]
            if not unit:
                raise ValueError(f"{args.vectors}: no row has unit block scales (127); identify "
                                 f"takes the element codes of a tensor-core atom")
            a = np.array([[int(v, 16) for v in r[nb:nb + K]] for r in unit], np.uint8)
            b = np.array([[int(v, 16) for v in r[2 * nb + K:2 * nb + 2 * K]] for r in unit], np.uint8)
            c = np.array([int(r[-2], 16) for r in unit], np.uint32)
            d = np.array([int(r[-1], 16) for r in unit], np.uint32)
            if len(unit) < len(rows):
                print(f"{len(rows) - len(unit)} of {len(rows)} rows have block scales other "
                      f"than 1 and are left out")
        else:
            missing = [n for n in ("a", "b", "format_a", "format_b", "result")
                       if getattr(args, n) is None]
            if missing:
                raise ValueError("give a dot vector file, or --a, --b, --format-a, --format-b "
                                 "and --result (missing: " + ", ".join(
                                     "--" + m.replace("_", "-") for m in missing) + ")")
            a, b, d = np.load(args.a), np.load(args.b), np.load(args.result)
            c = np.load(args.c) if args.c else None
            fa, fb = args.format_a, args.format_b
        r = mxspec.identify(a, b, fa, fb, d, c=c, progress=not args.quiet)
    except (ValueError, TypeError, OSError, V.VectorFileError) as err:
        print(f"mxspec identify: {err}", file=sys.stderr)
        return 2
    print(r.report(args.top))
    return 0 if r.best.fraction == 1.0 else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mxspec", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"mxspec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="encode and decode values in every element format")
    d.add_argument("values", nargs="*", type=float, help="values to encode (default: a set of edge cases)")
    d.add_argument("--overflow", choices=["saturate", "ieee", "sat_propagate"], default="saturate")
    d.set_defaults(func=_demo)
    from .qat.pipeline import EVAL_FORMATS, TRAIN_FORMATS
    q = sub.add_parser("qat", help="multi-format QAT pipeline on 8x8 digits (needs mxspec[qat])")
    q.add_argument("--formats", default=",".join(TRAIN_FORMATS), help="MF-QAT training formats")
    q.add_argument("--eval-formats", default=",".join(EVAL_FORMATS), help="formats evaluated")
    q.add_argument("--anchors", default="mxint8,mxfp8_e4m3", help="anchor per family")
    q.add_argument("--mf-mode", default="sample", choices=["sample", "sum"],
                   help="one format drawn per step, or the sum of every format's loss")
    q.add_argument("--epochs", type=int, default=40)
    q.add_argument("--hidden", type=int, default=64)
    q.add_argument("--lr", type=float, default=3e-3)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--quant-acts", action="store_true", help="fake-quantize activations too")
    q.add_argument("--no-single", action="store_true", help="skip single-format QAT runs")
    q.add_argument("--out", default="qat-out", help="output folder (report.json, plot, anchors)")
    q.set_defaults(func=_qat)
    v = sub.add_parser("vectors", help="conformance vectors: gen, verify")
    vsub = v.add_subparsers(dest="action", required=True)
    g = vsub.add_parser("gen", help="write the standard set, or one custom file with --format")
    g.add_argument("--out", default="conformance/vectors",
                   help="folder for the standard set, or the file (- for stdout) for a custom one")
    g.add_argument("--format", help="element format (encode, decode; hifloat8 too), MX or "
                   "NVFP4 format (quantize, dequantize, slice), micro-exponent format (units)")
    g.add_argument("--kind", default="encode", choices=["encode", "decode", "quantize",
                                                        "dequantize", "slice", "dot", "units"])
    g.add_argument("--format-b", help="second element format, for --kind dot (--format is A's)")
    g.add_argument("--accumulator", default="exact", help="accumulator model, for --kind dot")
    g.add_argument("--k", type=int, default=64, help="K of each dot, for --kind dot")
    g.add_argument("--anchor", help="anchor MX format, for --kind slice")
    g.add_argument("--input", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    g.add_argument("--rounding", default=None, choices=["rne", "rtz", "rna", "up", "down"],
                   help="default rne (hifloat8: rna)")
    g.add_argument("--overflow", default=None, choices=list(policies.OVERFLOW),
                   help="default saturate (hifloat8: ieee)")
    g.add_argument("--nan", default=None, choices=["keep", "zero"],
                   help="hifloat8 only: keep NaN (default) or make it zero")
    # gguf is the gguf recipe's rule: --format mxfp4_e2m1:gguf
    g.add_argument("--scale-rule", default="floor",
                   choices=[r for r in policies.SCALE_RULE if r != "gguf"])
    g.add_argument("--block-size", type=int, default=32)
    g.add_argument("--count", type=int, help="keep the first COUNT vectors")
    g.add_argument("--seed", type=int, default=0, help="seed of the random blocks")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=_vectors_gen)
    vc = vsub.add_parser("check", help="check a copy of the vector set against its MANIFEST.json "
                         "(every file, its SHA-256 and row count)")
    vc.add_argument("root", nargs="?", default="conformance/vectors")
    vc.set_defaults(func=_vectors_check)
    ve = vsub.add_parser("verify", help="check a design's results against a vector file")
    ve.add_argument("vectors")
    ve.add_argument("results", help="the design's outputs, one line per vector, same columns")
    _shard_options(ve, "rows")
    ve.add_argument("--shard-rows", type=_positive_int, default=1 << 20, metavar="N",
                    help="vectors per shard (default 1048576)")
    ve.add_argument("--show", type=_positive_int, default=1000, metavar="N",
                    help="print the first N mismatches in full (default 1000); the counts "
                         "and the summary by rule cover all")
    ve.set_defaults(func=_vectors_verify)
    fm = sub.add_parser("formats", help="list the formats and their derived facts")
    fm.add_argument("--all", action="store_true", help="also list the 120 P3109 formats")
    fm.set_defaults(func=_formats)
    sh = sub.add_parser("show", help="a format's facts and codes, or a value's code, bit "
                        "fields and neighbours")
    sh.add_argument("args", nargs="+", metavar="[VALUE] FORMAT")
    sh.add_argument("--rounding", default=None,
                    choices=[r for r in policies.ROUNDING if r != "stochastic"],
                    help="default rne (hifloat8: rna)")
    sh.add_argument("--overflow", default=None, choices=list(policies.OVERFLOW),
                    help="default saturate (hifloat8: ieee)")
    sh.add_argument("--plot", metavar="PNG", help="also draw the format's values (matplotlib)")
    sh.add_argument("--scale", type=float, default=None,
                    help="block formats: the block scale to show a block's values at (MX: an "
                         "E8M0 code, default 127; NVFP4: an E4M3 value, default 1)")
    sh.set_defaults(func=_show)
    w = sub.add_parser("warmup", help="compile the kernels into the on-disk cache "
                       "(for container images and CI)")
    w.add_argument("formats", nargs="*", help="MX formats (default: every standard one)")
    w.add_argument("--small-only", action="store_true",
                   help="only the generic kernels that arrays under 2^20 elements use")
    w.add_argument("--quiet", action="store_true")
    w.set_defaults(func=_warmup)
    idf = sub.add_parser("identify", help="which accumulator reproduces a chip's dot products "
                         "(a dot vector file, or .npy operands and results)")
    idf.add_argument("vectors", nargs="?", help="a dot vector file (kind: dot) with the chip's "
                     "results in its result column")
    idf.add_argument("--a", help=".npy of A's codes: (M, K), or rows of K codes")
    idf.add_argument("--b", help=".npy of B's codes: (K, N), or rows of K codes")
    idf.add_argument("--format-a", help="A's element format (e.g. fp8_e4m3)")
    idf.add_argument("--format-b", help="B's element format")
    idf.add_argument("--result", help=".npy of the results: float32 or their uint32 bits")
    idf.add_argument("--c", help=".npy of the addend C (float32 or bits), if any")
    idf.add_argument("--top", type=int, default=10, help="rows to show (default 10)")
    idf.add_argument("--quiet", action="store_true", help="no progress bar")
    idf.set_defaults(func=_identify)
    sw = sub.add_parser("sweep", help="every float32 input (or a range) of an element encode "
                        "against an independent implementation, in resumable shards")
    sw.add_argument("format", help="element format (e.g. fp8_e4m3, p3109_k8p4se, hifloat8)")
    sw.add_argument("--against", default="ml_dtypes",
                    choices=["ml_dtypes", "en_dtypes", "gfloat", "spec"],
                    help="the reference (default ml_dtypes)")
    sw.add_argument("--rounding", default=None, help="default rne (en_dtypes: rna)")
    sw.add_argument("--overflow", default=None, help="default saturate (en_dtypes: ieee)")
    sw.add_argument("--start", type=_bits32, default=0, metavar="HEX",
                    help="first float32 bit pattern (default 00000000)")
    sw.add_argument("--stop", type=_bits32, default=1 << 32, metavar="HEX",
                    help="one past the last (default 100000000: all 2^32)")
    sw.add_argument("--shards", type=_positive_int, default=256, metavar="N",
                    help="shards (default 256: 2^24 inputs each over all 2^32)")
    sw.add_argument("--state", metavar="DIR", help="keep each shard's result here; a rerun "
                    "reads finished shards back and runs only the rest")
    _shard_options(sw, "inputs")
    sw.set_defaults(func=_sweep)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
