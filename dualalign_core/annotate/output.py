"""``annotate``'s output file: whether it is annotate's to write, whether it is still what annotate wrote,
and a writer that keeps count (bytes, a running SHA-256) of what goes into it.

An output annotate may write is absent, empty, or one with annotate's state directory (``OUT.state/``) beside
it; never the command's input, a run's own file, a directory or someone else's file. A device or pipe
(``/dev/null``) is written as a stream, without state (nothing to resume). Before a rerun appends to its
output, the file must be exactly what annotate left (its length and digest are stored with every record):
an output edited since is refused naming it, never truncated or padded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from dualalign_core.atomic import LOCK_FILE, check_file_target
from dualalign_core.errors import BadInput

DB_NAME = "run.sqlite"  # the state directory is a run store (dualalign_core.run.store)
STATE_FILES = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", LOCK_FILE}
RESTART = "move it away, or delete it to start over (replies already paid for are reused)"


def state_dir(out_path: str | Path) -> Path:
    """Where ``annotate`` keeps its LLM reply cache and what is done, next to the output."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".state")


def is_stream(path: Path) -> bool:
    """An existing output that is no regular file (``/dev/null``, a pipe): written as a stream, no state kept."""
    return path.exists() and not path.is_file() and not path.is_dir()


def _ours(path: Path) -> bool:
    """An existing output annotate may continue or replace: empty, or with annotate's state beside it."""
    return path.stat().st_size == 0 or (state_dir(path) / DB_NAME).is_file()


def check_target(out: Path, in_path: Path) -> None:
    """Exit 2 (nothing written) for an ``--out`` that is not annotate's to write, or whose state directory
    holds something else; a stream (``/dev/null``) passes."""
    check_file_target(out, owned=_ours, what="annotate output", inputs=[in_path], device_ok=True)
    state = state_dir(out)
    if is_stream(out) or not (state.exists() or state.is_symlink()):
        return
    if state.is_symlink() or not state.is_dir() or not {p.name for p in state.iterdir()} <= STATE_FILES:
        raise BadInput(
            "exists and is not annotate's state directory; remove it or choose another --out",
            file=str(state),
            field="--out",
        )


def check_unchanged(out: Path, offset: int, digest: str | None, *, pending: bool) -> Any:
    """A SHA-256 of the ``offset`` bytes annotate wrote, to go on from; :class:`BadInput` naming ``out`` when it
    is no longer what annotate left (shorter, other bytes, or more bytes with no record left to write: only a
    kill between a record's rows and its commit leaves a tail, which the rerun drops)."""
    size = out.stat().st_size
    if size < offset:
        raise BadInput(
            f"is shorter ({size} bytes) than annotate left it ({offset} bytes): edited since? {RESTART}",
            file=str(out),
            field="--out",
        )
    sha = _prefix_digest(out, offset)
    if (digest is not None and sha.hexdigest() != digest) or (size > offset and not pending):
        raise BadInput(f"was changed since annotate wrote it: {RESTART}", file=str(out), field="--out")
    return sha


def _prefix_digest(path: Path, size: int) -> Any:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while size > 0:
            block = fh.read(min(size, 1 << 20))
            if not block:
                break
            sha.update(block)
            size -= len(block)
    return sha


class Tally:
    """A binary output that counts what goes through it: ``offset`` (bytes in the file) and its digest."""

    def __init__(self, fh: IO[bytes], offset: int, sha: Any = None):
        self.fh = fh
        self.offset = offset
        self.sha = sha if sha is not None else hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.offset += len(data)
        self.sha.update(data)

    def meta(self) -> dict[str, Any]:
        """What the state stores with each record: how far the output goes, and what it holds."""
        return {"out_offset": self.offset, "out_sha256": self.sha.hexdigest()}


__all__ = ["Tally", "check_target", "check_unchanged", "is_stream", "state_dir"]
