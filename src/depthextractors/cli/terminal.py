"""What the command line shows on the terminal: one line per error, with its exit code, and one
line per warning or log message; ``--debug`` shows tracebacks and debug messages instead.

Warnings that name configuration keys (:class:`~depthextractors.extraction.ArenaWarning`:
``bg_roi_gradient_filter``, ``bg_roi_retry_implausible: false``) are shown in the command
line's words (``--bg-roi-gradient-filter``, ``--bg-roi-retry-implausible false``).

Bad input (a missing file, an unknown file type, malformed YAML, a value out of range) is
:class:`InputError` (exit code 2); any other failure is :class:`RunError` (exit code 1).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from typing import Any

import click

from ..config import ConfigError, option_specs
from ..extraction.arena_checks import ArenaWarning

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


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError):
        text = f"missing {text}"
    return text.splitlines()[0]


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
    _naming_keys = frozenset(category.__name__ for category in _NAMING_KEYS)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "py.warnings":
            first = message.strip().splitlines()[0] if message.strip() else message
            match = self._warning.match(first)
            if match is None:
                return f"Warning: {first}"
            category, text = match.groups()
            return f"Warning: {cli_words(text) if category in self._naming_keys else text}"
        if record.levelno >= logging.WARNING:
            return f"Warning: {message}"
        return message


def configure_terminal_output() -> None:
    """Show warnings and log messages as single lines on stderr (once per process)."""
    root = logging.getLogger()
    if any(getattr(h, "_depthextractors", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CliLogFormatter())
    handler.setLevel(logging.WARNING)
    handler._depthextractors = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = str(message)
    if issubclass(category, _NAMING_KEYS):
        text = cli_words(text)
    click.echo(f"Warning: {text}", err=True)
