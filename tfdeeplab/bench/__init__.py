"""Benchmarks: `python -m tfdeeplab.bench NAME`. Each prints a table with ratios
against a peer measured in the same run and, with `--json FILE`, the same figures."""
