"""Open results_00.h5 lazily and summarise it without plotting.

Run it with ``python examples/read_results.py [results_00.h5]``; without an argument it first
extracts a small synthetic session (200 frames, 3 dropped) in a temporary folder.

``read_results`` reads nothing but the metadata when it opens the file: frames, masks and
scalars are read when indexed, so a 54,000-frame session opens instantly.
"""

import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from depthextractors import read_results


def main(path: Path) -> None:
    results = read_results(path)
    print(f"{path.name}: {results}")
    print(
        f"uuid {results.uuid}; floor (true depth) {results.true_depth:.1f} mm; "
        f"arena {int(np.count_nonzero(results.roi))} pixels"
    )

    # Frames are read only when indexed: (frames, 80, 80) heights above the floor, mm.
    crops = results.frames[0:50]
    print(f"frames: {len(results)} crops, first 50 read as {crops.shape} {crops.dtype}")

    # Timestamps are seconds here (results_00.h5 stores milliseconds, as moseq2-extract).
    times = np.asarray(results.timestamps)
    print(
        f"duration {times[-1] - times[0]:.2f} s; {results.dropped_frame_count} dropped "
        f"frame(s) after frames {np.asarray(results.dropped_after).tolist()}"
    )

    valid = np.asarray(results.valid)
    print(f"animal found in {valid.sum()} of {valid.size} frames")
    units = {"_mm_per_s": "mm/s", "_mm": "mm", "_px": "px", "angle": "rad"}
    for name in (
        "centroid_x_mm",
        "centroid_y_mm",
        "length_mm",
        "width_mm",
        "area_mm",
        "height_ave_mm",
        "velocity_2d_mm_per_s",
        "angle",
    ):
        values = np.asarray(results.scalars[name])[valid]
        unit = next((u for suffix, u in units.items() if name.endswith(suffix)), "")
        if name == "area_mm":
            unit = "mm²"
        print(
            f"  {name:<22} median {np.median(values):9.2f} {unit:<5} "
            f"(range {values.min():.2f}..{values.max():.2f})"
        )

    # The file is plain HDF5 in moseq2-extract's layout: any HDF5 reader works.
    with h5py.File(path, "r") as h5:
        groups = sorted(h5.keys())
        parameters = h5["metadata/extraction/parameters"]
        print(
            f"HDF5 groups: {groups}; {len(parameters)} parameters, e.g. min_height = "
            f"{parameters['min_height'][()]}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        from depthextractors import H5ResultsWriter, SessionExtraction, open_depth_video
        from depthextractors.testing import generate_synthetic_session

        with tempfile.TemporaryDirectory() as folder:
            session = generate_synthetic_session(
                Path(folder) / "session", 200, dropped_frames=3, seed=6
            )
            proc = session.directory / "proc"
            SessionExtraction(open_depth_video(session.directory)).run(
                H5ResultsWriter(proc), chunk_size=100, progress=False
            )
            main(proc / "results_00.h5")
