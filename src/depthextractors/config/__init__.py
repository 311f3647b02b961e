"""One typed, validated extraction configuration, read from and written to YAML.

:class:`ExtractionConfig` holds every key of the moseq2 parameter table
(:data:`depthextractors.extraction.parameters.PARAMETERS`) with its default, which the table
reads from the constructor of the strategy the key sets. So an existing moseq2 ``config.yaml``
is read as it is, and the keys, defaults and help of ``generate-config``, the command line and
the recorded parameters cannot drift apart:

- known keys are type-checked and range-checked; a wrong value raises :class:`ConfigError`
  with one line naming the key, the value and what is allowed;
- even median filter sizes are raised to the next odd number with a warning, as moseq2-extract
  does;
- moseq2-extract's keys that are not parameters here (:mod:`depthextractors.config.moseq2`)
  are honoured by the workflow (``skip_completed``, ``progress_bar``, ``mapping``, ...; see
  :attr:`ExtractionConfig.run_options`), or named with the reason in one
  :class:`ConfigWarning` when set to a value that would matter in moseq2-extract
  (``threads``, ``cluster_type: slurm``, ...), or refused where results would differ
  (``graduate_walls`` of a dilated arena); keys nobody knows are warned about and ignored;
- a moseq2-extract flip classifier (a scikit-learn pickle) is reported in one warning and the
  motion flip corrector is used instead: pickles are never loaded;
- a results file's recorded parameters (``results_00.yaml`` or ``results_00.h5``) are a
  configuration too (:meth:`ExtractionConfig.from_results`): given back, they reproduce the
  results.

:meth:`ExtractionConfig.build_extraction` builds the ``SessionExtraction`` the keys describe
(through :func:`~depthextractors.extraction.parameters.build_strategies`).
Each value is checked and converted by the converter of its kind
(:mod:`depthextractors.config.values`).

Example
-------
>>> from depthextractors.config import ExtractionConfig
>>> config = ExtractionConfig.from_yaml("config.yaml")          # doctest: +SKIP
>>> extraction = config.build_extraction(open_depth_video("session_01"))  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..extraction.parameters import (
    PARAMETERS,
    RECORDED,
    ParameterSpec,
    build_strategies,
    default_value,
)
from . import moseq2
from .moseq2 import MOSEQ2_KEYS
from .values import CAMERA_TYPES, NULLABLE_KINDS, ConfigError, ConfigWarning, coerce

__all__ = [
    "CAMERA_TYPES",
    "MOSEQ2_KEYS",
    "READING_KEYS",
    "ConfigError",
    "ConfigWarning",
    "ExtractionConfig",
    "option_specs",
]

_SPECS = {spec.key: spec for spec in PARAMETERS}

#: The readers' escape hatches, accepted beside the parameters (command-line options, or keys
#: of a configuration file): kept in :attr:`ExtractionConfig.run_options` and given to the
#: extractor by :meth:`ExtractionConfig.open_video`.
READING_KEYS = ("frame_size", "allow_partial_frame", "allow_truncated", "allow_ir", "track")


def option_specs() -> list[ParameterSpec]:
    """The rows of the parameter table that are options (all but the recorded facts).

    The command line builds its options from these, so names, defaults and help cannot drift
    from the configuration.
    """
    return [spec for spec in PARAMETERS if spec.group != RECORDED]


class ExtractionConfig(Mapping):
    """Every extraction parameter, under moseq2-extract's name, with its default.

    Read-only mapping of key to value, with the keys also as attributes
    (``config.min_height``). Kinds of value: pairs and triples are tuples (YAML lists);
    heights and depths are millimetres, sizes pixels, spans and chunks frames. Keys marked
    *not supported* are accepted (so moseq2 config files load) but only their default is
    implemented; another value warns and keeps the default behaviour.

    Parameters
    ----------
    **values
        Keys of the parameter table (``depthextractors extract --help`` lists them); the others
        take their defaults.

    Raises
    ------
    ConfigError
        On an unknown key or a value of the wrong type or out of range.
    """

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(_SPECS))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(_SPECS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown parameter '{unknown[0]}'{hint}")
        checked = {}
        for key, spec in _SPECS.items():
            value = values[key] if key in values else default_value(spec)
            nullable = value is None and spec.kind in NULLABLE_KINDS
            checked[key] = value if nullable else coerce(spec, value)
        object.__setattr__(self, "_values", checked)
        self._check_relations()

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"ExtractionConfig has no parameter {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ExtractionConfig is read-only; use config.updated({...})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExtractionConfig) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        changed = {
            key: value for key, value in self._values.items()
            if value != _default(_SPECS[key])
        }  # fmt: skip
        inner = ", ".join(f"{key}={value!r}" for key, value in changed.items())
        return f"ExtractionConfig({inner})"

    def _check_relations(self) -> None:
        if self.min_height >= self.max_height:
            raise ConfigError(
                f"min_height ({self.min_height:g} mm) must be below max_height "
                f"({self.max_height:g} mm)"
            )
        if self.frame_dtype == "uint8" and self.max_height > 255:
            raise ConfigError(
                f"max_height {self.max_height:g} mm does not fit frame_dtype uint8 (at most "
                "255 mm); set frame_dtype: uint16"
            )
        for name in ("tracking_model_rho_mean", "tracking_model_rho_cov"):
            # rho = 1 would freeze the model at its first frame: the tracker refuses it.
            if self[name] >= 1:
                raise ConfigError(f"{name} must be below 1, got {self[name]!r}")
        low, high = self.bg_roi_depth_range
        if low >= high:
            raise ConfigError(
                f"bg_roi_depth_range must be (min, max) with min < max, got [{low:g}, {high:g}]"
            )
        if self.flip_corrector == "classifier" and self.flip_classifier is None:
            raise ConfigError("flip_corrector: classifier needs flip_classifier: <file>")
        if self.custom_strategies:
            raise ConfigError(
                "these parameters come from an extraction with strategies a configuration "
                f"cannot build ({'; '.join(self.custom_strategies)}); rebuild those with "
                "depthextractors.extraction.build_strategy(results.metadata['strategies'][role]), "
                "or delete custom_strategies to use the built-in ones instead"
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> ExtractionConfig:
        """Build a configuration from a mapping of moseq2-style keys.

        Parameters
        ----------
        values : mapping
            Keys as in a moseq2 ``config.yaml``. Dashes are accepted for underscores.
        source : str
            Name used in warnings and errors (e.g. the file path).

        Returns
        -------
        ExtractionConfig

        Raises
        ------
        ConfigError
            On a value of the wrong type or out of range (one line naming the key).

        Warns
        -----
        ConfigWarning
            For keys that are unknown, obsolete, or set to a value not supported here.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source}: expected a mapping of parameter names to values, got "
                f"{type(values).__name__}"
            )
        given = {str(raw_key).replace("-", "_"): value for raw_key, value in values.items()}
        accepted: dict[str, Any] = {}
        for key, value in given.items():
            if key in _SPECS:
                if value is None and _SPECS[key].kind not in NULLABLE_KINDS:
                    # moseq2 writes null for options it never set: keep the default.
                    continue
                accepted[key] = value
            elif key in READING_KEYS:
                given[key] = _reading_value(key, value, source)
            elif not moseq2.known(key):
                close = difflib.get_close_matches(key, list(_SPECS), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                warnings.warn(
                    f"{source}: unknown key '{key}'{hint}; ignored", ConfigWarning, stacklevel=2
                )
        ignored = moseq2.ignored_settings(given)
        if ignored:
            warnings.warn(
                f"{source}: moseq2-extract settings with no effect here, ignored: "
                + "; ".join(ignored),
                ConfigWarning,
                stacklevel=2,
            )
        if accepted.get("flip_classifier") is not None and _is_pickle(accepted["flip_classifier"]):
            warnings.warn(
                f"{source}: flip_classifier {accepted['flip_classifier']} is a moseq2-extract "
                "classifier (a scikit-learn pickle), which depthextractors never loads; the "
                "motion flip corrector is used instead (train a classifier with depthextractors "
                "train-flip-classifier)",
                ConfigWarning,
                stacklevel=2,
            )
            accepted["flip_classifier"] = None
            if accepted.get("flip_corrector") == "classifier":
                accepted["flip_corrector"] = "motion"
        try:
            config = cls(**accepted)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        refused = moseq2.refusal(given, config.dilate_iterations)
        if refused:
            raise ConfigError(f"{source}: {refused}")
        run = moseq2.run_options(given)
        run.update({key: given[key] for key in READING_KEYS if given.get(key) is not None})
        object.__setattr__(config, "_run", run)
        config._warn_unsupported(source)
        return config

    @property
    def run_options(self) -> dict[str, Any]:
        """moseq2-extract's keys for the run that the workflow honours, as given.

        ``skip_completed``, ``progress_bar``, ``extensions`` (``batch-extract``) and
        ``mapping`` (the title of the Azure ``.mkv`` track to read), where a configuration
        file or mapping set them; the command line's own options take precedence.

        Returns
        -------
        dict
        """
        return dict(self.__dict__.get("_run", {}))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ExtractionConfig:
        """Read a configuration file (a moseq2-extract ``config.yaml`` works as it is).

        A results file's ``results_00.yaml`` works too: its recorded ``parameters`` are taken.

        Parameters
        ----------
        path : str or os.PathLike
            YAML file holding a mapping of moseq2-style keys; an empty file gives the defaults.

        Returns
        -------
        ExtractionConfig
            The validated configuration.

        Raises
        ------
        ConfigError
            If the file is missing, is not valid YAML, is not a mapping, or holds a bad value.
        """
        content = _read_yaml(Path(path))
        if _is_results_status(content):
            content = _recorded(content["parameters"])
        return cls.from_dict(content, source=str(path))

    @classmethod
    def from_results(cls, path: str | os.PathLike) -> ExtractionConfig:
        """The configuration an extraction was made with, from its results.

        Parameters
        ----------
        path : str or os.PathLike
            ``results_00.yaml``, ``results_00.h5`` or the directory holding them.

        Returns
        -------
        ExtractionConfig
            Given back to ``extract --config-file``, it reproduces the results.

        Raises
        ------
        ConfigError
            If no results are there or they hold no parameters.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "results_00.yaml" if (path / "results_00.yaml").is_file() else (
                path / "results_00.h5"
            )  # fmt: skip
        if path.suffix == ".h5":
            from ..io.results_h5 import read_recorded_parameters

            if not path.is_file():
                raise ConfigError(f"no results at {path}")
            return cls.from_dict(_recorded(read_recorded_parameters(path)), source=str(path))
        content = _read_yaml(path)
        if not _is_results_status(content):
            raise ConfigError(f"{path} is not a results file (no recorded parameters in it)")
        return cls.from_dict(_recorded(content["parameters"]), source=str(path))

    def updated(self, values: Mapping[str, Any], source: str = "command line") -> ExtractionConfig:
        """A copy with ``values`` (moseq2 keys) replacing the current ones, validated again.

        Parameters
        ----------
        values : mapping
            Keys as in a moseq2 ``config.yaml`` (dashes are accepted for underscores).
        source : str
            Name used in warnings and errors.

        Returns
        -------
        ExtractionConfig
            A new configuration; ``self`` is not modified.

        Raises
        ------
        ConfigError
            On a value of the wrong type or out of range.
        """
        merged = {**self.run_options, **self.to_dict(), "fps": self.fps}
        merged.update({k.replace("-", "_"): v for k, v in values.items()})
        return type(self).from_dict(merged, source=source)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready mapping (tuples as lists), keys in the table's order."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self._values.items()
            if _SPECS[key].group != RECORDED
        }

    def to_yaml(self, path: str | os.PathLike) -> Path:
        """Write the configuration as YAML (readable by :meth:`from_yaml` and by moseq2).

        Parameters
        ----------
        path : str or os.PathLike
            File to write; an existing file is overwritten.

        Returns
        -------
        Path
            ``path`` as a :class:`~pathlib.Path`.

        Raises
        ------
        OSError
            If the file cannot be written.
        """
        path = Path(path)
        with open(path, "w", encoding="utf-8") as stream:
            yaml.safe_dump(self.to_dict(), stream, sort_keys=False)
        return path

    def _warn_unsupported(self, source: str) -> None:
        for spec in PARAMETERS:
            if spec.supported or self[spec.key] == _default(spec):
                continue
            warnings.warn(
                f"{source}: {spec.key}={self[spec.key]!r} is not supported by this version; the "
                f"default ({spec.default!r}) behaviour is used",
                ConfigWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ building
    def open_video(self, path: str | os.PathLike) -> Any:
        """Open the recording with ``camera_type`` and the reading options applied.

        Reading options (:data:`READING_KEYS`, from :attr:`run_options`) are the readers'
        escape hatches: ``frame_size`` and ``allow_partial_frame`` (raw files),
        ``allow_truncated`` (``.avi`` / ``.mkv``), ``allow_ir`` (read a file named or titled
        as infrared), ``track`` (the Azure ``.mkv`` track, also moseq2's ``mapping``).

        Parameters
        ----------
        path : str or os.PathLike
            A depth file or a session directory holding one.

        Returns
        -------
        DepthVideoExtractor
            The extractor registered for the file type.

        Raises
        ------
        FileNotFoundError
            If nothing exists at ``path``.
        ValueError
            If no registered extractor reads the file, a directory holds several recordings,
            or a reading option does not apply to the file's format.
        """
        from ..extractors import open_depth_video

        options = self.reading_options()
        try:
            return open_depth_video(path, camera=self.camera_type, **options)
        except TypeError as error:
            match = re.search(r"unexpected keyword argument '(\w+)'", str(error))
            if match is None or match.group(1) not in options:
                raise
            name = match.group(1)
            if name == "track" and "track" not in self.run_options:
                # moseq2's mapping chooses among the tracks of a .mkv; other files have one.
                options.pop("track")
                return open_depth_video(path, camera=self.camera_type, **options)
            raise ConfigError(
                f"{name}={options[name]!r} does not apply to {Path(path).name} (a "
                f"{Path(path).suffix or 'directory'} recording); leave it out for this file"
            ) from None

    def reading_options(self) -> dict[str, Any]:
        """The reading options given (keyword arguments of the extractor), moseq2's ``mapping``
        as ``track``."""
        run = self.run_options
        options = {key: run[key] for key in READING_KEYS if run.get(key) not in (None, False)}
        mapping = run.get("mapping")
        if "track" not in options and isinstance(mapping, str) and mapping != "DEPTH":
            options["track"] = mapping
        return options

    def build_extraction(self, extractor: Any) -> Any:
        """The ``SessionExtraction`` these parameters describe.

        Each key sets the constructor argument its row of the parameter table names; the keys
        that choose strategies choose them (``use_plane_bground``: ``PlaneFitBackground``;
        ``use_tracking_model``: ``EMTracker``; ``flip_classifier``:
        ``ClassifierFlipCorrector.load``; ``flip_corrector: none``: no correction).

        Parameters
        ----------
        extractor : DepthVideoExtractor
            The recording.

        Returns
        -------
        SessionExtraction

        Raises
        ------
        ConfigError
            If ``flip_classifier`` names a file that does not exist.
        """
        from ..extraction import SessionExtraction

        if self.flip_classifier is not None and not Path(self.flip_classifier).is_file():
            raise ConfigError(f"flip_classifier {self.flip_classifier} does not exist")
        arguments = build_strategies(self)
        arguments.pop("job")
        return SessionExtraction(extractor, **arguments)

    def job_options(self, **options: Any) -> Any:
        """The job options these parameters give (``chunk_size``), with ``options`` on top.

        Parameters
        ----------
        **options
            ``n_jobs``, ``progress`` (and ``chunk_size`` to override the key).

        Returns
        -------
        JobOptions
        """
        from ..extraction.executor import JobOptions

        return JobOptions(**{**build_strategies(self)["job"], **options})


def _default(spec: ParameterSpec) -> Any:
    value = default_value(spec)
    return value if value is None and spec.kind in NULLABLE_KINDS else coerce(spec, value)


def _reading_value(key: str, value: Any, source: str) -> Any:
    """A reading option's value checked: a frame size of two positive integers, a flag, a
    track title."""
    if value is None:
        return None
    if key == "frame_size":
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            raise ConfigError(f"{source}: frame_size must be (rows, cols) in pixels, got {value!r}")
        return tuple(value)
    if key == "track":
        return str(value)
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
    return value


def _is_pickle(path: Any) -> bool:
    """Whether ``path`` names a Python pickle (moseq2-extract's classifiers), not a saved
    depthextractors classifier (an ``.npz``, a zip archive)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(2)
    except OSError:
        return False
    # Pickle protocols 2+ start with PROTO (0x80); zip archives with "PK".
    return head[:1] == b"\x80" or (
        head[:2] != b"PK" and Path(path).suffix.lower() in (".pkl", ".p", ".pickle", ".joblib")
    )


def _recorded(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Recorded parameters as a configuration: without the run's own output directory."""
    return {key: value for key, value in parameters.items() if key != "output_dir"}


def _is_results_status(content: Any) -> bool:
    """Whether a YAML mapping is a results file's status (``results_00.yaml``)."""
    return (
        isinstance(content, Mapping)
        and isinstance(content.get("parameters"), Mapping)
        and ("uuid" in content or "complete" in content)
    )


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    return {} if content is None else content
