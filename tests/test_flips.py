"""Flip correction: the motion/shape corrector (no model) and the classifier corrector.

Heading accuracy is measured against the synthetic ground truth: a frame is right when the
extracted angle is within 90 degrees of ``truth.heading``, counted over the frames where the
animal is visible and was found.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import h5py
import numpy as np
import pytest

from depthextractors import (
    ManualROI,
    NumpyDepthExtractor,
    SessionExtraction,
    StridedMedianBackground,
    read_results,
)
from depthextractors.extraction import (
    PARAMETERS,
    ClassifierFlipCorrector,
    FlipClassifierError,
    FlipCorrector,
    FlipDecision,
    JobOptions,
    MotionFlipCorrector,
    train_flip_classifier,
)
from depthextractors.extraction.crop import crop_and_rotate, turn_round
from depthextractors.extraction.recorded_parameters import moseq2_parameters
from depthextractors.extraction.strategy import build_strategy
from depthextractors.io import H5ResultsWriter, InMemoryResultsWriter
from depthextractors.testing import (
    SessionParameters,
    SyntheticDepthExtractor,
    synthesize_depth_video,
)


def _session(extractor, truth, **kwargs):
    kwargs.setdefault("roi", ManualROI(truth.arena_mask))
    kwargs.setdefault("background", StridedMedianBackground(frame_stride=10))
    return SessionExtraction(extractor, **kwargs)


def _heading_right(results, truth, offset=0):
    angle = np.asarray(results.scalars["angle"][:], dtype=np.float64)
    heading = truth.heading[offset : offset + angle.size]
    right = np.cos(angle - heading) > 0
    counted = results.valid & truth.visible[offset : offset + angle.size]
    return right, counted


@pytest.fixture(scope="module", params=[0, 1, 2])
def kinect_clip(request):
    seed = request.param
    # Seed 2 also has an experimenter's hand reaching in over the animal for 20 frames.
    video, truth = synthesize_depth_video(1000, seed=seed, hand_frames=20 if seed == 2 else 0)
    return NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0), truth


def test_motion_corrector_heading_on_1000_kinect_frames(kinect_clip):
    extractor, truth = kinect_clip
    assert (~truth.moving).sum() > 100  # pauses included: shape evidence has work to do
    results = _session(extractor, truth, flip_corrector=MotionFlipCorrector()).run(
        InMemoryResultsWriter(), progress=False
    )
    right, counted = _heading_right(results, truth)
    assert counted.sum() > 950
    assert right[counted].mean() >= 0.99
    # Flips are exactly where the uncorrected angle pointed backwards.
    plain = _session(extractor, truth, flip_corrector=None).run(
        InMemoryResultsWriter(), progress=False
    )
    plain_right, _ = _heading_right(plain, truth)
    np.testing.assert_array_equal(results.flips[counted], ~plain_right[counted])


def test_motion_corrector_across_many_chunk_boundaries(kinect_clip):
    extractor, truth = kinect_clip
    small = _session(extractor, truth, flip_corrector=MotionFlipCorrector()).run(
        InMemoryResultsWriter(), chunk_size=37, progress=False
    )
    right, counted = _heading_right(small, truth)
    assert right[counted].mean() >= 0.99
    # A look-ahead shorter than a chunk still decides the chunk ends well.
    short = _session(extractor, truth, flip_corrector=MotionFlipCorrector(lookahead=5)).run(
        InMemoryResultsWriter(), chunk_size=64, progress=False
    )
    right, counted = _heading_right(short, truth)
    assert right[counted].mean() >= 0.99


def test_flips_applied_once_to_crops_masks_and_angle(kinect_clip):
    extractor, truth = kinect_clip
    plain = _session(extractor, truth, flip_corrector=None).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    fixed = _session(extractor, truth, flip_corrector=MotionFlipCorrector()).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    flips = np.asarray(fixed.flips[:], dtype=bool)
    # (The uncorrected angle follows one end all along: seed 0 has every frame flipped, seed 1
    # none, so both branches are checked.)
    assert not flips[~fixed.valid].any()
    np.testing.assert_allclose(
        fixed.scalars["angle"], plain.scalars["angle"] + np.pi * flips, atol=1e-5
    )
    # Turned by 180 degrees where flipped (once: not 360), untouched elsewhere; the look-ahead
    # frames the corrector saw do not change anything else.
    np.testing.assert_array_equal(fixed.frames[flips], turn_round(plain.frames[flips]))
    np.testing.assert_array_equal(fixed.frames_mask[flips], turn_round(plain.frames_mask[flips]))
    np.testing.assert_array_equal(fixed.frames[~flips], plain.frames[~flips])
    np.testing.assert_array_equal(fixed.frames_mask[~flips], plain.frames_mask[~flips])
    for name in ("centroid_x_px", "centroid_y_px", "area_px", "velocity_2d_mm"):
        np.testing.assert_array_equal(fixed.scalars[name], plain.scalars[name], err_msg=name)


def test_confidence_and_flips_written_to_results_h5(tmp_path):
    video, truth = synthesize_depth_video(200, seed=4)
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    results = _session(extractor, truth, flip_corrector=MotionFlipCorrector()).run(
        H5ResultsWriter(tmp_path), chunk_size=64, progress=False
    )
    with h5py.File(tmp_path / "results_00.h5", "r") as handle:
        extraction = handle["metadata/extraction"]
        assert extraction["flips"].dtype == bool
        assert extraction["flips"].shape == (200,)
        confidence = extraction["flip_confidence"][()]
        assert confidence.dtype == np.float32
        assert "description" in extraction["flip_confidence"].attrs
        # The corrector is recorded as the moseq2-style key's choice and by its class.
        assert extraction["parameters/flip_corrector"][()] == b"motion"
        strategies = json.loads(extraction["strategies"][()])
        assert strategies["flip_corrector"]["class"].endswith(".MotionFlipCorrector")
        assert extraction["parameters/flip_switch_cost"][()] == 20.0
    valid = results.valid
    assert np.isfinite(confidence[valid]).all()
    assert np.isnan(confidence[~valid]).all()
    assert ((confidence[valid] >= 0) & (confidence[valid] <= 1)).all()
    assert np.median(confidence[valid]) > 0.99
    np.testing.assert_array_equal(results.flip_confidence[:], confidence)
    right, counted = _heading_right(results, truth)
    assert right[counted].mean() >= 0.99


def test_start_during_a_pause_and_each_evidence_alone():
    video, truth = synthesize_depth_video(700, seed=5)
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    # Start the extraction at a pause: only the body shape tells head from tail there.
    pauses = np.flatnonzero(~truth.moving[1:] & truth.moving[:-1]) + 1
    start = int(pauses[(pauses > 20) & (pauses < 300)][0])
    assert not truth.moving[start : start + 10].any()
    clip = extractor.frame_slice(start, start + 400)
    results = _session(clip, truth, flip_corrector=MotionFlipCorrector()).run(
        InMemoryResultsWriter(), chunk_size=50, progress=False
    )
    right, counted = _heading_right(results, truth, offset=start)
    assert right[counted].mean() >= 0.99
    assert right[:10].all()
    for alone in (MotionFlipCorrector(shape_weight=0), MotionFlipCorrector(motion_weight=0)):
        results = _session(extractor, truth, flip_corrector=alone).run(
            InMemoryResultsWriter(), chunk_size=100, progress=False
        )
        right, counted = _heading_right(results, truth)
        assert right[counted].mean() >= 0.99, alone


def test_motion_corrector_is_the_default(kinect_clip):
    extractor, truth = kinect_clip
    default = _session(extractor, truth)
    assert isinstance(default.flip_corrector, MotionFlipCorrector)
    # Each session gets its own (a corrector follows one session).
    assert _session(extractor, truth).flip_corrector is not default.flip_corrector
    assert isinstance(_session(extractor, truth, flip_corrector="motion").flip_corrector,
                      MotionFlipCorrector)  # fmt: skip
    assert _session(extractor, truth, flip_corrector=None).flip_corrector is None
    with pytest.raises(ValueError, match="'motion' or None"):
        _session(extractor, truth, flip_corrector="classifier")


def test_corrector_instance_reused_gives_the_same_answer():
    video, truth = synthesize_depth_video(150, seed=6)
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    corrector = MotionFlipCorrector()
    first = _session(extractor, truth, flip_corrector=corrector).run(
        InMemoryResultsWriter(), chunk_size=40, progress=False
    )
    second = _session(extractor, truth, flip_corrector=corrector).run(
        InMemoryResultsWriter(), chunk_size=40, progress=False
    )
    np.testing.assert_array_equal(first.flips, second.flips)
    np.testing.assert_array_equal(first.flip_confidence, second.flip_confidence)


@pytest.mark.parametrize("seed", [11, 12])
def test_motion_corrector_on_9000_frames(tmp_path, seed):
    # 9,000 frames on the smaller Azure NFOV-binned preset (288 x 320) to keep the test short;
    # rendered as they are read (the frames generate_synthetic_session would write), so
    # memory stays small and no 1.7 GB file is written first.
    video = SyntheticDepthExtractor(
        9000, SessionParameters(camera="azure_nfov_binned", seed=seed)
    )
    truth = video.truth
    assert (~truth.moving).sum() > 1000
    results = _session(video, truth, flip_corrector=MotionFlipCorrector()).run(
        H5ResultsWriter(tmp_path / "proc"), progress=False
    )
    right, counted = _heading_right(results, truth)
    assert counted.sum() > 8900
    assert right[counted].mean() >= 0.99


@pytest.mark.parametrize("size", [(80, 80), (81, 79)])
@pytest.mark.parametrize("interpolation", [0, 1])
def test_turning_round_equals_cropping_with_angle_plus_pi(size, interpolation):
    image = np.random.default_rng(0).uniform(0, 100, (200, 220)).astype(np.float32)
    crop = crop_and_rotate(image, 100.3, 90.7, 0.4, size, interpolation=interpolation)
    turned = crop_and_rotate(image, 100.3, 90.7, 0.4 + np.pi, size, interpolation=interpolation)
    # The centroid stays on the centre pixel (linear interpolation differs by OpenCV's 1/32-pixel
    # weights only); only the first row / column (from outside the
    # original crop) is filled instead.
    rows, cols = 1 - size[0] % 2, 1 - size[1] % 2
    np.testing.assert_allclose(
        turn_round(crop[None])[0][rows:, cols:], turned[rows:, cols:], atol=0.05
    )
    assert turn_round(turn_round(crop[None], -5.0), -5.0)[0][rows:, cols:].tolist() == (
        crop[rows:, cols:].tolist()
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"motion_weight": -1},
        {"full_speed_mm_s": 10},
        {"switch_cost": 0},
        {"velocity_span": 0},
        {"lookahead": -1},
        {"shape_height_cap": 0},
    ],
)
def test_motion_corrector_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="must"):
        MotionFlipCorrector(**kwargs)


def test_decision_of_the_wrong_length_is_an_error(kinect_clip):
    extractor, truth = kinect_clip

    class Short(FlipCorrector):
        def correct(self, context):
            return FlipDecision(np.zeros(len(context) - 1, bool), np.zeros(len(context) - 1))

    with pytest.raises(ValueError, match="one value per frame"):
        _session(extractor.frame_slice(0, 50), truth, flip_corrector=Short()).run(
            InMemoryResultsWriter(), progress=False
        )


# ------------------------------------------------------------------------------------------
# The contract: a corrector is one subclass of FlipCorrector with one method
# ------------------------------------------------------------------------------------------
class HeavierRear(FlipCorrector):
    """The example of the docs: turn round the crops heavier at the east (nose) end."""

    def correct(self, context):
        half = context.frames.shape[2] // 2
        west = context.frames[:, :, :half].sum(axis=(1, 2), dtype=float)
        east = context.frames[:, :, -half:].sum(axis=(1, 2), dtype=float)
        return east > west


class Recorder(FlipCorrector):
    """Records what the session gives it; turns nothing round."""

    def __init__(self, lookahead=7):
        self.lookahead = lookahead
        self.resets = self.finalized = 0

    def reset(self):
        self.calls = []
        self.resets += 1

    def finalize(self):
        self.finalized += 1

    def correct(self, context):
        ahead = context.lookahead
        self.calls.append(
            (context.start, len(context), None if ahead is None else (ahead.start, len(ahead)))
        )
        return np.zeros(len(context), dtype=bool)


def test_a_corrector_is_one_subclass_with_one_method(kinect_clip):
    extractor, truth = kinect_clip
    corrector = HeavierRear()
    assert corrector.lookahead == 0
    assert corrector.get_params() == {}
    assert repr(corrector) == "HeavierRear()"
    assert isinstance(build_strategy(corrector.describe()), HeavierRear)
    plain = _session(extractor, truth, flip_corrector=None).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    fixed = _session(extractor, truth, flip_corrector=corrector).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    crops = np.asarray(plain.frames[:], dtype=float)
    heavier_east = crops[:, :, -40:].sum(axis=(1, 2)) > crops[:, :, :40].sum(axis=(1, 2))
    np.testing.assert_array_equal(fixed.flips, heavier_east & plain.valid)
    assert np.isnan(fixed.flip_confidence).all()  # a bool answer carries no confidence
    np.testing.assert_array_equal(fixed.frames[fixed.flips], turn_round(plain.frames[fixed.flips]))
    # Recorded by its class with the strategies (the moseq2 keys name only built-in choices).
    recorded = fixed.metadata["strategies"]["flip_corrector"]
    assert recorded == {"class": f"{HeavierRear.__module__}.HeavierRear", "params": {}}
    # The rear is the taller end: the crude rule is mostly right.
    right, counted = _heading_right(fixed, truth)
    assert right[counted].mean() > 0.95

    class NoMethod(FlipCorrector):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoMethod()


def test_the_session_keeps_the_contract(kinect_clip):
    extractor, truth = kinect_clip
    corrector = Recorder()
    for _ in range(2):
        _session(extractor, truth, flip_corrector=corrector).run(
            InMemoryResultsWriter(), chunk_size=300, progress=False
        )
    assert corrector.resets == corrector.finalized == 2
    # Chunks in order, each frame decided once; the frames after each as evidence.
    assert corrector.calls == [
        (0, 300, (300, 7)), (300, 300, (600, 7)), (600, 300, (900, 7)), (900, 100, None)
    ]  # fmt: skip
    assert Recorder(lookahead=3).get_params() == {"lookahead": 3}


def test_motion_corrector_parameters_round_trip():
    corrector = MotionFlipCorrector(switch_cost=12, lookahead=9, velocity_span=2)
    params = corrector.get_params()
    assert params["switch_cost"] == 12.0
    assert params["lookahead"] == 9
    assert list(params) == list(MotionFlipCorrector.param_names())
    assert type(corrector)(**params).get_params() == params
    description = corrector.describe()
    assert description["class"] == "depthextractors.extraction.flips.motion.MotionFlipCorrector"
    rebuilt = build_strategy(description)
    assert isinstance(rebuilt, MotionFlipCorrector)
    assert rebuilt.get_params() == params
    assert repr(corrector) == "MotionFlipCorrector(velocity_span=2, switch_cost=12, lookahead=9)"
    # The flat extraction parameters recorded with the results hold the same values.
    extractor = NumpyDepthExtractor(np.full((2, 8, 8), 680, np.uint16), 30.0)
    session = SessionExtraction(extractor, flip_corrector=corrector)
    recorded = moseq2_parameters(session, None, JobOptions())
    flat = {
        spec.argument: recorded[spec.key]
        for spec in PARAMETERS
        if spec.role == "flip_corrector" and spec.owner is None
    }
    assert flat == params


def test_flips_package_layering():
    """Nothing in extraction/flips imports the results layer or the package root."""
    import ast
    from pathlib import Path

    import depthextractors.extraction.flips as flips

    for path in Path(flips.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                parts = target.lstrip(".").split(".")
                # The results layer: the writers' contract and the io package above it.
                assert not {"outputs", "results", "io"} & set(parts), (path.name, target)
                assert target not in ("...", "depthextractors"), (path.name, target)


# ------------------------------------------------------------------------------------------
# The classifier corrector
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier trained on one motion-corrected session, saved, and a second session."""
    root = tmp_path_factory.mktemp("classifier")
    video, truth = synthesize_depth_video(900, seed=20)
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    _session(extractor, truth, flip_corrector=MotionFlipCorrector()).run(
        H5ResultsWriter(root / "train"), progress=False
    )
    classifier = train_flip_classifier([read_results(root / "train")], smoothing=15)
    path = classifier.save(root / "flips.npz")
    video, truth = synthesize_depth_video(400, seed=21)
    other = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    return classifier, path, other, truth


