"""Export an extraction to NWB, read it back, and check it with NWB Inspector when installed.

Run it with ``python examples/export_nwb.py [proc_dir]`` on a folder holding
``results_00.h5``; without an argument it first extracts a small synthetic session (200 frames)
in a temporary folder.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from depthextractors import ExtractionResults, read_results


def main(proc_dir: Path, nwb_path: Path) -> None:
    results = read_results(proc_dir / "results_00.h5")
    # NWB Inspector and DANDI require the subject's species and age (ISO 8601 duration).
    results.to_nwb(
        nwb_path,
        subject={"species": "Mus musculus", "age": "P12W", "sex": "M"},
        experimenter="Doe, Jane",
        lab="Example lab",
        institution="Example institute",
        overwrite=True,
    )
    print(f"wrote {nwb_path} ({nwb_path.stat().st_size / 1e6:.1f} MB)")

    # The NWB file reads back into the same results object (frames stay on disk, lazily).
    back = ExtractionResults.from_nwb(nwb_path)
    same = np.array_equal(back.frames[0:50], results.frames[0:50]) and np.allclose(
        np.asarray(back.scalars["centroid_x_mm"]),
        np.asarray(results.scalars["centroid_x_mm"]),
        equal_nan=True,
    )
    print(f"read back {len(back)} frames; crops and centroids equal: {same}")

    import pynwb

    with pynwb.NWBHDF5IO(str(nwb_path), "r") as io:
        nwbfile = io.read()
        behavior = nwbfile.processing["behavior"]
        print(f"behavior module: {', '.join(sorted(behavior.data_interfaces))}")

    try:
        from nwbinspector import Importance, inspect_nwbfile
    except ImportError:
        print("nwbinspector is not installed: pip install 'depthextractors[nwb]' to check files")
        return
    serious = [
        message
        for message in inspect_nwbfile(nwbfile_path=str(nwb_path))
        if message.importance.value >= Importance.BEST_PRACTICE_VIOLATION.value
    ]
    print(f"NWB Inspector: {len(serious)} problems at BEST_PRACTICE_VIOLATION or above")
    for message in serious:
        print(f"  {message.importance.name}: {message.message}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        proc = Path(sys.argv[1])
        main(proc, proc / "results_00.nwb")
    else:
        from depthextractors import H5ResultsWriter, SessionExtraction, open_depth_video
        from depthextractors.testing import generate_synthetic_session

        with tempfile.TemporaryDirectory() as folder:
            session = generate_synthetic_session(Path(folder) / "session", 200, seed=3)
            proc = Path(folder) / "session" / "proc"
            SessionExtraction(open_depth_video(session.directory)).run(
                H5ResultsWriter(proc), chunk_size=100, progress=False
            )
            main(proc, Path(folder) / "session.nwb")
