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
- keys moseq2-extract wrote that have no meaning here (``cluster_type``, ``pixel_format``,
  ``movie_dtype``, SLURM settings, ...) and keys nobody knows are reported with a
  :class:`ConfigWarning` and ignored, never fatal;
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
from .values import CAMERA_TYPES, NULLABLE_KINDS, ConfigError, ConfigWarning, coerce

__all__ = [
    "CAMERA_TYPES",
    "IGNORED_MOSEQ2_KEYS",
    "RUN_KEYS",
    "ConfigError",
    "ConfigWarning",
    "ExtractionConfig",
    "option_specs",
]

#: moseq2-extract keys that belong to one command-line run, not to the extraction parameters.
#: They are accepted in a config file without a warning and ignored there, as moseq2-extract
#: ignores ``input_dir`` / ``output_dir`` / ``output_file`` from its config file.
RUN_KEYS = frozenset(
    {
        "config_file",
        "input_dir",
        "output_dir",
        "output_file",
        "progress_bar",
        "skip_completed",
        "delete",
        "threads",
        "mapping",
        "extensions",
    }
)

#: moseq2-extract keys that have no meaning in depthextractors: the reason shown in the warning
#: when a config file sets one, and the value moseq2-extract writes for it (a file with that
#: value, as ``generate-config`` makes it, loads without a warning; ``_ANY``: never warned).
_ANY = object()
IGNORED_MOSEQ2_KEYS: dict[str, tuple[str, object]] = {
    "cluster_type": (
        "batch-extract runs locally (--n-jobs) or on Dask (--scheduler-address)", "local"
    ),
    "prefix": ("SLURM is reached through dask-jobqueue, see docs/batch.md", None),
    "ncpus": ("use batch-extract --n-jobs", None),
    "memory": ("SLURM is reached through dask-jobqueue, see docs/batch.md", None),
    "wall_time": ("SLURM is reached through dask-jobqueue, see docs/batch.md", None),
    "partition": ("SLURM is reached through dask-jobqueue, see docs/batch.md", None),
    "get_cmd": ("batch-extract runs the sessions itself", False),
    "run_cmd": ("batch-extract runs the sessions itself", False),
    "extract_out_script": ("batch-extract runs the sessions itself", None),
    "skip_checks": ("sessions are found by their depth files; metadata.json is optional", False),
    "session_config_path": ("pass one --config-file per batch", None),
    "pixel_format": ("the reader of each format knows its pixel format", _ANY),
    "movie_dtype": ("the reader of each format knows its data type", _ANY),
    "recompute_bg": ("the background is computed on every extraction", False),
    "graduate_walls": ("not implemented: wall graduation of dilated arenas", False),
    "widen_radius": ("not implemented: wall graduation of dilated arenas", 0),
    "finfo": ("frame information is read from the recording", _ANY),
    "timestamps": ("timestamps are read from the recording", _ANY),
    "tar": ("archives are read in place", _ANY),
}

_SPECS = {spec.key: spec for spec in PARAMETERS}


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
        accepted: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key in _SPECS:
                if value is None and _SPECS[key].kind not in NULLABLE_KINDS:
                    # moseq2 writes null for options it never set: keep the default.
                    continue
                accepted[key] = value
            elif key in RUN_KEYS:
                continue
            elif key in IGNORED_MOSEQ2_KEYS:
                reason, moseq2_default = IGNORED_MOSEQ2_KEYS[key]
                if moseq2_default is _ANY or value == moseq2_default:
                    continue
                warnings.warn(
                    f"{source}: '{key}: {value}' is a moseq2-extract setting with no effect "
                    f"here ({reason}); ignored",
                    ConfigWarning,
                    stacklevel=2,
                )
            else:
                close = difflib.get_close_matches(key, list(_SPECS), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                warnings.warn(
                    f"{source}: unknown key '{key}'{hint}; ignored", ConfigWarning, stacklevel=2
                )
        try:
            config = cls(**accepted)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        config._warn_unsupported(source)
        return config

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
            content = content["parameters"]
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
            return cls.from_dict(read_recorded_parameters(path), source=str(path))
        content = _read_yaml(path)
        if not _is_results_status(content):
            raise ConfigError(f"{path} is not a results file (no recorded parameters in it)")
        return cls.from_dict(content["parameters"], source=str(path))

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
        merged = self.to_dict()
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
        """Open the recording with ``camera_type`` applied (``open_depth_video``).

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
            If no registered extractor reads the file, or a directory holds several recordings.
        """
        from ..extractors import open_depth_video

        return open_depth_video(path, camera=self.camera_type)

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
