"""Run results on disk: `episodes.jsonl` (append + fsync per line), `summary.json`, printed tables.

Why JSON lines with an fsync per episode: the file *is* the resume state. After `kill -9` (or a power
cut) every line that was reported finished is on disk; at most the line being written is cut short.
Opening the file drops such a trailing fragment (rewriting the file atomically without it), so a
resumed run appends after the last complete record and nothing is duplicated or lost.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from embodied.config import atomic_write

__all__ = ["EpisodeLog", "read_records", "summarize", "headline_metrics", "write_summary", "read_summary",
           "print_summary", "summary_table", "wide_console", "ProgressReporter", "FAILED_AS_ZERO"]

#: Metrics a failed episode counts as 0 (the field's convention: a crash is a failure, not a skip).
FAILED_AS_ZERO = ("success", "spl", "soft_spl")
#: Record fields that are bookkeeping, not metrics.
NOT_METRICS = frozenset({"episode_id", "category", "error", "attempts"})
#: Column order of the printed table; other metrics follow alphabetically, timings last.
LEADING = ("success", "spl", "soft_spl", "distance_to_goal")
TRAILING = ("steps", "seconds")
#: The two numbers a run is judged by, per task, in order of preference: the progress line and
#: summary.png show the first two a run reports (ObjectNav: Success, SPL; SfA: joint-type
#: accuracy, part IoU).
HEADLINE = ("success", "spl", "joint_type_accuracy", "part_iou", "axis_angle_error_deg")


def headline_metrics(names: Iterable[str], count: int = 2) -> list[str]:
    """The first `count` of HEADLINE among `names` (metric names a run reports)."""
    present = set(names)
    return [n for n in HEADLINE if n in present][:count]


def _json_default(obj: Any) -> Any:
    """numpy scalars/arrays (and anything with .item/.tolist) as plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def _parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Complete, valid records of a JSONL byte string and how many lines were dropped."""
    records, dropped = [], 0
    # A last line without its newline is the fragment of an interrupted write: it is kept only if
    # it still parses as a whole record (the cut fell just before the newline).
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            dropped += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("episode_id"), str):
            records.append(record)
        else:
            dropped += 1
    return records, dropped


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Complete records of an episodes.jsonl without modifying it (for `embodied show`)."""
    path = Path(path)
    if not path.exists():
        return []
    return _dedupe(_parse_lines(path.read_bytes())[0])


def _dedupe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First record per episode_id (a second could only come from two runs sharing one folder)."""
    seen: set[str] = set()
    out = []
    for r in records:
        if r["episode_id"] not in seen:
            seen.add(r["episode_id"])
            out.append(r)
    return out


class EpisodeLog:
    """The append-only episodes.jsonl of a run; loads (and repairs) what a previous run left.

    `dropped` counts lines removed on open (a truncated tail, or a corrupt or duplicated line).
    Only one process writes it — the runner's main process — so appends never interleave.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = self.path.read_bytes() if self.path.exists() else b""
        records, dropped = _parse_lines(data)
        unique = _dedupe(records)
        self.dropped = dropped + len(records) - len(unique)
        if self.dropped or (data and not data.endswith(b"\n")):
            text = "".join(json.dumps(r, default=_json_default) + "\n" for r in unique)
            atomic_write(self.path, text.encode())
        self.records: list[dict[str, Any]] = unique
        self.done: set[str] = {r["episode_id"] for r in unique}
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one finished episode and force it to disk before returning."""
        line = json.dumps(dict(record), default=_json_default)
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records.append(json.loads(line))
        self.done.add(record["episode_id"])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "EpisodeLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------------------------ summary
def _number(value: Any) -> float | None:
    """A metric value as float (bools count 0/1); None for text, null and NaN (not measured)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None


def _metric_names(records: list[dict[str, Any]]) -> list[str]:
    """Metrics a set of records reports, ordered for display.

    Names come from episodes that did not fail (a crash record's zeros must not invent `spl` for a
    task that has none); only when every episode failed do the failure records name them.
    """
    ok = [r for r in records if not r.get("error")] or records
    names: set[str] = set()
    for r in ok:
        names.update(k for k, v in r.items() if k not in NOT_METRICS and _number(v) is not None)
    lead = [n for n in LEADING if n in names]
    trail = [n for n in TRAILING if n in names]
    rest = sorted(names - set(lead) - set(trail))
    return lead + rest + trail


