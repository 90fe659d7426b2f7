"""The MF-QAT pipeline end to end: train (full precision, single-format QAT,
multi-format QAT), quantize post-training, store an anchor checkpoint, convert
it with Slice-and-Scale, evaluate every format, and report.

>>> cfg = QATConfig(epochs=1, formats=("mxint8",), eval_formats=("mxint8", "mxint4"),
...                 anchors=("mxint8",), out=None, single_format=False, progress=False)
>>> sorted(run(cfg)["accuracy"])
['fp32', 'mfqat_anchor', 'mfqat_direct', 'ptq']
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

import mxspec

from .model import MLP, is_mx

TRAIN_FORMATS = ("mxint8", "mxint4", "mxfp8_e4m3", "mxfp4_e2m1")
EVAL_FORMATS = ("mxint8", "mxint6", "mxint5", "mxint4", "mxint3", "mxint2", "mxfp8_e4m3",
                "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4_e2m1", "nvfp4", "nvfp4:4over6", "if4", "hif4",
                "mx6", "mx4")
MF_MODES = ("sample", "sum")


@dataclass
class QATConfig:
    formats: tuple = TRAIN_FORMATS          # multi-format training set
    eval_formats: tuple = EVAL_FORMATS      # evaluated; those not in `formats` are held out
    anchors: tuple = ("mxint8", "mxfp8_e4m3")  # one anchor checkpoint per family
    mf_mode: str = "sample"                 # sample: one format per step; sum: sum of losses
    epochs: int = 40
    batch: int = 64
    lr: float = 3e-3
    hidden: int = 64
    block_size: int = 32
    quant_acts: bool = False
    single_format: bool = True              # also train single-format QAT for each format
    seed: int = 0
    out: str | None = "qat-out"
    progress: bool = True
    slice_rule: str = "requantize"
    extra: dict = field(default_factory=dict)

    def check(self):
        others = mxspec.block_formats("scaled") + mxspec.micro_formats()
        for f in tuple(self.formats) + tuple(self.eval_formats):
            try:  # an MX name, or any block format with a recipe (nvfp4:4over6)
                mxspec.block_format(f)
            except ValueError as err:
                raise type(err)(f"{err}; or a block format: {', '.join(others)}") from None
        for f in self.anchors:
            mxspec.mx_format(f)  # an anchor is an MX checkpoint: raises, listing the names
        if self.mf_mode not in MF_MODES:
            raise ValueError(f"mf_mode={self.mf_mode!r} is not valid; allowed values: "
                             f"{', '.join(MF_MODES)}")
        for name in ("epochs", "batch", "hidden", "block_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        fams = [mxspec.mx_format(a).element.kind for a in self.anchors]
        if len(set(fams)) != len(fams):
            raise ValueError(f"anchors={self.anchors}: give at most one anchor per family "
                             "(one int, one float)")


def load_digits_split(seed):
    """scikit-learn's bundled 8x8 digits (nothing is downloaded), 80/20 split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - the [qat] extra installs it
        raise SystemExit("mxspec qat needs scikit-learn: pip install 'mxspec[qat]'") from err
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))
    return x[idx[:cut]], y[idx[:cut]], x[idx[cut:]], y[idx[cut:]]


def train(cfg, data, formats, bar=None):
    """Train one MLP; ``formats`` is () for full precision, one format for
    single-format QAT, several for multi-format QAT.  Returns (model, losses)."""
    xtr, ytr = data[0], data[1]
    m = MLP([xtr.shape[1], cfg.hidden, 10], seed=cfg.seed, block_size=cfg.block_size,
            quant_acts=cfg.quant_acts)
    rng = np.random.default_rng(cfg.seed + 1)
    losses = []
    for _ in range(cfg.epochs):
        order = rng.permutation(len(ytr))
        total = 0.0
        for i in range(0, len(order), cfg.batch):
            xb, yb = xtr[order[i:i + cfg.batch]], ytr[order[i:i + cfg.batch]]
            if not formats:
                loss, gW, gb = m.loss_grad(xb, yb)
            elif cfg.mf_mode == "sample" or len(formats) == 1:
                loss, gW, gb = m.loss_grad(xb, yb, formats[rng.integers(len(formats))])
            else:  # sum of the losses of every format
                parts = [m.loss_grad(xb, yb, f) for f in formats]
                loss = sum(p[0] for p in parts)
                gW = [sum(p[1][k] for p in parts) for k in range(len(m.W))]
                gb = [sum(p[2][k] for p in parts) for k in range(len(m.b))]
            m.adam_step(gW, gb, cfg.lr)
            total += loss * len(yb)
        losses.append(total / len(ytr))
        if bar is not None:
            bar.update(1)
    return m, losses


