"""The `localcall` command as a user runs it: a real subprocess, the real default model."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def localcall(*args, env=None, input=None):
    env = {**os.environ, "COLUMNS": "200", **(env or {})}  # rich wraps tables to the terminal width
    return subprocess.run([sys.executable, "-m", "localcall.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, input=input)


def test_models_lists_the_registry_with_detected_formats():
    out = localcall("models")
    assert out.returncode == 0, out.stderr
    lines = out.stdout
    assert "smollm2-135m" in lines and "(default)" in lines and "generic (detected)" in lines
    assert "gemma3-270m" in lines and "generic (set)" in lines
    assert "smollm2-135m-hf" in lines and "transformers" in lines


def test_chat_streams_exactly_what_the_model_answers(default_model):
    question = "What is the capital of France?"
    out = localcall("chat", question, "--temperature", "0", "--max-tokens", "30")
    assert out.returncode == 0, out.stderr
    # From an empty cache, as the subprocess starts: a prompt evaluated in other batch splits
    # (part of it cached by earlier tests) gives slightly different logits, and greedy text can differ.
    default_model.backend.reset()
    expected = default_model.chat([{"role": "user", "content": question}], temperature=0, max_tokens=30)
    assert out.stdout.strip() == expected.content.strip() and expected.content.strip()


def test_chat_with_builtin_tools_shows_the_call_and_its_result(tmp_path):
    env = {"LOCALCALL_AUDIT_DB": str(tmp_path / "audit.sqlite3")}
    out = localcall("chat", "What is 12 times 7? Use the calculator.", "--tools", "localcall.tools.builtin",
                    "--temperature", "0", "--max-tokens", "60", env=env)
    assert out.returncode == 0, out.stderr
    assert "calculator" in out.stdout or "convert_units" in out.stdout or "current_time" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["chat", "hi", "-m", "no-such-model"], "unknown model 'no-such-model'"),
    (["models", "--registry", "/nonexistent/models.toml"], "registry file not found"),
    (["serve", "--host", "0.0.0.0"], "give at least one API key"),
])
def test_errors_are_one_clear_line(args, message):
    out = localcall(*args)
    assert out.returncode == 1
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_bad_registry_names_file_entry_and_field(tmp_path):
    bad = tmp_path / "models.toml"
    bad.write_text('[models.mine]\nbackend = "vllm"\nsource = { path = "/x.gguf" }\n')
    out = localcall("models", "--registry", str(bad))
    assert out.returncode == 1
    assert str(bad) in out.stderr and "'mine'" in out.stderr and "backend" in out.stderr
