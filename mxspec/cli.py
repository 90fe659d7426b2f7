"""The ``mxspec`` command.

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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mxspec", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"mxspec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="encode and decode values in every element format")
    d.add_argument("values", nargs="*", type=float, help="values to encode (default: a set of edge cases)")
    d.add_argument("--overflow", choices=["saturate", "ieee"], default="saturate")
    d.set_defaults(func=_demo)
    fm = sub.add_parser("formats", help="list the formats and their derived facts")
    fm.set_defaults(func=_formats)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
