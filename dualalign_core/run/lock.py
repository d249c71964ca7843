"""One process per run directory: an advisory ``flock`` on ``DIR/.lock``, which holds the owner's pid.

``run``, ``run --resume``, ``merge`` (on each shard and on the run it builds) and ``annotate`` (on its state
directory) hold it while they write; a second process is refused at once (:class:`BadInput`, exit 2) naming
the holder's pid. Only a Ray run's driver locks: replicas never open the run directory. The OS drops the lock
when its holder dies, so a killed run (SIGKILL included) resumes (a killed holder leaves its lock file, which
the next process reuses); a released lock removes its file, so a finished run directory holds none.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from dualalign_core.atomic import LOCK_FILE
from dualalign_core.errors import BadInput


class DirLock:
    """A held lock on ``folder`` (see :func:`acquire`); :meth:`release` (or dropping it) lets it go."""

    def __init__(self, folder: Path, fh: IO[str] | None, created: bool):
        self.folder = folder
        self._fh = fh
        self._created = created

    def release(self) -> None:
        """Remove the lock file (while still holding it: a process that opened it meanwhile sees it is gone
        and opens a new one) and let the lock go; a directory the lock created and nothing else filled is
        removed too, so a run that never started leaves nothing behind."""
        if self._fh is None:
            return
        try:
            (self.folder / LOCK_FILE).unlink(missing_ok=True)
            if self._created and not any(self.folder.iterdir()):
                self.folder.rmdir()
        except OSError:
            pass  # a read-only directory keeps its lock file: harmless, the lock is the flock
        finally:
            self._fh.close()
            self._fh = None


def acquire(folder: str | Path, *, create: bool = True, what: str = "run directory") -> DirLock:
    """Lock ``folder`` (created when ``create``) for this process, or raise :class:`BadInput` naming it and the
    pid that holds it. A folder we may not write (a read-only shard) is read, never written: not locked."""
    folder = Path(folder)
    created = create and not folder.exists()
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fh = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not create:
                return DirLock(folder, None, False)
            raise
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise BadInput(
                f"{what} in use by another DualAlign process (pid {holder}); wait for it to finish or stop it",
                file=str(folder),
            ) from None
        if _current(fh, folder / LOCK_FILE):
            break
        fh.close()  # the holder removed the file as we opened it: lock the one there now
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return DirLock(folder, fh, created)


def _current(fh: IO[str], path: Path) -> bool:
    """Whether the locked handle is still the file at ``path`` (not one removed meanwhile)."""
    try:
        return os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def locked(folder: str | Path, *, create: bool = True, what: str = "run directory") -> Iterator[DirLock]:
    """Hold the lock on ``folder`` for the block, released on every way out."""
    lock = acquire(folder, create=create, what=what)
    try:
        yield lock
    finally:
        lock.release()


__all__ = ["DirLock", "acquire", "locked"]
