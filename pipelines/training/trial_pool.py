"""Running a batch of search trials, in this process or in forked worker processes.

A trial is a function ``evaluate(params, keep_going) -> float`` that calls ``keep_going(step, value)``
after each of its steps (CV folds) and stops, returning :class:`Pruned`, when the answer is no. The
pool answers ``keep_going`` through one callback in the calling process, so the decision (Optuna's
pruner) is taken where the study lives, whatever process ran the step.

:class:`ForkedTrials` forks its workers once (``fork``: the data the trial function closes over is
inherited, not pickled per trial) and keeps them for every batch. Each worker runs one trial at a
time; a batch's outcomes come back in the batch's order whatever worker ran what, and every fit in a
trial runs with one BLAS/OpenMP thread, in a worker and in this process alike: with many threads a
fit's floating-point sums may depend on the thread count, and the results must not depend on the
CPUs available. (It also keeps OpenMP usable in a forked child: GNU OpenMP hangs in a child forked
after the parent used a thread team, unless the child stays on one thread.)
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, Self

from threadpoolctl import threadpool_limits

from core.errors import SearchWorkerError

Params = dict[str, Any]
#: ``(step, value) -> go on?``, called by a trial after each step
KeepGoing = Callable[[int, float], bool]
#: ``(index in the batch, step, value) -> go on?``, answered by the pool's caller
Judge = Callable[[int, int, float], bool]


@dataclass(frozen=True)
class Pruned:
    """The trial stopped because ``keep_going`` said no."""


#: a trial's function returns its value, or :data:`PRUNED` when it stopped early
PRUNED = Pruned()
Evaluate = Callable[[Params, KeepGoing], "float | Pruned"]


@dataclass(frozen=True)
class Failed:
    """The trial raised ``error``; ``remote_traceback`` is set when it ran in a worker."""

    error: BaseException
    remote_traceback: str | None = None

    def reraise(self) -> None:
        if self.remote_traceback is not None:
            self.error.__cause__ = WorkerTraceback(self.remote_traceback)
        raise self.error


class WorkerTraceback(Exception):
    """Where a trial failed inside a worker process (the ``__cause__`` of the error re-raised here)."""

    def __str__(self) -> str:
        return f"\n\nin the search worker process:\n{self.args[0]}"


Outcome = float | Pruned | Failed


class TrialPool(Protocol):
    workers: int

    def run(self, batch: Sequence[Params], judge: Judge) -> list[Outcome]:
        """Run every trial of ``batch``; the outcomes in the batch's order."""
        ...


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; not a container's CPU quota)."""
    return len(os.sched_getaffinity(0))


def _outcome(evaluate: Evaluate, params: Params, keep_going: KeepGoing) -> Outcome:
    try:
        return evaluate(params, keep_going)
    except Exception as err:  # noqa: BLE001 - kept, and re-raised by the caller after the batch
        return Failed(err)


class InProcessTrials:
    """One trial after the other in this process."""

    workers = 1

    def __init__(self, evaluate: Evaluate) -> None:
        self._evaluate = evaluate

    def run(self, batch: Sequence[Params], judge: Judge) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with threadpool_limits(1):
            for index, params in enumerate(batch):
                outcomes.append(
                    _outcome(self._evaluate, params, lambda step, value, i=index: judge(i, step, value))
                )
        return outcomes


def _serve(conn: Connection, evaluate: Evaluate) -> None:
    """A worker's loop: ``(index, params)`` in; ``("step", index, step, value)`` out, answered with
    go on or not; ``("done", index, outcome)`` out. ``None`` or a closed pipe ends it."""
    threadpool_limits(1)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        index, params = task

        def keep_going(step: int, value: float, index: int = index) -> bool:
            conn.send(("step", index, step, value))
            return bool(conn.recv())

        outcome = _outcome(evaluate, params, keep_going)
        if not isinstance(outcome, Failed):
            conn.send(("done", index, outcome))
            continue
        trace = "".join(traceback.format_exception(outcome.error))
        error = outcome.error
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:  # noqa: BLE001 - any error that does not survive the pipe is replaced
            # by one that does: it still fails the search, with the original's text and traceback
            error = RuntimeError(f"{type(error).__name__}: {error}")
        conn.send(("done", index, Failed(error, trace)))


class ForkedTrials:
    """``workers`` forked processes that run a batch's trials side by side; close it when done."""

    def __init__(self, evaluate: Evaluate, workers: int) -> None:
        if workers < 2:
            raise ValueError(f"ForkedTrials needs at least 2 workers, got {workers}")
        self.workers = workers
        context = multiprocessing.get_context("fork")
        self._connections: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        #: worker connection -> index of the trial it runs in the current batch
        self._running: dict[Connection, int] = {}
        try:
            for number in range(workers):
                parent_end, child_end = context.Pipe(duplex=True)
                process = context.Process(
                    target=_serve, args=(child_end, evaluate), name=f"search-worker-{number}", daemon=True
                )
                process.start()
                child_end.close()
                self._connections.append(parent_end)
                self._processes.append(process)
        except BaseException:
            self.close()
            raise

    def run(self, batch: Sequence[Params], judge: Judge) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        waiting = deque(enumerate(batch))
        idle = list(reversed(self._connections))
        running = self._running
        while waiting or running:
            while waiting and idle:
                conn = idle.pop()
                index, params = waiting.popleft()
                conn.send((index, params))
                running[conn] = index
            for conn in wait(list(running)):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except (EOFError, ConnectionResetError) as err:
                    process = self._processes[self._connections.index(conn)]
                    process.join(1.0)
                    raise SearchWorkerError(
                        f"search worker {process.name} (pid {process.pid}) ended with exit code "
                        f"{process.exitcode} while running trial {running[conn]} of its batch; "
                        "it was killed or ran out of memory: give the job more memory or lower parallel_trials"
                    ) from err
                if message[0] == "step":
                    _, index, step, value = message
                    conn.send(judge(index, step, value))
                else:
                    _, index, outcome = message
                    outcomes[index] = outcome
                    del running[conn]
                    idle.append(conn)
        return [outcomes[index] for index in range(len(batch))]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for conn, process in zip(self._connections, self._processes, strict=True):
            if conn in self._running:
                # busy in a batch given up (an error in this process): its result is not wanted
                process.terminate()
            else:
                try:
                    conn.send(None)
                except OSError:
                    pass  # that worker is gone already
        for process in self._processes:
            process.join(5.0)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self._connections:
            conn.close()
        self._running.clear()


@contextmanager
def trial_pool(evaluate: Evaluate, workers: int) -> Iterator[TrialPool]:
    """The pool for ``workers`` (in this process for one), closed on exit."""
    if workers <= 1:
        yield InProcessTrials(evaluate)
        return
    with ForkedTrials(evaluate, workers) as pool:
        yield pool


__all__ = [
    "PRUNED",
    "Evaluate",
    "Failed",
    "ForkedTrials",
    "InProcessTrials",
    "Judge",
    "KeepGoing",
    "Outcome",
    "Pruned",
    "TrialPool",
    "WorkerTraceback",
    "available_cpus",
    "trial_pool",
]
