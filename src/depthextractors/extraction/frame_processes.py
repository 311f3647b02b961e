"""The first frame pass in worker processes: :class:`FramePassProcesses`.

Each frame goes through a few dozen short OpenCV and numpy calls, every one of which hands
Python's interpreter lock to another thread and takes it back; threads in one process therefore
scale badly (on 2 cores a second extraction thread made the command slower). Worker processes
have a lock each. When the recording can be read at any frame from a copy of its extractor
(:attr:`~depthextractors.extractors.DepthVideoExtractor.reads_anywhere`, a file read at an
offset) and the first pass needs no order, each worker reads a block of frames itself and runs
the first pass's stages on it; what the later passes and the chunk stages need of a frame (its
tracked object, the heights kept round it, the tracker's input, the arena heights a writer wants)
comes back, a few tens of kilobytes a frame, while the main process finishes the chunk before.

The workers start from a fork server (a clean interpreter that imported the extraction once; a
fork of a process running threads can deadlock), or spawn where there is none. Either way each
worker imports the program's main script, as Python's worker processes do: a script that runs
an extraction at its top level, not under ``if __name__ == "__main__":``, would run it again in
every worker, so for such a script the first pass stays in threads (:func:`main_script_guarded`).
:func:`choose_workers` decides where the first pass runs (:func:`why_not_processes` says what
keeps it in threads).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..extractors.base import DepthVideoExtractor
from .executor import ChunkWindow, JobOptions, read_block_frames
from .stages import FrameStage, WindowWork

__all__ = [
    "FramePassProcesses",
    "choose_workers",
    "main_script_guarded",
    "start_worker_server",
    "why_no_workers",
    "why_not_processes",
]

#: What the workers import before they are forked: everything a frame stage runs.
_PRELOAD = ["depthextractors.extraction.frame_stages"]


def _context() -> multiprocessing.context.BaseContext:
    """The fork server where the platform has one (Linux, macOS), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def why_no_workers() -> str | None:
    """Why this process cannot start worker processes, or ``None`` when it can."""
    if multiprocessing.current_process().daemon:
        return "this is a daemonic process (a Dask worker, say), which cannot start processes"
    if not main_script_guarded():
        return (
            'the main script runs its work outside `if __name__ == "__main__":`, and every '
            "worker process would run it again"
        )
    return None


def why_not_processes(extractor: DepthVideoExtractor, first_pass: list[FrameStage]) -> str | None:
    """Why the first pass cannot run in worker processes that read their own frames, or
    ``None`` when it can: the recording must read at any frame from a copy of its extractor,
    this process must be able to start workers (:func:`why_no_workers`),
    and no stage of the pass may need the frames in order, their neighbours or a buffer of
    the whole window.

    Parameters
    ----------
    extractor : DepthVideoExtractor
        The recording.
    first_pass : list of FrameStage
        The first pass, from :func:`frame_passes`.

    Returns
    -------
    str or None
    """
    if not extractor.reads_anywhere:
        return f"{type(extractor).__name__} recordings are read in order, in this process"
    if any(stage.sequential or stage.writes_filtered or stage.margin for stage in first_pass) or (
        not any(stage.keeps_patches for stage in first_pass)
    ):
        return "the first frame pass keeps the window's frames whole (a temporal median)"
    obstacle = why_no_workers()
    if obstacle is not None:
        return obstacle
    try:
        pickle.dumps(first_pass)
    except Exception as error:  # a strategy defined where a worker cannot import it
        return f"a stage of the first frame pass cannot be sent to a worker process ({error})"
    return None


def choose_workers(
    job: JobOptions,
    extractor: DepthVideoExtractor,
    first_pass: list[FrameStage],
    frames: int | None = None,
) -> tuple[str, int]:
    """Where the first frame pass runs, ``"processes"`` or ``"threads"``, and on how many
    workers (:meth:`JobOptions.plan`), warning when processes were asked for but cannot be
    used (:func:`why_not_processes`).

    Parameters
    ----------
    job : JobOptions
        The job options.
    extractor : DepthVideoExtractor
        The recording.
    first_pass : list of FrameStage
        The first pass, from :func:`frame_passes`.
    frames : int, optional
        Frames to extract.

    Returns
    -------
    (str, int)
    """
    obstacle = None if job.workers == "threads" else why_not_processes(extractor, first_pass)
    if job.workers == "processes" and obstacle is not None:
        warnings.warn(
            f"workers='processes' was asked for, but the frames are worked on in threads: "
            f"{obstacle}",
            stacklevel=3,
        )
    return job.plan(job.workers != "threads" and obstacle is None, frames)


