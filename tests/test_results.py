"""The run log and the summary (embodied/results.py), on hand-made records whose answers are worked
out in the comments: resume after a cut line, repairs, means and medians, the printed tables."""
from __future__ import annotations

import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from embodied.results import (EpisodeLog, ProgressReporter, headline_metrics, print_summary, read_records,
                              read_summary, summarize, summary_table, wide_console, write_summary)


def lines(path: Path) -> list[dict]:
    """Every line of a JSONL file parsed (fails on any line that is not a whole JSON value)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------ EpisodeLog
def test_a_last_record_without_its_newline_is_kept_and_the_next_append_starts_a_new_line(
        tmp_path: Path) -> None:
    """kill -9 can land between a record and its newline. The record is whole, so it counts as done;
    the file must get its newline back before anything is appended, else the next record is glued
    to it and the line that holds both parses as neither: two finished episodes lost on resume."""
    path = tmp_path / "episodes.jsonl"
    path.write_text('{"episode_id": "a", "spl": 1.0}\n{"episode_id": "b", "spl": 0.5}')
    with EpisodeLog(path) as log:
        assert [r["episode_id"] for r in log.records] == ["a", "b"] and log.done == {"a", "b"}
        assert log.dropped == 0                       # nothing was lost: the record is complete
        assert path.read_bytes().endswith(b"}\n")     # repaired on open, before any append
        log.append({"episode_id": "c", "spl": 0.25})
    assert [r["episode_id"] for r in lines(path)] == ["a", "b", "c"]
    with EpisodeLog(path) as again:                   # the next resume sees all three
        assert [r["episode_id"] for r in again.records] == ["a", "b", "c"] and again.dropped == 0


def test_open_drops_cut_corrupt_foreign_and_duplicate_lines_and_rewrites_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "run" / "episodes.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"episode_id": "a", "x": 1}\n'
                     b'\n'                                   # blank: skipped, not a dropped line
                     b'not json\n'                           # corrupt: dropped
                     b'[1, 2]\n'                             # JSON but no record: dropped
                     b'{"episode_id": 7}\n'                  # an id that is no string: dropped
                     b'{"episode_id": "b\xff"}\n'            # not UTF-8: dropped
                     b'{"episode_id": "a", "x": 2}\n'        # a second "a": dropped, the first kept
                     b'{"episode_id": "c", "x": 3}\n'
                     b'{"episode_id": "d", "x"')             # cut mid-write: dropped
    with EpisodeLog(path) as log:
        assert log.dropped == 6
        assert [(r["episode_id"], r["x"]) for r in log.records] == [("a", 1), ("c", 3)]
        assert log.done == {"a", "c"}
    assert path.read_text() == '{"episode_id": "a", "x": 1}\n{"episode_id": "c", "x": 3}\n'


def test_a_clean_log_is_opened_as_it_is_and_a_missing_one_is_created(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "new" / "episodes.jsonl"
    with EpisodeLog(path) as log:                     # the folders are created too
        assert log.records == [] and log.done == set() and log.dropped == 0
    assert path.read_text() == ""
    path.write_text('{"episode_id": "a"}\n{"episode_id": "b"}\n')
    inode = path.stat().st_ino
    with EpisodeLog(path) as log:
        assert log.dropped == 0 and len(log.records) == 2
    assert path.stat().st_ino == inode                # not rewritten (a rewrite is a new file)


def test_append_writes_plain_json_one_line_each_and_remembers_the_episode(tmp_path: Path) -> None:
    class Scalar:  # anything with .item() (a 0-d tensor, say)
        def item(self) -> int:
            return 7

    path = tmp_path / "episodes.jsonl"
    log = EpisodeLog(path)
    log.append({"episode_id": "a", "ok": np.bool_(True), "spl": np.float32(0.5),
                "cells": np.arange(3), "ids": {4}, "scalar": Scalar(), "where": Path("x/y")})
    log.append({"episode_id": "b", "spl": 0.0})
    log.close()
    assert log._file.closed
    first = '{"episode_id": "a", "ok": true, "spl": 0.5, "cells": [0, 1, 2], "ids": [4], "scalar": 7, ' \
            '"where": "x/y"}'
    assert path.read_text() == first + '\n{"episode_id": "b", "spl": 0.0}\n'
    # what the log keeps in memory is what a reader of the file gets back
    assert log.records == lines(path) and log.done == {"a", "b"}


def test_read_records_reads_without_repairing(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    assert read_records(path) == []
    data = b'{"episode_id": "a"}\n{"episode_id": "a", "again": 1}\n{"episode_id": "b"}\n{"episo'
    path.write_bytes(data)
    assert read_records(path) == [{"episode_id": "a"}, {"episode_id": "b"}]
    assert path.read_bytes() == data                  # `embodied show` must not write


# ------------------------------------------------------------------------------ summaries
RECORDS = [
    {"episode_id": "1", "category": "Mug", "success": True, "spl": 0.8, "zeta": 2.0, "alpha": "text",
     "steps": 10, "seconds": 1.5, "error": None, "attempts": 1},
    {"episode_id": "2", "category": "Vase", "success": False, "spl": 0.0, "zeta": 4.0,
     "steps": 20, "seconds": 2.5, "error": None, "attempts": 1},
    {"episode_id": "3", "category": "Mug", "success": True, "spl": 0.5, "zeta": 9.0, "beta": 1.0,
     "steps": 3, "seconds": 0.5, "error": "RuntimeError: boom", "attempts": 2},
]


def test_summary_by_hand() -> None:
    s = summarize(RECORDS)
    assert (s["episodes"], s["failed"]) == (3, 1)
    # the failure counts success = spl = 0 (not its own True / 0.5); other metrics keep its numbers:
    # success (1 + 0 + 0) / 3, spl 0.8 / 3, zeta (2 + 4 + 9) / 3 = 5, steps 33 / 3, seconds 4.5 / 3.
    # "alpha" is text and "beta" only comes from the failed record: neither is a metric; episode_id,
    # category, error, attempts are bookkeeping. Order: success, spl, the rest by name, timings last.
    assert list(s["metrics"]) == ["success", "spl", "zeta", "steps", "seconds"]
    assert s["metrics"] == pytest.approx({"success": 1 / 3, "spl": 0.8 / 3, "zeta": 5.0, "steps": 11.0,
                                          "seconds": 1.5})
    # medians of three: the middle value (success 0, 0, 1; spl 0, 0, 0.8; zeta 2, 4, 9; steps 3, 10, 20)
    assert s["medians"] == pytest.approx({"success": 0.0, "spl": 0.0, "zeta": 4.0, "steps": 10.0,
                                          "seconds": 1.5})
    assert s["per_category"] == {
        "Mug": pytest.approx({"episodes": 2, "success": 0.5, "spl": 0.4, "zeta": 5.5, "steps": 6.5,
                              "seconds": 1.0}),
        "Vase": pytest.approx({"episodes": 1, "success": 0.0, "spl": 0.0, "zeta": 4.0, "steps": 20.0,
                               "seconds": 2.5})}


def test_even_medians_average_the_two_middle_values_and_missing_values_are_skipped() -> None:
    recs = [{"episode_id": str(i), "error": None, "d": d} for i, d in enumerate([4.0, 1.0, 3.0, 10.0])]
    recs += [{"episode_id": "nan", "error": None, "d": float("nan")},   # not measured: left out
             {"episode_id": "none", "error": None, "d": None},
             {"episode_id": "text", "error": None, "d": "far"}]
    s = summarize(recs)
    assert s["medians"]["d"] == 3.5                   # sorted 1, 3, 4, 10 -> (3 + 4) / 2
    assert s["metrics"]["d"] == 4.5                   # 18 / 4: the three without a number do not count
    assert s["per_category"] == {} and s["episodes"] == 7 and s["failed"] == 0


def test_when_every_episode_failed_the_failures_name_the_metrics() -> None:
    recs = [{"episode_id": "1", "error": "boom", "success": False, "spl": 0.0, "soft_spl": 0.0, "steps": 4},
            {"episode_id": "2", "error": "boom", "success": False, "spl": 0.0, "soft_spl": 0.0, "steps": 6}]
    s = summarize(recs)
    assert s["metrics"] == {"success": 0.0, "spl": 0.0, "soft_spl": 0.0, "steps": 5.0}
    assert s["failed"] == 2


def test_categories_are_compared_as_text_and_records_without_one_only_count_overall() -> None:
    recs = [{"episode_id": "1", "category": 1, "x": 1.0, "error": None},
            {"episode_id": "2", "category": "1", "x": 3.0, "error": None},
            {"episode_id": "3", "x": 5.0, "error": None}]
    s = summarize(recs)
    assert s["per_category"] == {"1": {"episodes": 2, "x": 2.0}}
    assert s["metrics"] == {"x": 3.0}


def test_headline_metrics_are_the_first_two_the_run_reports() -> None:
    assert headline_metrics(["steps", "spl", "success"]) == ["success", "spl"]
    assert headline_metrics(["part_iou", "joint_type_accuracy", "spl"]) == ["spl", "joint_type_accuracy"]
    assert headline_metrics(["part_iou", "joint_type_accuracy", "spl"], count=3) == \
        ["spl", "joint_type_accuracy", "part_iou"]
    assert headline_metrics(["steps"]) == []


def test_summary_json_round_trip_and_what_is_not_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "summary.json"                 # missing folders are created
    summary = {"episodes": 2, "failed": 0, "metrics": {"spl": np.float32(0.25), "steps": np.int64(7)},
               "medians": {}, "per_category": {"Mug": {"episodes": 2}}}
    plain = {**summary, "metrics": {"spl": 0.25, "steps": 7}}
    write_summary(summary, path)
    assert path.read_text() == json.dumps(plain, indent=2) + "\n"
    assert read_summary(path) == plain
    path.write_text('{"episodes": 1, "metrics": {}}')             # keys may be missing
    assert read_summary(path) == {"episodes": 1, "metrics": {}}
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    with pytest.raises(ValueError, match=r"bad\.json is not valid JSON"):
        read_summary(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_summary(bad)
    for text in ('[1, 2]', '{"metrics": []}', '{"medians": 1}', '{"per_category": []}',
                 '{"episodes": "2"}', '{"failed": 1.5}', '{"per_category": {"Mug": 3}}'):
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"bad\.json is not a run summary"):
            read_summary(bad)


# ------------------------------------------------------------------------------ tables
TABLE = """\
3 episodes, 1 failed
┏━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━┳━━━━━━━┳━━━━━━━━┳━━━━━━━━━┓
┃ category ┃ episodes ┃ success ┃   spl ┃  zeta ┃  steps ┃ seconds ┃
┡━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━╇━━━━━━━╇━━━━━━━━╇━━━━━━━━━┩
│ all      │        3 │   0.333 │ 0.267 │ 5.000 │ 11.000 │   1.500 │
│ median   │          │   0.000 │ 0.000 │ 4.000 │ 10.000 │   1.500 │
├──────────┼──────────┼─────────┼───────┼───────┼────────┼─────────┤
│ Mug      │        2 │   0.500 │ 0.400 │ 5.500 │  6.500 │   1.000 │
│ Vase     │        1 │   0.000 │ 0.000 │ 4.000 │ 20.000 │   2.500 │
└──────────┴──────────┴─────────┴───────┴───────┴────────┴─────────┘
"""

TRANSPOSED = """\
3 episodes, 1 failed
┏━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┳━━━━━━━┳━━━━━━━━┓
┃          ┃    all ┃ median ┃   Mug ┃   Vase ┃
┡━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━╇━━━━━━━╇━━━━━━━━┩
│ episodes │      3 │        │     2 │      1 │
│ success  │  0.333 │  0.000 │ 0.500 │  0.000 │
│ spl      │  0.267 │  0.000 │ 0.400 │  0.000 │
│ zeta     │  5.000 │  4.000 │ 5.500 │  4.000 │
│ steps    │ 11.000 │ 10.000 │ 6.500 │ 20.000 │
│ seconds  │  1.500 │  1.500 │ 1.000 │  2.500 │
└──────────┴────────┴────────┴───────┴────────┘
"""


def printed(summary: dict, width: int, terminal: bool, title: str | None = None) -> str:
    """What print_summary shows, each line stripped (rich centres the title by the table's width)."""
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    print_summary(summary, console, title=title)
    return "".join(line.strip() + "\n" for line in console.file.getvalue().splitlines())


def test_the_printed_table_all_then_median_then_categories() -> None:
    # the numbers are the hand-computed ones of test_summary_by_hand, three decimals
    s = summarize(RECORDS)
    assert printed(s, 200, terminal=False) == TABLE
    # a log or a pipe gets the natural width, never a table squeezed into 80 columns
    assert printed(s, 40, terminal=False) == TABLE
    assert printed(s, 200, terminal=False, title="val") == TABLE.replace("3 episodes, 1 failed", "val")


def test_a_narrow_terminal_gets_one_row_per_metric_if_that_fits() -> None:
    s = summarize(RECORDS)
    wide = max(len(line) for line in TABLE.splitlines())            # 68 columns
    narrow = max(len(line) for line in TRANSPOSED.splitlines())     # 47 columns
    assert printed(s, wide, terminal=True) == TABLE                 # fits exactly: kept
    assert printed(s, wide - 1, terminal=True) == TRANSPOSED
    assert printed(s, narrow, terminal=True) == TRANSPOSED          # fits exactly
    assert printed(s, narrow, terminal=True, title="val") == TRANSPOSED.replace("3 episodes, 1 failed", "val")
    # neither fits: the wide one; headers fold onto more lines, numbers are never cut
    wrapped = printed(s, 30, terminal=True)
    assert "┃ catego ┃" in wrapped and "┃ ry     ┃" in wrapped and "…" not in wrapped
    assert "│ all    │ 3 │ 0.333 │ 0.267 │" in wrapped


def test_the_all_row_is_bold_in_colour() -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=True, color_system="standard")
    print_summary(summarize(RECORDS), console)
    rows = [line for line in console.file.getvalue().splitlines() if line.startswith("│")]
    assert ["\x1b[1m" in row for row in rows] == [True, False, False, False]       # all, median, Mug, Vase
    console = Console(file=io.StringIO(), width=50, force_terminal=True, color_system="standard")
    print_summary(summarize(RECORDS), console)                                     # transposed: none
    assert not any("\x1b[1m" in line for line in console.file.getvalue().splitlines() if line.startswith("│"))