def anchor_accuracies(cfg, model, data, path):
    """Store the anchor checkpoint(s), load them back, slice to every target of
    the same family, and evaluate.  Returns ({format: accuracy}, details)."""
    xte, yte = data[2], data[3]
    acc, details = {}, {}
    for anchor in cfg.anchors:
        fam = mxspec.mx_format(anchor).element.kind
        tensors = {f"w{i}": mxspec.encode(W, anchor, axis=0, block_size=cfg.block_size)
                   for i, W in enumerate(model.W)}
        tensors.update({f"b{i}": b for i, b in enumerate(model.b)})
        file = os.path.join(path, f"anchor-{anchor}.safetensors")
        mxspec.save(file, tensors, metadata={"anchor": anchor})
        loaded = mxspec.load(file)
        same = all(loaded[f"w{i}"].equals(tensors[f"w{i}"]) for i in range(len(model.W)))
        details[anchor] = {"file": file, "bytes": os.path.getsize(file), "round_trip": same}
        for fmt in cfg.eval_formats:
            if not is_mx(fmt):
                continue  # Slice-and-Scale reaches MX formats only
            el = mxspec.mx_format(fmt).element
            if el.kind != fam:
                continue
            if fmt == anchor:
                mx = [loaded[f"w{i}"] for i in range(len(model.W))]
            elif el.bits < mxspec.mx_format(anchor).element.bits:
                mx = [mxspec.slice_and_scale(loaded[f"w{i}"], fmt, rule=cfg.slice_rule)
                      for i in range(len(model.W))]
            else:
                continue
            ws = [mxspec.decode(w) for w in mx]
            acc[fmt] = model.accuracy(xte, yte, fmt if cfg.quant_acts else None, weights=ws)
    return acc, details


def run(cfg: QATConfig) -> dict:
    """Run every regime and return the report (also written to cfg.out)."""
    cfg.check()
    t0 = time.perf_counter()
    data = load_digits_split(cfg.seed)
    xte, yte = data[2], data[3]
    fmts = list(cfg.eval_formats)
    n_runs = 2 + (len(fmts) if cfg.single_format else 0)
    bar = tqdm(total=n_runs * cfg.epochs, desc="training", unit="epoch", disable=not cfg.progress)
    acc, losses = {}, {}
    fp, losses["fp32"] = train(cfg, data, (), bar)
    acc["fp32"] = {f: fp.accuracy(xte, yte) for f in fmts}
    acc["ptq"] = {f: fp.accuracy(xte, yte, f) for f in fmts}
    if cfg.single_format:
        acc["single_qat"] = {}
        for f in fmts:
            m, losses[f"single:{f}"] = train(cfg, data, (f,), bar)
            acc["single_qat"][f] = m.accuracy(xte, yte, f)
    mf, losses["mfqat"] = train(cfg, data, tuple(cfg.formats), bar)
    bar.close()
    acc["mfqat_direct"] = {f: mf.accuracy(xte, yte, f) for f in fmts}
    path = cfg.out or _tmpdir()
    os.makedirs(path, exist_ok=True)
    acc["mfqat_anchor"], anchors = anchor_accuracies(cfg, mf, data, path)
    report = {"config": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in asdict(cfg).items()},
              "held_out": [f for f in fmts if f not in cfg.formats],
              "accuracy": acc, "final_loss": {k: v[-1] for k, v in losses.items()},
              "losses": losses, "anchors": anchors, "mxspec": mxspec.__version__,
              "versions": versions(), "seconds": round(time.perf_counter() - t0, 1)}
    if cfg.out:
        report["plot"] = plot(report, os.path.join(path, "accuracy.png"))
        with open(os.path.join(path, "report.json"), "w") as fh:
            json.dump(report, fh, indent=1)
    return report


def versions() -> dict:
    """The releases a run used, so that two runs' figures can be told apart."""
    import platform
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version()}
    for name in ("numpy", "numba", "llvmlite", "ml_dtypes", "scikit-learn", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    try:  # numpy's matmul kernel differs by CPU, and with it the float32 training run
        from threadpoolctl import threadpool_info
        out["blas"] = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                       f"{i.get('num_threads')} threads" for i in threadpool_info()
                       if i.get("user_api") == "blas"]
    except ImportError:
        out["blas"] = None
    return out


def _tmpdir():
    import tempfile
    return tempfile.mkdtemp(prefix="mxspec-qat-")


REGIME_NAMES = {"fp32": "full precision", "ptq": "PTQ", "single_qat": "single-format QAT",
                "mfqat_direct": "MF-QAT, direct", "mfqat_anchor": "MF-QAT, anchor + slice"}


def table(report) -> str:
    """The accuracy table as markdown (held-out formats marked *)."""
    fmts = report["config"]["eval_formats"]
    held = set(report["held_out"])
    head = "| regime | " + " | ".join(f + ("*" if f in held else "") for f in fmts) + " |"
    rows = [head, "|---" * (len(fmts) + 1) + "|"]
    for key, name in REGIME_NAMES.items():
        a = report["accuracy"].get(key)
        if a is None:
            continue
        rows.append(f"| {name} | " + " | ".join(f"{100 * a[f]:.1f}" if f in a else "n/a"
                                                for f in fmts) + " |")
    return "\n".join(rows)


def plot(report, file):
    """Draw the accuracy per format into ``file``; returns ``file``, or None
    where matplotlib is not installed (it is in the ``qat`` extra)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fmts = report["config"]["eval_formats"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for key, name in REGIME_NAMES.items():
        a = report["accuracy"].get(key)
        if a is None:
            continue
        xs = [i for i, f in enumerate(fmts) if f in a]
        ax.plot(xs, [100 * a[fmts[i]] for i in xs], marker="o", label=name)
    held = set(report["held_out"])
    ax.set_xticks(range(len(fmts)), [f + ("*" if f in held else "") for f in fmts], rotation=30)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MLP on 8x8 digits: accuracy per format (* = held out of MF-QAT training)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)
    return file
