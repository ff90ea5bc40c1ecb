"""Where parallel work runs: local worker processes or a Dask cluster, behind one interface.

Sweeps (:mod:`accelsim.sweep`) and the accuracy study's virtual dies
(:mod:`accelsim.accuracy`) are written against ``concurrent.futures.Executor``;
:func:`open_executor` gives them local processes or a Dask cluster's executor
(``Client.get_executor()``), so both share one code path. The ``dist`` extra
is imported only when a scheduler is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from accelsim.errors import ConfigError, Problem

#: how long a scheduler that does not answer is tried before the sweep is refused
CONNECT_TIMEOUT_S = 10

#: Linux's prctl option that sends a signal to a process when its parent dies
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In a worker: be killed when the process that started it dies, even by SIGKILL (Linux;
    elsewhere the pool's own shutdown is all there is)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def local_executor(workers: int) -> Executor:
    """Local worker processes that end with the process that started them."""
    return ProcessPoolExecutor(max_workers=max(1, workers), initializer=_die_with_parent)


class DaskExecutor:
    """A Dask cluster behind the Executor interface (``address`` or ``local``)."""

    def __init__(self, address: str, workers: int):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(Problem(
                "--scheduler needs the dist extra: pip install \".[dist]\" in accelsim's folder", file="--scheduler")) from None
        self._cluster = None
        if address == "local":
            self._cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                         dashboard_address=":0", host="127.0.0.1")
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
            except OSError as exc:
                raise ConfigError(Problem(f"cannot reach the Dask scheduler: {exc}",
                                          file="--scheduler", value=address)) from None
            except (ValueError, TypeError) as exc:  # distributed cannot parse it: "missing port number", ...
                raise ConfigError(Problem(f"not a Dask scheduler address ({exc}); expected tcp://HOST:PORT, "
                                          "or 'local' for a cluster of local processes",
                                          file="--scheduler", value=address)) from None
        self.executor = self._client.get_executor(pure=False)

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


@contextmanager
def open_executor(scheduler: str | None, workers: int) -> Iterator[Executor]:
    """A Dask executor at ``scheduler`` (or ``local``), else ``workers`` local processes;
    closed (pending work cancelled) on the way out."""
    if scheduler:
        dask = DaskExecutor(scheduler, workers)
        try:
            yield dask.executor
        finally:
            dask.close()
        return
    pool = local_executor(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
