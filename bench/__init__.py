"""Benchmarks of StarPunk's monitoring against doing nothing and against its peers.

Every benchmark measures a ratio inside one run: each variant runs in its own
process, variants are interleaved round by round (A B C, B C A, ...), and the
reported figure is the median over rounds. ``python -m bench.run_all`` (or
``make bench``) runs them all; ``--quick`` is a short smoke run.
"""
