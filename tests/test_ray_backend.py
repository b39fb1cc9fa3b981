"""`run.backend: ray` on a real single-node Ray (`ray.init(num_cpus=2)` on 127.0.0.1): the same
records as the local backend for the same seed, a deterministic crash recorded with its error, a
worker process that dies (by itself, or killed with SIGKILL mid-run) survived with every episode
recorded exactly once, a killed driver resumed, and `run.device=cuda` refused before any episode
on a machine without a GPU."""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import require_extra

require_extra("ray", "ray", "EMBODIED_REQUIRE_RAY")

from embodied.config import ConfigError  # noqa: E402
from embodied.runner import run_experiment  # noqa: E402
from tests.conftest import cli_env, records, toy_config, without_seconds  # noqa: E402

N = 12


@pytest.fixture(scope="module")
def ray_session():
    """One Ray instance for the module (about 3 s to start); runs inside reuse it."""
    from embodied.ray_backend import ray_environment

    os.environ.update(ray_environment(None))    # before importing ray: loopback only
    # as tests/ray_cluster.py's nodes: one process must not switch Ray's auth mode between sessions
    # (measured: actors of a later session with another mode die before they start)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    ray.init(address="local", num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield ray
    ray.shutdown()


PRINTED: list[str] = []


def run(path: Path, *overrides: str) -> dict:
    console = Console(file=io.StringIO(), width=200)
    summary = run_experiment(toy_config(path, *overrides), console=console)
    PRINTED.append(console.file.getvalue())
    return summary


def _local_and_ray(toy_yaml: Path, *overrides: str) -> tuple[dict, dict, dict, dict]:
    out = toy_yaml.parent
    local = run(toy_yaml, f"run.output={out / 'local'}", "run.workers=2", *overrides)
    on_ray = run(toy_yaml, f"run.output={out / 'ray'}", "run.workers=2", "run.backend=ray", *overrides)
    return records(out / "local"), local, records(out / "ray"), on_ray


def test_ray_gives_the_local_backends_records(ray_session, toy_yaml: Path) -> None:
    """Same seed, same records (timings aside), whichever worker ran which episode; a deterministic
    crash is recorded with its error on both."""
    rec_local, sum_local, rec_ray, sum_ray = _local_and_ray(toy_yaml, "env.fail_on=[val-003]", "run.seed=7")
    assert len(rec_ray) == N and without_seconds(rec_ray) == without_seconds(rec_local)
    assert rec_ray["val-003"]["error"].startswith("RuntimeError: injected failure in val-003")
    assert rec_ray["val-003"]["attempts"] == 2 and sum_ray["failed"] == 1
    assert without_seconds(sum_ray) == without_seconds(sum_local)
    # the progress report streams as records arrive from the cluster, as on the local backend
    assert "[12/12] success" in PRINTED[-1] and "1 failed" in PRINTED[-1] and "1 retried" in PRINTED[-1]


def test_every_ray_socket_is_on_loopback(ray_session, toy_yaml: Path) -> None:
    import psutil

    from embodied.netcheck import non_loopback_sockets

    run(toy_yaml, f"run.output={toy_yaml.parent / 'ray'}", "run.workers=2", "run.backend=ray", "env.episodes=4")
    pids = [p.pid for p in psutil.process_iter(["cmdline"])
            if any(word in " ".join(p.info["cmdline"] or []) for word in ("ray::", "raylet", "gcs_server", "ray/_private"))]
    assert len(pids) >= 3                                  # gcs, raylet, workers (the agents)
    assert non_loopback_sockets(pids + [os.getpid()]) == []


def test_ray_matches_local_on_the_objectnav_env(ray_session, tmp_path: Path) -> None:
    """The real simulator and a seeded agent: identical per-episode metrics on both backends."""
    common = ["env.episodes=3", "env.max_steps=30", "run.progress=false"]
    from embodied.config import load_config

    summaries = {}
    for backend in ("local", "ray"):
        cfg = load_config("experiments/objectnav_random.yaml",
                          common + [f"run.backend={backend}", f"run.output={tmp_path / backend}"])
        summaries[backend] = run_experiment(cfg, console=Console(file=io.StringIO()))
    assert without_seconds(records(tmp_path / "ray")) == without_seconds(records(tmp_path / "local"))
    assert without_seconds(summaries["ray"]) == without_seconds(summaries["local"])


def test_a_worker_that_dies_mid_episode_is_replaced_and_its_episode_rerun(ray_session, toy_yaml: Path,
                                                                          tmp_path: Path) -> None:
    """The actor's process exits (os._exit, as a segfault) once in val-002 and once in val-005:
    each episode is rerun on a replacement worker and recorded once, with attempts 2."""
    overrides = ["env.crash_once_on=[val-002,val-005]", f"env.marker_dir={tmp_path}"]
    summary = run(toy_yaml, f"run.output={tmp_path / 'ray'}", "run.workers=2", "run.backend=ray", *overrides)
    rec = records(tmp_path / "ray")
    assert len(rec) == N and summary["failed"] == 0 and summary["retried"] == 2
    assert rec["val-002"]["attempts"] == 2 and rec["val-005"]["attempts"] == 2
    clean = run(toy_yaml, f"run.output={tmp_path / 'clean'}")
    strip = lambda rs: {k: {f: v for f, v in r.items() if f not in ("seconds", "attempts")}  # noqa: E731
                        for k, r in rs.items()}
    assert strip(rec) == strip(records(tmp_path / "clean"))


