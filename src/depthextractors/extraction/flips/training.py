"""Train a flip classifier from extracted sessions: :func:`train_flip_classifier`.

Training reads results objects (:class:`FlipTrainingSource`: in-memory results, or those
``depthextractors.read_results(path)`` returns); opening files is the caller's business.
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ..._version import __version__
from ..arguments import as_crop_size
from .classifier import ClassifierFlipCorrector, _crop_features

__all__ = ["FlipTrainingSource", "train_flip_classifier"]

logger = logging.getLogger(__name__)

# Labelled frames below which training is refused.
_MIN_FRAMES = 20


class FlipTrainingSource(Protocol):
    """What training reads of one extracted session (e.g. an ``ExtractionResults``).

    ``frames`` is sliced with an array of frame indices; a ``path`` attribute, when there is
    one, names the session in the training summary.
    """

    @property
    def frames(self) -> Any:
        """``(n, crop_rows, crop_cols)`` crops, heights in mm, nose east."""

    @property
    def valid(self) -> np.ndarray:
        """``(n,)`` bool, where the animal was found."""

    @property
    def flip_confidence(self) -> Any:
        """``(n,)`` flip corrector's confidence, or None when no flip corrector ran."""

    @property
    def parameters(self) -> Mapping[str, Any]:
        """Extraction parameters (``camera_type`` is read)."""

    def __len__(self) -> int:
        """Number of frames."""


