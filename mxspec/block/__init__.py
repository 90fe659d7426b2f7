"""The block layer: packing primitives, one engine per family (mx, scaled, micro), the
block-array record and the one dispatch every public block function goes through."""