def test_a_summary_with_parts_missing_still_prints() -> None:
    """summary.json comes from disk (`embodied show`): a key may be missing (an older version,
    an unfinished run); what is missing shows as an empty cell, never as None or a crash."""
    s = {"metrics": {"spl": 0.5, "x": 1000.0}, "medians": {"spl": 0.25},
         "per_category": {"a_category_with_a_long_name": {"spl": 0.5}}}
    assert printed(s, 200, terminal=False) == """\
0 episodes, 0 failed
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━┳━━━━━━┓
┃ category                    ┃ episodes ┃   spl ┃    x ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━╇━━━━━━┩
│ all                         │        0 │ 0.500 │ 1000 │
│ median                      │          │ 0.250 │      │
├─────────────────────────────┼──────────┼───────┼──────┤
│ a_category_with_a_long_name │          │ 0.500 │      │
└─────────────────────────────┴──────────┴───────┴──────┘
"""
    assert printed({"episodes": 2, "failed": 1}, 200, terminal=False).splitlines()[0] == "2 episodes, 1 failed"
    assert "│ all      │        0 │" in printed({}, 200, terminal=False)


def test_numbers_three_decimals_big_ones_whole_and_infinite_as_inf() -> None:
    s = {"episodes": 1, "failed": 0, "metrics": {"steps": 12345.6, "d": math.inf, "n": 7, "x": 999.5,
                                                 "y": 1000.0, "z": -1000.4}, "per_category": {}}
    text = printed(s, 200, terminal=False)
    assert "│ all      │        1 │ 12346 │ inf │ 7 │ 999.500 │ 1000 │ -1000 │" in text
    table = summary_table(s)
    assert table.title == "1 episodes, 0 failed" and len(table.rows) == 1      # no medians, no categories


