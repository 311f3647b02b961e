"""The base class's behaviour, through the in-memory extractor and a minimal subclass."""

import pickle

import numpy as np
import pytest

from depthextractors import (
    CameraModel,
    DepthVideoExtractor,
    FrameSliceDepthExtractor,
    NumpyDepthExtractor,
)
from depthextractors.testing import check_depth_extractor


@pytest.fixture
def video():
    rng = np.random.default_rng(1)
    return rng.integers(0, 1000, size=(40, 6, 7), dtype=np.uint16)


@pytest.fixture
def extractor(video):
    return NumpyDepthExtractor(video, sampling_frequency=30.0)


def test_basic_properties(extractor, video):
    assert extractor.get_image_size() == (6, 7)
    assert extractor.get_num_frames() == len(extractor) == 40
    assert extractor.shape == (40, 6, 7)
    assert extractor.get_sampling_frequency() == 30.0
    assert extractor.get_dtype() == np.uint16
    assert "40 frames of 6x7" in repr(extractor)


@pytest.mark.parametrize(
    ("start", "end"), [(None, None), (3, 9), (-5, None), (None, -30), (38, 100), (-100, 2), (5, 5)]
)
def test_get_video_follows_slice_rules(extractor, video, start, end):
    np.testing.assert_array_equal(extractor.get_video(start, end), video[start:end])


def test_get_video_refuses_reversed_and_non_integer_ranges(extractor):
    with pytest.raises(ValueError, match="must not be after end_frame"):
        extractor.get_video(10, 3)
    with pytest.raises(TypeError, match="integer frame index"):
        extractor.get_video(1.0, 3)
    with pytest.raises(TypeError, match="boolean"):
        extractor.get_video(True, 3)
    np.testing.assert_array_equal(
        extractor.get_video(np.int64(2), np.int32(4)), extractor.get_video(2, 4)
    )


def test_get_video_returns_copies(extractor, video):
    frames = extractor.get_video(0, 2)
    frames[:] = 0
    assert extractor.get_video(0, 2).any()


def test_get_frames_numpy_semantics(extractor, video):
    indices = [5, 1, 1, -1, 39, 0, -40]
    np.testing.assert_array_equal(extractor.get_frames(indices), video[indices])
    np.testing.assert_array_equal(extractor.get_frames(np.array(indices)), video[indices])
    np.testing.assert_array_equal(extractor.get_frames(7), video[7])
    np.testing.assert_array_equal(extractor.get_frames(-2), video[-2])
    mask = np.zeros(40, dtype=bool)
    mask[[3, 4, 30]] = True
    np.testing.assert_array_equal(extractor.get_frames(mask), video[mask])
    assert extractor.get_frames([]).shape == (0, 6, 7)


def test_get_frames_errors(extractor):
    with pytest.raises(IndexError, match=r"allowed: -40\.\.39"):
        extractor.get_frames([0, 40])
    with pytest.raises(IndexError):
        extractor.get_frames(-41)
    with pytest.raises(IndexError, match="one entry per frame"):
        extractor.get_frames(np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match="integers"):
        extractor.get_frames([0.5, 1.5])
    with pytest.raises(IndexError, match="one-dimensional"):
        extractor.get_frames(np.zeros((2, 2), dtype=int))


class CountingExtractor(NumpyDepthExtractor):
    """Counts range reads, to show sorted runs are read once each."""

    def __init__(self, video):
        super().__init__(video, 30.0)
        self.reads = []

    def get_video(self, start_frame=None, end_frame=None):
        self.reads.append((start_frame, end_frame))
        return super().get_video(start_frame, end_frame)

    _read_frames = DepthVideoExtractor._read_frames


def test_get_frames_reads_each_sorted_run_once(video):
    counting = CountingExtractor(video)
    frames = counting.get_frames([12, 10, 11, 30, 10, 31, 2])
    np.testing.assert_array_equal(frames, video[[12, 10, 11, 30, 10, 31, 2]])
    assert sorted(counting.reads) == [(2, 3), (10, 13), (30, 32)]


def test_frame_slice_is_lazy_and_clamped(video):
    counting = CountingExtractor(video)
    view = counting.frame_slice(2, 7)
    assert counting.reads == []
    assert isinstance(view, FrameSliceDepthExtractor)
    assert view.get_num_frames() == 5
    # The roiextractors defect: reading a slice "to the end" must stop at the slice's end.
    np.testing.assert_array_equal(view.get_video(1), video[3:7])
    assert counting.frame_slice(35, 1000).get_num_frames() == 5
    assert counting.frame_slice(10).get_num_frames() == 30
    assert counting.frame_slice(-4).get_num_frames() == 4
    with pytest.raises(ValueError, match="must not be after"):
        counting.frame_slice(9, 3)


def test_slices_of_slices_compose(extractor, video):
    inner = extractor.frame_slice(5, 30).frame_slice(2, 20).frame_slice(-10, -2)
    assert inner.parent is extractor
    assert (inner.start_frame, inner.end_frame) == (15, 23)
    np.testing.assert_array_equal(inner.get_video(), video[5:30][2:20][-10:-2])
    np.testing.assert_array_equal(inner.get_frames([0, -1, 3]), video[15:23][[0, -1, 3]])


