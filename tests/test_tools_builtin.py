"""The shipped tools: safe arithmetic, units, time, read-only SQL, a confined file reader.
They are exercised through the pipeline, as the model would call them."""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from localcall.messages import ToolCall
from localcall.tools import ToolExecutor
from localcall.tools.builtin import calculator, convert_units, current_time, file_reader, sql_query_tool
from localcall.tools.builtin.database import build_database, connect_read_only


def run(t, tools_audit, **args):
    """Call tool t through the pipeline; the model's view: (ok, parsed content)."""
    out = asyncio.run(ToolExecutor([t], audit=tools_audit).execute(
        ToolCall("c", t.name, json.dumps(args)), "tester"))
    return out.ok, (json.loads(out.content) if out.content[:1] in "{[" else out.content)


@pytest.mark.parametrize("expression, result", [
    ("2 + 3 * 4", 14), ("(12.5 + 7) * 3", 58.5), ("-2 ** 2", -4), ("7 // 2 + 7 % 2", 4),
    ("sqrt(16) + abs(-1)", 5.0), ("round(pi, 2)", 3.14), ("max(1, 5, 3)", 5), ("2 ** 100", 2 ** 100),
])
def test_calculator(tools_audit, expression, result):
    ok, content = run(calculator, tools_audit, expression=expression)
    assert ok and content == {"expression": expression, "result": result}


@pytest.mark.parametrize("expression, error", [
    ("9 ** 9 ** 9", "too large"),
    ("2 ** 100000", "too large"),
    ("10 ** 2000 * 10 ** 2000", "too large"),
    ("1 / 0", "division by zero"),
    ("__import__('os').system('true')", "not allowed"),
    ("().__class__", "not allowed"),
    ("open('x')", "not allowed"),
    ("x + 1", "not allowed"),
    ("'a' * 3", "not allowed"),
    ("1 if 1 else 2", "not allowed"),
    ("2 +", "does not parse"),
    ("sqrt(-1)", "cannot compute"),
    ("exp(1000)", "cannot compute"),
    ("1" * 600, "longer than"),
])
def test_calculator_refuses(tools_audit, expression, error):
    ok, content = run(calculator, tools_audit, expression=expression)
    assert not ok and error in content["error"] and content["suggestion"]


@pytest.mark.parametrize("args, result", [
    ({"value": 100, "from_unit": "F", "to_unit": "C"}, 37.7777777778),
    ({"value": 0, "from_unit": "C", "to_unit": "K"}, 273.15),
    ({"value": 10, "from_unit": "km", "to_unit": "mi"}, 6.21371192237),
    ({"value": 1, "from_unit": "GiB", "to_unit": "MB"}, 1073.741824),
    ({"value": 2, "from_unit": "lb", "to_unit": "g"}, 907.18474),
])
def test_convert_units(tools_audit, args, result):
    ok, content = run(convert_units, tools_audit, **args)
    assert ok and content["result"] == result


def test_convert_units_refuses_other_dimensions_and_unknown_units(tools_audit):
    ok, content = run(convert_units, tools_audit, value=1, from_unit="kg", to_unit="m")
    assert not ok and content["error"] == "cannot convert mass (kg) to length (m)"
    assert content["suggestion"].startswith("pick a target unit of mass: kg, g")
    ok, content = run(convert_units, tools_audit, value=1, from_unit="parsec", to_unit="m")
    assert not ok and "'parsec' is not one of" in content["error"]


def test_current_time(tools_audit):
    ok, content = run(current_time, tools_audit, timezone="Asia/Tokyo")
    assert ok and content["utc_offset"] == "+09:00" and content["iso"].endswith("+09:00")
    assert content["date"] in content["iso"]
    ok, content = run(current_time, tools_audit)
    assert ok and content["timezone"] == "UTC"
    for bad in ("Mars/Olympus", "../../etc/passwd"):
        ok, content = run(current_time, tools_audit, timezone=bad)
        assert not ok and "unknown time zone" in content["error"] and "IANA" in content["suggestion"]


@pytest.fixture
def shop(tmp_path):
    path = build_database(tmp_path / "shop.sqlite3")
    return path, sql_query_tool(path, max_rows=3, time_limit=0.5)


