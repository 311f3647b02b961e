"""What the command line shows on the terminal: one line per error, with its exit code, and one
line per warning or log message; ``--debug`` shows tracebacks and debug messages instead.

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

from ..config import ConfigError

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


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


class RunError(click.ClickException):
    """A failure while running: printed as one line, exit code 1."""

    exit_code = 1


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

    _warning = re.compile(r"^.*?:\d+: (?:\w+Warning): (.*)$")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "py.warnings":
            first = message.strip().splitlines()[0] if message.strip() else message
            match = self._warning.match(first)
            return f"Warning: {match.group(1) if match else first}"
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
    click.echo(f"Warning: {message}", err=True)