def test_slice_keeps_parent_times_and_metadata(video):
    times = np.cumsum(np.full(40, 0.05)) + 100.0
    parent = NumpyDepthExtractor(video, 20.0, timestamps=times, metadata={"SessionName": "s"})
    view = parent.frame_slice(10, 20)
    np.testing.assert_allclose(view.get_timestamps(), times[10:20])
    assert view.has_time_vector()
    assert view.get_metadata() == {"SessionName": "s"}
    assert view.camera == parent.camera
    assert view.frame_to_time(0) == times[10]
    assert view.time_to_frame(times[15]) == 5


def test_slice_without_native_times_uses_parent_frame_times(extractor):
    view = extractor.frame_slice(9, 12)
    np.testing.assert_allclose(view.get_timestamps(), np.arange(9, 12) / 30.0)
    assert not view.has_time_vector()


def test_times_set_on_a_slice_stay_with_that_slice(extractor):
    view = extractor.frame_slice(10, 20)
    view.set_times(np.arange(10) + 1000.0)
    inner = view.frame_slice(2, 4)
    np.testing.assert_allclose(inner.get_timestamps(), [1002.0, 1003.0])
    np.testing.assert_allclose(extractor.get_timestamps(10, 12), [10 / 30.0, 11 / 30.0])


def test_time_precedence(video):
    native = np.arange(40) * 0.04 + 5.0
    extractor = NumpyDepthExtractor(video, 25.0, timestamps=native)
    np.testing.assert_allclose(extractor.get_timestamps(), native)
    extractor.set_times(np.arange(40) * 2.0)
    np.testing.assert_allclose(extractor.get_timestamps(0, 3), [0.0, 2.0, 4.0])
    extractor.set_times(None)
    np.testing.assert_allclose(extractor.get_timestamps(0, 2), native[:2])
    plain = NumpyDepthExtractor(video, 25.0)
    assert not plain.has_time_vector()
    np.testing.assert_allclose(plain.get_timestamps(-2), [38 / 25, 39 / 25])


def test_set_times_validation(extractor):
    with pytest.raises(ValueError, match="one value per frame"):
        extractor.set_times([0.0, 1.0])
    with pytest.raises(ValueError, match="decrease"):
        extractor.set_times(np.r_[np.arange(39.0), 0.0])
    with pytest.raises(ValueError, match="finite"):
        extractor.set_times(np.r_[np.arange(39.0), np.nan])


def test_frame_and_time_conversions(extractor):
    assert extractor.frame_to_time(3) == pytest.approx(0.1)
    np.testing.assert_allclose(extractor.frame_to_time([0, -1]), [0.0, 39 / 30])
    assert extractor.time_to_frame(0.1) == 3
    assert extractor.time_to_frame(0.1 + 0.4 / 30) == 3
    assert extractor.time_to_frame(0.1 + 0.6 / 30) == 4
    np.testing.assert_array_equal(extractor.time_to_frame([-5.0, 100.0]), [0, 39])
    with pytest.raises(IndexError):
        extractor.frame_to_time(40)
    with pytest.raises(TypeError):
        extractor.frame_to_time(1.5)
    with pytest.raises(ValueError, match="finite"):
        extractor.time_to_frame(np.nan)


def test_iter_chunks_with_overlap(extractor, video):
    chunks = list(extractor.iter_chunks(15, overlap=4))
    assert [(c.start, c.end, c.read_start) for c in chunks] == [
        (0, 15, 0),
        (15, 30, 11),
        (30, 40, 26),
    ]
    np.testing.assert_array_equal(np.concatenate([c.new_frames for c in chunks]), video)
    np.testing.assert_array_equal(chunks[1].frames, video[11:30])
    assert chunks[1].num_overlap == 4
    ranged = list(extractor.iter_chunks(4, overlap=10, start_frame=20, end_frame=27))
    assert [(c.start, c.end, c.read_start) for c in ranged] == [(20, 24, 20), (24, 27, 20)]


def test_iter_chunks_errors(extractor):
    with pytest.raises(ValueError, match="positive"):
        next(extractor.iter_chunks(0))
    with pytest.raises(ValueError, match="overlap"):
        next(extractor.iter_chunks(5, overlap=-1))


def test_slice_iter_chunks_match_parent(extractor, video):
    view = extractor.frame_slice(7, 33)
    chunks = list(view.iter_chunks(10, overlap=3))
    assert [(c.start, c.end, c.read_start) for c in chunks] == [
        (0, 10, 0),
        (10, 20, 7),
        (20, 26, 17),
    ]
    np.testing.assert_array_equal(chunks[1].frames, video[14:27])


class ShortReadExtractor(NumpyDepthExtractor):
    def get_video(self, start_frame=None, end_frame=None):
        return super().get_video(start_frame, end_frame)[:-1]


def test_a_short_read_raises_instead_of_passing_on(video):
    broken = ShortReadExtractor(video, 30.0)
    with pytest.raises(OSError, match="truncated or corrupt"):
        broken.get_video(0, 5)


