"""Benchmark harnesses (run as modules, e.g. `python -m bench.extract`)."""
