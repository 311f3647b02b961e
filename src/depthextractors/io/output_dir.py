"""Guarding an output directory: one writer at a time, and file-system errors in one line.

- :class:`OutputLock`: the exclusive lock an extraction holds on its output directory from
  before it touches any output until it is done (``extraction.lock``, with the pid, host and
  start time of its holder). The lock is an operating-system lock on that file, so the
  system releases it when its holder dies, however it dies (``kill -9``, a crash, a lost
  node): a later run finds the file with nobody holding it, takes it over and says so in one
  line. A run that finds the lock held gets :class:`OutputBusyError`, one line naming the
  holder.
- :class:`OutputWriteError`: an ``OSError`` whose message is one line naming the file, the
  error and, when the disk is full, how much space the output needs and how much is free.
- :func:`write_yaml_atomic` and :func:`check_writable`: status files replaced atomically,
  and a directory checked writable before any work.
- :func:`partial_path`: the name a file is written under until it is complete, unique to the
  run, so that two runs never write the same partial file.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import yaml

from ..extraction.strategy import plain

__all__ = [
    "LOCK_NAME",
    "OutputBusyError",
    "OutputLock",
    "OutputWriteError",
    "check_writable",
    "error_number",
    "format_bytes",
    "output_error",
    "partial_path",
    "write_yaml_atomic",
]

logger = logging.getLogger(__name__)

#: The lock file an extraction holds in its output directory while it runs.
LOCK_NAME = "extraction.lock"
_WINDOWS_LOCK_OFFSET = 1 << 20
_SHORT_WRITE = re.compile(r"(\d+) requested and (\d+) written")
_FULL_DISK = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


class OutputBusyError(RuntimeError):
    """Another extraction holds the output directory; the message names it (one line)."""


class OutputWriteError(OSError):
    """Writing an output failed; ``str(error)`` is one line naming the file and the reason."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


# ---------------------------------------------------------------------------------- sizes
def format_bytes(count: float) -> str:
    """``count`` bytes as a short text (``"7.7 MB"``), decimal units."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def _free_bytes(path: Path) -> int | None:
    for place in (path, *path.parents):
        with contextlib.suppress(OSError):
            if place.exists():
                return shutil.disk_usage(place).free
    return None


def error_number(error: BaseException) -> int | None:
    """The ``errno`` of a failed write; HDF5's errors carry it only in their text."""
    code = getattr(error, "errno", None)
    if code:
        return int(code)
    match = re.search(r"errno = (\d+)", str(error))
    return int(match.group(1)) if match else None


def output_error(
    error: BaseException, path: str | os.PathLike, needed: str | None = None
) -> OutputWriteError:
    """One line for a failed write of ``path``: the file, the reason, and space when full.

    Parameters
    ----------
    error : BaseException
        What the write raised (its ``errno`` says what happened; h5py's long messages are cut
        to their first line).
    path : path-like
        The output being written (its final name).
    needed : str, optional
        How much space the output needs, in words (e.g. ``"up to 7.7 MB (600 frames of 80 x
        80 pixels before compression)"``), said when the disk is full.

    Returns
    -------
    OutputWriteError
        With the same ``errno`` and ``filename`` ``path``.
    """
    path = Path(path)
    code = error_number(error)
    reason = os.strerror(code) if code else (str(error).strip().splitlines() or ["error"])[0]
    short = _SHORT_WRITE.search(str(error)) if code is None else None
    if short:
        # A write that stopped short on a regular file: the disk (or the quota) is full.
        code = errno.ENOSPC
        reason = f"{os.strerror(code)} ({short.group(2)} of {short.group(1)} bytes written)"
    text = f"cannot write {path}: {reason}"
    if code in _FULL_DISK:
        free = _free_bytes(path.parent)
        space = f"{format_bytes(free)} free there" if free is not None else "free space unknown"
        text += f"; it needs {needed}, {space}" if needed else f" ({space})"
        text += "; free some space or write to another directory"
    return OutputWriteError(code or errno.EIO, text, str(path))


