"""The runner: outputs, resume after kill -9, fault isolation, determinism across worker counts."""
from __future__ import annotations

import io

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from embodied.cli import main
from embodied.config import ConfigError, load_config
from embodied.results import EpisodeLog, read_records, summarize
from embodied.runner import RunError, episode_seed, run_experiment
from tests.conftest import cli_env, records, toy_config, without_seconds
from tests.toy import ToyWalkEnv

N = 12  # episodes in the toy "val" split


def run(path: Path, *overrides: str) -> dict:
    return run_experiment(toy_config(path, *overrides))


def test_episode_seed_is_a_stable_hash_of_run_seed_and_episode_id() -> None:
    assert episode_seed(0, "val-000") == 3962074996  # fixed forever: changing it changes every result
    assert episode_seed(0, "val-000") != episode_seed(1, "val-000") != episode_seed(0, "val-001")
    assert 0 <= episode_seed(123, "x" * 100) < 2**32


def test_a_run_writes_config_records_and_summary(toy_yaml: Path) -> None:
    out = toy_yaml.parent / "out"
    summary = run(toy_yaml)
    assert load_config(out / "config.yaml") == toy_config(toy_yaml)  # the resolved config, reloadable
    recs = records(out)
    assert sorted(recs) == [f"val-{i:03d}" for i in range(N)]
    first = recs["val-000"]
    assert list(first)[:2] == ["episode_id", "category"]
    for key in ("success", "spl", "soft_spl", "distance_to_goal", "path_length", "shortest_path_length",
                "steps", "seconds", "error", "attempts", "renderer"):
        assert key in first
    assert first["error"] is None and first["attempts"] == 1 and first["renderer"] == "toy"
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["episodes"] == N and summary["failed"] == 0
    assert summary["metrics"]["spl"] == pytest.approx(np.mean([r["spl"] for r in recs.values()]))
    assert set(summary["per_category"]) == {"near", "far"}
    assert summary["per_category"]["far"]["episodes"] == N // 2
    # Running again resumes: nothing is redone, nothing duplicated, same summary.
    assert without_seconds(run(toy_yaml)) == without_seconds(summary)
    assert len((out / "episodes.jsonl").read_text().splitlines()) == N


def test_same_records_with_one_or_two_workers(toy_yaml: Path, tmp_path: Path) -> None:
    faults = ["env.fail_on=[val-002]", "env.flaky_on=[val-005]"]
    ToyWalkEnv._flaky_seen.clear()  # flaky_on fails once per process; this process may have seen it
    s1 = run(toy_yaml, *faults, f"run.output={tmp_path / 'w1'}")
    s2 = run(toy_yaml, *faults, f"run.output={tmp_path / 'w2'}", "run.workers=2")
    r1, r2 = records(tmp_path / "w1"), records(tmp_path / "w2")
    assert without_seconds(r1) == without_seconds(r2)
    assert without_seconds(s1) == without_seconds(s2)
    assert r1["val-005"]["error"] is None and r1["val-005"]["attempts"] == 2  # retried with a fresh env
    assert len({r["spl"] for r in r1.values()}) > 3  # the toy's metrics really vary by episode


def test_a_crashing_episode_is_recorded_and_the_run_goes_on(toy_yaml: Path) -> None:
    summary = run(toy_yaml, "env.fail_on=[val-002]")
    rec = records(toy_yaml.parent / "out")["val-002"]
    assert rec["error"].startswith("RuntimeError: injected failure in val-002\n")
    assert "toy.py" in rec["error"]  # a short traceback says where
    assert rec["attempts"] == 2 and rec["success"] is False and rec["spl"] == 0.0
    assert rec["category"] == "near"
    assert summary["episodes"] == N and summary["failed"] == 1
    ok = [r for r in records(toy_yaml.parent / "out").values() if r["error"] is None]
    assert summary["metrics"]["success"] == pytest.approx(sum(r["success"] for r in ok) / N)
    assert summary["metrics"]["path_length"] == pytest.approx(np.mean([r["path_length"] for r in ok]))