def train_flip_classifier(
    sources: Sequence[FlipTrainingSource],
    labels: Sequence[np.ndarray] | None = None,
    *,
    min_confidence: float = 0.99,
    max_frames: int = 20000,
    feature_size: tuple[int, int] = (20, 20),
    smoothing: int = 51,
    regularization: float = 1.0,
    held_out_fraction: float = 0.2,
    seed: int = 0,
) -> ClassifierFlipCorrector:
    """Train a :class:`ClassifierFlipCorrector` from extracted sessions.

    Each crop used gives two training examples: as stored (label from below) and rotated 180
    degrees (the opposite label), so both classes are balanced and the classifier learns the
    animal's front/rear asymmetry, not the orientation mix of the sessions.

    Parameters
    ----------
    sources : sequence of ExtractionResults
        Extracted sessions: results in memory, or ``depthextractors.read_results(path)`` of
        ``results_00.h5`` files (anything with :class:`FlipTrainingSource`'s attributes).
    labels : sequence of numpy.ndarray, optional
        One array per source, per frame: 0 = the stored crop has its nose east, 1 = west,
        -1 = unknown (not used). Without labels, the frames the flip corrector of the
        extraction (e.g. :class:`MotionFlipCorrector`) oriented with a confidence of at least
        ``min_confidence`` are taken as nose east.
    min_confidence : float, default 0.99
        Flip confidence a frame needs to be used when no labels are given.
    max_frames : int, default 20000
        At most this many labelled frames are used (a seeded random sample over all sources).
    feature_size : (int, int), default (20, 20)
        Crops are downsampled to this ``(rows, cols)`` size.
    smoothing : int, default 51
        Median filter length saved with the classifier (``flip_classifier_smoothing``).
    regularization : float, default 1
        Inverse regularisation strength ``C`` of the logistic regression.
    held_out_fraction : float, default 0.2
        Fraction of frames kept out of training to measure the accuracy in the summary.
    seed : int, default 0
        Seed of the sampling and the split.

    Returns
    -------
    ClassifierFlipCorrector
        Its ``metadata["training"]`` summarises the data and the held-out accuracy; it has no
        file until it is saved (:meth:`ClassifierFlipCorrector.save`).

    Raises
    ------
    TypeError
        If a source is a path rather than results (open it with ``read_results`` first).
    ValueError
        If a source has no flip confidence and no labels are given, if labels do not match the
        frames or hold values other than -1, 0 and 1, if the sessions have different crop
        sizes, if ``smoothing`` is even, or if fewer than 20 labelled frames are found.
    """
    _check_arguments(sources, labels, held_out_fraction, smoothing)
    crop_size = _common_crop_size(sources)
    chosen = _labelled_frames(sources, labels, min_confidence)
    rng = np.random.default_rng(seed)
    frames, target = _sample(sources, chosen, max_frames, rng)
    features = _crop_features(frames, as_crop_size(feature_size, "feature_size", minimum=1))
    model, accuracy, examples = _fit(features, target, held_out_fraction, regularization, rng)
    summary = {
        "sources": [str(getattr(r, "path", None) or f"in-memory results {i}")
                    for i, r in enumerate(sources)],
        "labels": "given" if labels is not None else f"flip_confidence >= {min_confidence}",
        "frames": int(target.size // 2),
        "examples": examples,
        "held_out_accuracy": accuracy,
        "regularization": float(regularization),
        "seed": int(seed),
    }  # fmt: skip
    metadata = _metadata(sources, summary)
    return ClassifierFlipCorrector(model, crop_size, feature_size, smoothing, metadata)


def _check_arguments(
    sources: Sequence[Any],
    labels: Sequence[np.ndarray] | None,
    held_out_fraction: float,
    smoothing: int,
) -> None:
    """Refuse bad arguments before any frame is read (training can take a while)."""
    for source in sources:
        if isinstance(source, (str, os.PathLike)):
            raise TypeError(
                f"train_flip_classifier takes extraction results, got the path {str(source)!r}; "
                "open it with depthextractors.read_results(path) first"
            )
    if labels is not None and len(labels) != len(sources):
        raise ValueError(
            f"labels must give one array per source: {len(sources)} sources, {len(labels)} arrays"
        )
    if not 0 <= held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in [0, 1), got {held_out_fraction}")
    if int(smoothing) < 0 or (int(smoothing) > 1 and int(smoothing) % 2 == 0):
        # Checked before training rather than by the corrector's constructor after.
        raise ValueError(
            f"smoothing must be an odd number of frames (or 0 to switch it off), got {smoothing}"
        )


def _common_crop_size(sources: Sequence[FlipTrainingSource]) -> tuple[int, ...]:
    """The crop size all sessions share."""
    if any(results.frames is None for results in sources):
        raise ValueError(
            "a session has no frames (an NWB file of scalars only); training needs crops"
        )
    crop_sizes = {tuple(int(v) for v in results.frames.shape[1:]) for results in sources}
    if len(crop_sizes) != 1:
        raise ValueError(f"the sessions have different crop sizes {sorted(crop_sizes)}")
    return crop_sizes.pop()


def _labelled_frames(
    sources: Sequence[FlipTrainingSource],
    labels: Sequence[np.ndarray] | None,
    min_confidence: float,
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per source: its index, the frames used and their labels (0 nose east, 1 west)."""
    chosen: list[tuple[int, np.ndarray, np.ndarray]] = []
    for k, results in enumerate(sources):
        valid = results.valid
        if labels is not None:
            label = np.asarray(labels[k])
            if label.shape != (len(results),):
                raise ValueError(
                    f"labels[{k}] has shape {label.shape}; source {k} has {len(results)} frames"
                )
            unknown_values = np.setdiff1d(np.unique(label), [-1, 0, 1])
            if unknown_values.size:
                raise ValueError(
                    f"labels[{k}] may hold only 0 (nose east), 1 (nose west) and -1 (unknown), "
                    f"found {unknown_values[:5].tolist()}"
                )
            usable = valid & (label >= 0)
            chosen.append((k, np.flatnonzero(usable), label[usable].astype(np.int64)))
        else:
            if results.flip_confidence is None:
                raise ValueError(
                    f"source {k} has no flip confidence (no flip corrector ran); extract it with "
                    "MotionFlipCorrector or pass labels"
                )
            confidence = np.asarray(results.flip_confidence[:], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                usable = valid & (confidence >= min_confidence)
            index = np.flatnonzero(usable)
            chosen.append((k, index, np.zeros(index.size, dtype=np.int64)))
    total = sum(index.size for _, index, _ in chosen)
    if total < _MIN_FRAMES:
        raise ValueError(
            f"only {total} labelled frames found (at least {_MIN_FRAMES} needed); lower "
            "min_confidence or give labels"
        )
    return chosen


def _sample(
    sources: Sequence[FlipTrainingSource],
    chosen: list[tuple[int, np.ndarray, np.ndarray]],
    max_frames: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_frames`` labelled crops, each followed later by its 180-degree turn.

    Returns the crops and their labels: the first half as stored, the second half turned
    round with the opposite labels.
    """
    total = sum(index.size for _, index, _ in chosen)
    keep_fraction = min(1.0, max_frames / total)
    crops, targets = [], []
    for k, index, label in chosen:
        if keep_fraction < 1.0:
            pick = np.sort(rng.choice(index.size, round(index.size * keep_fraction), False))
            index, label = index[pick], label[pick]
        if index.size:
            crops.append(np.asarray(sources[k].frames[index]))
            targets.append(label)
    frames = np.concatenate(crops)
    target = np.concatenate(targets)
    return (
        np.concatenate([frames, frames[:, ::-1, ::-1]]),
        np.concatenate([target, 1 - target]),
    )


def _fit(
    features: np.ndarray,
    target: np.ndarray,
    held_out_fraction: float,
    regularization: float,
    rng: np.random.Generator,
) -> tuple[Any, float | None, int]:
    """Logistic regression on a seeded split; the model, held-out accuracy, training size.

    A crop and its turn stay on the same side of the split, so the held-out accuracy is
    measured on crops the model never saw in either orientation.
    """
    from sklearn.linear_model import LogisticRegression

    half = target.size // 2
    order = rng.permutation(half)
    held = order[: round(order.size * held_out_fraction)]
    train = np.setdiff1d(order, held)
    train = np.concatenate([train, train + half])
    held = np.concatenate([held, held + half])
    model = LogisticRegression(C=float(regularization), max_iter=1000)
    model.fit(features[train], target[train])
    accuracy = float(model.score(features[held], target[held])) if held.size else None
    logger.info("flip classifier trained on %d frames; held-out accuracy %s", half, accuracy)
    return model, accuracy, int(train.size)


def _metadata(sources: Sequence[FlipTrainingSource], summary: dict[str, Any]) -> dict[str, Any]:
    """Camera, creation time, library versions and the training summary."""
    from sklearn import __version__ as sklearn_version

    cameras = {results.parameters.get("camera_type") for results in sources} - {None}
    return {
        "camera": cameras.pop() if len(cameras) == 1 else None,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "depthextractors": __version__,
            "scikit-learn": sklearn_version,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "training": summary,
    }
