"""Progress lines of a local run: units done, documents, MB/s and ETA, read from the unit summaries."""
from __future__ import annotations

import json
import sys
import threading
import time

from tailmine.fileio import join, list_files, read_bytes
from tailmine.runtime.work import WORK_DIR


class ProgressLoop:
    """Calls ``report()`` every ``interval`` seconds on a background thread while the ``with`` block
    runs, and ``report(final=True)`` once at its end. Subclasses say what a line shows."""

    def __init__(self, stream=None, interval: float = 2.0):
        self.stream, self.interval = stream or sys.stderr, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.time()

    def report(self, final: bool = False) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.report(final=True)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.report()


class Progress(ProgressLoop):
    """Prints units done, documents, MB/s and ETA while a local run goes, from the unit summaries on disk."""

    def __init__(self, out_dir: str, label: str, total_units: int, total_bytes: int, stream=None, interval: float = 2.0):
        super().__init__(stream, interval)
        self.out_dir, self.label, self.total_units = out_dir, label, total_units
        self.total_bytes = max(1, total_bytes)
        self._seen: dict[str, dict] = {}

    def report(self, final: bool = False) -> None:
        try:
            for f in list_files(join(self.out_dir, WORK_DIR), "unit-*.json"):
                if f.path not in self._seen:
                    self._seen[f.path] = json.loads(read_bytes(f.path))
        except Exception:
            pass  # the work folder may not exist yet
        done = list(self._seen.values())
        done_bytes = sum(s.get("input_bytes", 0) for s in done)
        docs = sum(s["counts"]["output"] for s in done)
        elapsed = max(time.time() - self._started, 1e-9)
        rate = done_bytes / elapsed
        line = (
            f"[{self.label}] units {len(done)}/{self.total_units}  docs {docs:,}  "
            f"{done_bytes / 1e6:,.1f}/{self.total_bytes / 1e6:,.1f} MB  {rate / 1e6:,.2f} MB/s"
        )
        if not final and done and rate > 0:
            line += f"  ETA {(self.total_bytes - done_bytes) / rate:,.0f}s"
        if final or done:
            print(line, file=self.stream, flush=True)
