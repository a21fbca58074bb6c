"""The playground at / (issue 16): its endpoints over real HTTP, the approval registry, the
wheel's static files, and the page itself in a real headless Chromium against a live server
with the default model: key prompt, streamed text, a forced client tool call, a server tool's
result and its audit row, Approve and Deny of a high-risk call, the benchmark report.

The browser steps share one page and run in file order, as a person would use it. Their
screenshots go to a pytest tmp folder (printed at the end, never committed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import jsonschema
import pytest

from localcall.server.approvals import PendingApprovals
from localcall.server.ui import STATIC
from localcall.tools import ApprovalRequest, AuditEntry

MODEL = "smollm2-135m"
KEYS = {"admin": "sk-admin-0001", "alice": "sk-alice-0001", "carol": "sk-carol-0001"}
REPO = Path(__file__).resolve().parents[1]
WAIT = 120  # seconds for a generation on a busy machine; every wait ends as soon as it can
BENCH_REPORT = REPO / "benchmarks" / "results"  # a real `localcall bench accuracy` report
GET_TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The local time in a timezone.",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "maxLength": 24}},
                   "required": ["timezone"], "additionalProperties": False}}}


def bearer(who: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[who]}"}


@pytest.fixture(scope="module")
def ran() -> list:
    return []


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    """Two copies of the real report: an older run and the latest one."""
    root = tmp_path_factory.mktemp("bench")
    for name, age in (("old-run", 3600), ("new-run", 0)):
        shutil.copytree(BENCH_REPORT, root / name)
        for f in (root / name).iterdir():
            os.utime(f, (f.stat().st_mtime - age, f.stat().st_mtime - age))
    (root / "new-run" / "results").mkdir()
    (root / "new-run" / "results" / "cases.jsonl").write_text("{}\n")  # raw results: not shown
    return root


@pytest.fixture(scope="module")
def ui_server(start_server, default_model, tmp_path_factory, ran, bench_dir):
    from localcall.server import ServerSettings
    from localcall.server.auth import Auth
    from localcall.server.tools import ServerTools
    from localcall.server.ui import UiSettings
    from localcall.tools import AuditLog, Policy, tool

    def text_param(name: str) -> dict:  # bounded, so a forced call always fits in max_tokens
        return {"type": "object", "properties": {name: {"type": "string", "maxLength": 20}},
                "required": [name], "additionalProperties": False}

    def lookup_city(city: str) -> dict:
        ran.append(("lookup_city", city))
        return {"city": city, "population": 2100000}

    def delete_note(title: str) -> str:
        ran.append(("delete_note", title))
        return f"deleted {title}"

    tools = [tool(lookup_city, description="Facts about a city.", parameters=text_param("city")),
             tool(delete_note, description="Delete a note.", parameters=text_param("title"), risk="high")]
    audit = AuditLog(tmp_path_factory.mktemp("audit") / "audit.sqlite3")
    # max_steps=1: each request makes exactly the one (forced) call, so the browser steps never
    # meet a second approval of the model's own choosing.
    server_tools = ServerTools(tools, audit=audit,
                               policy=Policy.of({"alice": ["*"], "admin": ["*"]}),
                               approval=PendingApprovals(timeout=60), max_steps=1)
    auth = Auth.for_binding("127.0.0.1", [f"{name}={key}" for name, key in KEYS.items()])
    server = start_server({MODEL: default_model},
                          ServerSettings(auth=auth, tools=server_tools, default_max_tokens=48, request_timeout=120,
                                         ui=UiSettings(bench_dir=bench_dir)))
    server.audit = audit
    yield server
    audit.close()


def get(server, path: str, who: str | None = "alice", **params) -> httpx.Response:
    return httpx.get(server.url + path, headers=bearer(who) if who else {}, params=params, timeout=30)


# --- the endpoints ----------------------------------------------------------------------------


def test_page_and_its_files_are_served(ui_server):
    page = get(ui_server, "/", who=None)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/ui/static/js/main.js"' in page.text
    for f in STATIC.rglob("*.*"):
        r = get(ui_server, "/ui/static/" + f.relative_to(STATIC).as_posix(), who=None)
        assert r.status_code == 200 and r.content == f.read_bytes(), f
        if f.suffix == ".js":
            assert "javascript" in r.headers["content-type"]  # or the browser refuses the module
    # nothing is loaded from elsewhere: every import and URL in the page's code is its own
    code = " ".join(f.read_text() for f in STATIC.rglob("*.*"))
    assert "http://" not in code and "https://" not in code and "//cdn" not in code


def test_endpoints_need_the_key_like_v1(ui_server):
    for path in ("/ui/api/info", "/ui/api/tools", "/ui/api/approvals", "/ui/api/audit", "/ui/api/bench"):
        r = get(ui_server, path, who=None)
        assert r.status_code == 401 and r.json()["error"]["message"], path
    assert get(ui_server, "/ui/api/info").json() == {"principal": "alice", "server_tools": 2, "approval": True,
                                                     "audit": True, "bench": True}


def test_tools_list_schemas_risk_and_approval(ui_server):
    tools = {t["name"]: t for t in get(ui_server, "/ui/api/tools").json()["tools"]}
    assert tools["lookup_city"]["risk"] == "low" and tools["lookup_city"]["approval"] is None
    assert tools["lookup_city"]["parameters"]["required"] == ["city"]
    assert tools["delete_note"]["risk"] == "high" and tools["delete_note"]["approval"] == "ask"
    assert get(ui_server, "/ui/api/tools", who="carol").json() == {"tools": []}  # carol may use none


def test_no_ui_serves_no_page(default_model):
    from localcall.server import ServerSettings, create_app

    async def fetch():
        transport = httpx.ASGITransport(app=create_app({MODEL: default_model}, ServerSettings(ui=None)))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(p) for p in ("/", "/ui/static/js/main.js", "/ui/api/info")]

    for r in asyncio.run(fetch()):
        assert r.status_code == 404 and r.json()["error"]["message"].startswith("Unknown URL")


def _row(principal: str, tool: str, outcome: str, call_id: str) -> AuditEntry:
    return AuditEntry(at="2026-01-01T00:00:00+00:00", principal=principal, call_id=call_id, tool=tool,
                      arguments='{"city": "Oslo"}', attempt=1, outcome=outcome, result=None, error=None,
                      duration_ms=1.5)


def test_audit_rows_filtered_and_admin_only_off_loopback(ui_server):
    ui_server.audit.record(_row("alice", "lookup_city", "ok", "call_filter_1"))
    ui_server.audit.record(_row("admin", "delete_note", "denied", "call_filter_2"))
    data = get(ui_server, "/ui/api/audit", tool="delete_note", outcome="denied").json()
    assert {r["call_id"] for r in data["rows"]} >= {"call_filter_2"}
    assert all(r["tool"] == "delete_note" and r["outcome"] == "denied" for r in data["rows"])
    assert {"principal", "tool", "outcome", "arguments", "duration_ms"} <= set(data["columns"])
    assert {"alice", "admin"} <= set(data["facets"]["principal"])
    only = get(ui_server, "/ui/api/audit", call_id="call_filter_1").json()["rows"]
    assert [r["principal"] for r in only] == ["alice"]
    assert get(ui_server, "/ui/api/audit", limit=0).status_code == 400

    async def from_elsewhere(who: str) -> httpx.Response:
        # The same app, asked by a client at a documentation address (RFC 5737), in process.
        transport = httpx.ASGITransport(app=ui_server.app, client=("192.0.2.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/ui/api/audit", headers=bearer(who))

    refused = asyncio.run(from_elsewhere("alice"))
    assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
    assert asyncio.run(from_elsewhere("admin")).status_code == 200


def test_approval_answers_are_checked(ui_server):
    url = ui_server.url + "/ui/api/approvals/nope"
    r = httpx.post(url, json={"approved": True}, headers=bearer("alice"))
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    r = httpx.post(url, json={"approved": "perhaps"}, headers=bearer("alice"))
    assert r.status_code == 400 and r.json()["error"]["param"] == "approved"
    assert get(ui_server, "/ui/api/approvals").json() == {"pending": []}


def test_high_risk_call_waits_for_its_owners_answer(ui_server, ran):
    """The approval flow over HTTP alone (the browser test clicks the same endpoints)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reply = pool.submit(ui_server.client(api_key=KEYS["alice"]).chat.completions.create, model=MODEL,
                            messages=[{"role": "user", "content": "Delete the note called groceries."}],
                            tool_choice={"type": "function", "function": {"name": "delete_note"}}, seed=3)
        deadline = time.monotonic() + WAIT
        while not (pending := get(ui_server, "/ui/api/approvals").json()["pending"]):
            assert time.monotonic() < deadline and not reply.done(), "no call came to wait for approval"
            time.sleep(0.1)
        (waiting,) = pending
        assert waiting["tool"] == "delete_note" and waiting["principal"] == "alice" and waiting["risk"] == "high"
        assert get(ui_server, "/ui/api/approvals", who="admin").json() == {"pending": []}  # not admin's to see
        answer = ui_server.url + f"/ui/api/approvals/{waiting['id']}"
        assert httpx.post(answer, json={"approved": True}, headers=bearer("admin")).status_code == 404
        before = len(ran)
        assert httpx.post(answer, json={"approved": True}, headers=bearer("alice")).json()["approved"] is True
        (executed,) = reply.result(timeout=WAIT).model_extra["localcall"]["executed_tool_calls"]
    assert executed["id"] == waiting["call_id"] and executed["status"] == "ok"
    assert ran[before:] == [("delete_note", waiting["arguments"]["title"])]
    assert httpx.post(answer, json={"approved": False}, headers=bearer("alice")).status_code == 404  # answered


