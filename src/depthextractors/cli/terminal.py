"""What the command line shows on the terminal: one line per error, with its exit code, and one
line per warning or log message; ``--debug`` shows tracebacks and debug messages instead.

Warnings that name configuration keys (:class:`~depthextractors.extraction.ArenaWarning`:
``bg_roi_gradient_filter``, ``bg_roi_retry_implausible: false``), and log messages that do
(logged with ``extra={"names_keys": True}``: the report's cautions), are shown in the command
line's words (``--bg-roi-gradient-filter``, ``--bg-roi-retry-implausible false``).

Bad input (a missing file, an unknown file type, malformed YAML, a value out of range) is
:class:`InputError` (exit code 2); any other failure is :class:`RunError` (exit code 1).

Messages are in the caller's language: the library names its Python arguments
(``depth_range=(600, 700)``, ``allow_partial_frame=True``), the command line names its options
(``--bg-roi-depth-range 600 700``, ``--allow-partial-frame``); :func:`in_cli_words` translates.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import warnings
from typing import Any, ClassVar

import click

from ..config import ConfigError, option_specs
from ..extraction.arena_checks import ArenaWarning
from ..extractors.errors import CorruptRecordingError
from ..io.output_dir import OutputBusyError, OutputWriteError

# Errors that mean "the input is wrong" (exit code 2) rather than "something failed" (1).
_BAD_INPUT = (
    ConfigError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    ValueError,
    TypeError,
)
_DEBUG_KEY = "depthextractors.debug"
# Failures whose message says everything: shown without the name of their type.
_SELF_EXPLAINED = (OutputBusyError, OutputWriteError, PermissionError, CorruptRecordingError)
# Python arguments of the reading layer and the workflow, and their options.
_EXTRA_OPTIONS = {
    "allow_partial_frame": "--allow-partial-frame",
    "allow_truncated": "--allow-truncated",
    "allow_ir": "--allow-ir",
    "frame_size": "--frame-size",
    "camera": "--camera-type",
    "track": "--track",
    "output_dir": "--output-dir",
    "skip_completed": "--skip-completed",
    "n_jobs": "--n-jobs",
}
# Warnings whose messages name configuration keys, shown with the options' names instead.
_NAMING_KEYS = (ArenaWarning,)
# A configuration key with an underscore (plain words such as "camera" are left alone), and
# the value a message may give it ("bg_roi_retry_implausible: false").
_KEY_IN_TEXT = re.compile(
    r"(?<![\w-])("
    + "|".join(sorted((s.key for s in option_specs() if "_" in s.key), key=len, reverse=True))
    + r")(?![\w-])(?:: (true|false|[-+\d.]+))?"
)


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


class RunError(click.ClickException):
    """A failure while running: printed as one line, exit code 1."""

    exit_code = 1


def cli_words(text: str) -> str:
    """``text`` with the configuration keys it names written as command-line options.

    Parameters
    ----------
    text : str
        A message in the configuration's words (``bg_roi_depth_range``,
        ``bg_roi_exclude_sloped_walls: false``).

    Returns
    -------
    str
        The same message with ``--bg-roi-depth-range`` and ``--bg-roi-exclude-sloped-walls
        false``.
    """

    def option(match: re.Match) -> str:
        name = "--" + match.group(1).replace("_", "-")
        return name if match.group(2) is None else f"{name} {match.group(2)}"

    return _KEY_IN_TEXT.sub(option, text)


def _warning_words(text: str, category: type[Warning]) -> str:
    """A warning's text in the command line's words (its configuration keys too, for the
    categories whose messages name them)."""
    text = in_cli_words(text)
    return cli_words(text) if issubclass(category, _NAMING_KEYS) else text


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError):
        text = f"missing {text}"
    return in_cli_words(text.splitlines()[0])


_COMMAND_LINE = "command line: "


@functools.cache
def _option_names() -> tuple[dict[str, str], dict[str, str]]:
    """Python argument -> option (unambiguous ones), and configuration key -> option."""
    from ..config import MOSEQ2_KEYS
    from ..extraction.parameters import PARAMETERS, RECORDED

    keys = {
        spec.key: "--" + spec.key.replace("_", "-") for spec in PARAMETERS if spec.group != RECORDED
    }
    keys.update({entry.key: "--" + entry.key.replace("_", "-") for entry in MOSEQ2_KEYS})
    keys["fps"] = "--fps"
    by_argument: dict[str, set[str]] = {}
    for spec in PARAMETERS:
        if spec.argument is not None and spec.key in keys:
            by_argument.setdefault(spec.argument, set()).add(keys[spec.key])
    arguments = {name: options.pop() for name, options in by_argument.items() if len(options) == 1}
    return {**arguments, **_EXTRA_OPTIONS}, {**keys, **_EXTRA_OPTIONS}


def _cli_value(value: str) -> str:
    """``(600, 700)`` -> ``600 700``; ``'kinect_v2'`` -> ``kinect_v2``."""
    value = value.strip()
    if value[:1] in "([" and value[-1:] in ")]":
        value = value[1:-1]
    return " ".join(part.strip().strip("'\"") for part in value.split(",") if part.strip())


_ASSIGNMENT = re.compile(
    r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)*)=(\([^()]*\)|\[[^\]]*\]|'[^']*'|\"[^\"]*\"|<[^>]*>|[^\s,;)]+)"
)


@functools.cache
def _setting_pattern() -> re.Pattern:
    """``key: `` for every configuration key that is an option."""
    _, names = _option_names()
    keys = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.compile(rf"(?<![\w.-])({keys}): ")


# Not a configuration's "key: value" ("retrack_jumps: true"), which cli_words writes whole.
_IDENTIFIER = re.compile(
    r"(?<![\w.-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w.=(])(?!: (?:true|false|[-+\d]))"
)


def in_cli_words(text: str) -> str:
    """A message of the library with its Python spellings replaced by command-line options.

    ``depth_range=(600, 700)`` becomes ``--bg-roi-depth-range 600 700``,
    ``allow_partial_frame=True`` becomes ``--allow-partial-frame``, ``depth_range=None`` becomes
    ``without --bg-roi-depth-range``; bare names with an underscore that are options
    (``frame_size``) become the option. A message about values given on the command line
    (``command line: min_height ...``) names every key as its option. Names of a configuration
    file's keys (``config.yaml: min_height ...``) stay as they are.

    Parameters
    ----------
    text : str
        One line.

    Returns
    -------
    str
    """
    if text.startswith(_COMMAND_LINE):
        text = text[len(_COMMAND_LINE) :]
        arguments, names = _option_names()
        names = {**names, **arguments}
        # A configuration's "key: value" is "--key value" on the command line.
        text = _setting_pattern().sub(lambda m: f"{names[m.group(1)]} ", text)
    elif re.match(r"^\S+\.ya?ml: ", text):
        return text
    else:
        arguments, names = _option_names()
        names = {**_EXTRA_OPTIONS, **{k: v for k, v in names.items() if k in arguments}}

    def assignment(match: re.Match) -> str:
        name, value = match.groups()
        option = arguments.get(name) or names.get(name)
        if option is None:
            return match.group(0)
        if value == "True":
            return option
        if value in ("None", "False"):
            return f"without {option}"
        return f"{option} {_cli_value(value)}".rstrip()

    text = _ASSIGNMENT.sub(assignment, text)
    return _IDENTIFIER.sub(lambda m: names.get(m.group(1), m.group(1)), text)


class OneLineErrorGroup(click.Group):
    """Turns exceptions into one-line messages and exit codes (tracebacks with ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                # Warnings as one line each on stderr, for this command only.
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except Exception as error:
            if ctx.meta.get(_DEBUG_KEY) or os.environ.get("DEPTHEXTRACTORS_DEBUG"):
                raise
            if isinstance(error, _BAD_INPUT):
                raise InputError(_one_line(error)) from None
            if isinstance(error, _SELF_EXPLAINED):
                raise RunError(_one_line(error)) from None
            raise RunError(f"{type(error).__name__}: {_one_line(error)}") from None


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG_KEY] = True
        logging.getLogger("depthextractors").setLevel(logging.DEBUG)