def test_classifier_trained_from_motion_corrected_results_orients_another_session(trained):
    classifier, path, extractor, truth = trained
    summary = classifier.metadata["training"]
    assert summary["frames"] > 500
    assert summary["held_out_accuracy"] > 0.99
    assert classifier.metadata["camera"] == "kinect_v2"
    loaded = ClassifierFlipCorrector.load(path)
    assert loaded.smoothing == 15
    assert loaded.metadata["versions"]["scikit-learn"]
    results = _session(extractor, truth, flip_corrector=loaded).run(
        InMemoryResultsWriter(), chunk_size=100, progress=False
    )
    right, counted = _heading_right(results, truth)
    assert right[counted].mean() >= 0.99
    assert results.parameters["flip_classifier"] == str(path)
    assert results.parameters["flip_classifier_smoothing"] == 15
    assert np.nanmedian(results.flip_confidence) > 0.9
    # The median filter spans chunk boundaries: small chunks give the same answer.
    small = _session(extractor, truth, flip_corrector=loaded).run(
        InMemoryResultsWriter(), chunk_size=23, progress=False
    )
    np.testing.assert_array_equal(small.flips, results.flips)
    np.testing.assert_array_equal(small.flip_confidence, results.flip_confidence)


def test_classifier_loaded_in_a_fresh_process_predicts_the_same(trained, tmp_path):
    classifier, path, extractor, truth = trained
    crops = _session(extractor, truth).run(InMemoryResultsWriter(), progress=False).frames[:]
    np.save(tmp_path / "crops.npy", crops)
    script = (
        "import sys, numpy as np\n"
        "from depthextractors.extraction import ClassifierFlipCorrector\n"
        "c = ClassifierFlipCorrector.load(sys.argv[1])\n"
        "np.save(sys.argv[3], c.predict_proba(np.load(sys.argv[2])))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "crops.npy"),
         str(tmp_path / "p.npy")],
        check=True,
    )  # fmt: skip
    elsewhere = np.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(elsewhere, classifier.predict_proba(crops))
    np.testing.assert_array_equal(
        elsewhere, ClassifierFlipCorrector.load(path).predict_proba(crops)
    )
    assert np.abs(elsewhere - 0.5).min() < 0.5  # probabilities, not a constant 0 or 1


