"""Property tests: random slices, slices of slices and get_frames equal numpy indexing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthextractors import NumpyDepthExtractor, RawDepthExtractor

NUM_FRAMES = 37
VIDEO = np.random.default_rng(7).integers(0, 60000, size=(NUM_FRAMES, 3, 4), dtype=np.uint16)
bound = st.one_of(st.none(), st.integers(-2 * NUM_FRAMES, 2 * NUM_FRAMES))


@pytest.fixture(scope="module")
def raw_extractor(tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "depth.dat"
    VIDEO.tofile(path)
    return RawDepthExtractor(path, frame_size=(3, 4), sampling_frequency=30.0)


def expected_range(length, start, end):
    """numpy's slice, or None where our API raises (a resolved start after the end)."""
    resolved_start, resolved_end, _ = slice(start, end).indices(length)
    return None if resolved_start > resolved_end else (resolved_start, resolved_end)


def slice_refusal(length, start, end):
    """What ``frame_slice`` raises for a range numpy would take (None: a view, maybe clamped
    with a warning): a start after the end, or (issue 14) a start past the last frame."""
    if expected_range(length, start, end) is None:
        return "must not be after"
    if start is not None and start > length:
        return "lies past the end"
    return None


@pytest.mark.filterwarnings("ignore:frame_slice")
@settings(max_examples=300, deadline=None)
@given(a=bound, b=bound, c=bound, d=bound)
def test_slice_then_get_video_equals_numpy(raw_extractor, a, b, c, d):
    refusal = slice_refusal(NUM_FRAMES, a, b)
    if refusal is not None:
        with pytest.raises(ValueError, match=refusal):
            raw_extractor.frame_slice(a, b)
        return
    view = raw_extractor.frame_slice(a, b)
    reference = VIDEO[a:b]
    assert view.get_num_frames() == reference.shape[0]
    inner = expected_range(reference.shape[0], c, d)
    if inner is None:
        with pytest.raises(ValueError, match="must not be after"):
            view.get_video(c, d)
        return
    np.testing.assert_array_equal(view.get_video(c, d), reference[c:d])


@pytest.mark.filterwarnings("ignore:frame_slice")
@settings(max_examples=200, deadline=None)
@given(a=bound, b=bound, c=bound, d=bound, e=bound, f=bound)
def test_slices_of_slices_equal_numpy(a, b, c, d, e, f):
    extractor = NumpyDepthExtractor(VIDEO, 30.0)
    reference = VIDEO
    view = extractor
    for start, end in ((a, b), (c, d), (e, f)):
        refusal = slice_refusal(reference.shape[0], start, end)
        if refusal is not None:
            with pytest.raises(ValueError, match=refusal):
                view.frame_slice(start, end)
            return
        view = view.frame_slice(start, end)
        reference = reference[start:end]
    np.testing.assert_array_equal(view.get_video(), reference)
    assert view.parent is extractor
    np.testing.assert_allclose(
        view.get_timestamps(), extractor.get_timestamps()[view.start_frame : view.end_frame]
    )


@pytest.mark.filterwarnings("ignore:frame_slice")
@settings(max_examples=200, deadline=None)
@given(
    a=bound,
    b=bound,
    picks=st.lists(st.integers(-3 * NUM_FRAMES, 3 * NUM_FRAMES), max_size=25),
)
def test_get_frames_equals_numpy_fancy_indexing(raw_extractor, a, b, picks):
    if slice_refusal(NUM_FRAMES, a, b) is not None:
        return
    view = raw_extractor.frame_slice(a, b)
    reference = VIDEO[a:b]
    length = reference.shape[0]
    if any(not -length <= p < length for p in picks):
        with pytest.raises(IndexError):
            view.get_frames(picks)
        return
    np.testing.assert_array_equal(
        view.get_frames(picks), reference[picks] if picks else reference[:0]
    )


@settings(max_examples=100, deadline=None)
@given(chunk=st.integers(1, 50), overlap=st.integers(0, 20), a=bound, b=bound)
def test_chunks_reassemble_the_range(raw_extractor, chunk, overlap, a, b):
    if expected_range(NUM_FRAMES, a, b) is None:
        return
    pieces = []
    for item in raw_extractor.iter_chunks(chunk, overlap, a, b):
        np.testing.assert_array_equal(item.frames, VIDEO[item.read_start : item.end])
        pieces.append(item.new_frames)
    reference = VIDEO[a:b]
    if pieces:
        np.testing.assert_array_equal(np.concatenate(pieces), reference)
    else:
        assert reference.shape[0] == 0
