"""Benchmarks: each ``bench_*.py`` has ``main() -> dict``; ratios against in-process baselines."""
