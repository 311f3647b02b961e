"""results_00.h5 / results_00.yaml layout (against moseq2-extract's real file) and TIFF images."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import yaml

from depthextractors import (
    SessionExtraction,
    StridedMedianBackground,
    open_depth_video,
    read_results,
)
from depthextractors.extraction.scalars import MOSEQ2_SCALARS
from depthextractors.io import H5ResultsWriter, read_scaled_tiff, write_scaled_tiff
from depthextractors.io.results_h5 import LazyH5Array

REAL = Path(__file__).resolve().parents[2] / "shared/data/real"
REAL_RESULTS = REAL / "moseq2_kinect_session" / "results_00.h5"

# moseq2 parameters that configure features this library does not have (movie, .avi
# compression, config files, the EM tracker's smoothing, a pickled classifier's smoothing).
NOT_APPLICABLE = {
    "compress",
    "compress_chunk_size",
    "compress_threads",
    "config_file",
    "write_movie",
    "model_smoothing_clips",
    "flip_classifier_smoothing",
    "tracking_model_init",
    "tracking_model_ll_clip",
    "tracking_model_ll_threshold",
    "tracking_model_mask_threshold",
    "tracking_model_segment",
}


@pytest.fixture(scope="module")
def written(synthetic_kinect_session, tmp_path_factory):
    session = synthetic_kinect_session
    output = tmp_path_factory.mktemp("results")
    results = SessionExtraction(
        open_depth_video(session.directory),
        background=StridedMedianBackground(frame_stride=10),
    ).run(H5ResultsWriter(output), chunk_size=50, progress=False)
    return session, output, results


def _datasets(handle):
    found = {}
    handle.visititems(
        lambda name, obj: found.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None
    )
    return found


def test_files_written(written):
    _, output, _ = written
    names = {p.name for p in output.iterdir()}
    assert names == {
        "results_00.h5",
        "results_00.yaml",
        "roi.tiff",
        "bground.tiff",
        "first_frame.tiff",
    }


def test_core_layout_and_dtypes(written):
    session, output, _ = written
    n = session.truth.centroid_px.shape[0]
    with h5py.File(output / "results_00.h5", "r") as handle:
        assert handle["frames"].shape == (n, 80, 80)
        assert handle["frames"].dtype == np.uint8
        assert handle["frames_mask"].dtype == bool
        assert handle["timestamps"].dtype == np.float64
        for name in MOSEQ2_SCALARS:
            assert handle["scalars"][name].shape == (n,)
            assert handle["scalars"][name].dtype == np.float32
            assert handle["scalars"][name].attrs["description"]
        assert handle["scalars/valid"].dtype == bool
        extraction = handle["metadata/extraction"]
        assert extraction["background"].dtype == np.float64
        assert extraction["roi"].dtype == bool
        assert extraction["first_frame"].dtype == np.int16
        assert extraction["first_frame_idx"][()].tolist() == [0]
        assert extraction["last_frame_idx"][()].tolist() == [n]
        assert extraction["true_depth"].shape == ()
        assert handle["metadata/uuid"][()].decode() == yaml.safe_load(
            (output / "results_00.yaml").read_text()
        )["uuid"]
        # Timestamps in milliseconds, as moseq2-extract (the device's depth_ts.txt values).
        np.testing.assert_allclose(handle["timestamps"][()], session.truth.timestamps_ms)
        acquisition = handle["metadata/acquisition"]
        assert acquisition["SessionName"][()].decode() == session.metadata["SessionName"]
        np.testing.assert_array_equal(acquisition["DepthResolution"][()], [512, 424])
        params = extraction["parameters"]
        assert params["min_height"][()] == 10
        assert params["tail_filter_shape"][()].decode() == "ellipse"
        np.testing.assert_array_equal(params["crop_size"][()], [80, 80])
        assert isinstance(params["output_dir"][()], bytes)
        assert params["flip_classifier"].shape is None  # empty, as moseq2 writes None


@pytest.mark.skipif(not REAL_RESULTS.is_file(), reason=f"real moseq2 file not at {REAL_RESULTS}")
def test_layout_matches_moseq2_real_file(written):
    _, output, _ = written
    with h5py.File(REAL_RESULTS, "r") as real, h5py.File(output / "results_00.h5", "r") as ours:
        theirs = _datasets(real)
        mine = _datasets(ours)
        for name, dataset in theirs.items():
            if name.startswith("metadata/acquisition/"):
                continue  # the keys of each session's metadata.json
            key = name.rsplit("/", 1)[-1]
            if name.startswith("metadata/extraction/parameters/") and key in NOT_APPLICABLE:
                continue
            assert name in mine, f"{name} missing"
            if name.startswith("metadata/extraction/parameters/"):
                continue  # parameters: checked for presence (values differ by design)
            assert mine[name].dtype.kind == dataset.dtype.kind, name
            assert mine[name].ndim == dataset.ndim, name
            if "description" in dataset.attrs:
                assert mine[name].attrs.get("description"), f"{name} has no description"
        assert ours["frames"].chunks is not None
        assert ours["frames"].compression in ("gzip", "lzf")


def test_status_yaml(written):
    session, output, results = written
    status = yaml.safe_load((output / "results_00.yaml").read_text())
    assert status["complete"] is True
    assert status["status"] == "complete"
    assert status["uuid"] == results.uuid
    assert status["parameters"]["chunk_size"] == 50
    assert status["metadata"]["SubjectName"] == session.metadata["SubjectName"]
    assert status["dropped_frames"]["count"] == len(session.truth.dropped_after)
    assert status["dropped_frames"]["after"] == session.truth.dropped_after.tolist()
    assert status["version"]


def test_reading_back_is_lazy_and_equal(written):
    session, output, results = written
    again = read_results(output)
    assert isinstance(again.frames, LazyH5Array)
    assert again.frames[3:5].shape == (2, 80, 80)
    np.testing.assert_array_equal(again.frames[:], results.frames[:])
    np.testing.assert_array_equal(
        again.scalars["centroid_x_px"], results.scalars["centroid_x_px"][:]
    )
    np.testing.assert_allclose(again.timestamps, session.truth.timestamps_ms / 1000.0)
    assert again.dropped_frame_count == len(session.truth.dropped_after)
    assert again.parameters["tail_filter_size"] == [9, 9]
    assert again.roi.shape == (424, 512)
    assert again.metadata["roi_plane"] == pytest.approx(results.metadata["roi_plane"])
    assert len(again.metadata["roi_plane"]) == 4
    with pytest.raises(FileNotFoundError, match="no extraction results"):
        read_results(output / "missing")


def test_tiff_images_follow_moseq2_scaled_convention(written):
    _, output, results = written
    with tifffile.TiffFile(output / "bground.tiff") as tif:
        raw = tif.asarray()
        description = tif.pages[0].description
    assert raw.dtype == np.uint16
    factor = int(yaml.safe_load(description)["scale_factor"])
    assert factor >= 1
    background = read_scaled_tiff(output / "bground.tiff")
    np.testing.assert_allclose(background, results.background, atol=1.0 / factor)
    roi = read_scaled_tiff(output / "roi.tiff")
    np.testing.assert_array_equal(roi > 0.5, results.roi)


def test_scaled_tiff_round_trip(tmp_path):
    image = np.linspace(0, 700, 200).reshape(10, 20)
    factor = write_scaled_tiff(tmp_path / "a.tiff", image)
    assert factor == int(65535 / 700)
    np.testing.assert_allclose(read_scaled_tiff(tmp_path / "a.tiff"), image, atol=1 / factor)
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.skipif(not (REAL / "arena_backgrounds").is_dir(), reason="real arenas absent")
def test_reads_moseq2_written_tiffs():
    background = read_scaled_tiff(REAL / "arena_backgrounds" / "bground_bucket.tiff")
    assert 500 < np.median(background[background > 0]) < 1000


@pytest.mark.skipif(not REAL_RESULTS.is_file(), reason=f"real moseq2 file not at {REAL_RESULTS}")
def test_reads_moseq2_extract_results_without_a_frame_range():
    """moseq2-extract 0.1.x files have no first/last frame index: the range is the whole file."""
    from depthextractors.io import read_results

    results = read_results(REAL_RESULTS)
    assert len(results) == 900
    assert (results.metadata["first_frame_idx"], results.metadata["last_frame_idx"]) == (0, 900)
    assert results.true_depth == pytest.approx(673.5)
    assert results.scalars["centroid_x_px"][0] == pytest.approx(61.3159, abs=1e-3)
    # No valid scalar there: a frame is valid where moseq2-extract found a centroid.
    assert "valid" not in results.scalars
    finite = np.isfinite(np.asarray(results.scalars["centroid_x_px"][:]))
    np.testing.assert_array_equal(results.valid, finite)
    assert results.metadata["software"] == "moseq2-extract"


# 20 frames are too few for the median background to leave the animal out; only the metadata
# matters here.
@pytest.mark.filterwarnings("ignore:the animal was not found:UserWarning")
def test_nested_acquisition_metadata_round_trips(tmp_path):
    """An Azure recording's calibration holds lists of records: they are kept and read back."""
    from depthextractors import ManualROI, NumpyDepthExtractor
    from depthextractors.testing import synthesize_depth_video

    video, truth = synthesize_depth_video(20, seed=4)
    metadata = {
        "SubjectName": "m1",
        "calibration": {
            "Cameras": [
                {"Location": "CALIBRATION_CameraLocationD0", "Intrinsics": {"Count": 14}},
                {"Location": "CALIBRATION_CameraLocationPV0", "Intrinsics": {"Count": 14}},
            ],
            "Rotation": [[1.0, 0.0], [0.0, 1.0]],
        },
        "ragged": [[1, 2, 3], [4]],
        "mixed": ["a", 1],
        "tracks": ["COLOR", "DEPTH"],
    }
    extractor = NumpyDepthExtractor(video, 30.0, metadata=metadata, camera="kinect_v2")
    SessionExtraction(extractor, roi=ManualROI(truth.arena_mask)).run(
        H5ResultsWriter(tmp_path), progress=False
    )
    back = read_results(tmp_path).metadata["acquisition"]
    assert back["calibration"]["Cameras"] == metadata["calibration"]["Cameras"]
    assert back["calibration"]["Rotation"] == metadata["calibration"]["Rotation"]
    assert back["ragged"] == metadata["ragged"]
    assert back["mixed"] == metadata["mixed"]
    assert back["tracks"] == metadata["tracks"]
    assert back["SubjectName"] == "m1"
