"""The options the commands share: one per key of the parameter table, ``--config-file`` and
``--progress-bar``, the readers' escape hatches (``--frame-size``, ``--allow-partial-frame``,
...), moseq2-extract's other options; and the configuration they make together.

Extraction options are generated from :class:`depthextractors.config.ExtractionConfig`, so their
names and defaults are moseq2-extract's and cannot drift from the configuration file. Values are
taken, in order of precedence, from the command line, then ``--config-file``, then the defaults.
moseq2-extract's options that are not parameters here (``--graduate-walls``, ``--fps``,
``--threads``, ``--cluster-type``, ...) are accepted, so that a moseq2 command line runs, and
do what :mod:`depthextractors.config.moseq2` says: honoured, or named in one warning, or
refused in one line.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import click

from ..config import CAMERA_TYPES, MOSEQ2_KEYS, ConfigWarning, ExtractionConfig, option_specs
from .terminal import InputError, in_cli_words

#: Every camera name a command takes (moseq2's ``k2`` too), in any case.
CAMERA_CHOICE = click.Choice(("k2", *CAMERA_TYPES), case_sensitive=False)
_MOSEQ2_SHORT = {"mapping": "-m", "output_file": "-o"}
_MOSEQ2_TYPES = {"str": str, "int": int, "float": float, "bool": click.BOOL}

# moseq2-extract's boolean options that are flags (present or not); the others take a value.
_FLAGS = {"use_plane_bground", "compute_raw_scalars", "manual_set_depth_range"}
# Every key's default as the configuration holds it (what --help shows).
_DEFAULTS = ExtractionConfig()


def _click_type(spec) -> dict[str, Any]:
    kind = spec.kind
    if kind == "bool":
        return {"type": click.BOOL}
    if kind in ("int", "int_or_none", "filter_size"):
        return {"type": int}
    if kind == "float":
        return {"type": float}
    if kind == "pair_int":
        return {"type": (int, int)}
    if kind == "pair_float":
        return {"type": (float, float)}
    if kind == "triple_float":
        return {"type": (float, float, float)}
    if kind == "choice":
        return {"type": click.Choice(spec.choices, case_sensitive=False)}
    if kind == "choice_int":
        return {"type": click.Choice(spec.choices)}
    if kind == "camera":
        return {"type": CAMERA_CHOICE}
    return {"type": str}


def _show_default(spec) -> str:
    default = _DEFAULTS[spec.key]

    def text(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    if isinstance(default, tuple):
        return ", ".join(text(v) for v in default)
    return "none" if default is None else text(default)


def config_options(groups: tuple[str, ...]):
    """Add one option per configuration key of ``groups`` (default ``None`` = not given)."""

    def decorate(function):
        for spec in reversed(option_specs()):
            if spec.group not in groups:
                continue
            name = "--" + spec.key.replace("_", "-")
            declarations = [name] + ([spec.short] if spec.short else [])
            help_text = spec.help
            if not spec.supported:
                help_text += " (accepted; only the default is supported)"
            if spec.key in _FLAGS:
                function = click.option(
                    *declarations, spec.key, is_flag=True, default=None, help=help_text
                )(function)
                continue
            # The default is shown in moseq2's words; the option itself defaults to None, so that
            # only values given on the command line override the config file.
            function = click.option(
                *declarations,
                spec.key,
                default=None,
                help=f"{help_text}  [default: {_show_default(spec)}]",
                **_click_type(spec),
            )(function)
        return function

    return decorate


def moseq2_options(command: str):
    """Add moseq2-extract's options of ``command`` that are not parameters here.

    Each is given to the configuration under its moseq2 key, which honours it, names it in one
    warning, or refuses it (:mod:`depthextractors.config.moseq2`).
    """

    def decorate(function):
        if command in ("extract", "batch-extract"):
            function = click.option(
                "--fps", "fps", type=click.FloatRange(min=0, min_open=True), default=None,
                help="moseq2-extract's option, ignored here: times, speeds and the preview movie "
                "follow the recording's own timestamps; a run says so when fps is not the "
                "recording's frame rate",
            )(function)  # fmt: skip
        for entry in reversed(MOSEQ2_KEYS):
            if command not in entry.commands or entry.kind == "none":
                continue
            declarations = ["--" + entry.key.replace("_", "-")]
            if entry.key in _MOSEQ2_SHORT and command == "extract":
                declarations.append(_MOSEQ2_SHORT[entry.key])
            help_text = f"moseq2-extract's option, {entry.action} here: {entry.reason}"
            if entry.kind == "flag":
                function = click.option(
                    *declarations, entry.key, is_flag=True, default=None, help=help_text
                )(function)
                continue
            kind = (
                click.Choice(entry.choices) if entry.kind == "choice" else _MOSEQ2_TYPES[entry.kind]
            )
            function = click.option(
                *declarations, entry.key, type=kind, default=None, help=help_text
            )(function)
        return function

    return decorate


def reading_options(function):
    """The readers' escape hatches: ``--frame-size``, ``--allow-partial-frame``,
    ``--allow-truncated``, ``--allow-ir`` and ``--track`` (given to the configuration's reading
    options)."""
    function = click.option(
        "--track", default=None,
        help="Title of the Azure .mkv track to read  [default: DEPTH]",
    )(function)  # fmt: skip
    function = click.option(
        "--allow-ir", is_flag=True, default=None,
        help="Read a file named as infrared (ir.*) or an FFV1 stream titled as something other "
        "than depth, as depth",
    )(function)  # fmt: skip
    function = click.option(
        "--allow-truncated", is_flag=True, default=None,
        help="Read the whole frames of a cut .avi / .mkv recording instead of stopping with an "
        "error",
    )(function)  # fmt: skip
    function = click.option(
        "--allow-partial-frame", is_flag=True, default=None,
        help="Read the whole frames of a raw file whose size is not a whole number of frames "
        "(the extra bytes are ignored)",
    )(function)  # fmt: skip
    function = click.option(
        "--frame-size", type=(click.IntRange(min=1), click.IntRange(min=1)), default=None,
        metavar="ROWS COLS",
        help="Frame size of a raw file without metadata.json (rows, cols)  [default: from "
        "metadata.json, the camera or the file size]",
    )(function)  # fmt: skip
    return function


def session_options(function):
    """``--config-file`` and ``--progress-bar``."""
    function = click.option(
        "--config-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="moseq2-style config.yaml; command-line options override its values.",
    )(function)
    function = click.option(
        "--progress-bar/--no-progress-bar",
        "-p",
        default=None,
        help="Show progress bars [default: in a terminal, or with progress_bar: true in the "
        "config file].",
    )(function)
    return function


def show_progress(flag: bool | None, run_options: dict[str, Any]) -> bool:
    """Whether to show progress bars: as the command line says, else on in a terminal.

    A config file's ``progress_bar: true`` switches them on where there is no terminal (a job
    log); its ``false`` does not switch them off in one, because every config.yaml
    moseq2-extract writes holds ``progress_bar: false`` (``--no-progress-bar`` does).
    """
    if flag is not None:
        return flag
    return bool(run_options.get("progress_bar")) or sys.stderr.isatty()


def load_config(config_file: Path | None, given: dict[str, Any]) -> ExtractionConfig:
    """Defaults, then the config file, then the options given on the command line.

    ``given`` holds the parameter options, the reading options and moseq2-extract's other
    options (None where not given). Configuration warnings (unknown keys, even filter sizes,
    settings with no effect, ...) are shown as one line each.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        config = ExtractionConfig.from_yaml(config_file) if config_file else ExtractionConfig()
        explicit = {k: v for k, v in given.items() if v is not None}
        if explicit:
            config = config.updated(explicit, source="command line")
    seen = set()
    for warning in caught:
        text = str(warning.message)
        if issubclass(warning.category, ConfigWarning) and text not in seen:
            seen.add(text)
            click.echo(f"Warning: {in_cli_words(text)}", err=True)
        elif not issubclass(warning.category, ConfigWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return config


def existing(path: Path, what: str = "input file") -> Path:
    """``path``, or an :class:`InputError` saying that it does not exist."""
    if not Path(path).exists():
        raise InputError(f"{what} {path} does not exist")
    return Path(path)


def open_checked(config: ExtractionConfig, path: Path):
    """Open a recording, turning 'unknown type' and 'not a recording' into one-line errors."""
    return config.open_video(existing(path))