def debug_option(function):
    """``--debug``: show tracebacks and debug messages."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="Show the full traceback of an error and debug messages.",
    )(function)


class _CliLogFormatter(logging.Formatter):
    """One line per message on the terminal; warnings shown as ``Warning: <message>``."""

    _warning = re.compile(r"^.*?:\d+: (\w+Warning): (.*)$")
    # The categories a logged warning names by class name, for _warning_words.
    _categories: ClassVar[dict[str, type[Warning]]] = {c.__name__: c for c in _NAMING_KEYS}

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "py.warnings":
            first = message.strip().splitlines()[0] if message.strip() else message
            match = self._warning.match(first)
            category, text = match.groups() if match else (None, first)
            return f"Warning: {_warning_words(text, self._categories.get(category, Warning))}"
        if record.levelno >= logging.WARNING:
            text = in_cli_words(message)
            # A record logged with extra={"names_keys": True} names configuration keys.
            return f"Warning: {cli_words(text) if getattr(record, 'names_keys', False) else text}"
        return message


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_terminal_output() -> None:
    """Show warnings and log messages as single lines on stderr (once per process)."""
    root = logging.getLogger()
    if any(getattr(h, "_depthextractors", False) for h in root.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(_CliLogFormatter())
    handler.setLevel(logging.WARNING)
    # Records meant for a session's log file (a failure's traceback) stay out of the terminal.
    handler.addFilter(lambda record: not getattr(record, "file_only", False))
    handler._depthextractors = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {_warning_words(str(message), category)}", err=True)