def _values(records: list[dict[str, Any]], name: str) -> list[float]:
    """The numbers the records report for `name` (a failure counts 0 for FAILED_AS_ZERO)."""
    values = []
    for r in records:
        if r.get("error") and name in FAILED_AS_ZERO:
            values.append(0.0)
        else:
            v = _number(r.get(name))
            if v is not None:
                values.append(v)
    return values


def _means(records: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    out = {}
    for name in names:
        values = _values(records, name)
        if values:
            out[name] = math.fsum(values) / len(values)  # fsum: exact, so record order cannot matter
    return out


def _medians(records: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """Per metric, the median over the records that report it. Why: SfA's targets are medians
    (one bad fit of an axis should not hide twenty good ones), and a mean can hide a bimodal run."""
    out = {}
    for name in names:
        values = sorted(_values(records, name))
        if values:
            mid = len(values) // 2
            out[name] = values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])
    return out


def _summed_counts(records: list[dict[str, Any]], key: str) -> dict[str, int]:
    """Per-name sums of the records' `key` count tables (e.g. SfA's failure causes per object)."""
    total: dict[str, int] = {}
    for r in records:
        table = r.get(key)
        if isinstance(table, Mapping):
            for name, n in table.items():
                total[str(name)] = total.get(str(name), 0) + int(n)
    return total


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`{"episodes", "failed", "retried", ["failures": {cause: count}], "metrics": {name: mean}, "medians": {name: median},
    "per_category": {cat: {"episodes", metric...}}}`.

    Failed episodes (error not null) count as success = spl = soft_spl = 0; other metrics average
    over the records that report a number.
    """
    records = [dict(r) for r in records]
    names = _metric_names(records)
    per_category: dict[str, dict[str, Any]] = {}
    categories = sorted({str(r["category"]) for r in records if r.get("category") is not None})
    for cat in categories:
        group = [r for r in records if r.get("category") is not None and str(r["category"]) == cat]
        per_category[cat] = {"episodes": len(group), **_means(group, names)}
    return {
        "episodes": len(records),
        "failed": sum(1 for r in records if r.get("error")),
        # episodes that needed more than one attempt (an exception, or a worker/node that died)
        "retried": sum(1 for r in records if int(r.get("attempts") or 1) > 1),
        **({"failures": failures} if (failures := _summed_counts(records, "failures")) else {}),
        "metrics": _means(records, names),
        "medians": _medians(records, names),
        "per_category": per_category,
    }


def write_summary(summary: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write summary.json atomically: a reader sees the old summary or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(summary, indent=2, default=_json_default) + "\n").encode())


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Load a summary.json; ValueError naming the file when it is not a summary.

    Why the check: summary.json is derived data that a disk error, a copy cut short or a hand
    edit can break, and callers (`embodied show`, the runner's "already finished" check) should
    say which file is bad and fall back to episodes.jsonl, not print a JSONDecodeError traceback.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    shapes = {"metrics": dict, "medians": dict, "per_category": dict, "episodes": int, "failed": int}
    if not isinstance(data, dict) or any(k in data and not isinstance(data[k], t) for k, t in shapes.items()) \
            or not all(isinstance(v, dict) for v in data.get("per_category", {}).values()):
        raise ValueError(f"{path} is not a run summary (expected a JSON object with episodes, failed, "
                         f"metrics, per_category)")
    return data


# ------------------------------------------------------------------------------------ tables
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _grid(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (all, then each category) of the summary as text cells."""
    metrics = summary.get("metrics", {})
    per_cat = summary.get("per_category", {})
    names = list(dict.fromkeys(list(metrics) + [n for c in per_cat.values() for n in c if n != "episodes"]))
    rows = [["all", str(summary.get("episodes", 0)), *(_fmt(metrics.get(n, "")) for n in names)]]
    medians = summary.get("medians")
    if medians:
        rows.append(["median", "", *(_fmt(medians.get(n, "")) for n in names)])
    for cat in sorted(per_cat):
        row = per_cat[cat]
        rows.append([cat, str(row.get("episodes", "")), *(_fmt(row.get(n, "")) for n in names)])
    return ["category", "episodes", *names], rows


