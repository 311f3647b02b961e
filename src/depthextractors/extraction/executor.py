"""Running a chunk pipeline over a recording: :class:`ChunkExecutor` and its job options.

The executor owns everything about *how* an extraction runs and nothing about *what* it
computes: planning the chunks (:func:`plan_windows`, from the context and look-ahead the stages
declare), reading the recording in small blocks while worker threads process the frames already
read, spreading per-frame work over ``n_jobs`` threads, handing each finished chunk to the
writers on a thread of their own (so compression overlaps the next chunk), the progress bar, and
the thread limits of OpenCV and BLAS (the executor already uses every core it was given; their
own thread pools on top only compete for the same cores).

Job options (:class:`JobOptions`) are kept apart from the science parameters: the results do not
depend on them (a test extracts with several chunk sizes and thread counts and compares).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ..extractors.base import DepthVideoExtractor
from .results import ResultChunk, ResultsWriter
from .strategy import Strategy

__all__ = [
    "READ_BLOCK",
    "ChunkExecutor",
    "ChunkWindow",
    "JobOptions",
    "default_processes",
    "default_threads",
    "plan_windows",
    "worker_thread_limits",
]

#: Frames read from the recording at a time, at most (and the frames a sequential tracker
#: starts from).
READ_BLOCK = 64
#: Bytes of raw depth read at a time, at most: about three blocks are in memory at once (one
#: read, one worked on, one waiting to be freed), so larger frames are read fewer at a time.
READ_BLOCK_BYTES = 8 * 2**20


def read_block_frames(image_size: tuple[int, int]) -> int:
    """Frames read at a time for frames of ``image_size`` (rows, cols): within
    :data:`READ_BLOCK_BYTES`, at most :data:`READ_BLOCK`, at least one."""
    frame_bytes = int(image_size[0]) * int(image_size[1]) * 2
    return max(1, min(READ_BLOCK, READ_BLOCK_BYTES // max(frame_bytes, 1)))


def default_threads(cpus: int | None = None) -> int:
    """The extraction's threads when none are asked for and frames are worked on in threads,
    on a machine with ``cpus`` CPUs.

    One on 2 CPUs or fewer: the recording is read, the results written and the movie encoded
    on threads of their own, and a second thread for the per-frame work only added hand-overs
    of the interpreter lock (each frame makes a few dozen short OpenCV calls, each of which
    hands it over). On the 2-core machine, 2 threads against 1 (medians of paired runs,
    9,000 Kinect v2 frames): 1.23x the time with the defaults, 1.21x without the movie,
    1.13x with ``EMTracker``, 1.03x on 3,000 Azure Kinect frames. On more CPUs, up to 4
    (not measured beyond 2 cores).

    Parameters
    ----------
    cpus : int, optional
        CPUs available; ``os.cpu_count()`` by default.

    Returns
    -------
    int
    """
    cpus = (os.cpu_count() or 1) if cpus is None else int(cpus)
    return 1 if cpus <= 2 else min(cpus, 4)


def default_processes(cpus: int | None = None) -> int:
    """The extraction's worker processes when none are asked for: one per CPU, up to 8.

    Each process has its own interpreter lock, so they scale where threads do not; the main
    process (receiving their results, the chunk stages, the writers) shares the same CPUs. On
    the 2-core machine 2 workers took 0.89x the time of one thread (9,000 Kinect v2 frames in
    the page cache, no movie) and 0.67-0.90x on 54,000 frames read from disk; not measured on
    more cores.

    Parameters
    ----------
    cpus : int, optional
        CPUs available; ``os.cpu_count()`` by default.

    Returns
    -------
    int
    """
    cpus = (os.cpu_count() or 1) if cpus is None else int(cpus)
    return max(1, min(cpus, 8))


#: ``JobOptions.workers`` values.
WORKER_KINDS = ("auto", "processes", "threads")
#: Fewest frames for which ``workers="auto"`` starts worker processes: starting two costs
#: about 0.3 s (on the 2-core machine 150 frames took 0.38 s in a thread, 0.62-0.78 s with
#: two processes), which they win back at about 0.09 ms a frame (9,000 frames in the page
#: cache: 6.12 s against 6.90 s): from about 3,000 frames, 100 s at 30 frames/s.
PROCESSES_MIN_FRAMES = 3000


@dataclass(frozen=True, repr=False)
class JobOptions(Strategy):
    """How an extraction runs (not what it computes): recorded apart from the parameters.

    Parameters
    ----------
    n_jobs : int, optional
        Workers on the frames (processes or threads); -1 for one per CPU. By default
        :func:`default_processes` in processes (one per CPU, up to 8) and
        :func:`default_threads` in threads (1 on a machine with 2 CPUs, up to 4 on larger ones).
    chunk_size : int, default 1000
        Frames finished per chunk (``chunk_size``); memory grows with it, the results do not
        change.
    progress : bool, default True
        Show a tqdm progress bar.
    workers : {"auto", "processes", "threads"}, default "auto"
        Where the first frame pass runs (heights, filters, a stateless tracker, the body
        centroid): ``"processes"`` in worker processes that read their own frames, which needs
        a recording that reads at any frame from a copy of its extractor (a raw ``depth.dat``;
        others run in threads); ``"threads"`` in threads of this process; ``"auto"``: processes
        where the recording allows it, with at least 2 workers and
        :data:`PROCESSES_MIN_FRAMES` frames, else threads. The results are the same.
    """

    n_jobs: int | None = None
    chunk_size: int = 1000
    progress: bool = True
    workers: str = "auto"

    def __post_init__(self) -> None:
        for name in ("n_jobs", "chunk_size"):
            value = getattr(self, name)
            if value is None and name == "n_jobs":
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if self.n_jobs is not None and self.n_jobs < 1 and self.n_jobs != -1:
            raise ValueError(
                f"n_jobs must be a positive number of workers or -1, got {self.n_jobs}"
            )
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1 frame, got {self.chunk_size}")
        if self.workers not in WORKER_KINDS:
            raise ValueError(
                f"workers must be one of {', '.join(map(repr, WORKER_KINDS))}, got {self.workers!r}"
            )

    def plan(self, processes_possible: bool, frames: int | None = None) -> tuple[str, int]:
        """Where the first frame pass runs and on how many workers.

        ``"auto"`` takes processes when they are possible, there are at least 2 workers and
        at least :data:`PROCESSES_MIN_FRAMES` frames to extract (``frames``; a shorter
        extraction starts faster in threads).

        Parameters
        ----------
        processes_possible : bool
            Whether the recording and the first pass allow worker processes.
        frames : int, optional
            Frames to extract (``None``: as many as it takes).

        Returns
        -------
        (str, int)
            ``"processes"`` or ``"threads"``, and the workers.
        """
        cpus = os.cpu_count() or 1
        asked = cpus if self.n_jobs == -1 else self.n_jobs
        if processes_possible and self.workers != "threads":
            count = default_processes() if asked is None else int(asked)
            long_enough = frames is None or frames >= PROCESSES_MIN_FRAMES
            if self.workers == "processes" or (count >= 2 and long_enough):
                return "processes", count
        return "threads", default_threads() if asked is None else int(asked)

    @property
    def threads(self) -> int:
        """Threads the extraction uses for frame work done in this process: ``n_jobs``, one
        per CPU for -1, :func:`default_threads` when not given."""
        if self.n_jobs is None:
            return default_threads()
        return (os.cpu_count() or 1) if self.n_jobs == -1 else int(self.n_jobs)


@dataclass(frozen=True)
class ChunkWindow:
    """One chunk: frames ``[start, end)`` are finished, ``[read_start, read_end)`` are read.

    The frames read around the finished ones are context (filters, outlier windows) and
    look-ahead (evidence for decisions about the chunk's last frames). Indices are frames of
    the recording.

    Attributes
    ----------
    read_start, read_end : int
        Frames read.
    start, end : int
        Frames finished and written.
    next_read_start : int or None
        ``read_start`` of the next chunk (``None`` for the last): state carried across chunks
        is taken from the frame before it.
    """

    read_start: int
    read_end: int
    start: int
    end: int
    next_read_start: int | None

    @property
    def size(self) -> int:
        """Frames read."""
        return self.read_end - self.read_start

    @property
    def own(self) -> slice:
        """The finished frames, as a slice of the frames read."""
        return slice(self.start - self.read_start, self.end - self.read_start)


def plan_windows(
    first: int, last: int, chunk_size: int, context: int, overlap: int, lookahead: int
) -> list[ChunkWindow]:
    """Chunks finishing frames ``[first, last)``, each read with its context.

    Parameters
    ----------
    first, last : int
        Frames of the recording to finish.
    chunk_size : int
        Frames finished per chunk.
    context : int
        Frames read on each side for the stages' margins (summed along the pipeline).
    overlap : int
        Extra frames read before each chunk (``chunk_overlap``).
    lookahead : int
        Frames read after each chunk as evidence only.

    Returns
    -------
    list of ChunkWindow
    """
    starts = list(range(first, last, chunk_size))
    read_starts = [max(first, start - context - overlap) for start in starts]
    windows = []
    for index, start in enumerate(starts):
        end = min(start + chunk_size, last)
        windows.append(
            ChunkWindow(
                read_start=read_starts[index],
                read_end=min(last, end + lookahead + context),
                start=start,
                end=end,
                next_read_start=read_starts[index + 1] if index + 1 < len(starts) else None,
            )
        )
    return windows


class ChunkExecutor:
    """Reads, spreads and writes: the job side of an extraction.

    Parameters
    ----------
    options : JobOptions
        Threads, chunk size and progress bar.
    threads : int, optional
        Threads for the frame work done in this process; ``options.threads`` by default.
    """

    def __init__(self, options: JobOptions, threads: int | None = None) -> None:
        self.options = options
        self.threads = options.threads if threads is None else int(threads)
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ parallel work
    def map_ranges(self, function: Callable[[int, int], None], count: int) -> None:
        """Run ``function(lo, hi)`` over contiguous ranges of ``range(count)`` on the threads.

        Parameters
        ----------
        function : callable
            Processes frames ``[lo, hi)``; ranges are disjoint, so it may write to shared
            arrays at those indices.
        count : int
            Number of frames.
        """
        _drain(self._submit_ranges(function, count), keep=0)

    def stream(
        self,
        extractor: DepthVideoExtractor,
        start: int,
        stop: int,
        receive: Callable[[int, np.ndarray], None],
        function: Callable[[int, int], None],
    ) -> None:
        """Read frames ``[start, stop)`` in blocks, processing each block while the next is read.

        For every block, ``receive(offset, frames)`` is called on this thread (``offset``: the
        index of the block's first frame counted from ``start``), then ``function(lo, hi)`` on
        the worker threads over ranges of the block's frames (indices counted from ``start``).
        At most one block beyond the one being read is in flight, so memory stays bounded.

        Parameters
        ----------
        extractor : DepthVideoExtractor
            The recording.
        start, stop : int
            Frames to read.
        receive : callable
            Takes the raw block before it is processed.
        function : callable
            Processes frames ``[lo, hi)``.
        """
        futures: list[Future] = []
        offset = 0
        block = read_block_frames(extractor.get_image_size())
        for chunk in extractor.iter_chunks(block, 0, start, stop):
            count = chunk.frames.shape[0]
            receive(offset, chunk.frames)
            futures.extend(self._submit_ranges(function, count, offset))
            offset += count
            # Bound the raw blocks in flight: wait for all but the latest block's work.
            _drain(futures, keep=self.threads)
        _drain(futures, keep=0)

    def _submit_ranges(
        self, function: Callable[[int, int], None], count: int, offset: int = 0
    ) -> list[Future]:
        parts = max(1, min(self.threads, count))
        bounds = np.linspace(0, count, parts + 1).astype(int) + offset
        return [
            self._pool.submit(function, int(lo), int(hi))
            for lo, hi in itertools.pairwise(bounds)
            if hi > lo
        ]

    # ------------------------------------------------------------------ the run
    def run(
        self,
        windows: Sequence[ChunkWindow],
        process: Callable[[ChunkWindow], ResultChunk],
        writer: ResultsWriter,
        total: int,
    ) -> None:
        """Process every window in order and write its chunk, overlapping writing.

        Parameters
        ----------
        windows : sequence of ChunkWindow
            The plan.
        process : callable
            Turns a window into its finished chunk (may use :meth:`map_ranges` and
            :meth:`stream`).
        writer : ResultsWriter
            Receives the chunks in order, on its own thread.
        total : int
            Frames to be written (for the progress bar).
        """
        from tqdm.auto import tqdm

        bar = tqdm(total=total, disable=not self.options.progress, desc="Extracting", unit="frame")
        pending: Future | None = None
        with (
            worker_thread_limits(),
            ThreadPoolExecutor(self.threads, thread_name_prefix="depthextractors") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="depthextractors-writer") as write_pool,
        ):
            self._pool = pool
            try:
                for window in windows:
                    chunk = process(window)
                    if pending is not None:
                        pending.result()
                    pending = write_pool.submit(writer.write, chunk)
                    bar.update(len(chunk))
                if pending is not None:
                    pending.result()
            finally:
                self._pool = None
                bar.close()


def _drain(futures: list[Future], keep: int) -> None:
    """Wait until at most ``keep`` futures are left running (re-raising their errors)."""
    while len(futures) > keep:
        futures.pop(0).result()


_limits_lock = threading.Lock()
_limits_users = 0
_opencv_threads_before = 0
_blas_limits = None


@contextlib.contextmanager
def worker_thread_limits() -> Iterator[None]:
    """OpenCV and BLAS without thread pools of their own while extractions run.

    The executor already spreads frames over its threads; OpenCV's pool on top of them only
    competes for the same cores (measured: 12% more CPU time, 5-8% slower on 2 cores), and the
    BLAS calls of the extraction are on 3x3 matrices, where threads cost more than they give.
    Both settings are process-wide: counted, so concurrent extractions in one process set them
    when the first starts and restore them when the last ends. Changing OpenCV's thread count
    while another thread is inside one of its parallel calls can kill the process (a batch's
    threads, one session's arena step labelling regions while another's extraction started,
    died of a floating point exception, and so did one's report encoding a PNG while another
    session's arena step began), so every step of a session that calls OpenCV on a worker
    thread runs inside this context: the extraction, the arena step, and the preview movie
    and report written after it (``workflow``).
    """
    global _limits_users, _opencv_threads_before, _blas_limits
    from threadpoolctl import threadpool_limits

    with _limits_lock:
        if _limits_users == 0:
            _opencv_threads_before = cv2.getNumThreads()
            cv2.setNumThreads(0)
            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _limits_users += 1
    try:
        yield
    finally:
        with _limits_lock:
            _limits_users -= 1
            if _limits_users == 0:
                cv2.setNumThreads(_opencv_threads_before)
                _blas_limits.restore_original_limits()
                _blas_limits = None
