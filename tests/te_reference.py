"""NVIDIA Transformer Engine's MXFP8 scale byte, written from its source
(transformer_engine/common/utils.cuh, ``float_to_e8m0`` applied to
``amax * Quantized_Limits<OType>::max_norm_rcp``; its software path, which the
Blackwell path ``cvt.rp.satfinite.ue8m0x2.f32`` computes too): the float32
product's exponent rounded up, saturating at 254, NaN 0xFF, Inf 0xFE."""
import numpy as np


def te_byte(amax, max_norm):
    a = np.asarray(amax, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        v = (a * np.float32(1.0 / max_norm)).astype(np.float32)
    b = v.view(np.uint32)
    e = (b >> 23).astype(np.int64)
    m = b & 0x7FFFFF
    up = (m > 0) & (e != 0xFE) & ~((e == 0) & (m <= 0x400000))
    out = np.where(v == 0, 0, e + up)
    out = np.where(np.isinf(v), 0xFE, out)
    return np.where(np.isnan(v), 0xFF, out)
