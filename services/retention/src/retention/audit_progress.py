"""How the audit command reports while it works: a rich progress bar on a terminal, plain
lines elsewhere, JSON lines with ``--json``; always the throughput at the end (stderr)."""

from __future__ import annotations

import sys
import time
from typing import Any, Literal

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

Mode = Literal["rich", "plain", "json"]


def pick_mode(json_lines: bool) -> Mode:
    """``json`` when asked, ``rich`` on a terminal, ``plain`` lines otherwise."""
    if json_lines:
        return "json"
    return "rich" if sys.stderr.isatty() else "plain"


class Reporter:
    """Progress messages, a records counter, and the closing throughput line."""

    def __init__(self, mode: Mode = "plain") -> None:
        self.mode = mode
        self.started = time.perf_counter()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if mode == "rich":
            self._bar = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True)

    def say(self, message: str) -> None:
        """One progress or warning message."""
        if self.mode == "json":
            line = {"event": "progress", "message": message}
            sys.stderr.buffer.write(orjson.dumps(line) + b"\n")
            sys.stderr.flush()
        elif self._bar is not None and self._bar.live.is_started:
            self._bar.console.print(f"marketplace-audit: {message}", markup=False)
        else:
            print(f"marketplace-audit: {message}", file=sys.stderr, flush=True)

    def count(self, what: str, done: int, total: int | None) -> None:
        """Records handled so far of ``total`` (unknown: ``None``); drives the bar."""
        if self._bar is None:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(what, total=total, rate="")
        self._bar.update(self._task, description=what, completed=done, total=total,
                         rate=f"{done / elapsed:,.0f}/s")

    def finish(self, what: str, events: int) -> None:
        """Close the bar and print the throughput of the whole command."""
        if self._bar is not None and self._bar.live.is_started:
            self._bar.stop()
        seconds = time.perf_counter() - self.started
        rate = events / max(seconds, 1e-9)
        if self.mode == "json":
            line = {"event": "done", "command": what, "events": events,
                    "seconds": round(seconds, 3), "events_per_second": round(rate, 1)}
            sys.stderr.buffer.write(orjson.dumps(line) + b"\n")
            sys.stderr.flush()
        else:
            print(f"marketplace-audit: {what}: {events:,} event(s) in {seconds:.2f}s "
                  f"({rate:,.0f} events/s)", file=sys.stderr, flush=True)


def render_records(doc: dict[str, Any]) -> None:
    """The records of processing (AUD-3) as tables on a terminal."""
    out = Console()
    c = doc["controller"]
    out.print(f"[bold]{doc['title']}[/bold]")
    out.print(f"controller: {c['name']}, {c['address']}; contact: {c['contact']}")
    if "dpo" in c:
        out.print(f"data protection officer: {c['dpo']}")
    reg, log = doc["register"], doc["log"]
    out.print(f"data register {reg['version']} (from {reg['effective_from']}); log: "
              f"{log['events']} event(s) from {log['source']}, {log['breaks']} break(s)")
    out.print("data subjects: " + "; ".join(doc["data_subjects"].values()))
    table = Table(title="processing by data category", show_lines=True)
    table.add_column("category", no_wrap=True)
    table.add_column("purposes and legal basis", overflow="fold")
    table.add_column("kept, then", overflow="fold")
    table.add_column("recipients (outside the EEA)", overflow="fold")
    table.add_column("in the log", overflow="fold")
    for p in doc["processing"]:
        r, used = p["retention"], p["in_the_log"]
        kept = f"{r['days']} d from {r['from']}" + (
            f", up to {r['max_with_consent_days']} d with consent"
            if r["max_with_consent_days"] else "") + f"; {r['end_of_life']}"
        outside = {t["recipient"]: f"{'/'.join(t['countries'])}: {t['basis']}"
                   for t in p["transfers_outside_eea"]}
        recipients = ", ".join(f"{x} ({outside[x]})" if x in outside else x
                               for x in p["recipients"]) or "none"
        table.add_row(p["category"], f"{', '.join(p['purposes'])} ({p['legal_basis']})",
                      kept, recipients,
                      f"{used['events']} events, {used['subjects']} subjects; "
                      f"{', '.join(used['processed_by']) or '-'}")
    out.print(table)
    rec = Table(title="recipients")
    for name in ("recipient", "kind", "countries", "transfer basis", "categories per purpose"):
        rec.add_column(name, overflow="fold")
    for r in doc["recipients"]:
        per_purpose = r.get("per_purpose") or {p: r["categories"] for p in r["purposes"]}
        rec.add_row(r["name"], r["kind"], ", ".join(r["countries"]), r["transfer_basis"],
                    "\n".join(f"{p}: {', '.join(c)}" for p, c in per_purpose.items()))
    out.print(rec)
    out.print("[bold]security measures[/bold]")
    for m in doc["security_measures"]:
        out.print(f" - {m}")
