"""Reading users' files and checking output paths, with one clear :class:`BadInput` for every way they go wrong.

Text files are UTF-8; a UTF-8 byte-order mark is accepted and dropped. UTF-16 and UTF-32 files *with* a
byte-order mark are decoded (the mark says unambiguously what they are); anything else that is not UTF-8 —
Latin-1, UTF-16 without a mark — is refused, naming the file, the line and the byte offset of the first bad
byte. Strings holding lone surrogates (``"\\ud800"`` in JSON) are refused naming the file and line: they
are not Unicode text and could not be written back out.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dualalign_core.errors import BadInput

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_bytes(path: str | Path, *, what: str = "file") -> bytes:
    """The file's bytes; BadInput naming it when it is missing, a directory or unreadable."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{what} not found", file=str(path)) from None
    except IsADirectoryError:
        raise BadInput(f"is a directory, expected a {what}", file=str(path)) from None
    except NotADirectoryError:
        raise BadInput(f"{what} not found (a parent is a file, not a directory)", file=str(path)) from None
    except OSError as exc:
        raise BadInput(f"cannot read {what}: {exc.strerror or exc}", file=str(path)) from None


def decode(data: bytes, path: str | Path, *, what: str = "file") -> str:
    """Decode a text file's bytes (UTF-8, or UTF-16/32 with a byte-order mark); BadInput says where it fails."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise BadInput(
            f"{what} is not valid {encoding.upper().replace('-SIG', '')} text: byte 0x{bad} at line "
            f"{line}, column {column} (byte offset {exc.start}); save it as UTF-8",
            file=str(path),
        ) from None
    if encoding == "utf-8" and "\x00" in text:
        offset = data.index(b"\x00")
        raise BadInput(
            f"{what} contains NUL bytes (byte offset {offset}): UTF-16 without a byte-order mark? Save it as UTF-8",
            file=str(path),
        )
    return text


def read_text(path: str | Path, *, what: str = "file") -> str:
    """A text file's contents as ``str`` (see the module docstring for the encodings accepted)."""
    return decode(read_bytes(path, what=what), path, what=what)


def find_surrogate(value: Any) -> str | None:
    """The first string in ``value`` (nested lists/dicts too) that holds a lone surrogate, escaped; else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return value[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        return None
    if isinstance(value, dict):
        return next(filter(None, (find_surrogate(v) for kv in value.items() for v in kv)), None)
    if isinstance(value, (list, tuple)):
        return next(filter(None, map(find_surrogate, value)), None)
    return None


def check_unicode(value: Any, *, file: str | Path | None = None, field: str | None = None) -> Any:
    """``value`` unchanged, or BadInput when a string in it is not valid Unicode (a lone surrogate)."""
    bad = find_surrogate(value)
    if bad is not None:
        raise BadInput(
            f"text holds a lone surrogate ({bad}), which is not valid Unicode",
            file=None if file is None else str(file),
            field=field,
        )
    return value


def read_json(path: str | Path, *, what: str = "JSON file") -> Any:
    """A JSON document; BadInput naming the file (and the line) when it cannot be read or parsed."""
    text = read_text(path, what=what)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=str(path)) from None
    except RecursionError:
        raise BadInput("invalid JSON: nested too deeply", file=str(path)) from None
    return check_unicode(doc, file=path)


def iter_lines(path: str | Path, *, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` streamed from a UTF-8 file (a BOM dropped), with :func:`read_bytes`'s and
    :func:`decode`'s messages; for inputs too large to hold whole."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError:
        read_bytes(path, what=what)  # raises the same BadInput a whole-file read would
        raise
    with fh:
        offset = 0
        for n, raw in enumerate(fh, 1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, offset = raw[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(
                    f"{what} is not valid UTF-8 text: byte 0x{raw[exc.start : exc.start + 1].hex()} at "
                    f"line {n}, column {exc.start + 1} (byte offset {offset + exc.start}); save it as "
                    "UTF-8",
                    file=str(path),
                    field=f"line {n}",
                ) from None
            offset += len(raw)


def iter_jsonl(path: str | Path, *, what: str = "JSONL file") -> Iterator[tuple[int, Any]]:
    """``(line number, document)`` for each non-blank line; BadInput naming file and line for a bad one."""
    for n, line in enumerate(read_text(path, what=what).splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg} (column {exc.colno})", file=str(path), field=f"line {n}") from None
        yield n, check_unicode(doc, file=path, field=f"line {n}")


def check_output(path: str | Path, *, kind: str = "directory", option: str = "--out") -> Path:
    """Check that ``path`` can become (or already is) an output ``kind`` ("directory" or "file") without
    creating anything: nothing of the other kind in the way, no parent that is a file, a writable place.

    Raises BadInput naming the option and the path.
    """
    path = Path(path)
    where = f"{option} {path}"
    if path.exists():
        if kind == "directory" and not path.is_dir():
            raise BadInput("is a file, expected a directory", file=where)
        if kind == "file" and path.is_dir():
            raise BadInput("is a directory, expected a file", file=where)
        target = path if kind == "directory" or not path.is_file() else path.parent  # a device: itself
    else:
        target = path.parent
        while not target.exists() and target != target.parent:
            if target.is_symlink():  # dangling link: mkdir would fail
                raise BadInput(f"{target} is a broken symbolic link", file=where)
            target = target.parent
        if not target.is_dir():
            raise BadInput(f"cannot be created: {target} is a file, not a directory", file=where)
    if not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
        raise BadInput(f"not writable ({target} does not allow writing)", file=where)
    return path


__all__ = [
    "check_output",
    "check_unicode",
    "decode",
    "find_surrogate",
    "iter_jsonl",
    "read_bytes",
    "read_json",
    "read_text",
]
