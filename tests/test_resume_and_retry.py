"""The README's run promises, in-process on the toy env: resume after a cut line (finished episodes
are neither lost nor redone), `run.retries` other than the default, `run.seed` changing the episodes'
randomness, and the exit codes of `embodied run` (1 when the run itself fails)."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from embodied import registry
from embodied.cli import main
from embodied.config import ConfigError
from embodied.preflight import finished_summary
from embodied.runner import _after_death, run_experiment
from tests.conftest import cli_env, records, toy_config, without_seconds
from tests.toy import ToyWalkEnv

N = 12  # episodes in the toy "val" split


def run(path: Path, *overrides: str) -> tuple[dict, str]:
    """Run the toy experiment in-process: (summary, what it printed)."""
    console = Console(file=io.StringIO(), width=200)
    summary = run_experiment(toy_config(path, *overrides), console=console)
    return summary, console.file.getvalue()


@pytest.fixture
def clean(toy_yaml: Path, tmp_path: Path) -> tuple[dict, dict]:
    """(records, summary) of an uninterrupted run of the toy experiment, for comparison."""
    summary, _ = run(toy_yaml, f"run.output={tmp_path / 'clean'}")
    return records(tmp_path / "clean"), summary


# ------------------------------------------------------------------------------ resume
@pytest.mark.parametrize("tail", ['{"episode_id": "val-0', ""], ids=["cut-mid-line", "cut-before-newline"])
def test_a_resumed_run_redoes_only_what_was_not_finished(toy_yaml: Path, clean: tuple, tail: str,
                                                         capsys: pytest.CaptureFixture) -> None:
    """As after kill -9: five records on disk, then either a fragment of the sixth or nothing more
    but without the fifth's newline. The resumed run must end with the clean run's twelve
    records, the first five untouched (not redone), each line whole."""
    out = toy_yaml.parent / "out"
    run(toy_yaml)
    kept = (out / "episodes.jsonl").read_text().splitlines(keepends=True)[:5]
    (out / "episodes.jsonl").write_text("".join(kept) + tail if tail else "".join(kept).rstrip("\n"))
    (out / "summary.json").unlink()
    summary, printed = run(toy_yaml)
    assert f"resuming {out}: 5 of {N} episodes already done" in printed
    warned = capsys.readouterr().err
    assert ("dropped 1 incomplete line(s)" in warned) == bool(tail)
    text = (out / "episodes.jsonl").read_text()
    assert text.startswith("".join(kept))                  # the finished five, byte for byte
    assert len(text.splitlines()) == N and all(json.loads(line) for line in text.splitlines())
    ref_records, ref_summary = clean
    assert without_seconds(records(out)) == without_seconds(ref_records)
    assert without_seconds(summary) == without_seconds(ref_summary)
    assert json.loads((out / "summary.json").read_text()) == summary


def test_records_of_other_episodes_in_the_folder_do_not_count(toy_yaml: Path, clean: tuple) -> None:
    """A record whose episode is not in this run's split (left by hand, or by a dataset edit) stays
    in the file but is neither counted nor summarised."""
    out = toy_yaml.parent / "out"
    out.mkdir()
    stray = {"episode_id": "val-999", "category": "near", "success": True, "spl": 1.0, "error": None}
    (out / "episodes.jsonl").write_text(json.dumps(stray) + "\n")
    summary, printed = run(toy_yaml)
    assert "resuming" not in printed                       # nothing of this split was done
    assert summary["episodes"] == N
    assert without_seconds(summary) == without_seconds(clean[1])
    assert json.loads((out / "episodes.jsonl").read_text().splitlines()[0]) == stray


def test_a_finished_run_is_shown_not_rerun_unless_its_summary_is_stale(toy_yaml: Path) -> None:
    out = toy_yaml.parent / "out"
    first, _ = run(toy_yaml)
    log = (out / "episodes.jsonl").read_bytes()
    episodes = registry.list_episodes(toy_config(toy_yaml).env)
    assert finished_summary(out, episodes) == first
    again, printed = run(toy_yaml)
    assert f"{out}: all {N} episodes already done" in printed and again == first
    # a summary that is not the summary of the records (edited, or from an older version) is
    # rebuilt from them; no episode runs again
    stale = dict(first, failed=5)
    (out / "summary.json").write_text(json.dumps(stale))
    assert finished_summary(out, episodes) is None
    rebuilt, printed = run(toy_yaml)
    assert f"all {N} episodes already done" not in printed
    assert f"resuming {out}: {N} of {N} episodes already done" in printed
    assert (out / "episodes.jsonl").read_bytes() == log and without_seconds(rebuilt) == without_seconds(first)
    # not finished: an episode without a record, or no config.yaml (not this runner's folder)
    assert finished_summary(out, episodes + [{"episode_id": "val-012"}]) is None
    (out / "config.yaml").unlink()
    assert finished_summary(out, episodes) is None
    (out / "summary.json").write_text("{broken")
    assert finished_summary(out, episodes) is None


def test_resume_accepts_other_workers_progress_and_output_but_not_a_broken_config(toy_yaml: Path,
                                                                                   tmp_path: Path) -> None:
    out = toy_yaml.parent / "out"
    run(toy_yaml, "env.episodes=3")
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    summary, printed = run(toy_yaml, "env.episodes=3", "run.progress=true", f"run.output={moved}")
    assert summary["episodes"] == 3 and "already done" in printed
    (out / "config.yaml").write_text("env: [not, a, mapping")
    with pytest.raises(ConfigError, match=rf"^run.output: {out / 'config.yaml'} cannot be read"):
        run(toy_yaml, "env.episodes=3")


# ------------------------------------------------------------------------------ retries
@pytest.mark.parametrize("retries", [0, 2])
def test_run_retries_sets_the_attempts_each_with_a_fresh_env(toy_yaml: Path, retries: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """val-000 always raises, val-001 raises on its first attempt only: with run.retries = r every
    episode gets 1 + r attempts, each after building the env and agent again."""
    builds: list[str] = []
    make_env = registry.make_env
    monkeypatch.setattr(registry, "make_env", lambda cfg, **kw: (builds.append("env"), make_env(cfg, **kw))[1])
    ToyWalkEnv._flaky_seen.clear()
    summary, _ = run(toy_yaml, "env.episodes=3", "env.fail_on=[val-000]", "env.flaky_on=[val-001]",
                     f"run.retries={retries}")
    recs = records(toy_yaml.parent / "out")
    failed = recs["val-000"]
    assert failed["attempts"] == 1 + retries
    assert failed["error"].startswith("RuntimeError: injected failure in val-000\n")
    assert {k: failed[k] for k in ("category", "success", "spl", "soft_spl", "steps")} == \
        {"category": "near", "success": False, "spl": 0.0, "soft_spl": 0.0, "steps": 0}
    assert failed["seconds"] >= 0 and failed["seconds"] == round(failed["seconds"], 3)
    flaky = recs["val-001"]
    if retries == 0:      # no second chance: the flaky failure is what is recorded
        assert flaky["attempts"] == 1 and flaky["error"].startswith("RuntimeError: injected flaky failure")
        assert summary["failed"] == 2
    else:
        assert flaky["attempts"] == 2 and flaky["error"] is None
        assert summary["failed"] == 1
    assert recs["val-002"]["attempts"] == 1 and recs["val-002"]["error"] is None
    # a build for every attempt after a failure: r = 0: val-000 1, val-001 1, val-002 1 (its
    # predecessor failed) = 3; r = 2: val-000 3, val-001 2, val-002 0 (reuses val-001's) = 5
    assert len(builds) == {0: 3, 2: 5}[retries]


def worker(task, ready: bool = True, exitcode: int = 3) -> SimpleNamespace:
    """What _after_death reads of a dead worker (a stand-in for runner._Worker)."""
    stops: list[bool] = []
    return SimpleNamespace(task=task, ready=ready, started=0.0, stops=stops,
                           stop=lambda graceful: stops.append(graceful),
                           proc=SimpleNamespace(exitcode=exitcode))


def test_a_worker_dying_mid_episode_costs_that_episode_one_attempt() -> None:
    spec = {"episode_id": "val-004", "category": "near"}
    crashed = "WorkerCrashed: the worker process died during this episode (exit code 3)"
    # attempts left: back to the front of the queue, one attempt and the time spent charged to it
    pending: deque = deque([({"episode_id": "other"}, 0, 0.0, None)])
    w = worker((spec, 0, 1.5, None))
    assert _after_death(w, pending, max_attempts=2) is None
    again, prior, seconds, error = pending[0]
    assert (again, prior, error) == (spec, 1, crashed) and seconds > 1.5 and len(pending) == 2
    assert w.stops == [False]                             # killed, not asked to finish
    # none left: the failure record, attempts = max
    record = _after_death(worker((spec, 1, 2.0, crashed), exitcode=-9), deque(), max_attempts=2)
    assert record["error"] == crashed.replace("exit code 3", "killed by SIGKILL")
    assert (record["attempts"], record["success"], record["spl"], record["category"]) == (2, False, 0.0, "near")
    # a worker that died while building never started its episode: no attempt charged
    pending = deque()
    assert _after_death(worker((spec, 1, 2.0, "x"), ready=False), pending, max_attempts=2) is None
    assert list(pending) == [(spec, 1, 2.0, "x")]
    # nothing assigned: nothing to do
    pending = deque()
    assert _after_death(worker(None), pending, max_attempts=2) is None and not pending


# ------------------------------------------------------------------------------ seeds
def test_run_seed_changes_the_episodes_randomness_and_nothing_else(toy_yaml: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[int, dict[str, int]] = {}
    reset = ToyWalkEnv.reset

    def recording_reset(self, *, seed=None, options=None):
        seen.setdefault(current, {})[options["episode"]["episode_id"]] = seed
        return reset(self, seed=seed, options=options)

    monkeypatch.setattr(ToyWalkEnv, "reset", recording_reset)
    recs = {}
    for current, folder in ((0, "s0"), (1, "s1"), (1, "s1-again")):
        run(toy_yaml, f"run.seed={current}", f"run.output={tmp_path / folder}")
        recs[folder] = without_seconds(records(tmp_path / folder))
    # each episode's seed is the first 4 bytes (big-endian) of SHA-256("<run.seed>\0<episode_id>")
    for s in (0, 1):
        assert seen[s] == {f"val-{i:03d}": int.from_bytes(
            hashlib.sha256(f"{s}\x00val-{i:03d}".encode()).digest()[:4], "big") for i in range(N)}
    assert recs["s1"] == recs["s1-again"]                  # same seed: the same episodes, exactly
    changed = [e for e in recs["s0"] if recs["s0"][e] != recs["s1"][e]]
    assert len(changed) >= N // 2, changed                 # another seed: other slips and moves
    assert [r["category"] for r in recs["s0"].values()] == [r["category"] for r in recs["s1"].values()]


# ------------------------------------------------------------------------------ exit codes
def test_a_run_that_cannot_go_on_exits_1_with_one_line(toy_yaml: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", str(toy_yaml), "env.fail_build=true"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot build env 'embodied/ToyWalk-v0' and agent 'toy_greedy': ")
    assert "Traceback" not in err


def test_a_bug_exits_1_with_its_traceback(toy_yaml: Path, capsys: pytest.CaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import embodied.runner

    def broken(cfg, console=None):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(embodied.runner, "run_experiment", broken)
    assert main(["run", str(toy_yaml)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "ZeroDivisionError: a bug" in err


def test_ctrl_c_exits_130_and_says_how_to_resume(toy_yaml: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import embodied.runner

    def interrupted(cfg, console=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(embodied.runner, "run_experiment", interrupted)
    assert main(["run", str(toy_yaml)]) == 130
    assert capsys.readouterr().err == "interrupted; run the same command again to resume\n"


def test_failed_episodes_do_not_fail_the_run(toy_yaml: Path, capsys: pytest.CaptureFixture) -> None:
    """An episode that raises is the agent's or the simulator's failure, scored 0: the run itself
    succeeded (exit 0); the results line says how many failed."""
    assert main(["run", str(toy_yaml), "env.episodes=3", "env.fail_on=[val-001]"]) == 0
    assert f"results: {toy_yaml.parent / 'out'} (3 episodes, 1 failed)" in capsys.readouterr().out


def test_the_console_script_exits_1_when_the_run_fails(toy_yaml: Path, tmp_path: Path) -> None:
    """The same through `python -m embodied.cli` (what the `embodied` script runs): the process's
    exit status, not only main()'s return value."""
    done = subprocess.run([sys.executable, "-m", "embodied.cli", "run", str(toy_yaml), "env.fail_build=true"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: cannot build env") and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------ the records themselves
def test_a_failure_record_counts_as_zero_in_plain_json_types() -> None:
    from embodied.runner import failure_record

    record = failure_record({"episode_id": "e", "category": "Mug", "goal": 3}, "boom", 2, 1.23456, 7)
    assert record == {"episode_id": "e", "category": "Mug", "success": False, "spl": 0.0, "soft_spl": 0.0,
                      "steps": 7, "seconds": 1.235, "error": "boom", "attempts": 2}
    assert [type(record[k]) for k in ("success", "spl", "soft_spl")] == [bool, float, float]
    assert list(record) == ["episode_id", "category", "success", "spl", "soft_spl", "steps", "seconds",
                            "error", "attempts"]
    assert "category" not in failure_record({"episode_id": "e"}, "boom", 1, 0.0, 0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A wall clock that only moves when an episode resets (by 0.123456 s), so `seconds` is exact."""
    now = {"t": 1000.0}
    monkeypatch.setattr("time.perf_counter", lambda: now["t"])
    reset = ToyWalkEnv.reset

    def slow_reset(self, *, seed=None, options=None):
        now["t"] += 0.123456
        return reset(self, seed=seed, options=options)

    monkeypatch.setattr(ToyWalkEnv, "reset", slow_reset)
    return now


def test_seconds_are_the_episodes_own_time_rounded_to_milliseconds(toy_yaml: Path, clock: dict) -> None:
    run(toy_yaml, "env.episodes=2", "env.fail_on=[val-001]", "run.retries=1")
    recs = records(toy_yaml.parent / "out")
    assert recs["val-000"]["seconds"] == 0.123            # one attempt
    assert recs["val-001"]["seconds"] == 0.247            # two failed attempts, 0.246912 s together


def test_what_the_agent_is_told_and_what_a_record_holds_when_the_env_says_little(
        toy_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner, not the env, vouches for episode_id, category (from the episode spec), seed and
    output_dir: an env whose info carries none of them, and no metrics or record extras."""
    told: list[dict] = []
    reset, step = ToyWalkEnv.reset, ToyWalkEnv.step
    agent_reset = __import__("tests.toy", fromlist=["ToyAgent"]).ToyAgent.reset

    def bare_reset(self, *, seed=None, options=None):
        obs, info = reset(self, seed=seed, options=options)
        return obs, {"goal": info["goal"]}

    def bare_step(self, action):
        obs, reward, term, trunc, info = step(self, action)
        return obs, reward, term, trunc, {}

    monkeypatch.setattr(ToyWalkEnv, "reset", bare_reset)
    monkeypatch.setattr(ToyWalkEnv, "step", bare_step)
    monkeypatch.setattr("tests.toy.ToyAgent.reset", lambda self, info: (told.append(dict(info)), agent_reset(self, info)))
    run(toy_yaml, "env.episodes=1", "env.max_steps=3", "agent.epsilon=0.0")
    out = toy_yaml.parent / "out"
    assert told == [{"episode_id": "val-000", "goal": 2,
                     "seed": int.from_bytes(hashlib.sha256(b"0\x00val-000").digest()[:4], "big"),
                     "output_dir": str(out)}]
    record = records(out)["val-000"]
    assert list(record) == ["episode_id", "category", "steps", "seconds", "error", "attempts"]
    assert record["category"] == "near" and record["steps"] >= 1 and type(record["seconds"]) is float


def test_record_keys_come_in_the_documented_order(toy_yaml: Path) -> None:
    run(toy_yaml, "env.episodes=1")
    assert list(records(toy_yaml.parent / "out")["val-000"]) == [
        "episode_id", "category", "success", "spl", "soft_spl", "distance_to_goal", "path_length",
        "shortest_path_length", "steps", "seconds", "error", "attempts", "renderer"]


def test_an_episode_with_no_attempt_left_keeps_the_last_error(toy_yaml: Path) -> None:
    """A worker that died with the episode's last attempt hands it over with nothing left to try:
    the record says so, with the attempts and time already spent."""
    from embodied.runner import EpisodeRunner

    runner = EpisodeRunner(toy_config(toy_yaml, "run.retries=1"))
    spec = {"episode_id": "val-003", "category": "far", "goal": 7}
    record = runner.run(spec, prior_attempts=2, prior_seconds=1.5, prior_error="WorkerCrashed: x")
    assert (record["error"], record["attempts"], record["seconds"]) == ("WorkerCrashed: x", 2, 1.5)
    assert runner.run(spec, prior_attempts=2)["error"] == "no attempt left"
    assert runner.env is None                              # nothing was built for it


def test_a_worker_dying_charges_the_time_it_held_the_episode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("embodied.runner.time.perf_counter", lambda: 10.0)
    spec = {"episode_id": "val-004"}
    w = worker((spec, 0, 1.5, None))
    w.started = 9.0
    pending: deque = deque()
    _after_death(w, pending, max_attempts=3)
    assert pending[0][2] == 2.5                            # 1.5 s before + 1.0 s in the dead worker
    record = _after_death(worker((spec, 2, 2.5, "x")), deque(), max_attempts=3)
    assert (record["steps"], record["attempts"]) == (0, 3)


# ------------------------------------------------------------------------------ what a run prints
def test_the_run_prints_one_unwrapped_plain_line_per_message_and_its_table(toy_yaml: Path) -> None:
    """Status lines stay whole and uncoloured even on a narrow colour terminal (they are read in
    logs and grepped); the summary table goes to the same console, titled with the run."""
    out = toy_yaml.parent / "out"

    def resumed_and_finished(width: int) -> tuple[str, str]:
        shutil.rmtree(out, ignore_errors=True)
        run_experiment(toy_config(toy_yaml, "env.episodes=3"), console=Console(file=io.StringIO(), width=200))
        (out / "episodes.jsonl").write_text((out / "episodes.jsonl").read_text().splitlines(keepends=True)[0])
        (out / "summary.json").unlink()
        texts = []
        for _ in range(2):
            console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="standard")
            run_experiment(toy_config(toy_yaml, "env.episodes=3"), console=console)
            texts.append(console.file.getvalue())
        return texts[0], texts[1]

    resumed, finished = resumed_and_finished(30)
    assert f"resuming {out}: 1 of 3 episodes already done" in resumed.splitlines()
    assert f"{out}: all 3 episodes already done" in finished.splitlines()
    title = f"toy: 3 episodes, 0 failed ({out})"
    resumed, finished = resumed_and_finished(300)
    for text in (resumed, finished):
        assert re.search(r"\x1b\[3m *" + re.escape(title), text), text   # italic, centred over the table


@pytest.mark.parametrize("progress", [True, False])
def test_run_progress_decides_the_bar_on_a_terminal(toy_yaml: Path, progress: bool) -> None:
    console = Console(file=io.StringIO(), width=200, force_terminal=True, color_system=None)
    run_experiment(toy_config(toy_yaml, "env.episodes=3", f"run.progress={str(progress).lower()}"), console=console)
    text = console.file.getvalue()
    assert ("toy ━" in text or "toy ╸" in text) == progress, text


def test_progress_counts_this_splits_episodes_only(toy_yaml: Path) -> None:
    out = toy_yaml.parent / "out"
    out.mkdir()
    (out / "episodes.jsonl").write_text('{"episode_id": "val-999", "success": true, "error": null}\n')
    _, printed = run(toy_yaml, "env.episodes=3")
    assert "[3/3] " in printed and "[4/3]" not in printed


def test_a_finished_run_draws_its_plot_only_if_missing(toy_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    plots: list = []
    fake = types.ModuleType("embodied.viz")
    fake.plot_summary = lambda summary, out_dir: plots.append((summary, Path(out_dir)))
    monkeypatch.setitem(sys.modules, "embodied.viz", fake)
    out = toy_yaml.parent / "out"
    summary, _ = run(toy_yaml, "env.episodes=2")
    assert plots == [(summary, out)]
    (out / "summary.png").write_bytes(b"png")
    run(toy_yaml, "env.episodes=2")                       # finished, plot there: nothing drawn
    assert len(plots) == 1
    (out / "summary.png").unlink()
    again, printed = run(toy_yaml, "env.episodes=2")      # finished, plot gone: drawn again
    assert "already done" in printed and plots[1] == (again, out)


def test_more_than_one_worker_runs_episodes_in_worker_processes(toy_yaml: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    make_env = registry.make_env
    monkeypatch.setattr(registry, "make_env", lambda cfg, **kw: (built.append("here"), make_env(cfg, **kw))[1])
    summary, _ = run(toy_yaml, "env.episodes=2", "run.workers=2")
    assert summary["episodes"] == 2 and built == []       # no env in this process
    run(toy_yaml, "env.episodes=2", "run.workers=1", f"run.output={toy_yaml.parent / 'serial'}")
    assert built == ["here"]


@pytest.mark.parametrize("changed, shown", [(4, None), (5, "and 1 more"), (6, "and 2 more")])
def test_a_refused_resume_names_four_differences_and_counts_the_rest(toy_yaml: Path, changed: int,
                                                                     shown: str | None) -> None:
    run(toy_yaml, "env.episodes=1")
    changes = {"agent.epsilon=0.3": "agent.epsilon: 0.1 -> 0.3", "env.max_steps=30": "env.max_steps: 40 -> 30",
               "env.step_delay=0.001": "env.step_delay: 0.0 -> 0.001", "run.seed=5": "run.seed: 0 -> 5",
               "run.retries=3": "run.retries: 1 -> 3", "env.mode=hop": "env.mode: 'walk' -> 'hop'"}
    overrides = list(changes)[:changed]
    with pytest.raises(ConfigError) as info:
        run(toy_yaml, "env.episodes=1", *overrides)
    msg = str(info.value)
    listed = msg[msg.index(" config (") + len(" config ("):msg.index("); to resume")].split("; ")
    assert len(listed) == 4 + (shown is not None)
    assert set(listed[:4]) <= {changes[o] for o in overrides}          # four of the differences, as they are
    assert listed[4:] == ([shown] if shown else [])
