"""Benchmarks: each prints its figures and saves them as JSON and a PNG plot under bench/results/."""
