"""A text-file reader confined to one root directory.

Two layers, like the pipeline's: a business rule refuses absolute paths, `~` and `..` before
anything touches the disk; then the real path (symbolic links followed) must still lie under
the root, which stops a link that points out of it. Errors name paths relative to the root,
never the root itself.

Bounds: at most max_bytes of a file are read, only regular files are read (a FIFO, a device
such as /dev/zero, a socket are refused after opening without blocking, so a file swapped for
one between the check and the open cannot hang the thread), and a wrong path lists at most
_LISTED names from the first _SCANNED entries of a folder.
"""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..definition import NO_RETRY, Tool, tool
from ..outcome import ToolError

_LISTED = 20  # names shown when a path is wrong, so the model can pick a real one
_SCANNED = 1_000  # folder entries looked at to choose them


def _relative_inside(args: dict[str, Any]) -> None:
    path: str = args["path"]
    if not path.strip() or "\x00" in path:
        raise ToolError("the path is empty or not text", "give a path relative to the root, e.g. 'notes.txt'")
    if path.startswith("~") or PurePosixPath(path).is_absolute() or PureWindowsPath(path).anchor:
        raise ToolError(f"{path!r} is an absolute path; only paths relative to the root are allowed",
                        "give a path relative to the root, e.g. 'docs/readme.md'")
    if ".." in PureWindowsPath(path).parts:  # splits on both / and \
        raise ToolError(f"{path!r} leaves the root directory ('..' is not allowed)",
                        "give a path inside the root, without '..'")


def file_reader(root: str | os.PathLike, *, name: str = "read_file", max_bytes: int = 12_000) -> Tool:
    """A tool reading UTF-8 text files under `root` (at most max_bytes of each)."""
    base = Path(root).resolve(strict=True)

    def read(path: str) -> dict:
        """
        Args:
            path: The file's path relative to the root directory, e.g. "notes/todo.txt".
        """
        try:
            data = _read_inside(base, path, max_bytes + 1)
        except OSError as exc:  # e.g. a folder on the way without permission; never the absolute path
            raise ToolError(f"cannot read {path!r}: {exc.strerror or type(exc).__name__}",
                            "read another file") from None
        if b"\x00" in data:
            raise ToolError(f"{path!r} is a binary file", "read text files only")
        return {"path": path, "content": data[:max_bytes].decode("utf-8", errors="replace"),
                "truncated": len(data) > max_bytes}

    return tool(read, name=name, retry=NO_RETRY, timeout=10, validators=[_relative_inside],
                max_result_bytes=max_bytes * 2 + 1024,  # JSON escapes (\n, \") can double the text
                description=f"Read a text file from the working folder (paths relative to it; at most "
                            f"{max_bytes} bytes are returned). Use it to answer from the content of a file.")


def _read_inside(base: Path, path: str, limit: int) -> bytes:
    """Up to `limit` bytes of the regular file at `path` under `base`, or a ToolError that
    names the path as the model gave it."""
    try:
        target = (base / path).resolve()
    except RuntimeError:  # a loop of symbolic links
        raise ToolError(f"{path!r} cannot be resolved (a loop of symbolic links)", "read another file") from None
    if not target.is_relative_to(base):
        raise ToolError(f"{path!r} leads outside the root directory (through a symbolic link)",
                        "read files that are inside the root")
    if target.is_dir():
        raise ToolError(f"{path!r} is a directory", f"read one of its files: {_names(target, base)}")
    if not target.exists():
        raise ToolError(f"there is no file {path!r}", f"files near it: {_names(_existing_parent(target, base), base)}")
    bare = path.rstrip("/\\")
    if bare != path:
        raise ToolError(f"{path!r} ends with a slash, but it is a file, not a directory",
                        f"to read the file, write {bare!r}")
    return _read_regular(target, path, limit)


def _read_regular(target: Path, shown: str, limit: int) -> bytes:
    """Up to `limit` bytes of a regular file. O_NOFOLLOW: the final component was checked as
    resolved, so refuse it if it was swapped for a link since; O_NONBLOCK: opening a FIFO
    must not wait for a writer. What was opened is checked with fstat before any read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with os.fdopen(os.open(target, flags), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ToolError(f"{shown!r} is not a regular file (a device, pipe or socket)", "read text files only")
        return f.read(limit)


def _existing_parent(target: Path, base: Path) -> Path:
    while not target.is_dir() and target != base:
        target = target.parent
    return target


def _names(folder: Path, base: Path) -> str:
    """Some names in the folder, relative to the root; a folder of millions is not read whole."""
    try:
        with os.scandir(folder) as entries:
            scanned = sorted(itertools.islice(entries, _SCANNED), key=lambda e: e.name)
    except OSError:
        return "(the folder cannot be listed)"
    names = [str((folder / e.name).relative_to(base)) + ("/" if _is_dir(e) else "") for e in scanned[:_LISTED]]
    more = " ..." if len(scanned) > _LISTED else ""
    return ", ".join(names) + more if names else "(the folder is empty)"


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a loop of symbolic links
        return False


read_file = file_reader(os.environ.get("LOCALCALL_FILES_ROOT", "."))
