"""Background and arena (PlaneROI) of a synthetic Kinect session: time and peak memory.

Generates a synthetic Kinect v2 session (9,000 frames by default, about 25 s), then in a fresh
process per step (so each peak RSS is that step's own, not the generator's) computes the strided
median background from the raw file and finds the arena with PlaneROI, and compares the median
methods (sorted stack vs numpy.nanmedian) on the same frames.

Usage: python benchmarks/bench_find_roi.py [--frames 9000] [--stride 500] [--repeats 3]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from depthextractors.testing import generate_synthetic_session

# Runs in a child process: prints one JSON line with timings and peak RSS.
CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np

def peak_rss_mb():
    # VmHWM is this process's own peak; ru_maxrss would carry the parent's peak across exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

from depthextractors import RawDepthExtractor
from depthextractors.extraction import PlaneROI, StridedMedianBackground, median_ignoring_zeros

path, stride, repeats, what = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
truth = np.load(sys.argv[5])
baseline = peak_rss_mb()
video = RawDepthExtractor(path)
result = {"baseline_mb": baseline, "frames_used": len(range(0, video.get_num_frames(), stride))}
if what == "pipeline":
    times_bg, times_roi = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        background = StridedMedianBackground(frame_stride=stride).compute(video)
        times_bg.append(time.perf_counter() - started)
        started = time.perf_counter()
        arena = PlaneROI().find(background, video.camera)
        times_roi.append(time.perf_counter() - started)
    undilated = PlaneROI(dilate_iterations=0).find(background, video.camera).mask
    result.update(
        background_s=min(times_bg), roi_s=min(times_roi),
        iou=float((undilated & truth).sum() / (undilated | truth).sum()),
        true_depth=arena.true_depth, depth_range=arena.depth_range,
    )
else:
    frames = video.get_frames(np.arange(0, video.get_num_frames(), stride))
    started = time.perf_counter()
    if what == "sorted":
        median_ignoring_zeros(frames)
    else:
        stack = frames.astype(np.float32)
        stack[stack == 0] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            np.nanmedian(stack, axis=0)
    result["median_s"] = time.perf_counter() - started
result["peak_mb"] = peak_rss_mb()
print(json.dumps(result))
"""


def run_child(path: Path, stride: int, repeats: int, what: str, truth: Path) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(stride), str(repeats), what, str(truth)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=9000)
    parser.add_argument("--stride", type=int, default=500, help="background frame stride")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--median-stride", type=int, default=None,
                        help="stride for the median comparison (default: --stride)")  # fmt: skip
    args = parser.parse_args()

    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        session = generate_synthetic_session(Path(folder) / "session", args.frames, seed=0)
        generate_s = time.perf_counter() - started
        truth = Path(folder) / "arena.npy"
        np.save(truth, session.truth.arena_mask)
        pipeline = run_child(session.depth_path, args.stride, args.repeats, "pipeline", truth)
        median_stride = args.median_stride or args.stride
        dense = run_child(session.depth_path, median_stride, args.repeats, "pipeline", truth)
        sorted_run = run_child(session.depth_path, median_stride, 1, "sorted", truth)
        nan_run = run_child(session.depth_path, median_stride, 1, "nanmedian", truth)

    print(
        f"synthetic Kinect v2 session: {args.frames} frames 424x512, made in {generate_s:.1f} s; "
        f"background from {pipeline['frames_used']} frames (stride {args.stride}); "
        f"best of {args.repeats}; 2 shared cores, other jobs running"
    )
    print("| step | time | peak RSS (process) |\n|---|---|---|")
    print(f"| python + imports (baseline) | - | {pipeline['baseline_mb']:.0f} MB |")
    print(
        f"| StridedMedianBackground.compute (raw file) | {pipeline['background_s'] * 1e3:.0f} ms "
        f"| {pipeline['peak_mb']:.0f} MB (background + ROI) |"
    )
    print(f"| PlaneROI().find (automatic depth range) | {pipeline['roi_s'] * 1e3:.0f} ms | |")
    print(
        f"| background + PlaneROI from {dense['frames_used']} frames (stride {median_stride}, "
        f"as a 54,000-frame session at stride 500) | {dense['background_s'] * 1e3:.0f} ms + "
        f"{dense['roi_s'] * 1e3:.0f} ms | {dense['peak_mb']:.0f} MB |"
    )
    print(
        f"| median of {sorted_run['frames_used']} frames, sorted stack (used) | "
        f"{sorted_run['median_s'] * 1e3:.0f} ms | {sorted_run['peak_mb']:.0f} MB |"
    )
    print(
        f"| median of {nan_run['frames_used']} frames, float32 + numpy.nanmedian | "
        f"{nan_run['median_s'] * 1e3:.0f} ms | {nan_run['peak_mb']:.0f} MB |"
    )
    low, high = pipeline["depth_range"]
    print(
        f"ROI: IoU {pipeline['iou']:.4f} with the true arena (undilated), true depth "
        f"{pipeline['true_depth']:.1f} mm (truth 680.0), depth range found {low:.0f}-{high:.0f} mm"
    )


if __name__ == "__main__":
    main()