def test_classifier_refuses_another_crop_size(trained):
    _, path, extractor, truth = trained
    loaded = ClassifierFlipCorrector.load(path)
    with pytest.raises(FlipClassifierError, match=r"80x80 crops.*64x64"):
        _session(extractor, truth, crop_size=(64, 64), flip_corrector=loaded)
    with pytest.raises(FlipClassifierError, match="80x80"):
        loaded.predict_proba(np.zeros((3, 64, 64), np.uint8))


def test_classifier_refuses_corrupt_and_foreign_files(trained, tmp_path):
    _, path, _, _ = trained
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00not a classifier" * 50)
    moseq_pickle = tmp_path / "flip_classifier_k2_c57_10to13weeks.pkl"
    moseq_pickle.write_bytes(pickle.dumps({"classes_": [0, 1]}))
    for bad in (truncated, garbage, moseq_pickle):
        with pytest.raises(FlipClassifierError, match="train_flip_classifier"):
            ClassifierFlipCorrector.load(bad)
    # A file from a newer version of the format, and one with damaged coefficients.
    with np.load(path) as archive:
        parts = {key: archive[key] for key in archive.files}
    header = json.loads(str(parts["header"][()]))
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**parts, "header": np.array(json.dumps({**header, "format_version": 99}))})
    with pytest.raises(FlipClassifierError, match="format 99"):
        ClassifierFlipCorrector.load(newer)
    damaged = tmp_path / "damaged.npz"
    np.savez(damaged, **{**parts, "coef": parts["coef"][:, :10]})
    with pytest.raises(FlipClassifierError, match="damaged"):
        ClassifierFlipCorrector.load(damaged)
    with pytest.raises(FileNotFoundError):
        ClassifierFlipCorrector.load(tmp_path / "missing.npz")