def test_pending_approvals_owner_answers_and_timeout_denies():
    def ask(who: str) -> ApprovalRequest:
        return ApprovalRequest(principal=who, call_id="call_1", tool="delete_note", description="Delete a note.",
                               arguments={"title": "x"}, risk="high")

    async def scenario():
        pending = PendingApprovals(timeout=5)
        waiting = asyncio.create_task(pending(ask("alice")))
        await asyncio.sleep(0)
        (entry,) = pending.waiting("alice")
        assert pending.waiting("bob") == [] and not pending.answer(entry.id, "bob", True)  # not bob's
        assert pending.answer(entry.id, "alice", True)
        assert await waiting is True and pending.waiting("alice") == []
        denied = asyncio.create_task(pending(ask("alice")))
        await asyncio.sleep(0)
        assert pending.answer(pending.waiting("alice")[0].id, "alice", False)
        assert await denied is False
        pending.timeout = 0.05
        assert await pending(ask("alice")) is False and pending.waiting("alice") == []  # nobody answered

    asyncio.run(scenario())


def test_bench_reports_latest_first(ui_server, bench_dir):
    data = get(ui_server, "/ui/api/bench").json()
    assert [r["folder"] for r in data["reports"]] == ["new-run", "old-run"]
    latest = data["reports"][0]
    (table,) = latest["tables"]
    assert table["name"] == "summary.csv" and "accuracy" in table["columns"] and table["rows"]
    assert latest["images"] == ["new-run/accuracy.png"] and latest["notes"][0]["name"] == "summary.md"
    png = get(ui_server, "/ui/api/bench/files/new-run/accuracy.png")
    assert png.status_code == 200 and png.content == (bench_dir / "new-run" / "accuracy.png").read_bytes()
    for bad in ("new-run/summary.csv", "../audit/audit.sqlite3", "new-run/results/cases.jsonl"):
        assert get(ui_server, "/ui/api/bench/files/" + bad).status_code == 404, bad


