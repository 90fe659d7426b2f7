"""Applications on the public API: the CLI, conformance vectors, show, QAT."""
