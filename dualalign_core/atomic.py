"""Atomic output: files and directories appear whole or not at all, and only what is ours gets replaced.

- :func:`check_file_target`: the ownership rules every file output goes through: never a directory, a device
  or other non-regular file, the command's own input, a run's own file, or (with ``owned``) a file that is
  not an earlier output of ours.
- :func:`atomic_writer` / :func:`atomic_write_text`: a temp file in the target's directory, ``os.replace``d.
- :func:`replace_dir`: a directory built in a fresh hidden temp sibling (``.NAME.XXXX.dualalign-tmp``) and
  renamed into place. An existing target is replaced only when it is empty or carries our marker
  (:data:`MARKER`) of the same kind and holds nothing beyond what that marker lists (the whole tree, every
  file and folder by its relative path: a file a user added anywhere inside is never deleted). Never the run
  directory, a directory holding or above a run, the current directory or one above it, or a file.
- :func:`new_dir`: the same temp sibling, renamed onto an absent or empty target only (a merged run).

Temp siblings are removed on any failure (``KeyboardInterrupt`` included); a killed process (SIGKILL) leaves
one behind, which the next write to the same target removes (its marker names a process that is gone).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dualalign_core.errors import BadInput

MARKER = ".dualalign-output.json"
TMP_SUFFIX = ".dualalign-tmp"
RUN_FILES = ("run.sqlite", "run.sqlite-wal", "run.sqlite-shm", "manifest.json")
LOCK_FILE = ".lock"  # a run directory's advisory lock (dualalign_core.run.lock)
MARKER_VERSION = 2  # 2: ``files`` lists the whole tree; 1 (no ``version``): top-level names only


def _bad(path: Path, message: str, field: str | None) -> BadInput:
    return BadInput(message, file=str(path), field=field)


def writable_parent(path: Path, field: str | None = "--out") -> Path:
    """Create ``path``'s parent directories; exit 2 naming the path when it lies under a file or is read-only."""
    parent = path.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise _bad(path, f"cannot write here: {probe} is a file, not a directory", field)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _bad(path, f"cannot create its directory: {exc.strerror or exc}", field) from None
    if not _writable(parent):
        raise _bad(path, f"cannot write here: {parent} is not writable", field)
    return parent


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_FILES)


# -- files --------------------------------------------------------------------------------------------------
def check_file_target(
    path: str | Path,
    *,
    field: str | None = "--out",
    owned: Callable[[Path], bool] | None = None,
    what: str = "output",
    run_file: bool = False,
    inputs: Iterable[str | Path] = (),
    device_ok: bool = False,
) -> Path:
    """Refuse a target that is a directory, a device or other non-regular file (unless ``device_ok``: a
    stream such as ``/dev/null``), one of the command's ``inputs``, a run's own file (unless ``run_file``:
    the store's own writes), or (with ``owned``) an existing file that is not ours."""
    path = Path(path)
    if path.is_dir():
        raise _bad(path, "is a directory; expected a file path", field)
    if path.exists() and not path.is_file() and not device_ok:
        raise _bad(path, "is not a regular file (a device, pipe or socket); choose a file path", field)
    if any(_same_file(path, Path(given)) for given in inputs):
        raise _bad(path, "is this command's own input; choose another path", field)
    if not run_file and path.name in (*RUN_FILES, LOCK_FILE) and _run_dir(path.parent):
        raise _bad(path, "is a run's own file; choose another path", field)
    if owned is not None and path.is_file() and not owned(path):
        raise _bad(path, f"exists and is not a DualAlign {what}; remove it or choose another path", field)
    return path


def _same_file(path: Path, other: Path) -> bool:
    """Whether ``path`` and ``other`` both exist and are one file (links and hard links included)."""
    try:
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


@contextmanager
def atomic_writer(
    path: str | Path,
    *,
    field: str | None = "--out",
    mode: int = 0o644,
    owned: Callable[[Path], bool] | None = None,
    what: str = "output",
    run_file: bool = False,
    inputs: Iterable[str | Path] = (),
) -> Iterator[IO[str]]:
    """A text handle on a temp file beside ``path``; renamed onto ``path`` when the block succeeds (the target
    checked by :func:`check_file_target` first)."""
    path = check_file_target(path, field=field, owned=owned, what=what, run_file=run_file, inputs=inputs)
    parent = writable_parent(path, field)
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _bad(path, f"cannot write here: {exc.strerror or exc}", field) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise _bad(path, "is a directory; expected a file path", field) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, **kwargs: Any) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; ``kwargs`` as for :func:`atomic_writer`."""
    with atomic_writer(path, **kwargs) as fh:
        fh.write(text)


def atomic_write_json(path: str | Path, data: Any, **kwargs: Any) -> None:
    """Indented, key-sorted JSON written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", **kwargs)


# -- directories --------------------------------------------------------------------------------------------
def read_marker(path: Path) -> dict[str, Any] | None:
    """The marker of a directory we wrote, or ``None``."""
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def _write_marker(folder: Path, kind: str, **extra: Any) -> None:
    data = {"written_by": "dualalign", "kind": kind, **extra}
    (folder / MARKER).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _within(path: Path, other: Path) -> bool:
    """``path`` is ``other`` or one of its parents."""
    return path == other or path in other.parents


