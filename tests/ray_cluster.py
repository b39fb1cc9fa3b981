"""A real two-node Ray cluster on this machine, on loopback, for the multi-node tests: a head
(`ray start --head --node-ip-address 127.0.0.1 --port P`) and a second node (`ray start --address
127.0.0.1:P`), each a set of processes this helper knows by PID, so a test can stop a whole node
with SIGKILL, as a machine that loses power.

Two details of Ray 2.x on one machine: Ray takes the address of the interface that routes to the
internet as a node's own (`services.node_ip_address_from_perspective`), even when given
`--node-ip-address 127.0.0.1`; the head is kept on loopback by Ray's local-only mode
(`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`), but `ray start` refuses a second node in that mode, so the
second node's `ray start` runs with that one function answering 127.0.0.1 (`SECOND_NODE`). Token
authentication is off for these processes (`RAY_AUTH_MODE=disabled`): everything stays on
127.0.0.1, and a head started where `~/.ray/auth_token` exists would turn it on for itself only.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

#: `ray start` for a second node on this machine, its address taken as 127.0.0.1 (module docstring)
SECOND_NODE = ("import sys, ray._private.services as s; "
               "s.node_ip_address_from_perspective = lambda address=None: '127.0.0.1'; "
               "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())")
#: Node failure detected in about 3 s instead of Ray's default 15 s (read by the head's GCS).
HEALTH_CHECKS = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                 "RAY_health_check_timeout_ms": "1000", "RAY_health_check_initial_delay_ms": "1000"}


def ray_pids() -> set[int]:
    """Every running Ray process (gcs_server, raylet, agents, workers) on this machine."""
    found = set()
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmd = " ".join(proc.info["cmdline"] or [])
        if any(word in cmd for word in ("ray::", "raylet", "gcs_server", "ray/_private", "ray/dashboard")):
            found.add(proc.pid)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1")
    return env


class LocalCluster:
    """Head + nodes started with `ray start`, each node's processes known by PID."""

    def __init__(self, temp_dir: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = temp_dir
        self.before = ray_pids()
        self.nodes: list[set[int]] = []
        ray = str(Path(sys.executable).with_name("ray"))
        self._start([ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
                     "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats",
                     "--temp-dir", str(temp_dir)],
                    {**base_env(), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **HEALTH_CHECKS})

    def _start(self, cmd: list[str], env: dict[str, str]) -> None:
        known = ray_pids()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
        time.sleep(0.5)                     # the node's agents start just after `ray start` returns
        self.nodes.append(ray_pids() - known)

    def add_node(self, num_cpus: int = 1) -> set[int]:
        self._start([sys.executable, "-c", SECOND_NODE, "start", "--address", self.address,
                     "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus), "--disable-usage-stats"],
                    base_env())
        return self.nodes[-1]

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of node `index` and the workers its raylet started (a worker
        whose raylet dies keeps serving direct actor calls for a while: a machine that loses
        power takes them all at once)."""
        victims = set(self.nodes[index])
        for pid in self.nodes[index]:
            try:
                victims |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """SIGKILL everything Ray started since this cluster was created (nodes, agents, workers)."""
        for _ in range(3):
            left = ray_pids() - self.before
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
