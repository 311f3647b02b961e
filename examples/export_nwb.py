"""Export an extraction to DANDI-ready NWB, check it with DANDI's checks, and read it back.

Run it with ``python examples/export_nwb.py [proc_dir]`` on a folder holding
``results_00.h5``; without an argument it first extracts a small synthetic session (200 frames)
in a temporary folder.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from depthextractors import ExtractionResults, read_results

# What a lab says about its sessions, NeuroConv-style (a dict, or the same in a YAML file).
METADATA = {
    "NWBFile": {
        "experiment_description": "Open-field exploration imaged with a depth camera (MoSeq)",
        "experimenter": ["Doe, Jane"],
        "keywords": ["MoSeq", "open field"],
        "lab": "Example lab",
        "institution": "Example institute",
    },
    "Subject": {"species": "Mus musculus", "strain": "C57BL/6J", "sex": "M"},
}


def main(proc_dir: Path, nwb_path: Path) -> None:
    results = read_results(proc_dir / "results_00.h5")
    # DANDI requires the subject's age (ISO 8601 duration): without it, to_nwb refuses.
    results.to_nwb(nwb_path, metadata=METADATA, subject={"age": "P12W"}, overwrite=True)
    print(f"wrote {nwb_path} ({nwb_path.stat().st_size / 1e6:.1f} MB)")

    # The NWB file reads back into the same results object (frames stay on disk, lazily), on
    # the recording's clock; in the file, times are seconds from the session start.
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
        heading = behavior["CompassDirection"]["HeadOrientation"]
        print(f"first time stamp: {heading.get_timestamps()[0]:.3f} s after the session start")

    try:
        from depthextractors.io.nwb import inspect_for_dandi

        inspection = inspect_for_dandi(nwb_path)
    except ImportError:
        print("nwbinspector is not installed: pip install 'depthextractors[nwb]' to check files")
        return
    print(f"NWB Inspector, DANDI config: {inspection.counts or 'no messages'}")
    print(f"  passes DANDI's checks (nothing CRITICAL): {inspection.passes}")
    for line in inspection.lines():
        print(f"  {line}")


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
