"""`embodied bench scaling CONFIG`: the same episodes with 1, 2, ... workers on the local and Ray
backends -- episodes/s, speed-up over one worker of the same backend, and efficiency (speed-up per
worker) -- and a check that every setting produced the same records.

Why two rates: a run pays once for starting its workers (spawning processes or Ray actors, building
simulators and models: seconds) and then runs episodes; `total` is episodes over the whole wall
time, `steady` is episodes per second between the first and the last record, what a long run
converges to. Ray's own start (about 3 s here) is paid once before the Ray rows, as on a cluster
that is already up. Nothing is written to disk: the runner's episode loop is timed directly.
"""
from __future__ import annotations

import contextlib
import copy
import time
from typing import Any

from embodied import registry
from embodied.config import ConfigError, ExperimentConfig, resolve

__all__ = ["measure", "scaling_table", "main"]

BACKENDS = ("local", "ray")


def _records_key(records: list[dict[str, Any]]) -> list[tuple]:
    """Records without timings, in episode order: what must not depend on workers or backend."""
    drop = {"seconds"}
    return sorted(tuple(sorted((k, repr(v)) for k, v in r.items() if k not in drop)) for r in records)


def measure(cfg: ExperimentConfig, workers: int, backend: str) -> dict[str, Any]:
    """Run the config's episodes once with `workers` workers on `backend`; timings and records."""
    from embodied.runner import _run_parallel, _run_serial

    run = copy.deepcopy(cfg)
    run.run.workers, run.run.backend, run.run.save_video, run.run.progress = workers, backend, False, False
    todo = registry.list_episodes(run.env)
    if backend == "ray":
        from embodied.ray_backend import run_ray as loop
    else:
        loop = _run_serial if workers == 1 else _run_parallel
    stamps, records = [], []
    start = time.perf_counter()
    for record in loop(run, todo):
        stamps.append(time.perf_counter() - start)
        records.append(record)
    n = len(records)
    wall = stamps[-1]
    steady = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else float("nan")
    return {"backend": backend, "workers": workers, "episodes": n, "wall_s": wall, "first_s": stamps[0],
            "total_eps": n / wall, "steady_eps": steady, "failed": sum(1 for r in records if r.get("error")),
            "key": _records_key(records)}


def scaling_table(cfg: ExperimentConfig, workers: list[int], backends: list[str]) -> list[dict[str, Any]]:
    """Every (backend, workers) measurement, with speed-up and efficiency over the backend's first row."""
    rows: list[dict[str, Any]] = []
    for backend in backends:
        if backend not in BACKENDS:
            raise ConfigError(f"--backends: got {backend!r}, expected some of {', '.join(BACKENDS)}")
        with contextlib.ExitStack() as stack:
            if backend == "ray":
                from embodied.ray_backend import ray_session

                sized = copy.deepcopy(cfg)
                sized.run.workers = max(workers)
                stack.enter_context(ray_session(sized))
            base = None
            for w in workers:
                row = measure(cfg, w, backend)
                base = base or row
                for rate in ("total", "steady"):
                    speedup = row[f"{rate}_eps"] / base[f"{rate}_eps"] * base["workers"]
                    row[f"{rate}_speedup"], row[f"{rate}_efficiency"] = speedup, speedup / w
                rows.append(row)
    return rows


def main(config: str, overrides: list[str], workers: list[int], backends: list[str], console: Any = None) -> int:
    """Print the scaling table of `config`; 0 when every setting gave the same records."""
    from rich.table import Table

    from embodied.config import load_config
    from embodied.results import wide_console

    console = console or wide_console()
    cfg = resolve(load_config(config, overrides))
    if not workers or min(workers) < 1:
        raise ConfigError(f"--workers: got {workers}, expected worker counts >= 1 (e.g. 1 2)")
    rows = scaling_table(cfg, sorted(set(workers)), backends)
    table = Table(title=f"{cfg.name}: {rows[0]['episodes']} episodes per setting", title_justify="left")
    for col in ("backend", "workers", "wall s", "first record s", "episodes/s", "speed-up", "efficiency",
                "steady episodes/s", "steady speed-up", "steady efficiency"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in rows:
        table.add_row(r["backend"], str(r["workers"]), f"{r['wall_s']:.1f}", f"{r['first_s']:.1f}",
                      f"{r['total_eps']:.2f}", f"{r['total_speedup']:.2f}x", f"{r['total_efficiency']:.2f}",
                      f"{r['steady_eps']:.2f}", f"{r['steady_speedup']:.2f}x", f"{r['steady_efficiency']:.2f}")
    console.print(table)
    same = all(r["key"] == rows[0]["key"] for r in rows)
    console.print(f"records identical across all settings: {'yes' if same else 'NO'}"
                  f"{'' if not any(r['failed'] for r in rows) else ' (some episodes failed)'}")
    return 0 if same else 1
