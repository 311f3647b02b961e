"""The parameters an extraction records with its results: every key of the parameter table
(:data:`~depthextractors.extraction.parameters.PARAMETERS`) read back from the session's
strategies, the strategies chosen and what the arena step decided. Given back as a
configuration, they build the same pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .parameters import (
    _BUILT_BY_KEYS,
    _CLASSIFIER,
    _EM,
    PARAMETERS,
    WORKFLOW,
    _class,
    default_value,
)
from .strategy import plain

if TYPE_CHECKING:
    from .arena import ArenaROI
    from .executor import JobOptions
    from .session import SessionExtraction

__all__ = ["moseq2_parameters"]


def moseq2_parameters(
    session: SessionExtraction, arena: ArenaROI | None, job: JobOptions
) -> dict[str, Any]:
    """Every key's value for an extraction, as recorded with its results.

    Arguments of the session's strategies are read from them (:meth:`Strategy.get_params`);
    choices of strategy from their classes; the ranking weights, the camera and the true depth
    from what the arena step used; keys that played no part keep their defaults. As
    moseq2-extract, ``bg_roi_depth_range`` is the range given (its default when the range was
    found automatically). Given back as a configuration, the result builds the same pipeline;
    strategies no key describes are listed under ``custom_strategies``.

    Parameters
    ----------
    session : SessionExtraction
        The extraction.
    arena : ArenaROI or None
        Its arena, when found.
    job : JobOptions
        How it ran.

    Returns
    -------
    dict
        Key to YAML-ready value, for every key of :data:`PARAMETERS` but the workflow's.
    """
    owners = {**session.strategies(), "job": job}
    session_params = session.session_params()
    values: dict[str, Any] = {}
    for spec in PARAMETERS:
        if spec.group == WORKFLOW:
            continue
        value = default_value(spec)
        if spec.role == "session":
            value = session_params[spec.argument]
        elif spec.argument is not None:
            owner = owners.get(spec.role)
            if owner is not None and spec.argument in owner.param_names():
                value = owner.get_params()[spec.argument]
                if spec.from_argument is not None:
                    value = spec.from_argument(value)
        values[spec.key] = plain(value)
    values.update(_recorded_choices(session, arena))
    return values


def _recorded_choices(session: SessionExtraction, arena: ArenaROI | None) -> dict[str, Any]:
    """The keys that choose strategies, and what the arena step decided."""
    corrector = session.flip_corrector
    is_classifier = isinstance(corrector, _class(_CLASSIFIER))
    kinds = {True: "classifier", False: "motion"}
    corrector_key = "none" if corrector is None else kinds[is_classifier]
    extractor = session.extractor
    plane_background = _class("background.PlaneFitBackground")
    values: dict[str, Any] = {
        "use_plane_bground": isinstance(session.background, plane_background),
        "use_tracking_model": isinstance(session.tracker, _class(_EM)),
        "flip_corrector": corrector_key,
        "flip_classifier": corrector.path if is_classifier else None,
        "manual_set_depth_range": session.roi.get_params().get("depth_range") is not None,
        "camera_type": extractor.camera.name,
        "camera": extractor.camera.name,
        "fps": float(extractor.get_sampling_frequency()),
        "input_file": _input_file(extractor),
        "true_depth": None if arena is None else float(arena.true_depth),
        "custom_strategies": _custom_strategies(session) or None,
    }
    if arena is not None and arena.weights is not None:
        values["bg_roi_weights"] = [float(v) for v in arena.weights]
    return values


def _custom_strategies(session: SessionExtraction) -> list[str]:
    """``role: module.Class`` of every strategy the keys cannot build (subclasses included)."""
    custom = []
    for role, strategy in session.strategies().items():
        if strategy is None:
            continue
        if not any(type(strategy) is _class(path) for path in _BUILT_BY_KEYS[role]):
            cls = type(strategy)
            custom.append(f"{role}: {cls.__module__}.{cls.__qualname__}")
    return custom


def _input_file(extractor: Any) -> str | None:
    while extractor is not None:
        path = getattr(extractor, "file_path", None)
        if path is not None:
            return str(path)
        extractor = getattr(extractor, "parent", None)
    return None
