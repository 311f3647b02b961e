"""Which end is the nose, from a trained classifier: :class:`ClassifierFlipCorrector`.

The classifier is trained on extracted crops (:func:`~depthextractors.extraction.flips.training.
train_flip_classifier`) and kept in a portable ``.npz`` file with its metadata
(:meth:`ClassifierFlipCorrector.save`, :meth:`ClassifierFlipCorrector.load`).
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..arguments import as_crop_size
from .base import FlipContext, FlipCorrector, FlipDecision

__all__ = [
    "CLASSIFIER_FORMAT",
    "CLASSIFIER_FORMAT_VERSION",
    "ClassifierFlipCorrector",
    "FlipClassifierError",
]

#: Identifies the classifier files written by :meth:`ClassifierFlipCorrector.save`.
CLASSIFIER_FORMAT = "depthextractors-flip-classifier"
#: Version of that file layout this library reads and writes.
CLASSIFIER_FORMAT_VERSION = 1
# Heights are divided by this before classification, so features are around 0-1.
_HEIGHT_SCALE_MM = 100.0


class FlipClassifierError(ValueError):
    """A flip classifier file cannot be used (corrupt, foreign, newer, or another crop size)."""


class ClassifierFlipCorrector(FlipCorrector):
    """Orient the animal with a classifier trained on extracted crops.

    The classifier (scikit-learn ``LogisticRegression`` on the crop downsampled to
    ``feature_size``, heights in units of 100 mm) gives, per frame, the probability that the
    crop shows the nose west (needs turning round). The probabilities are median-filtered over
    ``smoothing`` frames, across chunk boundaries, as moseq2-extract's
    ``flip_classifier_smoothing``; a frame is flipped when the smoothed probability exceeds 0.5.
    Train one with :func:`train_flip_classifier`, keep it with :meth:`save`, use it with
    :meth:`load`.

    Parameters
    ----------
    model : sklearn.linear_model.LogisticRegression
        Fitted on :meth:`features` of crops, classes 0 (nose east) and 1 (nose west).
    crop_size : (int, int)
        ``(rows, cols)`` of the crops it was trained on; other crop sizes are refused.
    feature_size : (int, int), default (20, 20)
        ``(rows, cols)`` the crops are downsampled to (area averaging).
    smoothing : int, default 51
        Median filter length over frames (odd; 0 or 1 switches it off).
    metadata : dict, optional
        Camera, library versions and training summary (kept in the saved file).

    Attributes
    ----------
    path : str or None
        The file it was loaded from or last saved to (recorded as the ``flip_classifier``
        parameter); None for a classifier only in memory.

    Notes
    -----
    :meth:`describe` records the classifier by its file and smoothing, not by its
    coefficients, and :meth:`from_params` loads it again from that file: save a classifier
    trained in memory before recording it.
    """

    def __init__(
        self,
        model: Any,
        crop_size: tuple[int, int],
        feature_size: tuple[int, int] = (20, 20),
        smoothing: int = 51,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
            raise TypeError(
                "model must be a fitted scikit-learn classifier with predict_proba, got "
                f"{type(model).__name__}"
            )
        if sorted(int(c) for c in model.classes_) != [0, 1]:
            raise FlipClassifierError(
                f"the classifier's classes must be 0 (nose east) and 1 (nose west), got "
                f"{list(model.classes_)}"
            )
        self.model = model
        self.crop_size = as_crop_size(crop_size, "crop_size", minimum=1)
        self.feature_size = as_crop_size(feature_size, "feature_size", minimum=1)
        expected = self.feature_size[0] * self.feature_size[1]
        found = getattr(model, "n_features_in_", expected)
        if found != expected:
            raise FlipClassifierError(
                f"the classifier takes {found} features but feature_size {self.feature_size} "
                f"gives {expected}"
            )
        smoothing = int(smoothing)
        if smoothing < 0 or (smoothing > 1 and smoothing % 2 == 0):
            raise ValueError(
                f"smoothing must be an odd number of frames (or 0 to switch it off), got "
                f"{smoothing}"
            )
        self.smoothing = smoothing
        self.metadata = dict(metadata or {})
        self.path: str | None = None
        self.reset()

    def __repr__(self) -> str:
        where = f", path={self.path!r}" if self.path else ""
        return (
            f"ClassifierFlipCorrector(crop_size={self.crop_size}, smoothing={self.smoothing}"
            f"{where})"
        )

    @property
    def lookahead(self) -> int:
        """Frames after each chunk the median filter needs (half its length)."""
        return self.smoothing // 2

    def describe(self) -> dict[str, Any]:
        """What results record of this corrector: its class, classifier file and smoothing.

        Returns
        -------
        dict
            ``{"class": ..., "params": {"path": ..., "smoothing": ...}}``; ``path`` is None
            when the classifier was never saved (it cannot be rebuilt then).
        """
        description = super().describe()
        # The model is recorded by its file: coefficients in a results file's parameters
        # would be unreadable and the file keeps them with their metadata.
        description["params"] = {"path": self.path, "smoothing": self.smoothing}
        return description

    @classmethod
    def from_params(
        cls, path: str | os.PathLike | None = None, smoothing: int | None = None
    ) -> ClassifierFlipCorrector:
        """Load the classifier recorded by :meth:`describe` from its file.

        Parameters
        ----------
        path : path-like or None
            The classifier file.
        smoothing : int, optional
            Median filter length over frames; the value saved with the classifier by default.

        Returns
        -------
        ClassifierFlipCorrector

        Raises
        ------
        ValueError
            If ``path`` is None: the classifier described was never saved.
        FileNotFoundError, FlipClassifierError
            As :meth:`load`.
        """
        if path is None:
            raise ValueError(
                "this ClassifierFlipCorrector was described without a file (it was only ever "
                "in memory), so it cannot be rebuilt from its description; save it first "
                "(corrector.save(path)) and describe it again, or load it with "
                "ClassifierFlipCorrector.load(path)"
            )
        return cls.load(path, smoothing=smoothing)

    def reset(self) -> None:
        """Forget the session followed so far."""
        self._history = np.zeros(0)
        self._warned_camera = False

    def check_crop_size(self, crop_size: tuple[int, int]) -> None:
        """Raise :class:`FlipClassifierError` unless crops of ``crop_size`` can be classified.

        Parameters
        ----------
        crop_size : (int, int)
            ``(rows, cols)`` of the extraction's crops, pixels.

        Raises
        ------
        FlipClassifierError
            If ``crop_size`` differs from the crop size the classifier was trained on.
        """
        if tuple(int(v) for v in crop_size) != self.crop_size:
            raise FlipClassifierError(
                f"this flip classifier was trained on {self.crop_size[0]}x{self.crop_size[1]} "
                f"crops but the extraction crops {crop_size[0]}x{crop_size[1]}; set "
                f"crop_size={self.crop_size} or train a classifier on crops of this size "
                "(train_flip_classifier)"
            )

    # ------------------------------------------------------------------ prediction
    def features(self, frames: np.ndarray) -> np.ndarray:
        """``(n, features)`` float64 classifier input of ``(n, rows, cols)`` crops (mm).

        Parameters
        ----------
        frames : numpy.ndarray
            ``(n, rows, cols)`` rotated crops, heights in mm.

        Returns
        -------
        numpy.ndarray
            ``(n, feature_rows * feature_cols)`` float64: the crops downsampled (area
            average) to ``feature_size``, in units of 100 mm, flattened.

        Raises
        ------
        ValueError
            If ``frames`` is not three-dimensional.
        FlipClassifierError
            If the crops are not of the classifier's ``crop_size``.
        """
        frames = np.asarray(frames)
        if frames.ndim != 3:
            raise ValueError(f"frames must be (n, rows, cols) crops, got shape {frames.shape}")
        self.check_crop_size(frames.shape[1:])
        return _crop_features(frames, self.feature_size)

    def predict_proba(self, frames: np.ndarray) -> np.ndarray:
        """Probability that each crop shows the nose west, ``(n,)`` float64, unsmoothed.

        Parameters
        ----------
        frames : numpy.ndarray
            ``(n, rows, cols)`` rotated crops, heights in mm (``n`` may be 0).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` float64 probabilities in [0, 1].

        Raises
        ------
        ValueError
            If ``frames`` is not three-dimensional.
        FlipClassifierError
            If the crops are not of the classifier's ``crop_size``.
        """
        if len(frames) == 0:
            return np.zeros(0)
        column = list(self.model.classes_).index(1)
        return self.model.predict_proba(self.features(frames))[:, column]

    def correct(self, context: FlipContext) -> FlipDecision:
        """Flip the frames whose smoothed probability of facing west exceeds 0.5.

        The probabilities are median-filtered over ``smoothing`` frames, using the frames
        kept from earlier chunks and ``context.lookahead``. Warns (once) when the recording's
        camera is not the one the classifier was trained on.

        Parameters
        ----------
        context : FlipContext
            One chunk of finished frames, in session order.

        Returns
        -------
        FlipDecision
            Flips (``(n,)`` bool) and confidence (``(n,)`` float32, the smoothed probability
            of the chosen orientation; NaN where no animal was found).

        Raises
        ------
        FlipClassifierError
            If the crops are not of the classifier's ``crop_size``.
        """
        camera = self.metadata.get("camera")
        if camera and camera != context.camera.name and not self._warned_camera:
            warnings.warn(
                f"the flip classifier was trained on {camera} crops; this recording is from "
                f"{context.camera.name}. Check the flips, or train a classifier for this camera",
                stacklevel=2,
            )
            self._warned_camera = True
        n = len(context)
        probability = np.full(n, np.nan)
        probability[context.valid] = self.predict_proba(context.frames[context.valid])
        ahead = np.zeros(0)
        if context.lookahead is not None and len(context.lookahead):
            ahead = np.full(len(context.lookahead), np.nan)
            valid = context.lookahead.valid
            ahead[valid] = self.predict_proba(context.lookahead.frames[valid])
        radius = self.lookahead
        series = np.concatenate([self._history, probability, ahead])
        first = self._history.size
        smoothed = _running_nanmedian(series, radius)[first : first + n]
        self._history = series[: first + n][-radius:] if radius else np.zeros(0)
        found = context.valid & np.isfinite(smoothed)
        flips = found & (smoothed > 0.5)
        confidence = np.where(found, np.maximum(smoothed, 1.0 - smoothed), np.nan)
        return FlipDecision(flips=flips, confidence=confidence.astype(np.float32))

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the classifier and its metadata to a portable file.

        The file is a NumPy ``.npz`` archive (no pickles, so loading never runs code and does
        not depend on the scikit-learn version): the model's coefficients, intercept and
        classes, and a JSON header with the format, crop and feature sizes, camera, library
        versions and training summary.

        Parameters
        ----------
        path : path-like
            File to write (replaced if it exists; written to ``<path>.partial`` first).

        Returns
        -------
        pathlib.Path

        Notes
        -----
        The corrector's :attr:`path` becomes ``path``, so that it is recorded by that file.
        """
        model = self.model
        if type(model).__name__ != "LogisticRegression":
            raise TypeError(
                f"only LogisticRegression classifiers can be saved portably, got "
                f"{type(model).__name__}"
            )
        header = dict(self.metadata)
        header.update(
            {
                "format": CLASSIFIER_FORMAT,
                "format_version": CLASSIFIER_FORMAT_VERSION,
                "model": "LogisticRegression",
                "crop_size": list(self.crop_size),
                "feature_size": list(self.feature_size),
                "height_scale_mm": _HEIGHT_SCALE_MM,
                "smoothing": self.smoothing,
            }
        )
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez(
                handle,
                header=np.array(json.dumps(header)),
                coef=np.asarray(model.coef_, dtype=np.float64),
                intercept=np.asarray(model.intercept_, dtype=np.float64),
                classes=np.asarray(model.classes_, dtype=np.int64),
            )
        os.replace(partial, path)
        self.path = str(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, smoothing: int | None = None) -> ClassifierFlipCorrector:
        """Read a classifier written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The file.
        smoothing : int, optional
            Median filter length over frames; the value saved with the classifier by default.

        Returns
        -------
        ClassifierFlipCorrector
            Its :attr:`path` is ``path``.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        FlipClassifierError
            If the file is corrupt, is not a depthextractors flip classifier (e.g. a moseq2
            pickle), or was written by a newer version.
        """
        from sklearn.linear_model import LogisticRegression

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no flip classifier at {path}")
        header, coef, intercept, classes = _read_archive(path)
        try:
            crop_size = as_crop_size(header["crop_size"], "crop_size", minimum=1)
            feature_size = as_crop_size(header["feature_size"], "feature_size", minimum=1)
            saved_smoothing = int(header.get("smoothing", 51))
        except (KeyError, TypeError, ValueError) as error:
            raise FlipClassifierError(f"{path}: incomplete classifier header ({error})") from error
        features = feature_size[0] * feature_size[1]
        if coef.shape != (1, features) or intercept.shape != (1,) or classes.shape != (2,):
            raise FlipClassifierError(
                f"{path}: coefficients of shape {coef.shape} do not match feature_size "
                f"{feature_size} (expected (1, {features})); the file is damaged"
            )
        if float(header.get("height_scale_mm", _HEIGHT_SCALE_MM)) != _HEIGHT_SCALE_MM:
            raise FlipClassifierError(f"{path}: unknown height scale; retrain the classifier")
        model = LogisticRegression()
        model.coef_ = coef
        model.intercept_ = intercept
        model.classes_ = classes
        model.n_features_in_ = features
        metadata = {
            key: value
            for key, value in header.items()
            if key not in ("crop_size", "feature_size", "smoothing", "height_scale_mm")
        }
        corrector = cls(
            model,
            crop_size,
            feature_size,
            saved_smoothing if smoothing is None else smoothing,
            metadata,
        )
        corrector.path = str(path)
        return corrector


def _read_archive(path: Path) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """Header, coefficients, intercept and classes of a classifier file, format checked."""
    advice = (
        "train one with depthextractors.extraction.train_flip_classifier (moseq2-extract's "
        "pickled random forests are not loaded: they need scikit-learn 0.19/0.20 and "
        "unpickling runs arbitrary code)"
    )
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"][()]))
            coef = np.array(archive["coef"], dtype=np.float64)
            intercept = np.array(archive["intercept"], dtype=np.float64)
            classes = np.array(archive["classes"], dtype=np.int64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise FlipClassifierError(
            f"{path} is not a readable depthextractors flip classifier ({error}); {advice}"
        ) from error
    if not isinstance(header, dict) or header.get("format") != CLASSIFIER_FORMAT:
        raise FlipClassifierError(f"{path} is not a depthextractors flip classifier; {advice}")
    version = header.get("format_version")
    if not isinstance(version, int) or version > CLASSIFIER_FORMAT_VERSION:
        raise FlipClassifierError(
            f"{path} has flip classifier format {version!r}; this depthextractors reads "
            f"format {CLASSIFIER_FORMAT_VERSION} and older. Upgrade depthextractors or "
            "retrain the classifier"
        )
    return header, coef, intercept, classes


def _crop_features(frames: np.ndarray, feature_size: tuple[int, int]) -> np.ndarray:
    """Crops downsampled (area average) to ``feature_size``, in units of 100 mm, flattened."""
    rows, cols = feature_size
    # float64 throughout, so a model trained here and one loaded from its file (float64
    # coefficients) compute exactly the same probabilities.
    out = np.empty((frames.shape[0], rows * cols), dtype=np.float64)
    for i, frame in enumerate(frames):
        small = cv2.resize(frame.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
        out[i] = small.ravel()
    out /= _HEIGHT_SCALE_MM
    return out



def _running_nanmedian(values: np.ndarray, radius: int) -> np.ndarray:
    """Median of each value's window of ``2 * radius + 1``, ignoring NaN; windows clip at ends."""
    if radius <= 0 or values.size == 0:
        return values.copy()
    padded = np.pad(values, radius, constant_values=np.nan)
    windows = sliding_window_view(padded, 2 * radius + 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return np.nanmedian(windows, axis=1)