def test_wide_console_keeps_a_terminal_and_widens_a_pipe() -> None:
    term = Console(file=io.StringIO(), width=80, force_terminal=True)
    assert wide_console(term) is term
    pipe = Console(file=io.StringIO(), width=80, force_terminal=False, no_color=True)
    wide = wide_console(pipe)
    assert wide.width == 200 and wide.file is pipe.file and not wide.is_terminal and wide.no_color
    assert wide_console(Console(file=io.StringIO(), width=300)).width == 300

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    # a console told it is no terminal stays one, even on a file that is a tty (no escape codes)
    told = Console(file=Tty(), width=80, force_terminal=False)
    assert not wide_console(told).is_terminal


# ------------------------------------------------------------------------------ progress
def test_progress_lines_every_tenth_of_the_run_with_running_headline_means() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    done = [{"episode_id": "0", "success": True, "spl": 0.5, "error": None}]
    progress = ProgressReporter("nav", 21, done, console)
    assert progress.bar is None and progress.every == 2               # 21 // 10
    for i in range(1, 21):
        failed = i == 1
        progress.update({"episode_id": str(i), "success": not failed, "spl": math.inf if i == 2 else 0.25,
                         "error": "boom" if failed else None})
    shown = out.getvalue().splitlines()
    assert len(shown) == 10                           # after 2, 4, ..., 20 new episodes
    assert shown[0].startswith("[3/21] success 0.667  spl 0.250  elapsed ")   # (1 + 0 + 1) / 3, (0.5 + 0) / 2
    # success: 20 of 21 (the failure counts 0); spl: 0.5, 0 (failed), 18 x 0.25 -> 5 / 20 (inf is skipped)
    assert re.fullmatch(r"\[21/21\] success 0\.952  spl 0\.250  elapsed \d+s  eta 0s", shown[-1]), shown[-1]


