#!/usr/bin/env python3
"""Time SciPy's Mann-Whitney U test on one pair of samples.

Usage: python3 benches/mannwhitney_scipy.py SAMPLES.json

SAMPLES.json holds {"x": [...], "y": [...]}. The script runs
scipy.stats.mannwhitneyu(x, y, alternative="two-sided") once to warm up, then
thirty more times, and prints a single JSON line

    {"u": <U statistic of x>, "p": <p-value>, "seconds": <best of the thirty>}

The Rust benchmark calls this to compare against `canary::stats::mann_whitney`.
Conversion of the lists to NumPy arrays happens before timing, so only the
test itself is measured.
"""

import json
import sys
import time

import numpy as np
from scipy import stats

RUNS = 30


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mannwhitney_scipy.py SAMPLES.json")
    with open(sys.argv[1]) as fh:
        doc = json.load(fh)
    x = np.asarray(doc["x"], dtype=float)
    y = np.asarray(doc["y"], dtype=float)

    res = stats.mannwhitneyu(x, y, alternative="two-sided")  # warm-up
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        res = stats.mannwhitneyu(x, y, alternative="two-sided")
        best = min(best, time.perf_counter() - start)

    print(json.dumps({"u": float(res.statistic), "p": float(res.pvalue), "seconds": best}))


if __name__ == "__main__":
    main()