def test_a_worker_killed_mid_episode_is_survived(toy_yaml: Path, tmp_path: Path) -> None:
    ref = records_of_clean_run(toy_yaml, tmp_path)
    summary = run(toy_yaml, "run.workers=2", "env.crash_on=[val-001]", "env.crash_once_on=[val-004]",
                  f"env.marker_dir={tmp_path}")
    recs = records(toy_yaml.parent / "out")
    assert len(recs) == N and summary["failed"] == 1
    crashed = recs["val-001"]
    assert crashed["error"].startswith("WorkerCrashed: the worker process died during this episode (exit code 3)")
    assert crashed["attempts"] == 2
    # Crashed once, then ran in the replacement worker exactly as it would have without the crash.
    assert recs["val-004"]["attempts"] == 2
    assert without_seconds({**recs["val-004"], "attempts": 1}) == without_seconds(ref["val-004"])


def records_of_clean_run(toy_yaml: Path, tmp_path: Path, *overrides: str) -> dict:
    run(toy_yaml, f"run.output={tmp_path / 'clean'}", *overrides)
    return records(tmp_path / "clean")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(toy_yaml: Path, tmp_path: Path,
                                                                  workers: int) -> None:
    overrides = [f"run.workers={workers}", "env.step_delay=0.01"]
    out = toy_yaml.parent / "out"
    proc = subprocess.Popen([sys.executable, "-m", "embodied.cli", "run", str(toy_yaml), *overrides],
                            cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = out / "episodes.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_text().count("\n") >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    done = log.read_text().count("\n")
    assert 3 <= done < N
    with open(log, "a") as f:
        f.write('{"episode_id": "val-0')  # as if killed in the middle of writing a line
    resumed = subprocess.run([sys.executable, "-m", "embodied.cli", "run", str(toy_yaml), *overrides],
                             cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} of {N} episodes already done" in resumed.stdout
    assert "dropped 1 incomplete line" in resumed.stderr
    ref = records_of_clean_run(toy_yaml, tmp_path, *overrides)
    assert without_seconds(records(out)) == without_seconds(ref)  # exactly N, none twice, none lost
    clean_summary = json.loads((tmp_path / "clean" / "summary.json").read_text())
    assert without_seconds(json.loads((out / "summary.json").read_text())) == without_seconds(clean_summary)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_env_that_cannot_be_built_stops_the_run(toy_yaml: Path, workers: int) -> None:
    with pytest.raises(RunError, match="cannot build env 'embodied/ToyWalk-v0' and agent 'toy_greedy': "
                                       "RuntimeError: injected: the simulator does not start"):
        run(toy_yaml, "env.fail_build=true", f"run.workers={workers}")
    assert (toy_yaml.parent / "out" / "episodes.jsonl").read_text() == ""  # no episode charged with it


def test_workers_that_die_while_building_end_the_run_instead_of_hanging(toy_yaml: Path) -> None:
    with pytest.raises(RunError, match=r"worker processes keep dying while building .* \(exit code 4\)"):
        run(toy_yaml, "env.crash_build=true", "run.workers=2")


def test_a_different_config_refuses_to_resume_but_workers_may_change(toy_yaml: Path) -> None:
    run(toy_yaml, "env.episodes=4")
    with pytest.raises(ConfigError) as info:
        run(toy_yaml, "env.episodes=4", "agent.epsilon=0.3")
    msg = str(info.value)
    assert msg.startswith(f"run.output: {toy_yaml.parent / 'out'} holds a run of a different config")
    assert "agent.epsilon: 0.1 -> 0.3" in msg and "run.output=" in msg
    assert run(toy_yaml, "env.episodes=4", "run.workers=2")["episodes"] == 4


def test_two_runs_cannot_share_an_output_folder(toy_yaml: Path) -> None:
    import fcntl

    out = toy_yaml.parent / "out"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running experiment holds it
        with pytest.raises(ConfigError, match=r"^run.output: .* is in use by another running experiment"):
            run(toy_yaml)
    assert run(toy_yaml)["episodes"] == N  # released (a killed run releases it too: the OS drops it)


def test_a_bad_dataset_fails_before_any_episode(toy_yaml: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(ConfigError, match="^env.split: "):
        run(toy_yaml, f"env.split={tmp_path / 'bad.json'}")
    assert not (toy_yaml.parent / "out").exists()  # a refused run leaves no trace


def test_a_privileged_agent_gets_a_privileged_env(toy_yaml: Path) -> None:
    summary = run(toy_yaml, "agent.id=toy_oracle", "env.slip_range=[0, 0]")
    assert summary["failed"] == 0 and summary["metrics"]["spl"] == 1.0


def test_video_and_plot_hooks(toy_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, list] = {"video": [], "plot": []}
    fake = types.ModuleType("embodied.viz")
    fake.write_episode_video = lambda frames, path: calls["video"].append((list(frames), Path(path)))
    fake.plot_summary = lambda summary, out_dir: calls["plot"].append((summary, Path(out_dir)))
    monkeypatch.setitem(sys.modules, "embodied.viz", fake)
    summary = run(toy_yaml, "run.save_video=true", "env.episodes=2")
    out = toy_yaml.parent / "out"
    assert [path for _, path in calls["video"]] == [out / "videos" / "val-000.mp4", out / "videos" / "val-001.mp4"]
    frames, _ = calls["video"][0]
    assert len(frames) == records(out)["val-000"]["steps"] + 1  # one per action, plus the final state
    assert frames[0].shape == (8, 36, 3)  # the env's render beside the agent's debug_frame()
    assert calls["plot"] == [(summary, out)]


def test_episodes_jsonl_drops_a_truncated_tail_and_keeps_complete_records(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text('{"episode_id": "a", "success": true}\n{"episode_id": "b", "success": false}\n'
                    '{"episode_id": "a", "success": false}\n{"episode_id": "c", "succ')
    with EpisodeLog(path) as log:
        assert [r["episode_id"] for r in log.records] == ["a", "b"] and log.dropped == 2
        log.append({"episode_id": "c", "success": np.bool_(True), "spl": np.float32(0.5)})
    assert path.read_text().splitlines()[-1] == '{"episode_id": "c", "success": true, "spl": 0.5}'
    assert [r["episode_id"] for r in read_records(path)] == ["a", "b", "c"]
    path.write_text(path.read_text().rstrip("\n"))  # cut just before the newline: still a whole record
    assert [r["episode_id"] for r in EpisodeLog(path).records] == ["a", "b", "c"]


def test_summary_counts_failures_as_zero_and_groups_by_category() -> None:
    recs = [
        {"episode_id": "1", "category": "Mug", "success": True, "spl": 0.8, "distance_to_goal": 0.5, "error": None},
        {"episode_id": "2", "category": "Mug", "success": False, "spl": 0.0, "distance_to_goal": 2.5, "error": None},
        {"episode_id": "3", "category": "Vase", "error": "RuntimeError: boom", "success": True, "spl": 0.9},
        {"episode_id": "4", "success": True, "spl": 1.0, "distance_to_goal": float("nan"), "error": None},
    ]
    s = summarize(recs)
    assert s["episodes"] == 4 and s["failed"] == 1
    assert s["metrics"]["success"] == pytest.approx(2 / 4) and s["metrics"]["spl"] == pytest.approx(1.8 / 4)
    assert s["metrics"]["distance_to_goal"] == pytest.approx(1.5)  # NaN and the failure do not count
    assert "soft_spl" not in s["metrics"]  # no successful episode reports it: not invented by failures
    assert s["per_category"] == {"Mug": {"episodes": 2, "success": 0.5, "spl": 0.4, "distance_to_goal": 1.5},
                                 "Vase": {"episodes": 1, "success": 0.0, "spl": 0.0}}
    # medians: spl over 0.8, 0 (failed as zero), 0, 1.0 -> 0.4; distance over 0.5, 2.5 -> 1.5
    assert s["medians"]["spl"] == pytest.approx(0.4) and s["medians"]["distance_to_goal"] == 1.5
    assert s["medians"]["success"] == 0.5


def test_progress_line_shows_the_tasks_headline_metrics() -> None:
    from rich.console import Console

    from embodied.results import ProgressReporter, headline_metrics

    sfa = [{"episode_id": "a", "joint_type_accuracy": 1.0, "part_iou": 0.5, "error": None},
           {"episode_id": "b", "joint_type_accuracy": 0.5, "part_iou": 0.7, "error": None}]
    progress = ProgressReporter("sfa", 3, sfa, Console(file=io.StringIO()), bar=False)
    assert progress._stats() == "joint_type_accuracy 0.750  part_iou 0.600"
    nav = [{"episode_id": "a", "success": True, "spl": 0.5, "error": None},
           {"episode_id": "b", "error": "boom"}]
    assert ProgressReporter("nav", 2, nav, Console(file=io.StringIO()), bar=False)._stats() == \
        "success 0.500  spl 0.250"
    assert headline_metrics(["steps", "part_iou", "axis_angle_error_deg"]) == \
        ["part_iou", "axis_angle_error_deg"]


def test_cli_run_show_and_generate(toy_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dataset = tmp_path / "mini.json"
    assert main(["episodes", "generate", "--env", "embodied/ToyWalk-v0", "--split", "mini", "--out",
                 str(dataset), "--episodes", "3", "--import", "tests.toy", "max_steps=20"]) == 0
    assert len(json.loads(dataset.read_text())["episodes"]) == 3
    assert main(["run", str(toy_yaml), f"env.split={dataset}"]) == 0
    assert "results: " in capsys.readouterr().out
    assert main(["show", str(toy_yaml.parent / "out")]) == 0
    shown = capsys.readouterr().out
    assert "3 episodes, 0 failed" in shown and "near" in shown and "spl" in shown
    assert main(["list", "--import", "tests.toy"]) == 0
    assert "embodied/ToyWalk-v0" in capsys.readouterr().out
    assert main(["episodes", "generate", "--env", "embodied/ToyWalk-v0", "--split", "mini", "foo=1"]) == 2
    assert capsys.readouterr().err.startswith("error: env.foo: unknown key")


def test_the_backend_picks_the_device_check_the_session_and_the_episode_loop(
        tmp_path: Path, toy_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run.backend=ray: no local device check (the cluster's workers must have the device, which
    ray_session checks), the Ray session is entered before any episode and run_ray runs them;
    run.backend=local: the device is checked here, before anything is written. Ray itself is
    replaced by stand-ins that record their calls (tests/test_ray_backend.py runs the real one)."""
    import contextlib

    import embodied.ray_backend as ray_backend
    import embodied.runner as runner

    calls: list[tuple[str, object]] = []

    @contextlib.contextmanager
    def session(cfg):  # stand-in for ray_backend.ray_session
        calls.append(("session", cfg.run.backend))
        yield

    def run_ray(cfg, todo):  # stand-in for ray_backend.run_ray: the serial loop, recorded
        calls.append(("run", len(todo)))
        yield from runner._run_serial(cfg, todo)

    monkeypatch.setattr(ray_backend, "ray_session", session)
    monkeypatch.setattr(ray_backend, "run_ray", run_ray)
    missing = "cuda:99"                                 # a GPU no machine here has
    cfg = toy_config(toy_yaml, "run.backend=ray", f"run.device={missing}", "run.gpus_per_worker=1")
    summary = run_experiment(cfg)
    assert calls == [("session", "ray"), ("run", summary["episodes"])] and summary["failed"] == 0
    local = tmp_path / "local"
    with pytest.raises(ConfigError, match="run.device"):
        run_experiment(toy_config(toy_yaml, f"run.device={missing}", f"run.output={local}"))
    assert not local.exists() and len(calls) == 2
