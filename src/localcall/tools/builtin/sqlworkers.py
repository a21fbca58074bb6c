"""The processes the SQL tool's queries run in (sqlquery.py), kept between calls.

Starting a Python process costs tens of milliseconds on an idle machine and several hundred
on a loaded one, so a process serves one query after another: a JSON line in on its stdin,
a JSON line out on its stdout. Each call takes an idle process (or starts one), so calls run
in parallel; at most KEEP idle ones are kept. A process that has not answered by the call's
deadline is killed and reaped: the work stops with it. A process whose parent dies sees its
stdin close and exits, so none is left behind by a crash.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

_CHILD = Path(__file__).with_name("sqlquery.py")
KEEP = 2  # idle processes kept for the next calls


class _Worker:
    def __init__(self):
        # -I: no environment variables or user site; -S: no site packages (a faster start).
        self.process = subprocess.Popen([sys.executable, "-I", "-S", str(_CHILD)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        encoding="ascii", bufsize=1)
        self.answers: queue.Queue[str] = queue.Queue()
        # A thread per process reads its answers, so a wait can have a timeout on any platform.
        threading.Thread(target=self._read, name="localcall-sql-reader", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put("")  # the process ended

    def ask(self, request: dict, timeout: float) -> str | None:
        """The answer line; "" if the process died; None if it did not answer in time."""
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError:  # it died since its last answer
            return ""
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class QueryWorkers:
    def __init__(self):
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    @property
    def idle(self) -> list[int]:
        """The process ids of the processes waiting for a query."""
        with self._lock:
            return [w.process.pid for w in self._idle]

    def run(self, request: dict, kill_after: float) -> dict:
        """One query: sqlquery.run_query's answer, or {"error": "interrupted"} when the process
        was killed at kill_after seconds, or an error saying that it died."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        worker = worker or _Worker()
        line = worker.ask(request, kill_after)
        if not line:
            worker.kill()
            if line is None:
                return {"error": "interrupted"}
            return {"error": f"the query process ended (exit status {worker.process.returncode})"}
        with self._lock:
            if len(self._idle) < KEEP:
                self._idle.append(worker)
                worker = None
        if worker is not None:
            worker.process.stdin.close()  # it exits at the end of its input
            worker.process.wait()
        return json.loads(line)
