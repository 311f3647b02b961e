"""Extract a session in code: build SessionExtraction from strategy objects, run it, read results.

Run it with ``python examples/extract_a_session.py [session_dir]``; without an argument it first
makes a small synthetic Kinect v2 session (300 frames) in a temporary folder.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from depthextractors import (
    H5ResultsWriter,
    MomentsTracker,
    MotionFlipCorrector,
    PlaneROI,
    SessionExtraction,
    StridedMedianBackground,
    open_depth_video,
    read_results,
)
from depthextractors.extraction import FrameFilters, HampelFilter


def main(session_dir: Path, output_dir: Path) -> None:
    video = open_depth_video(session_dir)
    print(f"recording: {video.get_num_frames()} frames at {video.get_sampling_frequency():g} Hz")

    # Each step is a strategy object; its defaults are moseq2-extract's (1.4.0).
    extraction = SessionExtraction(
        video,
        background=StridedMedianBackground(frame_stride=500),  # bg_roi_frame_stride
        roi=PlaneROI(depth_range=None),  # None: the floor depth range is found automatically
        tracker=MomentsTracker(min_height=10, max_height=120),  # mm above the floor
        filters=FrameFilters(spatial_size=3, tail_size=(9, 9), tail_iterations=1),
        centroid_hampel=HampelFilter(span=5, sig=3.0),  # frames, MADs
        flip_corrector=MotionFlipCorrector(),  # the default: no model file needed
        crop_size=(80, 80),
    )
    print(extraction.tracker, extraction.roi)  # a strategy's repr shows its non-default values
    # The writers are given to run(): results_00.h5 (and the arena's TIFFs) in output_dir.
    # How to run is apart from what is computed: chunk_size (frames per chunk, memory grows
    # with it; the results do not) and n_jobs (threads).
    results = extraction.run(
        H5ResultsWriter(output_dir), chunk_size=100, n_jobs=2, progress=False
    )
    arena = extraction.arena
    print(f"arena: {int(arena.roi.mask.sum())} pixels, floor at {arena.roi.true_depth:.1f} mm")
    print(f"wrote {sorted(path.name for path in output_dir.iterdir())}")

    # The results object reads results_00.h5 lazily; read_results opens it again later.
    results = read_results(output_dir / "results_00.h5")
    x_mm = np.asarray(results.scalars["centroid_x_mm"])
    speed = np.asarray(results.scalars["velocity_2d_mm_per_s"])
    print(f"{len(results)} frames, animal found in {results.valid.mean():.1%} of them")
    print(
        f"centroid x: {np.nanmin(x_mm):.1f}..{np.nanmax(x_mm):.1f} mm; "
        f"median speed {np.nanmedian(speed):.1f} mm/s"
    )
    crops = results.frames[0:10]  # (10, 80, 80) uint8 heights above the floor, mm
    print(f"first crops: {crops.shape} {crops.dtype}, tallest point {crops.max()} mm")
    flips = np.asarray(results.flips)
    print(f"flip corrector turned {int(flips.sum())} of {flips.size} frames round")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        session = Path(sys.argv[1])
        main(session, session / "proc")
    else:
        from depthextractors.testing import generate_synthetic_session

        with tempfile.TemporaryDirectory() as folder:
            generate_synthetic_session(Path(folder) / "session", 300, seed=0)
            main(Path(folder) / "session", Path(folder) / "session" / "proc")
