"""The element codecs: the one rounding rule (core), array codecs for floats and ints
(elements), tapered floats, and the E8M0 scale rule (e8m0)."""
