"""The real recordings of other cameras, extracted end to end by the command line.

Every output a user gets (results, preview movie, report, NWB) from the real Azure Kinect
``.mkv`` and a real RealSense ``.bag``: their metadata (an Azure calibration with lists of
records) must survive the HDF5 file, and their start time must reach the NWB file. Skipped
when ``../shared/data/real`` is absent.
"""

from __future__ import annotations

import json

import av
import pytest
from click.testing import CliRunner
from pynwb import NWBHDF5IO

from depthextractors import open_depth_video, read_results
from depthextractors.cli import main

BAG = "realsense_d435/62ece70a2312a114391eb5d78fcbf9021bd0b384.bag"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize(
    ("recording", "start_time"),
    [
        ("azure_kinect/recording.mkv", "2020-08-31T15:20:37+00:00"),
        (BAG, "2019-09-25T14:19:21.097661+00:00"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*has no index:UserWarning")
def test_real_recording_gives_every_output(real_data, tmp_path, recording, start_time):
    source = real_data / recording
    result = run("extract", source, "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("results_00.h5", "results_00.yaml", "results_00.mp4", "report.html"):
        assert (tmp_path / name).is_file(), name
    results = read_results(tmp_path)
    video = open_depth_video(source)
    assert len(results) == video.get_num_frames()
    # Everything the recording says about itself is in the results, nested structures too.
    stored = results.metadata["acquisition"]
    original = json.loads(json.dumps(video.get_metadata(), default=str))
    for key, value in original.items():
        assert stored[key] == value, key
    with av.open(str(tmp_path / "results_00.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(results)
    result = run("export-nwb", tmp_path, "--age", "P90D", "--subject-id", "m1")
    assert result.exit_code == 0, result.output
    with NWBHDF5IO(str(tmp_path / "results_00.nwb"), "r") as io:
        assert io.read().session_start_time.isoformat() == start_time
