"""The QAT pipeline: real properties on a small, fast configuration."""
import numpy as np
import pytest

import mxspec
from mxspec.app.cli import main
from mxspec.app.qat import MLP, QATConfig, run
from mxspec.app.qat.pipeline import load_digits_split, train

SMALL = dict(formats=("mxint8", "mxint4", "mxfp4_e2m1"),
             eval_formats=("mxint8", "mxint4", "mxint2", "mxfp8_e4m3", "mxfp4_e2m1"),
             epochs=6, hidden=32, single_format=False, progress=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run(QATConfig(out=str(tmp_path_factory.mktemp("qat")), **SMALL))


def test_loss_goes_down_and_accuracy_is_sane(report):
    for key in ("fp32", "mfqat"):
        losses = report["losses"][key]
        assert losses[-1] < 0.5 * losses[0], (key, losses)
    acc = report["accuracy"]
    assert acc["fp32"]["mxint8"] > 0.85
    for f in SMALL["eval_formats"]:
        assert 0.1 <= acc["mfqat_direct"][f] <= 1.0
    assert acc["mfqat_direct"]["mxint8"] > 0.85
    assert report["held_out"] == ["mxint2", "mxfp8_e4m3"]


def test_anchor_round_trips_and_slicing_from_disk_equals_in_memory(report, tmp_path):
    for anchor, d in report["anchors"].items():
        assert d["round_trip"]
        loaded = mxspec.load(d["file"])
        for target in SMALL["eval_formats"]:
            el = mxspec.mx_format(target).element
            if el.kind != mxspec.mx_format(anchor).element.kind or el.bits >= 8:
                continue
            from_disk = mxspec.slice_and_scale(loaded["w0"], target)
            mem = mxspec.slice_and_scale(mxspec.unpack(*loaded["w0"].pack(), anchor,
                                                       loaded["w0"].shape, 0), target)
            assert from_disk.equals(mem)
    # via the anchor, an 8-bit format is exactly the anchor's own accuracy
    acc = report["accuracy"]
    assert acc["mfqat_anchor"]["mxint8"] == acc["mfqat_direct"]["mxint8"]


def test_deterministic_for_a_seed(tmp_path):
    a = run(QATConfig(out=None, seed=3, **{**SMALL, "epochs": 2}))
    b = run(QATConfig(out=None, seed=3, **{**SMALL, "epochs": 2}))
    assert a["accuracy"] == b["accuracy"] and a["losses"] == b["losses"]


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(0)
    m = MLP([6, 5, 3], seed=1)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    m.W = [w.astype(np.float64) for w in m.W]
    m.b = [b.astype(np.float64) for b in m.b]
    _, gW, gb = m.loss_grad(x.astype(np.float64), y)
    eps = 1e-6
    for i in range(2):
        for idx in [(0, 0), (1, 2), (3, 1)]:
            old = m.W[i][idx]
            m.W[i][idx] = old + eps
            lp = m.loss_grad(x.astype(np.float64), y)[0]
            m.W[i][idx] = old - eps
            lm = m.loss_grad(x.astype(np.float64), y)[0]
            m.W[i][idx] = old
            assert abs((lp - lm) / (2 * eps) - gW[i][idx]) < 1e-5


def test_sum_mode_and_activation_quantization_train():
    cfg = QATConfig(out=None, **{**SMALL, "epochs": 3, "mf_mode": "sum"}, quant_acts=True)
    data = load_digits_split(0)
    m, losses = train(cfg, data, cfg.formats)
    assert losses[-1] < losses[0]
    assert m.accuracy(data[2], data[3], "mxint4") > 0.5


def test_bad_options(capsys):
    with pytest.raises(mxspec.FormatError, match="valid names.*or a block format: nvfp4, "
                                                 "nvfp4_block_only, if4, nvfp4_2d, if4_2d, "
                                                 "deepseek_fp8, "
                                                 "deepseek_fp8_ue8m0, deepseek_fp8_2d, "
                                                 "deepseek_fp8_2d_ue8m0, mx4, mx6, mx9, hif4"):
        QATConfig(formats=("mxint9",)).check()
    with pytest.raises(mxspec.FormatError, match="unknown MX format 'hif4'"):
        QATConfig(anchors=("hif4",)).check()
    with pytest.raises(ValueError, match="mf_mode='mean'.*sample, sum"):
        QATConfig(mf_mode="mean").check()
    with pytest.raises(ValueError, match="at most one anchor per family"):
        QATConfig(anchors=("mxint8", "mxint6")).check()
    assert main(["qat", "--epochs", "0", "--out", "unused"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err


def test_block_formats_in_qat():
    """HiF4, MX4/MX6, NVFP4 (Four Over Six too) and IF4 train and evaluate
    through the public API with their own blocks (units of 64, blocks of 16);
    the anchor regime covers the MX formats only, which Slice-and-Scale reaches."""
    from mxspec.app.qat.model import fake_quant, is_mx
    w = np.random.default_rng(0).standard_normal((128, 8)).astype(np.float32)
    for f in ("hif4", "mx4", "mx6", "nvfp4", "nvfp4:4over6", "if4"):  # the training recipes too
        assert not is_mx(f)
        assert np.array_equal(fake_quant(w, f, 0), mxspec.decode(mxspec.encode(w, f, axis=0)))
    assert is_mx("mxint6") and is_mx("mxfp4_e2m1") and not is_mx("nope")
    rep = run(QATConfig(epochs=1, formats=("mxint8", "hif4"), eval_formats=("mxint8", "hif4",
                                                                            "mx4"),
                        anchors=("mxint8",), out=None, single_format=False, progress=False))
    assert set(rep["accuracy"]["mfqat_direct"]) == {"mxint8", "hif4", "mx4"}
    assert set(rep["accuracy"]["mfqat_anchor"]) == {"mxint8"}