def test_a_terminal_gets_a_live_bar() -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    done = [{"episode_id": "a", "joint_type_accuracy": 1.0, "part_iou": 0.5, "error": None}]
    with ProgressReporter("sfa", 3, done, console) as progress:
        assert progress.bar is not None
        task = progress.bar.tasks[0]                  # what was done before starts the bar
        assert (task.completed, task.total, task.description) == (1, 3, "sfa")
        assert task.fields["stats"] == "joint_type_accuracy 1.000  part_iou 0.500"
        progress.update({"episode_id": "b", "joint_type_accuracy": 0.0, "part_iou": 0.7, "error": None})
        assert task.completed == 2
        assert task.fields["stats"] == "joint_type_accuracy 0.500  part_iou 0.600"
    assert progress.bar.finished is False and not progress.bar.live.is_started
    # the last frame drawn: name, bar, done/total, elapsed, ETA, the running means
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue()).replace("\r", "\n").splitlines()
    last = [f for f in frames if f.strip()][-1]
    assert re.fullmatch(r"sfa [━╸ ]+ 2/3 0:00:0\d ETA (-:--:--|0:00:\d\d) joint_type_accuracy 0\.500  "
                        r"part_iou 0\.600\s*", last), last
    # nothing left to run, or bar=False: plain lines, no bar
    assert ProgressReporter("sfa", 1, done, console).bar is None
    assert ProgressReporter("sfa", 3, done, console, bar=False).bar is None