def _localcall(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "localcall.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **options)


def test_serve_options_reach_the_playground(tmp_path, bench_dir):
    """`localcall serve --tools … --ask-approval --bench-dir …` as a user runs it."""
    tools = tmp_path / "tools.py"
    tools.write_text('from localcall.tools import tool\n\n\n@tool(risk="high")\n'
                     'def wipe(target: str) -> str:\n    """Wipe something."""\n    return target\n')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LOCALCALL_AUDIT_DB": str(tmp_path / "audit.sqlite3")}
    process = _localcall("serve", "--port", str(port), "--tools", str(tools), "--ask-approval",
                         "--bench-dir", str(bench_dir), env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/ui/api/info", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert info == {"principal": "local", "server_tools": 1, "approval": True, "audit": True, "bench": True}
        (wipe,) = httpx.get(f"http://127.0.0.1:{port}/ui/api/tools").json()["tools"]
        assert wipe["name"] == "wipe" and wipe["approval"] == "ask"
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert f"playground: http://127.0.0.1:{port}/" in output


def test_serve_refuses_playground_options_without_the_playground(tmp_path):
    from typer.testing import CliRunner

    from localcall.cli import app

    for extra in (["--ask-approval"], ["--bench-dir", str(tmp_path)]):
        result = CliRunner().invoke(app, ["serve", "--no-ui", *extra])
        assert result.exit_code == 1 and "--no-ui turns off" in " ".join(result.output.split()), result.output


def test_wheel_ships_the_static_files(tmp_path):
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(REPO)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())
    package = STATIC.relative_to(REPO / "src")
    expected = {(package / f.relative_to(STATIC)).as_posix() for f in STATIC.rglob("*.*")}
    assert expected and expected <= names


# --- the page in a real browser -------------------------------------------------------------

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,950"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("playground-screenshots")
    yield folder
    print(f"\nplayground screenshots: {folder}")


@pytest.fixture(scope="module")
def browser(ui_server, shots):
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("no Chromium here: install Debian's chromium and chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="localcall-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.shot = lambda name: driver.save_screenshot(str(shots / f"{name}.png"))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout=WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def _css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _fill(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def _choose(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, element_id)).select_by_value(value)


def _use_key(driver, who: str) -> None:
    _wait(driver, lambda d: _css(d, "#key-dialog[open]"), 10)
    _fill(driver, "key-input", KEYS[who])
    _css(driver, "#key-use")[0].click()
    _wait(driver, lambda d: _css(d, "body[data-ready='true']"), 10)


def _send(driver, text: str):
    """Send a message; the finished assistant turn."""
    turns = len(_css(driver, ".turn.assistant"))
    _fill(driver, "prompt", text)
    _css(driver, "#send")[0].click()
    return _finished_turn(driver, turns)


def _finished_turn(driver, turns_before: int):
    _wait(driver, lambda d: len(_css(d, ".turn.assistant[data-finish]")) > turns_before)
    turn = _css(driver, ".turn.assistant")[-1]
    assert turn.get_attribute("data-finish") != "error", turn.text
    return turn


def test_browser_asks_for_the_key_and_streams_a_reply(browser, ui_server):
    browser.get(ui_server.url + "/")
    _wait(browser, lambda d: _css(d, "#key-dialog[open]"), 20)  # the server needs a key: the page asks
    browser.shot("01-asks-for-key")
    _use_key(browser, "carol")
    assert [o.text for o in _css(browser, "#model option")] == [MODEL]
    _fill(browser, "max_tokens", "24")
    _fill(browser, "seed", "7")
    turn = _send(browser, "Write one sentence about the sea.")
    content = turn.find_elements("css selector", ".content")[0]
    assert content.text.strip()
    assert int(content.get_attribute("data-deltas")) >= 2  # it arrived in pieces, as it was generated
    browser.shot("02-streamed-reply")


def test_browser_folds_reasoning(browser):
    """The default model does not think aloud, so the page's own turn is given the chunks the
    server writes for a model that does (a Qwen 3 <think> block: reasoning_content deltas)."""
    from localcall.messages import ContentDelta, ReasoningDelta
    from localcall.server.streaming import ChunkWriter

    writer = ChunkWriter("chatcmpl-reasoning", MODEL, 0)
    sse = [writer.event(ReasoningDelta("The user greets me. ")), writer.event(ReasoningDelta("I greet back.")),
           writer.event(ContentDelta("Hello!"))]
    chunks = [json.loads(event.removeprefix("data: ")) for event in sse]
    browser.execute_async_script("""
        const [chunks, done] = arguments;
        import("/ui/static/js/turn.js").then(({ Turn }) => {
          const turn = new Turn(document.getElementById("transcript"), new Map());
          turn.el.id = "reasoning-turn";
          chunks.forEach((chunk) => turn.apply(chunk));
          turn.finish(0.1);
          done();
        });""", chunks)
    turn = _css(browser, "#reasoning-turn")[0]
    folded = turn.find_element("css selector", "details.reasoning")
    assert folded.get_attribute("open") is None and folded.is_displayed()  # shown, but folded
    assert turn.find_element("css selector", ".content").text == "Hello!"
    folded.find_element("css selector", "summary").click()
    assert folded.find_element("css selector", "pre").text == "The user greets me. I greet back."
    browser.shot("02b-reasoning-unfolded")
    _css(browser, "#new-chat")[0].click()


def test_browser_forced_client_tool_call(browser):
    _fill(browser, "client-tools", json.dumps([GET_TIME]))
    _choose(browser, "tool-choice", "required")
    _css(browser, "#parallel")[0].click()  # parallel_tool_calls off: one call at most
    _fill(browser, "max_tokens", "20")  # too few: the call is cut short (after its name), and the card says so
    cut = _send(browser, "What time is it in Tokyo?")
    assert cut.get_attribute("data-finish") == "length"
    assert cut.find_element("css selector", ".card[data-kind='client']").get_attribute("data-status") == "incomplete"
    assert not cut.find_elements("css selector", ".result-input")  # nothing to answer
    _css(browser, "#new-chat")[0].click()
    _fill(browser, "max_tokens", "64")  # room for the whole call
    turn = _send(browser, "What time is it in Tokyo?")
    assert turn.get_attribute("data-finish") == "tool_calls"
    (card,) = turn.find_elements("css selector", ".card[data-kind='client']")
    assert card.get_attribute("data-name") == "get_time" and card.get_attribute("data-args-valid") == "true"
    arguments = json.loads(card.find_element("css selector", ".args").text)
    jsonschema.validate(arguments, GET_TIME["function"]["parameters"])
    browser.shot("03-client-tool-card")
    card.find_element("css selector", ".result-input").send_keys('{"time": "09:30"}')
    turns = len(_css(browser, ".turn.assistant"))
    turn.find_element("css selector", ".send-results").click()
    _finished_turn(browser, turns)  # the conversation went on with the result
    browser.shot("04-client-tool-answered")


def test_browser_server_tool_result_and_audit_row(browser, ui_server, ran):
    _css(browser, "#key-button")[0].click()
    _use_key(browser, "alice")
    _css(browser, "#new-chat")[0].click()
    _fill(browser, "client-tools", "")
    _css(browser, "#tabs button[data-tab='tools']")[0].click()
    names = [c.get_attribute("data-name") for c in _css(browser, "#tool-cards .card")]
    assert names == ["lookup_city", "delete_note"]
    assert "Approve / Deny" in _css(browser, "#tool-cards .card[data-name='delete_note']")[0].text
    browser.shot("05-server-tools")
    _css(browser, "#tabs button[data-tab='chat']")[0].click()
    _choose(browser, "tool-choice", "function:lookup_city")
    before = len(ran)
    turn = _send(browser, "Tell me about Paris.")
    (card,) = turn.find_elements("css selector", ".card[data-kind='server']")
    assert card.get_attribute("data-status") == "ok"
    assert ran[before:] == [("lookup_city", json.loads(card.find_element("css selector", ".args").text)["city"])]
    assert "2100000" in card.find_element("css selector", ".result").text
    _wait(browser, lambda d: "audit row" in card.find_element("css selector", ".timing").text, 10)
    browser.shot("06-server-tool-result")
    call_id = card.get_attribute("data-call-id")
    _css(browser, "#tabs button[data-tab='audit']")[0].click()
    _fill(browser, "audit-call", call_id)
    _css(browser, "#audit-filters button")[0].click()
    rows = "return [...document.querySelectorAll('#audit-table tbody tr')].map((r) => [r.dataset.callId, r.innerText])"
    _wait(browser, lambda d: {call for call, _ in d.execute_script(rows)} == {call_id}, 10)  # the filtered table
    ((_, text),) = browser.execute_script(rows)
    assert "alice" in text and "lookup_city" in text and "\tok\t" in text
    browser.shot("07-audit-row")
    _css(browser, "#tabs button[data-tab='chat']")[0].click()


@pytest.mark.parametrize("click", ["approve", "deny"])
def test_browser_high_risk_call_waits_for_a_click(browser, ui_server, ran, click):
    _choose(browser, "tool-choice", "function:delete_note")
    turns = len(_css(browser, ".turn.assistant"))
    _fill(browser, "prompt", "Delete my shopping note.")
    _css(browser, "#send")[0].click()
    _wait(browser, lambda d: _css(d, ".card[data-kind='server'][data-status='approval']"))
    (card,) = _css(browser, ".card[data-status='approval']")
    title = json.loads(card.find_element("css selector", ".args").text)["title"]
    browser.shot(f"08-{click}-waiting")
    before = len(ran)
    card.find_element("css selector", f"button.{click}").click()
    turn = _finished_turn(browser, turns)
    (card,) = turn.find_elements("css selector", ".card[data-kind='server']")
    if click == "approve":
        assert card.get_attribute("data-status") == "ok" and ran[before:] == [("delete_note", title)]
        assert f"deleted {title}" in card.find_element("css selector", ".result").text
    else:
        assert card.get_attribute("data-status") == "denied" and ran[before:] == []
        assert "declined" in card.find_element("css selector", ".result").text
    rows = ui_server.audit.entries(card.get_attribute("data-call-id"))
    assert [r.outcome for r in rows] == ["ok" if click == "approve" else "denied"]
    browser.shot(f"09-{click}-done")


def test_browser_shows_the_latest_benchmark_report(browser):
    _css(browser, "#tabs button[data-tab='bench']")[0].click()
    _wait(browser, lambda d: _css(d, ".report img.plot[src^='blob:']"), 10)
    first = _css(browser, ".report")[0]
    assert "new-run (latest)" in first.text and "accuracy" in first.find_element("css selector", "table").text
    _wait(browser, lambda d: d.execute_script(
        "const img = document.querySelector('.report img.plot'); return img.complete && img.naturalWidth > 0"), 10)
    browser.shot("10-benchmarks")
