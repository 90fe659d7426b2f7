"""Kernel helpers: the Numba decorator and intrinsics, the thread split, the compiled-code
cache and the bit-stream primitives.  Imports nothing else of mxspec."""
