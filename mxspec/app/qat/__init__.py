"""A minimal multi-format QAT pipeline in numpy, built on mxspec's public API.

Train an MLP with fake MX quantization (straight-through estimator), store one
anchor checkpoint, convert it to lower formats with Slice-and-Scale, and report
test accuracy per format.  ``mxspec qat --help`` lists the options.
"""
from .model import MLP
from .pipeline import QATConfig, run

__all__ = ["MLP", "QATConfig", "run"]
