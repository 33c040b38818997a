"""Benchmarks of Closed Loop, each measured against the library's own ceiling in the same run.

Run them with ``make bench`` or ``python -m bench [name]``; ``bench/README.md`` says what
each figure means. Nothing here is asserted by the test suite: the machines are small
and noisy, so the figures are ratios, not absolute rates.
"""
