"""An MLP in plain numpy with fake MX quantization of its weights (and, as an
option, of its activations), a straight-through estimator and Adam.

>>> import numpy as np
>>> m = MLP([4, 8, 3], seed=0)
>>> m.forward(np.ones((2, 4), np.float32), fmt="mxint4").shape
(2, 3)
"""
from __future__ import annotations

import numpy as np

import mxspec


def fake_quant(a: np.ndarray, fmt: str | None, axis: int, block_size: int = 32) -> np.ndarray:
    """quantize-then-dequantize in ``fmt`` (None: unchanged): an MX format in
    blocks of ``block_size``, or a block format with its own block or unit
    (nvfp4, hif4, mx4, ...).  Its gradient is taken as the identity
    (straight-through estimator)."""
    if fmt is None:
        return a
    bs = block_size if is_mx(fmt) else None
    return mxspec.decode(mxspec.encode(a, fmt, axis=axis, block_size=bs))


def is_mx(fmt: str) -> bool:
    """Whether ``fmt`` names an MX format (any block size; Slice-and-Scale's
    domain), not a block format with its own block (nvfp4, hif4, mx4, ...)."""
    try:  # any spelling of any row: nvfp4:4over6 and if4 are block formats too
        return mxspec.block_format(fmt).engine == "mx"
    except ValueError:
        return False


class MLP:
    """Dense layers with ReLU between them; weights W[i] of shape (in, out) are
    quantized in blocks along ``in``, the axis a matrix multiply reduces over."""

    def __init__(self, sizes, seed=0, block_size=32, quant_acts=False):
        rng = np.random.default_rng(seed)
        self.W = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
                  for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.block_size = block_size
        self.quant_acts = quant_acts
        self._adam = None

    def weights(self, fmt=None):
        return [fake_quant(W, fmt, 0, self.block_size) for W in self.W]

    def forward(self, x, fmt=None, weights=None, cache=False):
        """Logits for inputs x; ``weights`` overrides the (fake-quantized) weights."""
        Ws = self.weights(fmt) if weights is None else weights
        hs = []
        h = x
        for i, (W, b) in enumerate(zip(Ws, self.b)):
            hin = fake_quant(h, fmt if self.quant_acts else None, 1, self.block_size)
            hs.append(hin)
            h = hin @ W + b
            if i < len(Ws) - 1:
                h = np.maximum(h, 0)
        return (h, (hs, Ws)) if cache else h

    def loss_grad(self, x, y, fmt=None):
        """Cross-entropy loss and gradients w.r.t. the float weights and biases
        (through fake quantization by the straight-through estimator)."""
        logits, (hs, Ws) = self.forward(x, fmt, cache=True)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
        g = p
        g[np.arange(n), y] -= 1
        g /= n
        gW, gb = [None] * len(Ws), [None] * len(Ws)
        for i in range(len(Ws) - 1, -1, -1):
            gW[i] = hs[i].T @ g        # STE: d/dW of quantized W taken as d/dW
            gb[i] = g.sum(axis=0)
            if i:
                g = (g @ Ws[i].T) * (hs[i] > 0)  # ReLU; STE through activation quantization
        return loss, gW, gb

    def adam_step(self, gW, gb, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        params = self.W + self.b
        grads = gW + gb
        if self._adam is None:
            self._adam = [[np.zeros_like(p), np.zeros_like(p)] for p in params] + [0]
        t = self._adam[-1] = self._adam[-1] + 1
        for (m, v), p, g in zip(self._adam[:-1], params, grads):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)).astype(p.dtype)

    def accuracy(self, x, y, fmt=None, weights=None):
        return float((self.forward(x, fmt, weights).argmax(axis=1) == y).mean())
