"""`--tools FILE`: a file of @tool functions, or of plain annotated functions (as simonw's
`llm --functions` takes them); every refusal is one line naming the file, never a traceback.
Then `localcall chat --tools ... --tool-choice ...` as a user runs it: a real subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from localcall.tools import ToolLoadError, load_tools

PLAIN = '''
import math
from datetime import datetime
from typing import Literal

from helpers_for_tools import shared_helper

def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b

def area(shape: Literal["circle", "square"], size: float = 1.0) -> float:
    """The area of a shape.

    Args:
        shape: Which shape.
        size: Its radius or side.
    """
    return math.pi * size ** 2 if shape == "circle" else size ** 2

async def slow_echo(text: str) -> str:
    return text

def _private(x: int) -> int:
    return x

class NotATool:
    def method(self, x: int) -> int:
        return x

lambda_value = lambda x: x
'''


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def plain_file(tmp_path, monkeypatch):
    write(tmp_path, "helpers_for_tools.py", "def shared_helper(x: int) -> int:\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return write(tmp_path, "plain.py", PLAIN)


def test_plain_annotated_functions_are_tools(plain_file):
    tools = load_tools(str(plain_file))
    # Defined in the file and public: not imported ones (datetime, shared_helper), not _private,
    # not classes or lambdas bound to names.
    assert [t.name for t in tools] == ["multiply", "area", "slow_echo"]
    multiply, area, slow_echo = tools
    assert multiply.description == "Multiply two numbers."
    assert multiply.parameters["properties"] == {"a": {"type": "number"}, "b": {"type": "number"}}
    assert area.parameters["properties"]["shape"] == {"enum": ["circle", "square"], "type": "string",
                                                      "description": "Which shape."}
    assert area.parameters["required"] == ["shape"] and area.description == "The area of a shape."
    assert slow_echo.is_async and multiply(6, 7) == 42


def test_a_file_with_tool_decorators_gives_only_those(tmp_path):
    source = write(tmp_path, "decorated.py", '''
        from localcall.tools import tool

        def helper(x: int) -> int:
            return x

        @tool
        def weather(city: str) -> str:
            """The weather."""
            return helper(1) and city
    ''')
    assert [t.name for t in load_tools(str(source))] == ["weather"]


@pytest.mark.parametrize("text, message", [
    ("def f(x):\n    return x\n",
     "parameter 'x' of f() has no type annotation; annotate it (e.g. x: str) so the model knows what to send"),
    ("def f(x: int:\n    pass\n", "line 1: invalid syntax"),
    ("X = 1\nimport os\nfrom os.path import join\n",
     "no tools found; define public functions with annotated parameters (or mark functions with @tool)"),
    ("import no_such_module_for_tools\n",
     "running it raised ModuleNotFoundError at line 1: No module named 'no_such_module_for_tools'"),
    ("def f(x: int) -> int:\n    return x\n\nraise RuntimeError('boom\\nsecond line')\n",
     "running it raised RuntimeError at line 4: boom second line"),
    ("def f(*items: int) -> int:\n    return 0\n",
     "f() cannot be a tool: tool 'f': parameter 'items' must be a named parameter; for a free-form tool pass "
     "parameters= with a JSON schema"),
    ("import sys\nsys.exit(3)\n", "running it raised SystemExit at line 2: 3"),
])
def test_refusals_are_one_line_naming_the_file(tmp_path, text, message):
    source = write(tmp_path, "bad.py", text)
    with pytest.raises(ToolLoadError) as info:
        load_tools(str(source))
    assert str(info.value) == f"{source}: {message}"


def test_missing_sources(tmp_path):
    for source, message in [(tmp_path / "missing.py", "no such file"),
                            (tmp_path, "a directory, not a .py file or a module"),
                            ("no_such_module_here", "no such file or module")]:
        with pytest.raises(ToolLoadError) as info:
            load_tools(str(source))
        assert str(info.value) == f"{source}: {message}"


def localcall(*args, folder, env=None):
    """The command, with `folder` on the import path (for the file's own imports)."""
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "LOCALCALL_THREADS": "1", "PYTHONPATH": path, **(env or {})}
    return subprocess.run([sys.executable, "-m", "localcall.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("args, message", [
    (["--tools", "{dir}/unannotated.py"], "{dir}/unannotated.py: parameter 'x' of double() has no type annotation"),
    (["--tools", "{dir}/missing.py"], "{dir}/missing.py: no such file"),
    (["--tools", "{dir}/plain.py", "--tool-choice", "divide"],
     "--tool-choice 'divide' is neither auto, required, none nor one of the tools of {dir}/plain.py "
     "(multiply, area, slow_echo)"),
    (["--tool-choice", "required"], "--tool-choice needs --tools"),
])
def test_chat_refusals_are_one_line(plain_file, args, message):
    folder = plain_file.parent
    write(folder, "unannotated.py", "def double(x):\n    return 2 * x\n")
    out = localcall("chat", "hi", *[a.format(dir=folder) for a in args], folder=folder)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("error: " + message.format(dir=folder)) and out.stderr.count("\n") == 1, out.stderr


def chat_with_tool_choice(choice, tmp_path, plain_file):
    """`localcall chat` on the real default model; its output and the audit rows it left."""
    audit = tmp_path / "audit.sqlite3"
    out = localcall("chat", "What is 17 times 23?", "--tools", str(plain_file), "--tool-choice", choice,
                    "--temperature", "0", "--max-tokens", "40", folder=plain_file.parent,
                    env={"LOCALCALL_AUDIT_DB": str(audit)})
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(audit) as db:
        return out, db.execute("SELECT tool, attempt, outcome FROM tool_calls ORDER BY id").fetchall()


def test_chat_with_plain_functions_and_a_forced_call(tmp_path, plain_file):
    out, rows = chat_with_tool_choice("multiply", tmp_path, plain_file)
    assert "→ multiply(" in out.stdout and "← multiply: " in out.stdout
    assert rows[0] == ("multiply", 1, "ok")


def test_chat_tool_choice_none_makes_no_call(tmp_path, plain_file):
    out, rows = chat_with_tool_choice("none", tmp_path, plain_file)
    assert "→" not in out.stdout and out.stdout.strip() and rows == []
