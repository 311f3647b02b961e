"""One parameter model: the table, the Python defaults, the command line, generate-config and the
recorded parameters agree, and recorded parameters reproduce the results.
"""

from __future__ import annotations

import inspect
import os
import warnings

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from depthextractors import (
    InMemoryResultsWriter,
    SessionExtraction,
    open_depth_video,
    read_results,
)
from depthextractors.cli import main
from depthextractors.config import ConfigWarning, ExtractionConfig
from depthextractors.extraction import (
    EMTracker,
    FrameFilters,
    HampelFilter,
    JobOptions,
    MomentsTracker,
    MotionFlipCorrector,
    PlaneFitBackground,
    PlaneROI,
    Strategy,
    StridedMedianBackground,
)
from depthextractors.extraction.executor import (
    PROCESSES_MIN_FRAMES,
    default_processes,
    default_threads,
)
from depthextractors.extraction.parameters import PARAMETERS, default_value
from depthextractors.testing import generate_synthetic_session
from depthextractors.workflow import extract_session

# Arguments of the built-in strategies that no key sets, and why.
NOT_KEYS = {
    (PlaneFitBackground, "roi"): "the arena strategy itself (use_plane_bground shares it)",
    (JobOptions, "n_jobs"): "--n-jobs on the command line; recorded under job",
    (JobOptions, "progress"): "--progress-bar on the command line; nothing to record",
}
BUILT_IN = (
    StridedMedianBackground,
    PlaneFitBackground,
    PlaneROI,
    FrameFilters,
    MomentsTracker,
    EMTracker,
    HampelFilter,
    MotionFlipCorrector,
    JobOptions,
)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("parameters") / "session_1"
    generate_synthetic_session(directory, 150, dropped_frames=2, seed=21)
    return directory


def _datasets(path) -> dict[str, np.ndarray]:
    """Every dataset of a results file but the run's identity and its parameter records."""
    skip = ("metadata/uuid", "metadata/extraction/extract_version", "metadata/extraction/job",
            "metadata/extraction/strategies")  # fmt: skip
    found = {}

    def visit(name, item):
        parameter = name.startswith("metadata/extraction/parameters/")
        if isinstance(item, h5py.Dataset) and name not in skip and not parameter:
            found[name] = item[()]

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return found


def _assert_same_results(a, b) -> None:
    first, second = _datasets(a), _datasets(b)
    assert sorted(first) == sorted(second)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_every_strategy_argument_has_a_key_and_every_key_an_argument():
    roles = {
        StridedMedianBackground: {"background"}, PlaneFitBackground: {"background"},
        PlaneROI: {"roi"}, FrameFilters: {"filters"}, MomentsTracker: {"tracker"},
        EMTracker: {"tracker"}, HampelFilter: {"centroid_hampel", "angle_hampel"},
        MotionFlipCorrector: {"flip_corrector"}, JobOptions: {"job"},
    }  # fmt: skip
    by_role = {}
    for spec in PARAMETERS:
        if spec.argument is not None:
            by_role.setdefault(spec.role, set()).add(spec.argument)
    # Every key names an argument its owner's constructor has.
    owners = {"tracker": (MomentsTracker, EMTracker), "roi": (PlaneROI,),
              "background": (StridedMedianBackground,), "filters": (FrameFilters,),
              "centroid_hampel": (HampelFilter,), "angle_hampel": (HampelFilter,),
              "flip_corrector": (MotionFlipCorrector,), "job": (JobOptions,),
              "session": (SessionExtraction,)}  # fmt: skip
    for spec in PARAMETERS:
        if spec.argument is None or spec.owner == "flips.ClassifierFlipCorrector":
            continue
        assert any(
            spec.argument in inspect.signature(cls.__init__).parameters
            for cls in owners[spec.role]
        ), spec.key
    # Every argument of a built-in strategy has a key, so it is recorded and can be given.
    for cls, its_roles in roles.items():
        for name in cls.param_names():
            if (cls, name) in NOT_KEYS:
                continue
            assert any(name in by_role.get(role, ()) for role in its_roles), (
                f"{cls.__name__}({name}=...) has no key: it would be neither recorded nor "
                "settable from a config file"
            )


def test_shared_arguments_have_one_default():
    # The keys of the EM tracker's arguments that the moments tracker shares, and the plane
    # background's that the median background shares, take one default from either class.
    pairs = ((MomentsTracker, EMTracker), (StridedMedianBackground, PlaneFitBackground))
    for first, second in pairs:
        a, b = first.default_params(), second.default_params()
        for name in set(a) & set(b):
            assert a[name] == b[name], f"{first.__name__} and {second.__name__}: {name}"


