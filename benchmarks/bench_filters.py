"""Benchmark: the per-frame filters on regions the size of an animal (issue 17).

Run as::

    python benchmarks/bench_filters.py [--rows 64] [--repeats 2000]

The session filters each frame in a region round its non-zero pixels, and the body centroid
reads a region round the animal; both are often narrower than 80 columns. OpenCV's 3x3 and 5x5
median of 8-bit images has a vectorised path only from about 66 columns up (measured with
OpenCV 4.10 and 5.0); narrower images take a scalar path 15-20x slower per pixel. The table
gives, per width: ``cv2.medianBlur`` called directly, the session's spatial median
(``FrameFilters(tail_iterations=0).apply_spatial``, which widens narrow regions by repeating
the last column), and the whole default filter (median and tail filter), in microseconds a
frame, on one thread.
"""

from __future__ import annotations

import argparse
import timeit

import cv2
import numpy as np

from depthextractors.extraction.filters import FrameFilters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="rows of the region")
    parser.add_argument("--repeats", type=int, default=2000, help="calls timed per cell")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    median_only = FrameFilters(tail_iterations=0)
    default = FrameFilters()
    kernels = default.kernels()
    print(f"{args.rows} rows, microseconds a call (best of 3 x {args.repeats} calls)")
    print("| columns | cv2.medianBlur | session's median | median + tail filter |")
    print("|---|---|---|---|")
    for columns in (32, 48, 64, 65, 66, 80, 96, 128):
        region = rng.integers(0, 40, (args.rows, columns), dtype=np.uint8)
        cells = []
        for call in (
            lambda region=region: cv2.medianBlur(region, 3),
            lambda region=region: median_only.apply_spatial(region),
            lambda region=region: default.apply_spatial(region, kernels),
        ):
            best = min(timeit.repeat(call, number=args.repeats, repeat=3)) / args.repeats
            cells.append(f"{best * 1e6:.1f}")
        print(f"| {columns} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