def start_worker_server() -> None:
    """Start the fork server now (it imports the extraction, about 0.3 s), so that it is ready
    when the extraction's workers are forked from it; nothing where there is none, or where
    no workers can start (:func:`why_no_workers`; the server would import the main script)."""
    if why_no_workers() is not None:
        return
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


_GUARD = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]\s*:""", re.MULTILINE)


def main_script_guarded() -> bool:
    """Whether worker processes can import the program's main script without running its work.

    Python's worker processes (spawned or forked from a server) import the main script under
    another name before they start. That is harmless for an interactive session or notebook
    (no script), ``python -m package`` (a package's ``__main__`` is not imported) and a script
    whose work is under ``if __name__ == "__main__":`` (console scripts, this project's
    command line, pytest), which is looked for in its source.

    Returns
    -------
    bool
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if name is not None:
        if name == "__main__" or name.endswith(".__main__"):
            return True
        path = getattr(spec, "origin", None)
    else:
        path = getattr(main, "__file__", None)
    if path is None:
        return True
    try:
        source = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return _GUARD.search(source) is not None


@dataclass
class _Installed:
    stages: list[FrameStage]
    extractor: DepthVideoExtractor
    box_shape: tuple[int, int]
    frame_dtype: np.dtype


_installed: _Installed | None = None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _watch(main_pid: int, period: float = 0.5) -> None:
    """End this worker once the extraction's process is gone (killed: it could not stop its
    workers; the fork server then ends too, as its last client is gone)."""
    while _alive(main_pid):
        time.sleep(period)
    os._exit(1)


def _install(payload: bytes, main_pid: int) -> None:
    """Worker start: unpickle the first pass's stages and the recording once, and watch the
    extraction's process."""
    global _installed
    if os.name == "posix":  # os.kill(pid, 0) tests a process there (elsewhere it can end it)
        threading.Thread(
            target=_watch, args=(main_pid,), name="depthextractors-watch", daemon=True
        ).start()
    import cv2
    from threadpoolctl import threadpool_limits

    # One thread per worker: OpenCV's and BLAS's own pools would compete for the same cores.
    cv2.setNumThreads(0)
    threadpool_limits(limits=1, user_api="blas")
    # Ctrl-C stops the main process, which stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with warnings.catch_warnings():
        # The recording warned when the main process opened it; its copy here need not.
        warnings.simplefilter("ignore")
        _installed = pickle.loads(payload)


def _run_block(window: ChunkWindow, lo: int, hi: int) -> tuple[list, list, list, list, Any]:
    """Frames ``[lo, hi)`` of the window (counted from its ``read_start``) through the first
    pass: their objects, tracker inputs, patches and hidden pixels, and the arena heights of
    those of them that the window finishes (or ``None``)."""
    setup = _installed
    # The block as a window of its own: its buffers (the arena heights a writer wants) are the
    # block's size, not the window's, and are used again by the next block.
    first, last = window.read_start + lo, window.read_start + hi
    own_start = min(max(window.start, first), last)
    block = ChunkWindow(first, last, own_start, max(own_start, min(window.end, last)), None)
    work = WindowWork(
        window=block, executor=None, heights=None, box_shape=setup.box_shape,
        frame_dtype=setup.frame_dtype,
    )  # fmt: skip
    for stage in setup.stages:
        stage.begin(work)
    work.depth[:] = list(setup.extractor.get_video(first, last))
    for k in range(block.size):
        for stage in setup.stages:
            stage.process(work, k)
    for stage in setup.stages:
        stage.end(work)
    arena = None
    if work.arena_heights is not None and block.end > block.start:
        arena = work.arena_heights[: block.end - block.start].copy()
    return work.objects, work.images, work.patches, work.hidden, arena


class FramePassProcesses:
    """Worker processes that run a window's first frame pass.

    Parameters
    ----------
    stages : list of FrameStage
        The first pass: no stage is sequential, none writes the window's filtered frames, and
        one keeps the heights round each frame (the window's heights are not kept whole).
    extractor : DepthVideoExtractor
        The recording; its ``reads_anywhere`` must be true.
    workers : int
        Processes.
    box_shape : (int, int)
        The ROI box, pixels.
    frame_dtype : numpy.dtype
        The heights' type.
    windows : sequence of ChunkWindow, optional
        The windows :meth:`first_pass` will be asked for, in order: each window's blocks are
        sent to the workers as soon as the window before it is collected.
    """

    def __init__(
        self,
        stages: list[FrameStage],
        extractor: DepthVideoExtractor,
        workers: int,
        box_shape: tuple[int, int],
        frame_dtype: np.dtype,
        windows: Sequence[ChunkWindow] = (),
    ) -> None:
        self._following = dict(itertools.pairwise(windows))
        self._sent: dict[ChunkWindow, list] = {}
        payload = pickle.dumps(_Installed(list(stages), extractor, box_shape, frame_dtype))
        self.block = read_block_frames(extractor.get_image_size())
        self._pool = ProcessPoolExecutor(
            workers, mp_context=_context(), initializer=_install, initargs=(payload, os.getpid())
        )

    def first_pass(self, work: WindowWork) -> None:
        """Put the first pass of ``work.window`` into ``work``, having sent the next window's
        blocks first: the workers work on them while this process finishes this window.

        Parameters
        ----------
        work : WindowWork
            The window's work (its first-pass stages have begun).
        """
        window = work.window
        blocks = self._sent.pop(window, None) or self.submit(window)
        following = self._following.get(window)
        if following is not None:
            self._sent[following] = self.submit(following)
        self.collect(blocks, work)

    def submit(self, window: ChunkWindow) -> list[tuple[int, int, Future]]:
        """Send the window's frames to the workers, a read block at a time.

        Parameters
        ----------
        window : ChunkWindow
            The window.

        Returns
        -------
        list of (int, int, Future)
            Each block's frames ``[lo, hi)`` and its result, for :meth:`collect`.
        """
        bounds = range(0, window.size, self.block)
        return [
            (lo, min(lo + self.block, window.size),
             self._pool.submit(_run_block, window, lo, min(lo + self.block, window.size)))
            for lo in bounds
        ]  # fmt: skip

    @staticmethod
    def collect(blocks: list[tuple[int, int, Future]], work: WindowWork) -> None:
        """Put what the workers made for each block into the window's work, in order.

        Parameters
        ----------
        blocks : list
            From :meth:`submit` for ``work.window``.
        work : WindowWork
            The window's work (its first-pass stages have begun).

        Raises
        ------
        RuntimeError
            If a worker process stopped (killed, out of memory).
        """
        own = work.own
        for lo, hi, future in blocks:
            try:
                objects, images, patches, hidden, arena = future.result()
            except BrokenProcessPool as error:
                start = work.window.read_start
                raise RuntimeError(
                    f"a worker process of the extraction stopped (killed, or out of memory?) "
                    f"while working on frames {start + lo}..{start + hi - 1}; nothing more was "
                    f"extracted. Run again, with fewer workers (n_jobs, --n-jobs) or in threads "
                    f"(workers='threads', --workers threads)"
                ) from error
            work.objects[lo:hi] = objects
            work.images[lo:hi] = images
            work.patches[lo:hi] = patches
            work.hidden[lo:hi] = hidden
            if arena is not None:
                first = max(lo, own.start) - own.start
                work.arena_heights[first : first + arena.shape[0]] = arena

    def __enter__(self) -> FramePassProcesses:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: Any) -> None:
        # After a failure or an interruption the workers are not waited for.
        self.close(wait=error is None)

    def close(self, wait: bool = True) -> None:
        """Stop the workers (without waiting when the extraction failed or was interrupted).

        Parameters
        ----------
        wait : bool, default True
            Wait for running blocks to end.
        """
        self._pool.shutdown(wait=wait, cancel_futures=True)