def test_a_worker_killed_with_sigkill_mid_run_loses_nothing(ray_session, toy_yaml: Path, tmp_path: Path) -> None:
    import psutil

    out = tmp_path / "ray"
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = out / "episodes.jsonl"
            if path.exists() and len(path.read_text().splitlines()) >= 3:
                for proc in psutil.process_iter(["cmdline"]):
                    if "ray::EpisodeActor" in " ".join(proc.info["cmdline"] or []):
                        proc.send_signal(signal.SIGKILL)
                        killed.append(proc.pid)
                        return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    summary = run(toy_yaml, f"run.output={out}", "run.workers=2", "run.backend=ray", "env.step_delay=0.02")
    killer.join()
    assert killed, "no Ray worker process was found to kill"
    rec = records(out)
    assert len(rec) == N and summary["failed"] == 0
    assert summary["retried"] <= 1                      # the one it held, if it held one
    clean = run(toy_yaml, f"run.output={tmp_path / 'clean'}", "env.step_delay=0.02")
    strip = lambda rs: {k: {f: v for f, v in r.items() if f not in ("seconds", "attempts")}  # noqa: E731
                        for k, r in rs.items()}
    assert strip(rec) == strip(records(tmp_path / "clean"))


def test_kill_9_of_the_driver_then_resume(toy_yaml: Path, tmp_path: Path) -> None:
    """The driver (which alone writes episodes.jsonl) is killed with SIGKILL mid-run; the rerun
    records the rest: every episode once, equal to an uninterrupted run."""
    out = tmp_path / "ray"
    args = [sys.executable, "-m", "embodied.cli", "run", str(toy_yaml), f"run.output={out}", "run.backend=ray",
            "run.workers=2", "env.step_delay=0.05", "run.progress=false"]
    env = cli_env()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        path = out / "episodes.jsonl"
        while time.monotonic() < deadline and not (path.exists() and len(path.read_text().splitlines()) >= 4):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the Ray workers and raylet that driver started notice it is gone and exit (Ray's reaper), so
    # no episode keeps running; Ray's dashboard and runtime-env agents linger longer (Ray's own
    # behaviour), so the test cleans up the process group itself
    import psutil

    def running() -> list[str]:
        names = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            with_group = False
            try:
                with_group = os.getpgid(proc.pid) == proc_pid
            except ProcessLookupError:
                pass
            if with_group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                names.append(" ".join(proc.info["cmdline"] or [])[:40])
        return names

    proc_pid = proc.pid
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(n.startswith(("ray::EpisodeActor", "raylet", "gcs_server")) or
                                              "raylet/raylet" in n or "gcs/gcs_server" in n for n in running()):
        time.sleep(0.2)
    left = running()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    assert not any("EpisodeActor" in n or "raylet" in n or "gcs_server" in n for n in left), left
    done_before = len(path.read_text().splitlines())
    assert 4 <= done_before < N
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{done_before} of {N} episodes already done" in result.stdout
    clean = run(toy_yaml, f"run.output={tmp_path / 'clean'}", "env.step_delay=0.05")
    assert without_seconds(records(out)) == without_seconds(records(tmp_path / "clean"))
    assert json.loads((out / "summary.json").read_text())["episodes"] == N


def test_cuda_without_a_gpu_is_refused_before_any_episode(ray_session, toy_yaml: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "gpu"
    with pytest.raises(ConfigError, match=r"run.gpus_per_worker: each worker needs 1 GPU\(s\) but the Ray cluster has 0"):
        run(toy_yaml, f"run.output={out}", "run.backend=ray", "run.device=cuda", "run.gpus_per_worker=1")
    with pytest.raises(ConfigError, match="run.gpus_per_worker: run.device is cuda but each worker reserves 0"):
        run(toy_yaml, f"run.output={out}", "run.backend=ray", "run.device=cuda")
    with pytest.raises(ConfigError, match="run.device: got 'cuda:1', but a Ray worker sees only the 1 GPU"):
        run(toy_yaml, f"run.output={out}", "run.backend=ray", "run.device=cuda:1", "run.gpus_per_worker=1")
    assert not out.exists()                                 # nothing written


def test_bench_scaling_prints_speedups_and_checks_the_records(ray_session, toy_yaml: Path) -> None:
    from embodied.evaluation import scaling

    console = Console(file=io.StringIO(), width=250)
    assert scaling.main(str(toy_yaml), ["env.step_delay=0.01"], [1, 2], ["local", "ray"], console=console) == 0
    text = console.file.getvalue()
    assert "toy: 12 episodes per setting" in text and "records identical across all settings: yes" in text
    rows = [line for line in text.splitlines() if line.strip("│ ").startswith(("local", "ray"))]
    assert len(rows) == 4 and all("1.00x" in rows[i] for i in (0, 2))   # speed-up is relative to 1 worker


def test_bad_ray_settings_are_config_errors(toy_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"run.cpus_per_worker: expected a number > 0, got 0"):
        toy_config(toy_yaml, "run.cpus_per_worker=0")
    with pytest.raises(ConfigError, match=r"run.backend: expected one of 'local', 'ray', got 'rey'.*did you mean 'ray'"):
        toy_config(toy_yaml, "run.backend=rey")
    monkeypatch.setitem(sys.modules, "ray", None)           # as where the ray extra is not installed
    with pytest.raises(ConfigError, match=r"ray is not installed; pip install -e .\[ray\]"):
        run(toy_yaml, "run.backend=ray")
