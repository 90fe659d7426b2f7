"""The ``mxspec`` command.

  mxspec qat [options]      multi-format QAT: train, store an anchor, slice, report
  mxspec demo [VALUES...]   encode and decode values in every element format
  mxspec formats            list the element and MX formats with their facts
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import __version__
from .elements import decode_elements, encode_elements
from .formats import element_format, formats, mx_formats
from .policies import flag_names

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
    print(f"{'name':10s} {'bits':>4s} {'bias':>4s} {'emax':>4s} {'max':>12s} {'min normal':>12s} "
          f"{'min subnorm':>12s} specials")
    for name in formats():
        f = element_format(name)
        print(f"{name:10s} {f.bits:4d} {f.bias:4d} {f.emax:4d} {f.max_normal:12g} "
              f"{f.min_normal:12g} {f.min_subnormal:12g} {f.specials}")
    print("\nMX formats:", ", ".join(mx_formats()))
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
    print(f"\nreport: {args.out}/report.json, plot: {args.out}/accuracy.png "
          f"({report['seconds']} s)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mxspec", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"mxspec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="encode and decode values in every element format")
    d.add_argument("values", nargs="*", type=float, help="values to encode (default: a set of edge cases)")
    d.add_argument("--overflow", choices=["saturate", "ieee"], default="saturate")
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
    fm = sub.add_parser("formats", help="list the formats and their derived facts")
    fm.set_defaults(func=_formats)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