def summary_table(summary: Mapping[str, Any], title: str | None = None, transpose: bool = False) -> Any:
    """A rich Table: a row for all episodes, then one per category (`transpose`: one row per metric)."""
    from rich.table import Table

    header, rows = _grid(summary)
    if transpose:  # narrow terminals: categories as columns, metrics as rows
        header, rows = ["", *(r[0] for r in rows)], [list(col) for col in zip(*rows)][1:]
        rows = [[name, *cells] for name, cells in zip(header_names(summary), rows)]
    table = Table(title=title or f"{summary.get('episodes', 0)} episodes, {summary.get('failed', 0)} failed")
    for i, name in enumerate(header):
        # Numbers are never cut (a truncated number misleads); headers wrap instead.
        width = max([len(r[i]) for r in rows] + [1])
        table.add_column(name, justify="left" if i == 0 else "right", overflow="fold", min_width=min(width, 24))
    for i, row in enumerate(rows):
        table.add_row(*row, style="bold" if i == 0 and not transpose else None,
                      end_section=i == len(rows) - len(summary.get("per_category", {})) - 1
                      and not transpose)
    return table


def header_names(summary: Mapping[str, Any]) -> list[str]:
    """Row labels of the transposed table: episodes, then the metrics."""
    return _grid(summary)[0][1:]


def print_summary(summary: Mapping[str, Any], console: Any = None, title: str | None = None) -> None:
    """Print the summary table (overall + per category) with rich; transposed if that fits a narrow terminal."""
    console = wide_console(console)
    table = summary_table(summary, title)
    unbounded = console.options.update_width(10_000)
    if console.measure(table, options=unbounded).maximum > console.width:
        narrow = summary_table(summary, title, transpose=True)
        if console.measure(narrow, options=unbounded).maximum <= console.width:
            table = narrow
    console.print(table)
    failures = summary.get("failures")
    if isinstance(failures, Mapping) and any(failures.values()):
        parts = ", ".join(f"{name} {n}" for name, n in failures.items() if n)
        console.print(f"what became of the true parts: {parts}", highlight=False, soft_wrap=True)


def wide_console(console: Any = None) -> Any:
    """The console itself on a terminal; for logs and pipes (no width) one that prints tables at
    their natural width instead of squeezing every column into 80 characters."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal:
        return console
    return Console(file=console.file, width=max(console.width, 200), force_terminal=False,
                   no_color=console.no_color)


# ------------------------------------------------------------------------------------ progress
class ProgressReporter:
    """A live rich progress bar with ETA and the running headline metrics (ObjectNav: Success and
    SPL; SfA: joint-type accuracy and part IoU, see HEADLINE) over all finished episodes.

    Without a terminal (logs, CI) or with `bar=False` it prints one plain line every ~10% instead,
    because a redrawn bar in a log file is noise.
    """

    def __init__(self, name: str, total: int, records: list[dict[str, Any]], console: Any, bar: bool = True) -> None:
        self.console, self.total = console, total
        self.done, self.new = len(records), 0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        for r in records:
            self._add(r)
        self.every = max(1, total // 10)
        self.start = time.perf_counter()
        self.bar = None
        if bar and console.is_terminal and total > self.done:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                TextColumn("{task.fields[stats]}"), console=console)
            self.task = self.bar.add_task(name, total=total, completed=self.done, stats=self._stats())

    def _add(self, record: dict[str, Any]) -> None:
        for name in HEADLINE:
            value = _number(record.get(name))
            if record.get("error") and name in FAILED_AS_ZERO:
                value = 0.0
            if value is not None and math.isfinite(value):
                self.sums[name] = self.sums.get(name, 0.0) + value
                self.counts[name] = self.counts.get(name, 0) + 1

    def _stats(self) -> str:
        """Running means of the task's two headline metrics (none before the first record)."""
        names = headline_metrics(self.sums)
        return "  ".join(f"{n} {self.sums[n] / self.counts[n]:.3f}" for n in names)

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.new += 1
        self._add(record)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, stats=self._stats())
        elif self.new % self.every == 0 or self.done == self.total:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / self.new * (self.total - self.done)
            self.console.print(f"[{self.done}/{self.total}] {self._stats()}  "
                               f"elapsed {elapsed:.0f}s  eta {eta:.0f}s", highlight=False, soft_wrap=True)

    def __enter__(self) -> "ProgressReporter":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
