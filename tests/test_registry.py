import numpy as np
import pytest

from depthextractors import (
    NumpyDepthExtractor,
    RawDepthExtractor,
    find_depth_file,
    open_depth_video,
    register_extractor,
    registered_formats,
)


def test_raw_is_registered():
    assert registered_formats()[".dat"] is RawDepthExtractor


def make_dat(path, frames=1):
    np.ones((frames, 424, 512), np.uint16).tofile(path)
    return path


def test_directory_never_takes_ir(tmp_path):
    make_dat(tmp_path / "ir.dat", 2)
    make_dat(tmp_path / "depth.dat", 1)
    assert find_depth_file(tmp_path) == tmp_path / "depth.dat"
    with pytest.warns(UserWarning, match="30 Hz"):
        assert open_depth_video(tmp_path).get_num_frames() == 1


def test_directory_with_only_ir_is_an_error(tmp_path):
    make_dat(tmp_path / "ir.dat")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match=r"ir\.\* and color files are never read"):
        open_depth_video(tmp_path)


def test_ambiguous_directory(tmp_path):
    make_dat(tmp_path / "depth.dat")
    make_dat(tmp_path / "depth_2.dat")
    with pytest.raises(ValueError, match="several depth recordings"):
        find_depth_file(tmp_path)


def test_depth_named_file_preferred(tmp_path):
    make_dat(tmp_path / "session.dat")
    make_dat(tmp_path / "depth.dat")
    assert find_depth_file(tmp_path).name == "depth.dat"


def test_unknown_extension_and_missing_path(tmp_path):
    (tmp_path / "movie.xyz").write_bytes(b"1")
    with pytest.raises(ValueError, match=r"no extractor reads movie\.xyz"):
        open_depth_video(tmp_path / "movie.xyz")
    with pytest.raises(FileNotFoundError):
        open_depth_video(tmp_path / "absent.dat")


class NpyDepthExtractor(NumpyDepthExtractor):
    """A format made in a test: a .npy file of frames."""

    def __init__(self, file_path, sampling_frequency=30.0):
        super().__init__(np.load(file_path), sampling_frequency)


def test_registering_a_new_format(tmp_path):
    np.save(tmp_path / "depth.npy", np.full((3, 4, 5), 7, np.uint16))
    register_extractor(NpyDepthExtractor, (".npy",))
    try:
        extractor = open_depth_video(tmp_path, sampling_frequency=15.0)
        assert isinstance(extractor, NpyDepthExtractor)
        assert extractor.get_sampling_frequency() == 15.0
    finally:
        from depthextractors.extractors import registry

        registry._REGISTRY[:] = [
            e for e in registry._REGISTRY if e.extractor_class is not NpyDepthExtractor
        ]


def test_register_validation():
    with pytest.raises(TypeError, match="not a DepthVideoExtractor"):
        register_extractor(dict, (".x",))
    with pytest.raises(ValueError, match="start with a dot"):
        register_extractor(NpyDepthExtractor, ("npy",))