def test_progress_lines_time_the_run_and_stay_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """elapsed = now - start; eta = elapsed / new episodes * episodes left. A line per episode when
    the run has fewer than 20; plain (no colour codes) and unwrapped, even on a narrow colour
    terminal with bar=False."""
    clock = iter([100.0, 104.0, 110.0, 121.0])
    monkeypatch.setattr("embodied.results.time.perf_counter", lambda: next(clock))
    console = Console(file=io.StringIO(), width=20, force_terminal=True, color_system="standard")
    progress = ProgressReporter("nav", 4, [], console, bar=False)
    assert progress.every == 1
    for i in range(3):
        progress.update({"episode_id": str(i), "success": True, "spl": 0.5, "error": None})
    assert console.file.getvalue().splitlines() == [
        "[1/4] success 1.000  spl 0.500  elapsed 4s  eta 12s",     # 4 s for 1: 3 left -> 12 s
        "[2/4] success 1.000  spl 0.500  elapsed 10s  eta 10s",    # 10 s for 2: 2 left -> 10 s
        "[3/4] success 1.000  spl 0.500  elapsed 21s  eta 7s"]     # 21 s for 3: 1 left -> 7 s


def test_a_long_category_name_folds_at_24_characters_and_category_only_metrics_leave_gaps() -> None:
    """Long names wrap (a category column keeps at least 24 characters, so numbers keep their
    room); a metric only some category reports has an empty cell in the rows without it."""
    s = {"episodes": 2, "metrics": {"spl": 0.5},
         "per_category": {"a_category_with_a_long_name": {"episodes": 2, "spl": 0.5, "extra": 2.0}}}
    assert printed(s, 60, terminal=True) == """\
2 episodes, 0 failed
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━┳━━━━━━━┓
┃ category                    ┃ episodes ┃   spl ┃ extra ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━╇━━━━━━━┩
│ all                         │        2 │ 0.500 │       │
├─────────────────────────────┼──────────┼───────┼───────┤
│ a_category_with_a_long_name │        2 │ 0.500 │ 2.000 │
└─────────────────────────────┴──────────┴───────┴───────┘
"""
    narrow = printed(s, 45, terminal=True).splitlines()
    assert narrow[6:8] == ["│ a_category_with_a_long_n │        2 │ 0.500",
                           "│ ame                      │          │"]


