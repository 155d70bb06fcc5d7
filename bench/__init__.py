"""Benchmarks: each ``bench_*.py`` module has ``main() -> dict``; ratios against in-process baselines."""
