"""Benchmarks (`make bench`): each figure is printed beside an in-run reference as a ratio."""