def test_retried_and_failure_causes_in_the_summary_and_its_print() -> None:
    """`retried` counts episodes needing more than one attempt (a missing count is one attempt);
    SfA's failure causes are summed and printed on one plain line, zero causes left out."""
    import io

    from rich.console import Console

    from embodied.results import print_summary, summarize

    recs = [{"episode_id": "a", "success": True, "attempts": 1, "failures": {"ok": 2, "no motion": 0}},
            {"episode_id": "b", "success": True, "attempts": 3, "failures": {"ok": 1, "no motion": 1}},
            {"episode_id": "c", "success": False, "attempts": 2},
            {"episode_id": "d", "success": True}]
    summary = summarize(recs)
    assert summary["retried"] == 2 and summary["failures"] == {"ok": 3, "no motion": 1}
    console = Console(file=io.StringIO(), width=40, force_terminal=True, color_system="standard")
    print_summary(summary, console)
    text = console.file.getvalue()
    line = "what became of the true parts: ok 3, no motion 1"
    assert line in text                                       # one line although wider than 40 columns
    assert "\x1b" not in text[text.index(line):]             # not highlighted: plain numbers
    quiet = Console(file=io.StringIO(), width=200)
    print_summary(summarize([{"episode_id": "x", "success": True, "failures": {"ok": 0}}]), quiet)
    assert "what became" not in quiet.file.getvalue()