def check_dir_target(
    out: str | Path, kind: str, *, protect: Iterable[str | Path] = (), field: str | None = "--out"
) -> Path:
    """The resolved target if it may be written (absent, empty, or an earlier output of ``kind``)."""
    given = Path(out)
    target = given.resolve()
    if target.exists() and not target.is_dir():
        raise _bad(given, "is a file; expected a directory", field)
    if _within(target, Path.cwd().resolve()):
        raise _bad(given, "is the current directory or one above it; choose a new directory", field)
    for run in protect:
        if _within(target, Path(run).resolve()):
            raise _bad(given, "is the run directory or one that holds it; choose a new directory", field)
    if not target.is_dir():
        return target
    if _run_dir(target):
        raise _bad(given, "is a run directory; choose a new directory", field)
    try:
        entries = tree_entries(target)
    except OSError as exc:
        raise _bad(given, f"cannot read it: {exc.strerror or exc}", field) from None
    if not entries and not (target / MARKER).exists():
        return target
    marker = read_marker(target)
    if marker is None:
        raise _bad(
            given, f"holds files DualAlign did not write (no {MARKER}); remove them or choose a new directory", field
        )
    if marker["kind"] != kind:
        raise _bad(given, f"holds an earlier {marker['kind']} output, not {kind}; choose a new directory", field)
    files = marker.get("files")
    listed = {name for name in files if isinstance(name, str)} if isinstance(files, list) else set()
    foreign = sorted(entries - listed)
    if foreign and marker.get("version") != MARKER_VERSION and all(p.split("/")[0] in listed for p in foreign):
        raise _bad(
            given,
            f"was written by an older DualAlign whose {MARKER} lists only top-level names, so files added inside "
            "it cannot be told apart; remove it or choose a new directory",
            field,
        )
    if foreign:
        raise _bad(
            given,
            f"holds files DualAlign did not write ({', '.join(foreign[:3])}); remove them or choose a new directory",
            field,
        )
    return target


def tree_entries(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` by its POSIX path relative to it (links listed, not followed),
    the marker left out; an unreadable folder inside raises ``OSError`` (never silently skipped)."""

    def fail(exc: OSError) -> None:
        raise exc

    found: set[str] = set()
    for root, dirs, files in os.walk(folder, onerror=fail):
        rel = Path(root).relative_to(folder)
        found.update((rel / name).as_posix() for name in (*dirs, *files))
    found.discard(MARKER)
    return found


def _alive(marker: dict[str, Any]) -> bool:
    """Whether the process that made a temp dir may still be running (markers without a pid are done)."""
    pid = marker.get("pid")
    if not isinstance(pid, int):
        return False
    if marker.get("host") != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale(target: Path) -> list[Path]:
    """Remove temp siblings of ``target`` left by a killed write (ours by name and marker, owner gone)."""
    removed = []
    for p in target.parent.glob(f".{target.name}.*{TMP_SUFFIX}"):
        marker = read_marker(p) if p.is_dir() and not p.is_symlink() else None
        if marker is not None and not _alive(marker):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _temp_sibling(target: Path, out: Path, field: str | None) -> Path:
    """A fresh temp directory beside ``target`` (stale ones of killed builds cleaned first)."""
    parent = writable_parent(target, field)
    clean_stale(target)
    try:
        return Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.", suffix=TMP_SUFFIX))
    except OSError as exc:
        raise _bad(out, f"cannot write here: {exc.strerror or exc}", field) from None


@contextmanager
def new_dir(out: str | Path, kind: str, *, field: str | None = "--out") -> Iterator[Path]:
    """Build a new directory in a temp sibling (yielded, marked with this process so a killed build is cleaned
    up by the next) and rename it onto ``out``, which must be absent or empty, when the block succeeds."""
    target = Path(out).resolve()
    tmp = _temp_sibling(target, Path(out), field)
    try:
        _write_marker(tmp, kind, pid=os.getpid(), host=socket.gethostname())
        yield tmp
        (tmp / MARKER).unlink()
        os.chmod(tmp, 0o755)
        if target.is_dir() and any(target.iterdir()):
            raise _bad(Path(out), "is no longer empty; choose a new directory", field)
        os.replace(tmp, target)  # onto nothing, or onto an empty directory
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def replace_dir(
    out: str | Path, kind: str, *, protect: Iterable[str | Path] = (), field: str | None = "--out"
) -> Iterator[Path]:
    """Build a directory in a temp sibling (yielded) and rename it onto ``out`` when the block succeeds.

    ``kind`` names the output (``export-jsonl``, ``model``...); ``protect`` are run directories the target
    must not be or contain. The result carries :data:`MARKER` listing every file and folder in it.
    """
    target = check_dir_target(out, kind, protect=protect, field=field)
    tmp = _temp_sibling(target, Path(out), field)
    aside: Path | None = None
    try:
        _write_marker(tmp, kind, pid=os.getpid(), host=socket.gethostname())
        yield tmp
        _write_marker(tmp, kind, files=sorted(tree_entries(tmp)), version=MARKER_VERSION)
        os.chmod(tmp, 0o755)
        if target.exists():
            check_dir_target(out, kind, protect=protect, field=field)  # still ours, just before replacing
            aside = Path(tempfile.mkdtemp(dir=tmp.parent, prefix=f".{target.name}.", suffix=TMP_SUFFIX))
            os.replace(target, aside)  # onto the empty dir we just made
        os.replace(tmp, target)
    except BaseException:
        if aside is not None and not target.exists():
            os.replace(aside, target)
            aside = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
