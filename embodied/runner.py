"""The episode loop: resume, parallel worker processes, per-episode fault isolation.

Reading order: `run_experiment` (the whole run in ~25 lines) -> `EpisodeRunner` (one env + agent,
one episode at a time, with retries) -> `_run_serial` / `_run_parallel` (who calls it).

Why it is built this way:
- Resume is keyed by episode id: `episodes.jsonl` (fsynced per line) is the only state, so a run
  killed at any moment continues where it stopped, and nothing runs twice.
- Each episode's seed is a hash of (run.seed, episode_id) — not of its position or worker — so the
  same config gives the same records with 1 or 8 workers, resumed or not.
- A worker builds its env and agent once (simulators are slow to start) and is fed one episode at
  a time over its own pipe, so the main process always knows which episode a worker holds: if the
  worker dies (a simulator segfault), that episode is retried or recorded as failed and a
  replacement worker starts; the run never hangs on a dead process.
- An exception inside an episode is retried `run.retries` times with a freshly built env+agent
  (state left by the failure must not leak into the retry), then recorded with its error.
- `run.workers = 1` runs in-process (no pickling, easy debugging); a hard crash then ends the run.
- `run.backend = ray` hands the same episodes to Ray actors instead of local processes
  (`ray_backend.py`); the records come back here, so everything below the episode loop is shared.
- A spawned worker gets the config as a plain dict and imports only the modules that registered the
  components it uses (`registry.modules_for`) plus `run.imports`, then validates the dict again:
  the same path as `config.yaml` -> config, so what a worker runs is what the run folder records.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import multiprocessing as mp
import multiprocessing.connection
import os
import re
import signal
import sys
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator

from embodied import registry
from embodied.config import ConfigError, ExperimentConfig, atomic_write, dump_yaml, from_dict, resolve, to_dict
from embodied.preflight import check_device, check_output, check_resumable, finished_summary
from embodied.results import (FAILED_AS_ZERO, EpisodeLog, ProgressReporter, print_summary,
                              summarize, write_summary)

__all__ = ["run_experiment", "EpisodeRunner", "RunError", "episode_seed", "format_error"]

#: Record keys the runner owns: an env's info["record"] extras never overwrite them.
RUNNER_KEYS = frozenset({"episode_id", "steps", "seconds", "error", "attempts"})


class RunError(Exception):
    """The run cannot go on (env/agent cannot be built, workers die at start-up): not an episode's fault."""


