"""A text-file reader confined to one root directory.

Two layers, like the pipeline's: a business rule refuses absolute paths, `~` and `..` before
anything touches the disk; then the real path (symbolic links followed) must still lie under
the root, which stops a link that points out of it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..definition import NO_RETRY, Tool, tool
from ..outcome import ToolError

_LISTED = 20  # names shown when a path is wrong, so the model can pick a real one


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


def file_reader(root: str | os.PathLike, *, name: str = "read_file", max_bytes: int = 64_000) -> Tool:
    """A tool reading UTF-8 text files under `root` (at most max_bytes of each)."""
    base = Path(root).resolve(strict=True)

    def read(path: str) -> dict:
        """
        Args:
            path: The file's path relative to the root directory, e.g. "notes/todo.txt".
        """
        target = (base / path).resolve()
        if not target.is_relative_to(base):
            raise ToolError(f"{path!r} leads outside the root directory (through a symbolic link)",
                            "read files that are inside the root")
        if target.is_dir():
            raise ToolError(f"{path!r} is a directory", f"read one of its files: {_names(target, base)}")
        if not target.is_file():
            raise ToolError(f"there is no file {path!r}",
                            f"files near it: {_names(_existing_parent(target, base), base)}")
        # O_NOFOLLOW: the final component was checked as resolved; refuse it if it was
        # swapped for a link since.
        with os.fdopen(os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as f:
            data = f.read(max_bytes + 1)
        if b"\x00" in data:
            raise ToolError(f"{path!r} is a binary file", "read text files only")
        return {"path": path, "content": data[:max_bytes].decode("utf-8", errors="replace"),
                "truncated": len(data) > max_bytes}

    return tool(read, name=name, retry=NO_RETRY, timeout=10, validators=[_relative_inside],
                description=f"Read a text file from the working folder (paths relative to it; at most "
                            f"{max_bytes} bytes are returned). Use it to answer from the content of a file.")


def _existing_parent(target: Path, base: Path) -> Path:
    while not target.is_dir() and target != base:
        target = target.parent
    return target


def _names(folder: Path, base: Path) -> str:
    entries = sorted(folder.iterdir())[:_LISTED]
    names = [str(p.relative_to(base)) + ("/" if p.is_dir() else "") for p in entries]
    return ", ".join(names) or "(the folder is empty)"


read_file = file_reader(os.environ.get("LOCALCALL_FILES_ROOT", "."))
