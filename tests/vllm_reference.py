"""vLLM's MXFP4 scale rule (vllm/model_executor/layers/quantization/utils/mxfp4_utils.py,
``qdq_mxfp4_torch``, its emulation of AMD Quark's MXFP4), written from its source for
bfloat16 input: the block max's bits plus 1 << (7 - 1 - 1), masked to sign and
exponent (amax rounded to a power of two, up from a significand of 1.75), then
127 + floor(log2) - 2 clamped to 0..254."""
import numpy as np


def vllm_scale_byte(amax_bf16_bits):
    b = np.asarray(amax_bf16_bits, np.int64)
    rounded = (b + (1 << 5)) & (((1 << 9) - 1) << 7)  # BFLOAT16_VAL_TO_ADD, SIGN_EXPONENT_MASK
    e = (rounded >> 7) - 127  # floor(log2) of a power of two (normal bfloat16)
    return np.clip(127 + e - 2, 0, 254)