def test_numpy_extractor_validation(video):
    with pytest.raises(ValueError, match="frames, rows, cols"):
        NumpyDepthExtractor(video[0], 30.0)
    with pytest.raises(TypeError, match="uint16"):
        NumpyDepthExtractor(video.astype(float), 30.0)
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        NumpyDepthExtractor(video.astype(np.int32) - 1, 30.0)
    with pytest.raises(ValueError, match="sampling_frequency"):
        NumpyDepthExtractor(video, 0.0)
    with pytest.raises(ValueError, match="one value per frame"):
        NumpyDepthExtractor(video, 30.0, timestamps=[0.0])
    converted = NumpyDepthExtractor(video.astype(np.int32), 30.0)
    np.testing.assert_array_equal(converted.get_video(), video)


def test_camera_detection_and_override():
    kinect = NumpyDepthExtractor(np.zeros((2, 424, 512), np.uint16), 30.0)
    assert kinect.camera.name == "kinect_v2"
    kinect.set_camera("kinect_v2")
    with pytest.raises(ValueError, match="424x512"):
        kinect.set_camera("azure_nfov_unbinned")


def test_conformance_check_passes_on_numpy_extractor(extractor, video):
    check_depth_extractor(extractor, video)
    check_depth_extractor(extractor.frame_slice(3, 31), video[3:31])


def test_conformance_check_catches_a_broken_extractor(video):
    class OffByOne(NumpyDepthExtractor):
        def _read_frames(self, indices):
            return self._video[np.minimum(indices + 1, self.get_num_frames() - 1)]

    with pytest.raises(AssertionError, match="get_frames differs"):
        check_depth_extractor(OffByOne(video, 30.0))


def test_iter_chunks_reads_each_frame_once(video):
    counting = CountingExtractor(video)
    chunks = list(counting.iter_chunks(15, overlap=20))
    assert counting.reads == [(0, 15), (15, 30), (30, 40)]
    np.testing.assert_array_equal(chunks[2].frames, video[10:40])


class OpenFileExtractor(DepthVideoExtractor):
    """A user's format with no pickling code: uint16 frames in a file kept open between reads."""

    extractor_name = "OpenFileExtractor"

    def __init__(self, path, rows, cols, sampling_frequency=30.0):
        super().__init__()
        self.handle = open(path, "rb")  # noqa: SIM115 - kept open, as a reader might
        self._image_size = (rows, cols)
        self._num_frames = self.handle.seek(0, 2) // (rows * cols * 2)
        self._sampling_frequency = sampling_frequency

    def get_image_size(self):
        return self._image_size

    def get_num_frames(self):
        return self._num_frames

    def get_sampling_frequency(self):
        return self._sampling_frequency

    def get_video(self, start_frame=None, end_frame=None):
        rows, cols = self._image_size
        self.handle.seek(start_frame * rows * cols * 2)
        data = self.handle.read((end_frame - start_frame) * rows * cols * 2)
        return np.frombuffer(data, "<u2").reshape(end_frame - start_frame, rows, cols)


def test_a_users_subclass_pickles_with_no_code_of_its_own(tmp_path, video):
    path = tmp_path / "frames.u16"
    video.astype("<u2").tofile(path)
    original = OpenFileExtractor(path, 6, cols=7, sampling_frequency=25.0)
    original.get_video(0, 3)
    clone = pickle.loads(pickle.dumps(original))
    try:
        assert type(clone) is OpenFileExtractor
        assert clone.handle is not original.handle  # built again: its own open file
        assert clone.get_sampling_frequency() == 25.0
        np.testing.assert_array_equal(clone.get_video(), video)
        check_depth_extractor(original, video)  # which pickles too
    finally:
        original.handle.close()
        clone.handle.close()


def test_a_pickled_copy_keeps_set_times_and_camera(extractor, video):
    camera = CameraModel("bench", "unknown", (6, 7), (60.0, 50.0))
    times = np.arange(40) * 0.04 + 3.0
    extractor.set_times(times)
    extractor.set_camera(camera)
    clone = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_array_equal(clone.get_timestamps(), times)
    assert clone.camera == camera
    np.testing.assert_array_equal(clone.get_video(), video)


def test_pickled_slices_read_and_time_as_the_original(extractor, video):
    middle = extractor.frame_slice(5, 35)
    middle.set_times(np.linspace(0.0, 1.0, 30))
    inner = middle.frame_slice(2, -3)
    for view, frames in ((extractor.frame_slice(4, 30).frame_slice(1, 9), video[5:13]),
                         (inner, video[7:32])):  # fmt: skip
        clone = pickle.loads(pickle.dumps(view))
        np.testing.assert_array_equal(clone.get_video(), frames)
        np.testing.assert_array_equal(clone.get_timestamps(), view.get_timestamps())
        assert clone.start_frame == view.start_frame
        assert clone.end_frame == view.end_frame


def test_a_converted_numpy_video_is_pickled_as_uint16(video):
    wide = video.astype(np.int64)
    converted = NumpyDepthExtractor(wide, 30.0)
    assert len(pickle.dumps(converted)) < wide.nbytes  # the int64 copy is not sent along
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(converted)).get_video(), video)