# ----------------------------------------------------------------------------- small pieces
def episode_seed(run_seed: int, episode_id: str) -> int:
    """A 32-bit seed from (run.seed, episode_id) via SHA-256: stable across processes and Python runs
    (unlike `hash`), and independent of episode order, worker and resume."""
    digest = hashlib.sha256(f"{run_seed}\x00{episode_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def format_error(exc: BaseException, frames: int = 3) -> str:
    """`Type: message` plus the innermost few frames: enough to find the bug, small enough for a record."""
    tb = traceback.extract_tb(exc.__traceback__)[-frames:]
    where = "".join(f"\n  {Path(f.filename).name}:{f.lineno} in {f.name}" for f in tb)
    return f"{type(exc).__name__}: {exc}{where}"


def failure_record(spec: dict[str, Any], error: str, attempts: int, seconds: float, steps: int) -> dict[str, Any]:
    """The record of an episode that never finished: it counts as a failure (success = SPL = 0)."""
    record: dict[str, Any] = {"episode_id": spec["episode_id"]}
    if "category" in spec:
        record["category"] = spec["category"]
    record.update({name: (False if name == "success" else 0.0) for name in FAILED_AS_ZERO})
    record.update(steps=steps, seconds=round(seconds, 3), error=error, attempts=attempts)
    return record


def _viz(name: str) -> Callable[..., Any] | None:
    """`embodied.viz.<name>` if that module and function exist (viz is optional to the runner)."""
    try:
        module = importlib.import_module("embodied.viz")
    except ImportError:
        return None
    return getattr(module, name, None)


def _side_by_side(a: Any, b: Any) -> Any:
    import numpy as np

    join = _viz("side_by_side")
    if join is not None:
        return join(np.asarray(a), np.asarray(b))
    h = max(a.shape[0], b.shape[0])
    pad = [np.pad(np.asarray(x), ((0, h - x.shape[0]), (0, 0), (0, 0))) for x in (a, b)]
    return np.concatenate(pad, axis=1)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- one worker's job
class EpisodeRunner:
    """One env + one agent, built once and reused across episodes; rebuilt only after a failure."""

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.cfg = cfg
        self.env: Any = None
        self.agent: Any = None
        self.env_kwargs: dict[str, Any] = {}
        if registry.agent_needs_privileged(cfg.agent):
            self.env_kwargs["privileged"] = True  # oracles and ground-truth localizers only
        if cfg.run.save_video:
            self.env_kwargs["render_mode"] = "rgb_array"
        self.video_dir = Path(cfg.run.output or ".") / "videos"
        self._steps = 0
        self._frames: list[Any] | None = None

    def build(self) -> None:
        """(Re)build env and agent; failing here stops the run (every episode would fail the same way)."""
        self.close()
        try:
            self.env = registry.make_env(self.cfg.env, **self.env_kwargs)
            self.agent = registry.make_agent(self.cfg.agent, self.cfg.run)
        except Exception as exc:
            raise RunError(f"cannot build env {self.cfg.env.id!r} and agent {self.cfg.agent.id!r}: "
                           f"{format_error(exc)}") from exc

    def close(self) -> None:
        for obj in (self.agent, self.env):
            close = getattr(obj, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self.env = self.agent = None

    def run(self, spec: dict[str, Any], prior_attempts: int = 0, prior_seconds: float = 0.0,
            prior_error: str | None = None) -> dict[str, Any]:
        """The episode's record after up to 1 + run.retries attempts (some may have been spent by a
        worker that crashed: `prior_*`)."""
        max_attempts = 1 + self.cfg.run.retries
        seconds, error = prior_seconds, prior_error
        for attempt in range(prior_attempts + 1, max_attempts + 1):
            if self.env is None:
                self.build()
            start = time.perf_counter()
            try:
                record = self._attempt(spec)
            except Exception as exc:  # noqa: BLE001 - any episode failure is recorded, not raised
                seconds += time.perf_counter() - start
                error = format_error(exc)
                self.close()  # the next attempt gets a fresh env + agent
                continue
            record["attempts"] = attempt
            return record
        return failure_record(spec, error or "no attempt left", max_attempts, seconds, self._steps)

    def _attempt(self, spec: dict[str, Any]) -> dict[str, Any]:
        seed = episode_seed(self.cfg.run.seed, spec["episode_id"])
        self._steps = 0
        self._frames = [] if self.cfg.run.save_video else None
        start = time.perf_counter()
        obs, info = self.env.reset(seed=seed, options={"episode": spec})
        self.agent.reset({"episode_id": spec["episode_id"], **info, "seed": seed,
                          "output_dir": str(self.cfg.run.output or ".")})
        terminated = truncated = False
        while not (terminated or truncated):
            action = self.agent.act(obs)
            self._capture()          # between act and step: the env and the agent see one state
            obs, _, terminated, truncated, info = self.env.step(action)
            self._steps += 1
        self._capture()
        record: dict[str, Any] = {"episode_id": spec["episode_id"]}
        if "category" in spec:
            record["category"] = spec["category"]
        record.update(info.get("metrics", {}))
        record.update(steps=self._steps, seconds=round(time.perf_counter() - start, 3),
                      error=None, attempts=1)
        record.update({k: v for k, v in info.get("record", {}).items() if k not in RUNNER_KEYS})
        self._write_video(spec["episode_id"])
        return record

    def _capture(self) -> None:
        """Keep one video frame (the env's render, beside the agent's debug view if it has one).

        Called after the agent has acted on an observation and before the env steps, so the
        agent's view (its map, the parts it found, the action it chose) belongs to the state the
        env shows; once more at the end for the final state.
        """
        if self._frames is None:
            return
        try:
            frame = self.env.render()
            debug = getattr(self.agent, "debug_frame", None)
            extra = debug() if callable(debug) else None
            if frame is not None and extra is not None:
                frame = _side_by_side(frame, extra)
            if frame is not None:
                self._frames.append(frame)
        except Exception as exc:  # noqa: BLE001 - a video must never change an episode's outcome
            _warn(f"no video for this episode: rendering failed ({type(exc).__name__}: {exc})")
            self._frames = None

    def _write_video(self, episode_id: str) -> None:
        write = _viz("write_episode_video")
        if not self._frames or write is None:
            return
        path = self.video_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", episode_id) + ".mp4")
        try:
            write(self._frames, path)
        except Exception as exc:  # noqa: BLE001
            _warn(f"cannot write {path}: {type(exc).__name__}: {exc}")
        self._frames = None


# --------------------------------------------------------------------------- who runs episodes
def _run_serial(cfg: ExperimentConfig, todo: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    runner = EpisodeRunner(cfg)
    try:
        for spec in todo:
            yield runner.run(spec)
    finally:
        runner.close()


def _share_cores(workers: int) -> None:
    """Give each worker its share of the cores: torch's default of one thread per core in every
    worker oversubscribes the CPU (measured 5-10x slower CLIP forwards with 2 workers on 2 cores)."""
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(threads)


def _worker_main(cfg_data: dict[str, Any], modules: list[str], conn: Any) -> None:
    """A worker process: import what registers the components, build once, then serve episodes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    runner = None
    try:
        _share_cores(int(cfg_data.get("run", {}).get("workers", 1)))
        registry.import_modules(modules)
        runner = EpisodeRunner(from_dict(cfg_data))
        runner.build()
        conn.send(("ready", None))
        while (task := conn.recv()) is not None:
            conn.send(("record", runner.run(*task)))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the main process is gone (killed): nothing left to report to
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):
            conn.send(("fatal", str(exc) if isinstance(exc, (RunError, ConfigError)) else format_error(exc)))
    finally:
        if runner is not None:
            runner.close()


Task = tuple[dict[str, Any], int, float, str | None]  # (episode spec, attempts spent, seconds, last error)


class _Worker:
    """Main-process handle of one worker process and the episode it holds."""

    def __init__(self, ctx: Any, cfg_data: dict[str, Any], modules: list[str]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(cfg_data, modules, child), name="embodied-worker")
        self.proc.start()
        child.close()
        self.ready = False
        self.gone = False
        self.task: Task | None = None
        self.started = 0.0

    def assign(self, task: Task, pending: deque) -> None:
        """Send an episode; if the worker is already gone, the episode goes back to the queue."""
        try:
            self.conn.send(task)
        except OSError:  # BrokenPipeError: it died since the last look
            self.gone = True
            pending.appendleft(task)
            return
        self.task, self.started = task, time.perf_counter()

    def messages(self) -> list[tuple[str, Any]]:
        """Everything the worker sent so far; sets `gone` when its end of the pipe closed."""
        out = []
        try:
            while self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, OSError):
            self.gone = True
        return out

    def stop(self, graceful: bool) -> None:
        if graceful and self.proc.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


#: Workers that may die before they ever get ready (a flaky simulator start) before the run gives up.
MAX_STARTUP_DEATHS = 3


def _run_parallel(cfg: ExperimentConfig, todo: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Feed episodes to `run.workers` spawned processes; survive (and replace) workers that die."""
    ctx = mp.get_context("spawn")  # fork would copy simulator/GL/CUDA state that is not fork-safe
    cfg_data = to_dict(cfg)
    modules = list(dict.fromkeys(registry.modules_for(cfg) + list(cfg.run.imports)))
    pending: deque = deque((spec, 0, 0.0, None) for spec in todo)
    workers = [_Worker(ctx, cfg_data, modules) for _ in range(min(cfg.run.workers, len(todo)))]
    startup_deaths = 0
    graceful = False
    try:
        while pending or any(w.task for w in workers):
            for w in workers:
                if w.task is None and pending and not w.gone:
                    w.assign(pending.popleft(), pending)
            multiprocessing.connection.wait([w.conn for w in workers] + [w.proc.sentinel for w in workers])
            for w in list(workers):
                for kind, payload in w.messages():
                    if kind == "fatal":
                        raise RunError(payload)
                    if kind == "ready":
                        w.ready = True
                    elif kind == "record":
                        w.task = None
                        yield payload
                if w.gone or not w.proc.is_alive():
                    w.proc.join(5)
                    workers.remove(w)
                    startup_deaths += not w.ready
                    if startup_deaths >= MAX_STARTUP_DEATHS:
                        raise RunError(f"worker processes keep dying while building the env and agent "
                                       f"({_exit_text(w.proc.exitcode)})")
                    record = _after_death(w, pending, 1 + cfg.run.retries)
                    if record is not None:
                        yield record
                    busy = sum(1 for x in workers if x.task is not None)
                    if len(workers) < min(cfg.run.workers, len(pending) + busy):
                        workers.append(_Worker(ctx, cfg_data, modules))  # the replacement
        graceful = True
    finally:
        for w in workers:
            w.stop(graceful)


def _after_death(w: _Worker, pending: deque, max_attempts: int) -> dict[str, Any] | None:
    """A worker died: its episode goes back to the queue with one attempt spent, or, when none is
    left, becomes a failure record. An episode it never started (died while building) costs nothing."""
    w.stop(graceful=False)
    if w.task is None:
        return None
    spec, prior, seconds, last_error = w.task
    if not w.ready:
        pending.appendleft((spec, prior, seconds, last_error))
        return None
    seconds += time.perf_counter() - w.started
    error = f"WorkerCrashed: the worker process died during this episode ({_exit_text(w.proc.exitcode)})"
    if prior + 1 < max_attempts:
        pending.appendleft((spec, prior + 1, seconds, error))
        return None
    return failure_record(spec, error, prior + 1, seconds, 0)


# --------------------------------------------------------------------------- output folder
@contextlib.contextmanager
def _output_lock(out: Path) -> Iterator[None]:
    """One run per output folder at a time (two writers would interleave episodes.jsonl)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"run.output: {out} is in use by another running experiment; wait for it "
                              "to finish or choose another run.output=...") from None
        yield  # the lock dies with the process, so kill -9 never leaves it stuck


def _write_config(cfg: ExperimentConfig, path: Path) -> None:
    """Write config.yaml only when it is missing or says something else.

    Why not always: rewriting an unchanged file makes every rerun need a writable folder and
    changes its mtime for nothing.
    """
    text = dump_yaml(cfg)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if path.read_text() == text:
            return
    atomic_write(path, text)


# --------------------------------------------------------------------------- the run
def run_experiment(cfg: ExperimentConfig, console: Any = None) -> dict[str, Any]:
    """Run (or resume) an experiment; returns the summary also written to `run.output/summary.json`."""
    from rich.console import Console

    console = console or Console()
    cfg = resolve(cfg)
    out = Path(cfg.run.output)
    if cfg.run.backend == "local":
        check_device(cfg.run.device)        # on Ray, the cluster's workers must have it (ray_session)
    episodes = registry.list_episodes(cfg.env)  # a bad split/dataset fails here, before any episode
    check_resumable(cfg, out)  # before creating anything: a refused run leaves no trace
    summary = finished_summary(out, episodes)
    if summary is not None:  # nothing to run or write: show it (works on a read-only copy)
        console.print(f"{out}: all {len(episodes)} episodes already done", highlight=False, soft_wrap=True)
        print_summary(summary, console, title=_title(cfg, summary, out))
        if not (out / "summary.png").exists():
            _plot(summary, out)
        return summary
    with contextlib.ExitStack() as stack:
        if cfg.run.backend == "ray":   # connect and check the cluster before anything is written
            from embodied.ray_backend import ray_session

            stack.enter_context(ray_session(cfg))
        summary = _run_in(cfg, out, episodes, console)
    print_summary(summary, console, title=_title(cfg, summary, out))
    _plot(summary, out)
    return summary


def _title(cfg: ExperimentConfig, summary: dict[str, Any], out: Path) -> str:
    retried = f", {summary['retried']} retried" if summary.get("retried") else ""
    return f"{cfg.name}: {summary['episodes']} episodes, {summary['failed']} failed{retried} ({out})"


def _run_in(cfg: ExperimentConfig, out: Path, episodes: list[dict[str, Any]], console: Any) -> dict[str, Any]:
    """Run the episodes still missing from `out` and write the summary; returns it."""
    check_output(out)
    with _output_lock(out):
        check_resumable(cfg, out)  # again, now that no other run can write the folder
        _write_config(cfg, out / "config.yaml")
        with EpisodeLog(out / "episodes.jsonl") as log:
            if log.dropped:
                _warn(f"dropped {log.dropped} incomplete line(s) of {log.path} left by an interrupted run")
            todo = [spec for spec in episodes if spec["episode_id"] not in log.done]
            if len(todo) < len(episodes):
                console.print(f"resuming {out}: {len(episodes) - len(todo)} of {len(episodes)} episodes "
                              "already done", highlight=False, soft_wrap=True)
            run = _run_serial if cfg.run.workers == 1 else _run_parallel
            if cfg.run.backend == "ray":
                from embodied.ray_backend import run_ray as run
            wanted = {spec["episode_id"] for spec in episodes}
            with ProgressReporter(cfg.name, len(episodes), [r for r in log.records if r["episode_id"] in wanted],
                                  console, bar=cfg.run.progress) as progress:
                for record in run(cfg, todo):
                    log.append(record)
                    progress.update(record)
            by_id = {r["episode_id"]: r for r in log.records}
        summary = summarize([by_id[s["episode_id"]] for s in episodes if s["episode_id"] in by_id])
        write_summary(summary, out / "summary.json")
    return summary


def _plot(summary: dict[str, Any], out: Path) -> None:
    plot = _viz("plot_summary")
    if plot is None:
        return
    try:
        plot(summary, out)
    except Exception as exc:  # noqa: BLE001 - a plot must never fail a finished run
        _warn(f"plot_summary failed: {type(exc).__name__}: {exc}")
