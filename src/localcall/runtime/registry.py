"""The model registry: models.toml files → ModelSpec entries.

The shipped registry sits next to this package; a user's file (flag or $LOCALCALL_MODELS)
is read after it, and its entries replace ours by name. A path given instead of a name
(`--model ./x.gguf`) becomes an entry on the fly.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SHIPPED_REGISTRY = Path(__file__).resolve().parent.parent / "models.toml"
BACKENDS = ("llama.cpp", "transformers")
SOURCE_KINDS = ("path", "package", "assemble", "convert")
OPTIONAL_FIELDS = {
    "description": str,
    "chat_format": str,
    "chat_template": str,
    "context_length": int,
    "threads": int,
    "gpu_layers": int,
    "sampling": dict,
}
# answer_bias: added to the answer side of a call-or-answer decision (grammars/decision.py).
# grounded_calls: a call that takes nothing from the conversation is not made (model/grounding.py).
SAMPLING_FIELDS = {"temperature": float, "top_p": float, "top_k": int, "max_tokens": int, "answer_bias": float,
                   "grounded_calls": bool}


class RegistryError(ValueError):
    """A registry file is wrong; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Source:
    kind: str  # one of SOURCE_KINDS
    value: str  # the path, package name or other entry's name
    file: str | None = None  # the file inside a package

    def describe(self) -> str:
        if self.kind == "path":
            return self.value
        if self.kind == "convert":
            return f"converted from {self.value}"
        return f"{self.kind}:{self.value}/{self.file}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    source: Source
    registry_file: str
    description: str = ""
    chat_format: str | None = None
    chat_template: str | None = None
    context_length: int | None = None
    threads: int | None = None
    gpu_layers: int = 0
    sampling: dict = field(default_factory=dict)


@dataclass
class Registry:
    models: dict[str, ModelSpec]
    default: str
    files: list[str]

    def get(self, name_or_path: str | None) -> ModelSpec:
        """An entry by name, the default for None, or an ad-hoc entry for a path."""
        if name_or_path is None:
            name_or_path = self.default
        if name_or_path in self.models:
            return self.models[name_or_path]
        path = Path(name_or_path).expanduser()
        if path.suffix == ".gguf" or path.is_dir() or os.sep in name_or_path:
            return spec_for_path(path)
        known = ", ".join(sorted(self.models))
        raise KeyError(f"unknown model {name_or_path!r}; known: {known} (or pass a .gguf path or an HF directory)")


def spec_for_path(path: Path) -> ModelSpec:
    path = path.expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"model path {path} does not exist")
    backend = "transformers" if path.is_dir() else "llama.cpp"
    return ModelSpec(name=path.stem if path.is_file() else path.name, backend=backend,
                     source=Source("path", str(path)), registry_file="<command line>")


def _parse_source(raw, where: str) -> Source:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: field 'source' must be a table such as {{ path = \"...\" }}")
    kinds = [k for k in SOURCE_KINDS if k in raw]
    if len(kinds) != 1:
        raise RegistryError(f"{where}: field 'source' needs exactly one of {', '.join(SOURCE_KINDS)}; got {sorted(raw)}")
    kind = kinds[0]
    extra = set(raw) - {kind, "file"}
    if extra:
        raise RegistryError(f"{where}: field 'source' has unknown keys {sorted(extra)}")
    if kind in ("package", "assemble") and "file" not in raw:
        raise RegistryError(f"{where}: field 'source.file' is required with source.{kind}")
    return Source(kind=kind, value=str(raw[kind]), file=raw.get("file"))


def _parse_entry(name: str, raw, file: str) -> ModelSpec:
    where = f"{file}: model {name!r}"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: must be a table")
    for required in ("backend", "source"):
        if required not in raw:
            raise RegistryError(f"{where}: missing field '{required}'")
    if raw["backend"] not in BACKENDS:
        raise RegistryError(f"{where}: field 'backend' is {raw['backend']!r}; expected one of {', '.join(BACKENDS)}")
    unknown = set(raw) - {"backend", "source", *OPTIONAL_FIELDS}
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {sorted(unknown)}")
    for key, typ in OPTIONAL_FIELDS.items():
        if key in raw and not isinstance(raw[key], typ):
            raise RegistryError(f"{where}: field '{key}' must be a {typ.__name__}")
    sampling = dict(raw.get("sampling", {}))
    for key, value in sampling.items():
        typ = SAMPLING_FIELDS.get(key)
        if typ is None:
            raise RegistryError(f"{where}: unknown field 'sampling.{key}'; expected {', '.join(SAMPLING_FIELDS)}")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (isinstance(value, bool) if typ is bool else number and (typ is not int or isinstance(value, int))):
            raise RegistryError(f"{where}: field 'sampling.{key}' must be a {typ.__name__}")
    source = _parse_source(raw["source"], where)
    if source.kind == "path" and not Path(source.value).is_absolute() and not source.value.startswith("~"):
        # Relative paths are relative to the registry file, not to wherever the user stands.
        source = Source("path", str((Path(file).parent / source.value).resolve()))
    return ModelSpec(
        name=name, backend=raw["backend"], source=source, registry_file=file,
        description=raw.get("description", ""), chat_format=raw.get("chat_format"),
        chat_template=raw.get("chat_template"), context_length=raw.get("context_length"),
        threads=raw.get("threads"), gpu_layers=raw.get("gpu_layers", 0), sampling=sampling,
    )


def parse_registry_text(text: str, file: str) -> tuple[dict[str, ModelSpec], str | None]:
    """Parse one registry file's text; duplicate names are caught by the TOML parser itself."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib reports a repeated [models.x] table as "Cannot declare ('models', 'x') twice".
        twice = re.match(r"Cannot declare \('models', '([^']+)'\) twice(.*)", str(exc))
        if twice:
            raise RegistryError(f"{file}: model {twice.group(1)!r} is defined twice{twice.group(2)}; "
                                f"names must be unique") from None
        raise RegistryError(f"{file}: {exc}") from None
    unknown = set(data) - {"models", "default"}
    if unknown:
        raise RegistryError(f"{file}: unknown top-level key(s) {sorted(unknown)}; expected [models.NAME] tables and 'default'")
    models = {name: _parse_entry(name, raw, file) for name, raw in data.get("models", {}).items()}
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise RegistryError(f"{file}: field 'default' must be a model name")
    return models, default


def load_registry(user_file: str | os.PathLike | None = None) -> Registry:
    files = [SHIPPED_REGISTRY]
    user_file = user_file or os.environ.get("LOCALCALL_MODELS")
    if user_file:
        path = Path(user_file).expanduser()
        if not path.is_file():
            raise RegistryError(f"{path}: registry file not found")
        files.append(path)
    models: dict[str, ModelSpec] = {}
    default = None
    for path in files:
        entries, file_default = parse_registry_text(path.read_text(encoding="utf-8"), str(path))
        models.update(entries)
        default = file_default or default
    if default not in models:
        raise RegistryError(f"{files[-1]}: field 'default' names {default!r}, which no entry defines")
    for spec in models.values():
        if spec.source.kind == "convert" and spec.source.value not in models:
            raise RegistryError(f"{spec.registry_file}: model {spec.name!r}: field 'source.convert' names "
                                f"{spec.source.value!r}, which no entry defines")
    return Registry(models=models, default=default, files=[str(f) for f in files])