def test_classifier_from_user_labels_and_bad_training_input():
    video, truth = synthesize_depth_video(300, seed=22)
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    plain = _session(extractor, truth, flip_corrector=None).run(
        InMemoryResultsWriter(), progress=False
    )
    with pytest.raises(ValueError, match="no flip confidence"):
        train_flip_classifier([plain])
    # Labels: 1 where the stored crop has the nose west; every 5th frame unknown.
    right, _ = _heading_right(plain, truth)
    labels = np.where(right, 0, 1)
    labels[::5] = -1
    classifier = train_flip_classifier([plain], [labels], smoothing=0)
    assert classifier.metadata["training"]["labels"] == "given"
    predicted = classifier.predict_proba(plain.frames[:]) > 0.5
    assert (predicted[plain.valid] == ~right[plain.valid]).mean() > 0.99
    with pytest.raises(ValueError, match="one array per source"):
        train_flip_classifier([plain], [labels, labels])
    with pytest.raises(ValueError, match="shape"):
        train_flip_classifier([plain], [labels[:10]])
    with pytest.raises(ValueError, match="odd"):
        ClassifierFlipCorrector(classifier.model, (80, 80), smoothing=50)


def test_classifier_parameters_and_description_round_trip(trained, tmp_path):
    _, path, extractor, truth = trained
    crops = (
        _session(extractor.frame_slice(0, 60), truth)
        .run(InMemoryResultsWriter(), progress=False)
        .frames[:]
    )
    loaded = ClassifierFlipCorrector.load(path, smoothing=5)
    params = loaded.get_params()
    assert list(params) == ["model", "crop_size", "feature_size", "smoothing", "metadata"]
    copy = type(loaded)(**params)
    assert {k: v for k, v in copy.get_params().items() if k != "metadata"} == {
        k: v for k, v in params.items() if k != "metadata"
    }
    assert copy.metadata == loaded.metadata
    # Described by its file and smoothing, loaded again from that file.
    description = loaded.describe()
    assert description == {
        "class": "depthextractors.extraction.flips.classifier.ClassifierFlipCorrector",
        "params": {"path": str(path), "smoothing": 5},
    }
    rebuilt = build_strategy(description)
    assert isinstance(rebuilt, ClassifierFlipCorrector)
    assert rebuilt.smoothing == 5
    assert rebuilt.path == str(path)
    np.testing.assert_array_equal(rebuilt.predict_proba(crops), loaded.predict_proba(crops))
    # Only in memory: no file to describe it by; saved, it is described by its file.
    in_memory = type(loaded)(**params)
    assert in_memory.describe()["params"] == {"path": None, "smoothing": 5}
    with pytest.raises(ValueError, match=r"save it first \(corrector.save\(path\)\)"):
        build_strategy(in_memory.describe())
    saved = in_memory.save(tmp_path / "again.npz")
    assert in_memory.describe()["params"] == {"path": str(saved), "smoothing": 5}
    assert build_strategy(in_memory.describe()).smoothing == 5


