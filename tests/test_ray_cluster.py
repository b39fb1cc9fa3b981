"""`run.backend: ray` on a real two-node Ray cluster on this machine (head + a second node, one
CPU each, all on 127.0.0.1): the same records as the local backend, and a whole worker node
stopped with SIGKILL mid-run survived -- every episode recorded exactly once, equal to an
uninterrupted run."""
from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import require_extra

require_extra("ray", "ray", "EMBODIED_REQUIRE_RAY")

from embodied.netcheck import non_loopback_sockets  # noqa: E402
from embodied.runner import run_experiment  # noqa: E402
from tests.conftest import records, toy_config, without_seconds  # noqa: E402
from tests.ray_cluster import LocalCluster, ray_pids  # noqa: E402

N = 12


@pytest.fixture()
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # the driver on loopback too
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    import shutil
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))   # Ray's socket paths must stay < 108 bytes
    c = LocalCluster(short)
    try:
        c.add_node()
        yield c
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        shutil.rmtree(short, ignore_errors=True)


def run(path: Path, *overrides: str) -> dict:
    return run_experiment(toy_config(path, *overrides), console=Console(file=io.StringIO(), width=200))


def test_two_nodes_match_local_and_survive_a_node_stopped_mid_run(cluster: LocalCluster, toy_yaml: Path,
                                                                   tmp_path: Path) -> None:
    import ray

    slow = "env.step_delay=0.03"
    on_ray = [f"run.ray_address={cluster.address}", "run.backend=ray", "run.workers=2", "run.cpus_per_worker=1"]
    clean = run(toy_yaml, f"run.output={tmp_path / 'local'}", "run.workers=2", slow)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")   # the runs reuse it
    # 1. both nodes work (one CPU each, one worker each): the local backend's records
    summary = run(toy_yaml, f"run.output={tmp_path / 'both'}", slow, *on_ray)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    assert without_seconds(records(tmp_path / "both")) == without_seconds(records(tmp_path / "local"))
    assert without_seconds(summary) == without_seconds(clean)
    assert non_loopback_sockets(ray_pids() | {os.getpid()}) == []
    # 2. the second node loses power mid-run: its episode is rerun on the head, nothing is lost
    out = tmp_path / "node-lost"
    killed = threading.Event()

    def stop_node_after_three() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = out / "episodes.jsonl"
            if path.exists() and len(path.read_text().splitlines()) >= 3:
                cluster.kill_node(1)
                killed.set()
                return
            time.sleep(0.02)

    threading.Thread(target=stop_node_after_three, daemon=True).start()
    summary = run(toy_yaml, f"run.output={out}", slow, *on_ray)
    assert killed.is_set()
    rec = records(out)
    assert len(rec) == N and summary["failed"] == 0 and summary["retried"] == 1
    strip = lambda rs: {k: {f: v for f, v in r.items() if f not in ("seconds", "attempts")}  # noqa: E731
                        for k, r in rs.items()}
    assert strip(rec) == strip(records(tmp_path / "local"))
    deadline = time.monotonic() + 15                   # and Ray saw the node die (health checks ~3 s)
    while time.monotonic() < deadline and len([n for n in ray.nodes() if n["Alive"]]) != 1:
        time.sleep(0.2)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1