def test_sql_reads(tools_audit, shop):
    _, query = shop
    assert "orders(id INTEGER" in query.description and "subscriptions(" in query.description
    ok, content = run(query, tools_audit, sql="SELECT status, total FROM orders WHERE id = 4521")
    assert ok and content == {"columns": ["status", "total"], "rows": [["shipped", 120.0]],
                              "row_count": 1, "truncated": False}
    ok, content = run(query, tools_audit, sql="SELECT id FROM customers ORDER BY id")
    assert ok and content["row_count"] == 3 and content["truncated"]
    ok, content = run(query, tools_audit, sql="SELECT plan FROM nowhere")
    assert not ok and "no such table" in content["error"] and "customers(" in content["suggestion"]


@pytest.mark.parametrize("sql", [
    "DELETE FROM orders",
    "UPDATE customers SET name = 'x'",
    "DROP TABLE invoices",
    "INSERT INTO products VALUES (99, 'x', 'home', 1, 1)",
    "  pragma writable_schema = 1",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "WITH x AS (SELECT 1) DELETE FROM orders",          # a query start, a write inside
    "WITH x AS (SELECT 1) INSERT INTO products SELECT 100, 'x', 'home', 1, 1",
    "SELECT 1; DROP TABLE orders",
    "SELECT * FROM pragma_table_info('orders')",
])
def test_sql_refuses_writes(tools_audit, shop, sql):
    path, query = shop
    ok, content = run(query, tools_audit, sql=sql)
    assert not ok and content["error"] and content["suggestion"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone() == (6,)
        assert db.execute("SELECT count(*) FROM products").fetchone() == (9,)
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'invoices'").fetchone() == (1,)


def test_sql_file_itself_is_opened_read_only(shop):
    """The last layer alone: even with the authorizer out of the way, mode=ro refuses."""
    path, _ = shop
    db = connect_read_only(path)
    db.set_authorizer(None)
    db.execute("PRAGMA query_only = OFF")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("DELETE FROM orders")
    db.close()


def test_sql_runaway_query_is_stopped(tools_audit, shop):
    _, query = shop
    ok, content = run(query, tools_audit, sql="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                              "SELECT count(*) FROM c")
    assert not ok and "ran longer than 0.5 s" in content["error"]


@pytest.fixture
def sandbox(tmp_path):
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "readme.md").write_text("hello")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    os.symlink(tmp_path / "secret.txt", root / "link_out.txt")
    os.symlink(tmp_path, root / "dir_out")
    os.symlink(root / "docs" / "readme.md", root / "link_in.md")
    return root


def test_file_reader_reads_inside(tools_audit, sandbox):
    reader = file_reader(sandbox, max_bytes=3)
    assert run(reader, tools_audit, path="docs/readme.md") == (
        True, {"path": "docs/readme.md", "content": "hel", "truncated": True})
    ok, content = run(reader, tools_audit, path="link_in.md")  # a link that stays inside is fine
    assert ok and content["content"] == "hel"
    ok, content = run(reader, tools_audit, path="./docs//readme.md")
    assert ok


@pytest.mark.parametrize("path, error", [
    ("../secret.txt", "'..' is not allowed"),
    ("docs/../../secret.txt", "'..' is not allowed"),
    ("docs\\..\\..\\secret.txt", "'..' is not allowed"),
    ("/etc/passwd", "absolute path"),
    ("~/.bashrc", "absolute path"),
    ("C:\\Windows\\win.ini", "absolute path"),
    ("link_out.txt", "outside the root"),
    ("dir_out/secret.txt", "outside the root"),
    ("", "empty"),
])
def test_file_reader_refuses_escapes(tools_audit, sandbox, path, error):
    ok, content = run(file_reader(sandbox), tools_audit, path=path)
    assert not ok and error in content["error"]
    assert "TOP SECRET" not in json.dumps(content)


def test_file_reader_helps_with_wrong_paths(tools_audit, sandbox):
    reader = file_reader(sandbox)
    ok, content = run(reader, tools_audit, path="docs/missing.md")
    assert not ok and content["suggestion"] == "files near it: docs/readme.md"
    ok, content = run(reader, tools_audit, path="docs")
    assert not ok and "is a directory" in content["error"]
    ok, content = run(reader, tools_audit, path="blob.bin")
    assert not ok and "binary" in content["error"]


# --- bounds: no built-in tool can flood the model's context or outlive its call --------------


def busy_query_processes() -> list[int]:
    """This process's children that run SQL queries (sqlquery.py) and are not idle in the pool,
    waiting for the next query: a query still running, or a process leaked."""
    from localcall.tools.builtin.database import _WORKERS

    found = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                children = f.read().split()
        except FileNotFoundError:  # a thread that ended since the listing
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                    line = cmd.read().replace(b"\0", b" ").decode()
            except FileNotFoundError:
                continue
            if "sqlquery.py" in line:
                found.append(int(pid))
    return sorted(set(found) - set(_WORKERS.idle))


def test_sql_huge_values_are_bounded(tools_audit, shop):
    path, _ = shop
    query = sql_query_tool(path, time_limit=30)  # room for SQLite 3.40 to spin through its 50 M iterations
    ok, content = run(query, tools_audit, sql="SELECT printf('%.*c', 50000000, 'x') AS big")
    assert ok and content["rows"] == [[None]]  # SQLite's length limit: the 50 MB string is never made
    ok, content = run(query, tools_audit, sql="SELECT zeroblob(1000000000)")
    assert not ok and "longer than 100000 bytes" in content["error"]
    ok, content = run(query, tools_audit, sql="SELECT printf('%.*c', 90000, 'y') AS long")
    [[cell]] = content["rows"]
    assert ok and cell == "y" * 1000 + "... [truncated: 90000 characters, showing the first 1000]"
    ok, content = run(query, tools_audit, sql="SELECT " + ", ".join(["1"] * 300))
    assert not ok and "more than 256 columns" in content["error"]


def test_sql_rows_are_bounded_by_bytes(tools_audit, tmp_path):
    query = sql_query_tool(build_database(tmp_path / "shop.sqlite3"), max_rows=1000, max_bytes=4000)
    ok, content = run(query, tools_audit, sql="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                                              "LIMIT 500) SELECT x, printf('%.*c', 90, 'z') FROM c")
    assert ok and content["truncated"] and 0 < content["row_count"] < 500
    assert content["rows"][-1][0] == content["row_count"]  # the first rows, in order, none skipped
    assert len(json.dumps(content).encode()) <= 4000 + 200


def test_sql_a_single_endless_step_is_killed_with_its_process(tools_audit, shop):
    """printf('%.*c', 2000000000, 'x') runs two billion iterations inside one step of SQLite's
    VM: the progress handler never gets a chance. The child process is killed past the time
    limit; the tool answers with its own error, not the pipeline's timeout, and neither its
    thread nor its process outlives the call (the processes left are idle ones, for the next queries)."""
    _, query = shop
    out = asyncio.run(ToolExecutor([query], audit=tools_audit).execute(
        ToolCall("c", query.name, json.dumps({"sql": "SELECT length(printf('%.*c', 2000000000, 'x'))"})), "t"))
    assert out.status == "error" and json.loads(out.content)["error"] == "the query ran longer than 0.5 s"
    for thread in threading.enumerate():
        if thread.name == "localcall-query":
            thread.join(query.timeout)
            assert not thread.is_alive()
    assert busy_query_processes() == []


def test_sql_many_slow_steps_are_interrupted(tools_audit, shop):
    _, query = shop
    ok, content = run(query, tools_audit, sql=(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(instr(printf('%.*c', 99999 + x - x, 'x'), printf('%.*c', 49999, 'x') || 'y')) FROM c"))
    assert not ok and content["error"] == "the query ran longer than 0.5 s"
    assert busy_query_processes() == []


@pytest.mark.parametrize("expression, error", [
    ("round(1, -10**8)", "at most 400 digits"),                 # would compute 10**(10**8)
    ("(2**4000) * (2**4000)", "too large (over 4096 bits)"),    # an intermediate, not only the result
    ("(-8) ** (1/3)", "leaves the real numbers"),              # complex
    ("-" * 499 + "1", "nested too deeply"),
    ("1e308 * 10", "not a finite number"),
])
def test_calculator_bounds(tools_audit, expression, error):
    ok, content = run(calculator, tools_audit, expression=expression)
    assert not ok and error in content["error"]


@pytest.mark.parametrize("value, error", [
    ("1e308", "too large to represent"), ("NaN", "finite number"), ("Infinity", "finite number")])
def test_convert_units_refuses_non_finite_numbers(tools_audit, value, error):
    """Python's JSON reader takes NaN and Infinity: they must not come back as invalid JSON."""
    out = asyncio.run(ToolExecutor([convert_units], audit=tools_audit).execute(
        ToolCall("c", "convert_units", f'{{"value": {value}, "from_unit": "km", "to_unit": "mm"}}'), "t"))
    assert not out.ok and error in json.loads(out.content)["error"]


def test_file_reader_refuses_special_files(tools_audit, sandbox):
    os.mkfifo(sandbox / "pipe")
    os.symlink("loop_b", sandbox / "loop_a")
    os.symlink("loop_a", sandbox / "loop_b")
    ok, content = run(file_reader(sandbox), tools_audit, path="pipe")  # would block for a writer
    assert not ok and content["error"] == "'pipe' is not a regular file (a device, pipe or socket)"
    ok, content = run(file_reader(sandbox), tools_audit, path="loop_a")
    assert not ok and "loop of symbolic links" in content["error"]
    ok, content = run(file_reader("/"), tools_audit, path="dev/zero")  # endless
    assert not ok and content["error"] == "'dev/zero' is not a regular file (a device, pipe or socket)"


def test_file_reader_trailing_slash_on_a_file_is_refused(tools_audit, sandbox):
    ok, content = run(file_reader(sandbox), tools_audit, path="docs/readme.md/")
    assert not ok and content == {"error": "'docs/readme.md/' ends with a slash, but it is a file, not a directory",
                                  "suggestion": "to read the file, write 'docs/readme.md'"}
    assert run(file_reader(sandbox), tools_audit, path="docs/")[1]["error"] == "'docs/' is a directory"


def test_file_reader_errors_never_show_the_root(tools_audit, sandbox):
    os.symlink("loop_b", sandbox / "loop_a")
    os.symlink("loop_a", sandbox / "loop_b")
    reader = file_reader(sandbox)
    for path in ("docs/missing.md", "docs", "blob.bin", "link_out.txt", "loop_a", "docs/readme.md/", "nope/deeper/x",
                 "docs/readme.md/x", "../x", "/etc/passwd"):
        ok, content = run(reader, tools_audit, path=path)
        assert not ok and str(sandbox) not in json.dumps(content), (path, content)
    assert str(sandbox) not in json.dumps([e.error for e in tools_audit.entries()])


def test_file_reader_bounds_what_it_reads_and_lists(tools_audit, sandbox):
    (sandbox / "big.txt").write_text("line\n" * 1_000_000)
    (sandbox / "many").mkdir()
    for i in range(1500):
        (sandbox / "many" / f"f{i:04}.txt").touch()
    reader = file_reader(sandbox)
    out = asyncio.run(ToolExecutor([reader], audit=tools_audit).execute(
        ToolCall("c", "read_file", json.dumps({"path": "big.txt"})), "t"))
    content = json.loads(out.content)  # within the tool's own bound: still whole JSON
    assert out.ok and content["truncated"] and len(content["content"]) == 12_000
    ok, content = run(reader, tools_audit, path="many/none.txt")
    listed = content["suggestion"].removeprefix("files near it: ").split(", ")
    assert not ok and len(listed) == 20 and listed[-1].endswith(" ...")


def test_sql_processes_end_with_their_parent(tmp_path):
    """A crash of the process using the SQL tool leaves no query process behind: an idle one
    sees its input close and exits."""
    script = textwrap.dedent("""
        import sys, time
        from localcall.tools.builtin.database import _WORKERS, build_database, sql_query_tool
        query = sql_query_tool(build_database(sys.argv[1]))
        query(sql="SELECT 1")
        print(*_WORKERS.idle, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "shop.sqlite3")], stdout=subprocess.PIPE,
                              text=True)
    try:
        [worker] = map(int, parent.stdout.readline().split())
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
    finally:
        parent.kill()
    deadline = time.monotonic() + 60  # a hang bound, not a speed claim
    while process_state(worker) not in (None, "Z"):  # gone, or a zombie waiting for init to reap it
        assert time.monotonic() < deadline, "the query process outlived its parent"
        time.sleep(0.05)


def process_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None