def test_training_takes_results_not_paths(tmp_path):
    with pytest.raises(TypeError, match=r"read_results\(path\) first"):
        train_flip_classifier([tmp_path / "results_00.h5"])


# ------------------------------------------------------------------ rearing
def test_upper_quartile_heights_is_the_75th_percentile_of_the_mask():
    from depthextractors.extraction.flips.motion import upper_quartile_heights

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 120, size=(9, 20, 24)).astype(np.uint8)
    masks = rng.random(frames.shape) < 0.4
    masks[4] = False  # an empty mask
    found = upper_quartile_heights(frames, masks)
    for frame, mask, value in zip(frames, masks, found, strict=True):
        expected = np.percentile(frame[mask], 75, method="inverted_cdf") if mask.any() else 0
        assert value == expected


def _posed_crops(reared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crops of a still animal, nose east: the rear taller, or the front raised when reared."""
    rows, cols = np.mgrid[0:40, 0:60]
    body = ((cols - 30) / 22.0) ** 2 + ((rows - 20) / 9.0) ** 2 <= 1
    frames = np.zeros((reared.size, 40, 60), dtype=np.uint8)
    walking = np.where(body, np.where(cols < 30, 30, 24), 0)
    rearing = np.where(body, np.where(cols < 30, 26, 60), 0)
    frames[:] = np.where(reared[:, None, None], rearing, walking)
    return frames, np.broadcast_to(body, frames.shape).copy()


@pytest.mark.parametrize("back_height", [None, 30.0])
def test_a_rearing_animal_is_not_turned_round_by_its_raised_head(back_height):
    from depthextractors.cameras import get_camera
    from depthextractors.extraction.flips import FlipContext

    reared = np.zeros(150, dtype=bool)
    reared[50:120] = True  # standing still, head up for 70 frames
    frames, masks = _posed_crops(reared)
    context = FlipContext(
        start=0, frames=frames, masks=masks, angle=np.zeros(150),
        centroid_px=np.full((150, 2), 100.0), valid=np.ones(150, dtype=bool),
        timestamps_s=np.arange(150) / 30.0, camera=get_camera("kinect_v2"), true_depth=680.0,
        animal_height_mm=back_height,
    )  # fmt: skip
    flips = MotionFlipCorrector().correct(context).flips
    assert not flips[:50].any()
    if back_height is None:
        # Without the back height the raised head reads as a taller rear: the bout is turned.
        assert flips[60:110].all()
    else:
        assert not flips.any()


def _still_animal_context(frames, masks, back_height):
    from depthextractors.cameras import get_camera
    from depthextractors.extraction.flips import FlipContext

    n = frames.shape[0]
    return FlipContext(
        start=0, frames=frames, masks=masks, angle=np.zeros(n),
        centroid_px=np.full((n, 2), 100.0), valid=np.ones(n, dtype=bool),
        timestamps_s=np.arange(n) / 30.0, camera=get_camera("kinect_v2"), true_depth=680.0,
        animal_height_mm=back_height,
    )  # fmt: skip


@pytest.mark.parametrize("stub_height", [90, 120])
def test_a_tether_rising_from_the_head_does_not_make_it_the_rear(stub_height):
    """A still animal, nose east, rear taller (30 mm) than the front (24 mm), with a tether's
    stub rising from its head (35 pixels at ``stub_height``): the heights counted at most the
    back height keep the nose east; counted in full, the stub makes the head the heavier end
    and the whole session is turned round."""
    frames, masks = _posed_crops(np.zeros(120, dtype=bool))
    frames[:, 18:23, 44:51] = stub_height
    capped = MotionFlipCorrector().correct(_still_animal_context(frames, masks, 30.0))
    assert not capped.flips.any()
    uncapped = MotionFlipCorrector(shape_height_cap=None)
    assert uncapped.correct(_still_animal_context(frames, masks, 30.0)).flips.all()
    # Without a measured back height nothing is capped.
    assert MotionFlipCorrector().correct(_still_animal_context(frames, masks, None)).flips.all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("back_height", [None, 20.0, 23.7, 254.6, 300.0])
def test_capped_asymmetry_is_that_of_the_capped_heights(dtype, back_height):
    """The asymmetry is computed on whole millimetres in place (no float copy of the chunk);
    it equals the asymmetry of min(height, cap x back height) computed in floating point."""
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, size=(12, 30, 41)).astype(dtype)
    frames[3] = 0  # a frame without the animal
    corrector = MotionFlipCorrector(shape_height_cap=1.1)
    found = corrector._capped_asymmetry(frames.copy(), back_height)
    heights = frames.astype(np.float64)
    if back_height is not None:
        heights = np.minimum(heights, 1.1 * back_height)
    rear, front = heights[:, :, :20].sum(axis=(1, 2)), heights[:, :, 21:].sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(rear + front > 0, (rear - front) / (rear + front), 0.0)
    # Float32 heights are capped at the cap rounded to float32.
    tolerance = 1e-7 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(found, expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize(("seed", "pitch"), [(31, 45.0), (32, 65.0), (33, 80.0)])
def test_heading_stays_right_through_rearing_bouts(seed, pitch):
    from depthextractors.testing import Behaviour

    video, truth = synthesize_depth_video(
        360, seed=seed, behaviour=Behaviour(rearing=0.3, rear_angle_deg=pitch)
    )
    extractor = NumpyDepthExtractor(video, 30.0, timestamps=truth.timestamps_ms / 1000.0)
    results = _session(extractor, truth).run(InMemoryResultsWriter(), progress=False, n_jobs=1)
    right, counted = _heading_right(results, truth)
    rearing = counted & truth.rearing
    assert rearing.sum() > 25
    assert right[rearing].mean() >= 0.95
    assert right[counted].mean() >= 0.98
