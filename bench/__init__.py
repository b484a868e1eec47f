"""Reproducible benchmarks: each prints its figure and a baseline from the same run, as a ratio."""