def partial_path(path: str | os.PathLike, token: str | None = None) -> Path:
    """The name ``path`` is written under until complete: ``<name>.<token>.partial``.

    Parameters
    ----------
    path : path-like
        The file's final name.
    token : str, optional
        Unique to the run (e.g. the start of its uuid); random when not given.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    return path.with_name(f"{path.name}.{token or uuid.uuid4().hex[:8]}.partial")


# ---------------------------------------------------------------------------------- files
def write_yaml_atomic(path: Path, content: dict[str, Any]) -> None:
    """Write YAML to a temporary file in the same directory and rename it over ``path``.

    Readers therefore see either the old file or the complete new one.

    Parameters
    ----------
    path : pathlib.Path
        File to write; its directory must exist.
    content : dict
        Mapping to write; numpy arrays and scalars, tuples and paths become plain YAML.

    Raises
    ------
    OSError
        If the file cannot be written (the temporary file is removed).
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp creates the file private (0600); give it the permissions a plain open would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yaml.safe_dump(plain(content), stream, sort_keys=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def check_writable(output_dir: str | os.PathLike) -> None:
    """Create ``output_dir`` if needed and check a file can be created in it.

    Parameters
    ----------
    output_dir : path-like
        Directory the results will be written to.

    Raises
    ------
    NotADirectoryError
        If ``output_dir`` is an existing file.
    PermissionError
        If the directory cannot be created or written to (naming the reason), before any work
        starts.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(
            f"output directory {output_dir} is an existing file; pass a directory path"
        )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=output_dir)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise PermissionError(
            f"cannot write extraction results to {output_dir}: {error.strerror or error}. "
            "Choose a directory you can write to (output_dir=...)."
        ) from error


# ---------------------------------------------------------------------------------- the lock
def _lock_file(fd: int) -> bool:
    """Take the operating-system lock of ``fd`` without waiting; False if someone holds it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            # Windows locks are mandatory: lock a byte far past the owner's lines, so that
            # others can still read who holds it.
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            # flock, not fcntl's record locks: flock also excludes a second open of the file in
            # the same process (two extractions in threads of one worker).
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, getattr(errno, "EWOULDBLOCK", 0)):
            return False
        raise
    return True


def _unlock_file(fd: int) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def _describe(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "another process (it has not said which yet)"
    started = owner.get("started", "?")
    return f"process {owner.get('pid', '?')} on host {owner.get('host', '?')}, started {started}"


class OutputLock:
    """The exclusive lock of one output directory (``extraction.lock`` in it).

    Parameters
    ----------
    directory : path-like
        The output directory (created if missing).
    purpose : str, default "extraction"
        What the holder does, written in the lock file and named to others.

    Examples
    --------
    >>> with OutputLock("session_1/proc"):        # doctest: +SKIP
    ...     ...   # write the outputs
    """

    def __init__(self, directory: str | os.PathLike, purpose: str = "extraction") -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.purpose = purpose
        self._fd: int | None = None
        self.previous: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __repr__(self) -> str:
        return f"OutputLock({str(self.directory)!r}, held={self.held})"

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def acquire(self, quiet: bool = False) -> OutputLock:
        """Take the lock, or raise :class:`OutputBusyError` at once if someone holds it.

        A lock file left by a holder that is gone (killed, crashed) is taken over, with one
        warning naming it (:meth:`takeover_message`).

        Parameters
        ----------
        quiet : bool, default False
            Do not log the take-over (the caller reports :meth:`takeover_message` itself).

        Returns
        -------
        OutputLock
            ``self``.

        Raises
        ------
        OutputBusyError
            If another extraction (in this or another process, on this or another host)
            holds the directory.
        OSError
            If the lock file cannot be created (an unwritable directory).
        """
        if self.held:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        for _attempt in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                locked = _lock_file(fd)
            except OSError as error:  # a file system without locks
                os.close(fd)
                logger.warning(
                    "cannot lock %s (%s): another extraction into it at the same time would "
                    "not be noticed", self.directory, error.strerror or error,
                )  # fmt: skip
                return self
            if not locked:
                owner = _read_owner(fd)
                os.close(fd)
                doing = (owner or {}).get("purpose", "extraction")
                raise OutputBusyError(
                    f"{self.directory} is being written by another {doing} "
                    f"({_describe(owner)}); wait for it to finish (or stop it), then run again"
                )
            if _same_file(fd, self.path):
                self._take(fd)
                message = self.takeover_message()
                if message and not quiet:
                    logger.warning("%s", message)
                return self
            os.close(fd)  # the file was removed by its last holder in between: open it anew
        raise OutputBusyError(f"{self.directory} keeps changing hands; try again")

    def takeover_message(self) -> str | None:
        """One line naming the holder that left the lock file behind, if one did."""
        if not self.previous:
            return None
        return (
            f"taking over {self.directory}: the {self.previous.get('purpose', 'extraction')} "
            f"of {_describe(self.previous)} did not finish (that process is gone)"
        )

    def _take(self, fd: int) -> None:
        self.previous = _read_owner(fd)
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "purpose": self.purpose,
            "command": " ".join(sys.argv)[:300],
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, yaml.safe_dump(owner, sort_keys=False).encode("utf-8"))
        self._fd = fd

    def release(self) -> None:
        """Give the lock up and remove the lock file (nothing if not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an emptied file was released cleanly
        if sys.platform != "win32":
            # Removed while still locked, so a run waiting to open it finds it gone (it then
            # opens a new file) rather than taking a lock on a file nobody sees.
            with contextlib.suppress(OSError):
                self.path.unlink()
        _unlock_file(fd)
        os.close(fd)
        if sys.platform == "win32":
            with contextlib.suppress(OSError):
                self.path.unlink()


def _read_owner(fd: int) -> dict[str, Any] | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        content = yaml.safe_load(data.decode("utf-8", errors="replace")) if data else None
    except (OSError, yaml.YAMLError):
        return None
    return content if isinstance(content, dict) else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        held, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)
