"""I/O: mxspec's checkpoints, published checkpoint layouts, torch tensors in and out."""
