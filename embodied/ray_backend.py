"""`run.backend: ray` -- the same episodes on a Ray cluster: long-lived actors that build the env and
agent once and take one episode at a time, with the records streamed back to the driver, which
alone writes `episodes.jsonl` (so resume and the progress bar are the local backend's).

Why actors fed one episode at a time (not one task per episode): simulators and models are slow to
build, and the driver must always know which episode each actor holds -- when an actor's process
or its whole node dies, exactly that episode goes back to the queue (with one attempt spent, as a
dead local worker process) and a replacement actor is started; nothing is lost or run twice. An
exception inside an episode is retried and recorded inside the actor by the same `EpisodeRunner`
as on the local backend, so a deterministic crash is recorded with its error either way.

Placement: each actor reserves `run.cpus_per_worker` CPUs and `run.gpus_per_worker` GPUs; Ray sets
`CUDA_VISIBLE_DEVICES` for it, so `run.device=cuda` means "the GPU Ray gave this worker", and the
PyBullet EGL renderer is pointed at the same device (`EGL_VISIBLE_DEVICES`, read by the EGL plugin).
A cluster without the GPUs asked for is refused before any episode.

Where Ray starts here (`run.ray_address` null), it is a private single-node instance on 127.0.0.1
(`ray_environment`: every socket on loopback) with as many CPUs as the workers reserve, no
dashboard and no usage statistics, shut down at the end; `auto` or `HOST:PORT` joins a running
cluster (`ray start` on each node) and leaves it running.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from typing import Any, Iterator

from embodied import registry
from embodied.config import ConfigError, ExperimentConfig, from_dict, to_dict

__all__ = ["run_ray", "ray_session", "ray_environment", "EpisodeActor"]

#: Actors that may die while building the env and agent before the run gives up (as the local backend).
MAX_STARTUP_DEATHS = 3
#: Seconds the run waits for any worker to become ready (the cluster may be busy or short of CPUs).
START_TIMEOUT = 600.0


def ray_environment(address: str | None) -> dict[str, str]:
    """What the Ray processes of a run at `address` (None: started here) need in their environment.

    No usage statistics. And where the cluster is this machine's own (started here, or an address
    on 127.0.0.0/8), Ray's local-only mode, which makes every Ray process bind and connect on
    127.0.0.1: by default Ray 2.x takes the address of the interface that routes to the internet as
    the node's, even when told `--node-ip-address 127.0.0.1` (measured: gcs_server and raylet
    listened on every interface). Must be set before `import ray` (Ray reads it at import).
    """
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    if address is None or address.startswith(("127.", "localhost")):
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return env


class EpisodeActor:
    """One worker: env + agent built once (`ready` reports a failure to build), then `run` per episode."""

    def __init__(self, cfg_data: dict[str, Any], modules: list[str], threads: int) -> None:
        from embodied.runner import EpisodeRunner

        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpus and "EGL_VISIBLE_DEVICES" not in os.environ:
            os.environ["EGL_VISIBLE_DEVICES"] = gpus.split(",")[0]   # render where the models run
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        with contextlib.suppress(ImportError):
            import torch

            torch.set_num_threads(threads)
        self.error: str | None = None
        self.runner = None
        try:
            registry.import_modules(modules)
            self.runner = EpisodeRunner(from_dict(cfg_data))
            self.runner.build()
        except Exception as exc:  # noqa: BLE001 - reported by ready(): the run stops with it
            from embodied.runner import format_error, RunError

            self.error = str(exc) if isinstance(exc, (RunError, ConfigError)) else format_error(exc)

    def ready(self) -> tuple[int, str | None]:
        """(this worker's pid, why it cannot run episodes or None)."""
        return os.getpid(), self.error

    def run(self, spec: dict[str, Any], prior_attempts: int, prior_seconds: float,
            prior_error: str | None) -> dict[str, Any]:
        assert self.runner is not None
        return self.runner.run(spec, prior_attempts, prior_seconds, prior_error)


@contextlib.contextmanager
def ray_session(cfg: ExperimentConfig) -> Iterator[Any]:
    """Connect to (or start) Ray and check the cluster has what the workers reserve -- before the
    run writes anything; a Ray started here is shut down at the end."""
    for key, value in ray_environment(cfg.run.ray_address).items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise ConfigError("run.backend: got 'ray', but ray is not installed; pip install -e .[ray] "
                          "(or set run.backend=local)") from None
    started = False
    if not ray.is_initialized():
        address = cfg.run.ray_address
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            else:
                need = cfg.run.cpus_per_worker * cfg.run.workers
                ray.init(address="local", num_cpus=max(int(need + 0.999), 1), num_gpus=None if cfg.run.gpus_per_worker else 0,
                         _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
        except ConnectionError as exc:
            raise ConfigError(f"run.ray_address: cannot reach a Ray cluster at {address!r} ({exc}); expected "
                              "`auto` or HOST:PORT of a running `ray start --head`, or null to start Ray here"
                              ) from None
        started = True
    try:
        _check_resources(ray, cfg)
        yield ray
    finally:
        if started:
            ray.shutdown()


def _check_resources(ray: Any, cfg: ExperimentConfig) -> None:
    """Refuse GPU runs on a cluster without GPUs (and device/gpu mismatches) before any episode."""
    run = cfg.run
    if run.device.startswith("cuda") and run.gpus_per_worker <= 0:
        raise ConfigError("run.gpus_per_worker: run.device is cuda but each worker reserves 0 GPUs; Ray hides "
                          "the GPUs from such workers: expected run.gpus_per_worker > 0 (e.g. 1 or 0.5)")
    index = int(run.device.partition(":")[2] or 0) if run.device.startswith("cuda") else 0
    if index >= max(1, int(run.gpus_per_worker)):
        raise ConfigError(f"run.device: got {run.device!r}, but a Ray worker sees only the "
                          f"{max(1, int(run.gpus_per_worker))} GPU(s) it reserves; expected run.device=cuda "
                          "(Ray picks the GPU and sets CUDA_VISIBLE_DEVICES)")
    have = ray.cluster_resources()
    if run.gpus_per_worker > 0 and have.get("GPU", 0.0) < run.gpus_per_worker:
        raise ConfigError(f"run.gpus_per_worker: each worker needs {run.gpus_per_worker:g} GPU(s) but the Ray "
                          f"cluster has {have.get('GPU', 0.0):g}; expected a cluster with GPUs "
                          "(or run.device=cpu and run.gpus_per_worker=0)")
    if have.get("CPU", 0.0) < run.cpus_per_worker:
        raise ConfigError(f"run.cpus_per_worker: each worker needs {run.cpus_per_worker:g} CPU(s) but the Ray "
                          f"cluster has {have.get('CPU', 0.0):g}")


class _Slot:
    """The driver's handle of one actor: its readiness, and the episode it holds."""

    def __init__(self, actor_cls: Any, args: tuple) -> None:
        self.actor = actor_cls.remote(*args)
        self.ready_ref = self.actor.ready.remote()
        self.ready = False
        self.pid: int | None = None
        self.task: tuple | None = None
        self.result_ref: Any = None
        self.started = 0.0


def run_ray(cfg: ExperimentConfig, todo: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield one record per episode of `todo`, computed by `run.workers` Ray actors (module
    docstring); call inside `ray_session(cfg)`."""
    import ray

    from embodied.runner import RunError, failure_record

    slots: list[_Slot] = []
    try:
        from ray.exceptions import RayActorError, RayTaskError

        cfg_data = to_dict(cfg)
        modules = list(dict.fromkeys(registry.modules_for(cfg) + list(cfg.run.imports)))
        threads = max(1, int(cfg.run.cpus_per_worker))
        actor_cls = ray.remote(EpisodeActor).options(num_cpus=cfg.run.cpus_per_worker,
                                                     num_gpus=cfg.run.gpus_per_worker, max_restarts=0)
        args = (cfg_data, modules, threads)
        pending: deque = deque((spec, 0, 0.0, None) for spec in todo)
        slots = [_Slot(actor_cls, args) for _ in range(min(cfg.run.workers, len(todo)))]
        max_attempts = 1 + cfg.run.retries
        startup_deaths = 0
        last_progress = time.monotonic()
        while pending or any(s.task for s in slots):
            for s in slots:
                if s.ready and s.task is None and pending:
                    s.task, s.started = pending.popleft(), time.perf_counter()
                    s.result_ref = s.actor.run.remote(*s.task)
            waiting = {(s.result_ref if s.task else s.ready_ref): s for s in slots if s.task or not s.ready}
            if not waiting:
                raise RunError("no Ray worker is left to run the remaining episodes")
            done, _ = ray.wait(list(waiting), num_returns=1, timeout=1.0)
            if done or any(x.ready for x in slots):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > START_TIMEOUT:
                raise RunError(f"no Ray worker became ready within {START_TIMEOUT:g} s; does the cluster have "
                               f"{cfg.run.cpus_per_worker:g} CPU(s) and {cfg.run.gpus_per_worker:g} GPU(s) free per worker?")
            for ref in done:
                s = waiting[ref]
                try:
                    value = ray.get(ref)
                except RayTaskError as exc:      # not an episode's error (those are records): the run's
                    raise RunError(f"a Ray worker failed outside any episode: {exc}") from None
                except RayActorError as exc:     # the actor's process or its node died
                    slots.remove(s)
                    with contextlib.suppress(Exception):
                        ray.kill(s.actor)
                    if not s.ready:
                        startup_deaths += 1
                        if startup_deaths >= MAX_STARTUP_DEATHS:
                            raise RunError(f"Ray workers keep dying while building the env and agent: {exc}") from None
                    elif s.task is not None:
                        spec, prior, seconds, _ = s.task
                        seconds += time.perf_counter() - s.started
                        error = f"WorkerCrashed: the Ray worker died during this episode ({type(exc).__name__})"
                        if prior + 1 < max_attempts:
                            pending.appendleft((spec, prior + 1, seconds, error))
                        else:
                            yield failure_record(spec, error, prior + 1, seconds, 0)
                    if len(slots) < min(cfg.run.workers, len(pending) + sum(1 for x in slots if x.task)):
                        slots.append(_Slot(actor_cls, args))          # the replacement
                    continue
                if not s.ready:
                    s.pid, error = value
                    if error is not None:
                        raise RunError(error)
                    s.ready = True
                else:
                    s.task = None
                    yield value
    finally:
        for s in slots:
            with contextlib.suppress(Exception):
                ray.kill(s.actor)