def test_default_threads_leave_two_cpus_to_one_extraction_thread():
    assert [default_threads(cpus) for cpus in (1, 2, 3, 4, 8, 64)] == [1, 1, 3, 4, 4, 4]


def test_default_processes_are_one_per_cpu_up_to_eight():
    assert [default_processes(cpus) for cpus in (1, 2, 3, 8, 64)] == [1, 2, 3, 8, 8]
    assert default_threads() == default_threads(os.cpu_count())


def test_python_defaults_equal_the_configuration_and_generate_config(tmp_path):
    config = ExtractionConfig()
    # Each key's default is read from the constructor that owns its argument.
    for spec in PARAMETERS:
        if spec.argument is not None and spec.role not in ("session",) and spec.owner is None:
            value = default_value(spec)
            assert config[spec.key] == ExtractionConfig(**{spec.key: value})[spec.key]
    assert config.max_height == MomentsTracker().max_height == 120
    assert config.dilate_iterations == PlaneROI().dilate_iterations == 1
    assert config.use_cc is EMTracker().use_cc is True
    assert config.job_options() == JobOptions()
    # The extraction's workers: one default for Python, the command line and batch sessions,
    # which depends on where the frames are worked on.
    assert JobOptions().n_jobs is None
    assert JobOptions().plan(True) == ("processes", default_processes())
    assert JobOptions().plan(True, PROCESSES_MIN_FRAMES) == ("processes", default_processes())
    assert JobOptions().plan(True, PROCESSES_MIN_FRAMES - 1) == ("threads", default_threads())
    assert JobOptions().plan(False) == ("threads", default_threads())
    assert JobOptions(n_jobs=1).plan(True) == ("threads", 1)
    assert JobOptions(n_jobs=1, workers="processes").plan(True, 10) == ("processes", 1)
    assert JobOptions(workers="threads").plan(True) == ("threads", default_threads())
    options = {option.name: option for option in main.commands["extract"].params}
    assert options["n_jobs"].default is None
    assert inspect.signature(extract_session).parameters["n_jobs"].default is None
    # generate-config writes exactly the configuration's defaults.
    result = CliRunner().invoke(main, ["generate-config", "-o", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert ExtractionConfig.from_dict(written) == config
    assert set(written) == set(config.to_dict())


def test_python_cli_and_config_defaults_give_the_same_pipeline_and_results(session, tmp_path):
    video = open_depth_video(session)
    from_python = SessionExtraction(video)
    from_config = ExtractionConfig().build_extraction(video)
    assert from_python.describe() == from_config.describe()
    # The command line with its defaults, and the Python API with its own.
    result = CliRunner().invoke(
        main, ["extract", str(session / "depth.dat"), "--output-dir", str(tmp_path / "cli"),
               "--no-movie", "--write-report", "false"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from depthextractors import H5ResultsWriter

    SessionExtraction(open_depth_video(session)).run(
        H5ResultsWriter(tmp_path / "python"), progress=False
    )
    _assert_same_results(tmp_path / "cli" / "results_00.h5", tmp_path / "python" / "results_00.h5")
    cli_record = read_results(tmp_path / "cli").metadata["strategies"]
    python_record = read_results(tmp_path / "python").metadata["strategies"]
    assert cli_record == python_record


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--use-tracking-model", "true", "--temporal-filter-size", "3", "--frame-trim", "3", "4",
         "--centroid-hampel-span", "5", "--detected-true-depth", "681", "--bg-roi-index", "0",
         "--camera-type", "kinect", "-b", "40"],
        ["--use-plane-bground", "--manual-set-depth-range", "--bg-roi-depth-range", "600", "760",
         "--flip-corrector", "none", "--frame-dtype", "uint16", "--max-height", "300"],
    ],
    ids=["defaults", "em-temporal-hampel", "plane-manual-uint16"],
)  # fmt: skip
def test_recorded_parameters_reproduce_the_results(session, tmp_path, options):
    first = tmp_path / "first"
    result = CliRunner().invoke(
        main, ["extract", str(session / "depth.dat"), "--output-dir", str(first), "--no-movie",
               "--write-report", "false", *options],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # Given back as --config-file, with nothing else: no unknown key, the same results.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        config = ExtractionConfig.from_yaml(first / "results_00.yaml")
    again = tmp_path / "again"
    result = CliRunner().invoke(
        main, ["extract", str(session / "depth.dat"), "--output-dir", str(again), "--no-movie",
               "--write-report", "false", "--config-file", str(first / "results_00.yaml")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    _assert_same_results(first / "results_00.h5", again / "results_00.h5")
    # ExtractionConfig from a results file is one call, from the YAML or from the HDF5 file.
    assert ExtractionConfig.from_results(first) == config
    (first / "results_00.yaml").unlink()
    assert ExtractionConfig.from_results(first / "results_00.h5") == config
    # The strategies recorded are the ones the configuration builds.
    rebuilt = config.build_extraction(open_depth_video(session))
    assert read_results(again).metadata["strategies"] == rebuilt.describe()


def test_results_record_every_key_with_its_description(session, tmp_path):
    from depthextractors import H5ResultsWriter

    SessionExtraction(open_depth_video(session), num_frames=30).run(
        H5ResultsWriter(tmp_path), progress=False
    )
    with h5py.File(tmp_path / "results_00.h5", "r") as handle:
        group = handle["metadata/extraction/parameters"]
        recorded = set(group)
        for spec in PARAMETERS:
            if spec.group == "workflow":
                continue
            assert spec.key in recorded, spec.key
            assert group[spec.key].attrs["description"] == spec.help
    status = yaml.safe_load((tmp_path / "results_00.yaml").read_text())
    assert set(status["strategies"]) >= {"background", "roi", "tracker", "flip_corrector"}
    # 30 frames: too few to start worker processes for (PROCESSES_MIN_FRAMES).
    assert status["job"] == {"n_jobs": default_threads(), "chunk_size": 1000, "workers": "threads"}


def test_job_options_are_not_science_parameters(session):
    video = open_depth_video(session)
    extraction = SessionExtraction(video, num_frames=60)
    first = extraction.run(InMemoryResultsWriter(), chunk_size=7, n_jobs=1, progress=False)
    second = extraction.run(InMemoryResultsWriter(), chunk_size=1000, n_jobs=2, progress=False)
    np.testing.assert_array_equal(first.frames, second.frames)
    assert first.parameters == {**second.parameters, "chunk_size": 7}
    assert first.metadata["strategies"] == second.metadata["strategies"]
    # What ran is recorded (60 frames of a raw depth.dat: threads unless processes are asked for).
    assert (first.metadata["job"], second.metadata["job"]) == (
        {"n_jobs": 1, "chunk_size": 7, "workers": "threads"},
        {"n_jobs": 2, "chunk_size": 1000, "workers": "threads"},
    )  # fmt: skip
    third = extraction.run(InMemoryResultsWriter(), n_jobs=2, workers="processes", progress=False)
    np.testing.assert_array_equal(first.frames, third.frames)
    assert third.metadata["job"] == {"n_jobs": 2, "chunk_size": 1000, "workers": "processes"}
    with pytest.raises(TypeError, match="either"):
        extraction.run(InMemoryResultsWriter(), job=JobOptions(), n_jobs=1)


class _TallerThreshold(MomentsTracker):
    """A subclass of a built-in tracker: the keys cannot say what it does differently."""

    def find(self, image):
        return super().find(np.where(image >= 12, image, 0).astype(image.dtype))


def test_strategies_the_keys_cannot_build_are_recorded_and_refused_as_a_configuration(
    session, tmp_path
):
    from depthextractors import H5ResultsWriter
    from depthextractors.config import ConfigError

    SessionExtraction(
        open_depth_video(session), tracker=_TallerThreshold(), num_frames=20
    ).run(H5ResultsWriter(tmp_path), progress=False)
    results = read_results(tmp_path)
    assert results.parameters["custom_strategies"] == [
        f"tracker: {__name__}._TallerThreshold"
    ]
    assert results.metadata["strategies"]["tracker"]["class"].endswith("._TallerThreshold")
    with pytest.raises(ConfigError, match=r"cannot build .*tracker: .*_TallerThreshold"):
        ExtractionConfig.from_results(tmp_path)
    # Built-in strategies only: nothing listed.
    SessionExtraction(open_depth_video(session), num_frames=20).run(
        H5ResultsWriter(tmp_path / "plain"), progress=False
    )
    assert read_results(tmp_path / "plain").parameters["custom_strategies"] is None


class WithLookupTable(Strategy):
    """A strategy with a large array parameter."""

    def __init__(self, table=None):
        self.table = np.zeros(5000) if table is None else table


def test_large_arrays_are_not_written_into_descriptions():
    from depthextractors.extraction import ManualROI, build_strategy

    described = WithLookupTable().describe()
    assert described["params"]["table"] == {"not_recorded": "5000 float64 array"}
    with pytest.raises(ValueError, match="not recorded"):
        build_strategy(described)
    # A manual arena is recorded compactly (run lengths), and rebuilt exactly.
    mask = np.zeros((424, 512), dtype=bool)
    mask[60:380, 80:430] = True
    roi = ManualROI(mask)
    described = roi.describe()
    assert len(described["params"]["mask"]["runs"]) == 2 * 320
    np.testing.assert_array_equal(build_strategy(described).mask, mask)
