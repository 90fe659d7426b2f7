"""Compute on encoded data: Slice-and-Scale, the dot engine, dot / matmul / dot_elements,
and warmup."""
