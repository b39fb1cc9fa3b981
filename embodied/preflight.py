"""Checks before a run starts: may this run use its output folder and device, or is it done?

Why a module of its own: each check turns what would be a traceback deep inside the runner (a
PermissionError on the first write, a CUDA error in a worker, a resumed run of another config) into
one ConfigError line naming the key (exit code 2), before any episode starts; the runner only
calls them. Keeping them here keeps ``runner.py`` about running episodes.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from embodied.config import ConfigError, ExperimentConfig, config_diff, from_dict, resolve, to_dict
from embodied.results import read_records, read_summary, summarize

__all__ = ["RESUME_IGNORES", "check_resumable", "check_output", "check_device", "finished_summary"]

#: Settings that may change between a run and its resume (they do not change any record).
RESUME_IGNORES = ("run.workers", "run.progress", "run.output", "run.backend", "run.ray_address",
                  "run.cpus_per_worker", "run.gpus_per_worker")


def check_resumable(cfg: ExperimentConfig, out: Path) -> None:
    """Refuse to mix two different experiments' episodes in one folder (resume needs the same config)."""
    path = out / "config.yaml"
    if not path.exists():
        return
    hint = (f"to resume, rerun with the config stored in {path}; to start a new run, choose another "
            f"folder with run.output=<folder> or delete {out}")
    try:
        old = to_dict(resolve(from_dict(yaml.safe_load(path.read_text()) or {})))
    except (ConfigError, yaml.YAMLError, OSError) as exc:
        raise ConfigError(f"run.output: {path} cannot be read ({exc}); {hint}") from None
    diff = config_diff(old, to_dict(cfg), ignore=RESUME_IGNORES)
    if diff:
        shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
        raise ConfigError(f"run.output: {out} holds a run of a different config ({shown}); {hint}")


#: Kernel file systems: what is written there is no file on disk (Linux refuses it or keeps it in memory).
VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"))
#: Files of a run folder that are written in place (the others are replaced by a rename, which needs
#: only the folder to be writable).
WRITTEN_IN_PLACE = ("episodes.jsonl", ".lock")


def check_output(out: Path) -> None:
    """Make `run.output` a folder this process can write files in, or raise ConfigError naming it.

    Why before the run: otherwise the first write fails deep inside the runner with a
    PermissionError / NotADirectoryError traceback (exit 1) instead of one line about run.output.
    The folder is created, and written to once (a probe file, removed), because only trying tells:
    root passes every permission check yet cannot write to a read-only mount or under /proc.
    """
    shown = repr(str(out))
    absolute = Path(os.path.abspath(out))
    for root in VIRTUAL_ROOTS:
        if absolute == root or root in absolute.parents:
            raise ConfigError(f"run.output: got {shown}, which is under {root}, a kernel file system "
                              "that holds no files; expected a folder on disk")
    existing = absolute
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # exists() is False too below a regular file
    if not existing.is_dir():
        if existing == absolute:
            raise ConfigError(f"run.output: got {shown}, which is a file, not a folder; expected a folder "
                              "(created if missing)")
        raise ConfigError(f"run.output: got {shown}, but {str(existing)!r} is a file, not a folder; "
                          "expected a path whose existing part is a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"run.output: got {shown}, which is not writable here ({exc.strerror or exc}); "
                          "expected a folder this user can write: choose another run.output=<folder> "
                          "(`embodied show` still reads a finished run there)") from None
    for name in WRITTEN_IN_PLACE:
        path = out / name
        if path.exists() and not os.access(path, os.W_OK):
            raise ConfigError(f"run.output: {str(path)!r} is read-only; expected the run's files to be "
                              "writable: make it writable or choose another run.output=<folder>")


def check_device(device: str) -> None:
    """Refuse a `run.device` this machine does not have, before any episode (ConfigError, exit 2).

    Why here and not in RunConfig: a config is data that may be written or checked on a machine
    without the GPU it names; whether the device exists matters only where the run starts. Without
    this check an agent that uses torch fails to build (exit 1 with a CUDA traceback) and one that
    does not silently runs on the CPU. torch is imported only for a device other than cpu.
    """
    if device == "cpu":
        return
    try:
        import torch
    except ImportError:
        raise ConfigError(f"run.device: got {device!r}, but torch is not installed; expected cpu") from None
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            have = ("cpu (torch sees no CUDA device here)" if count == 0 else "cuda:0 or cpu" if count == 1
                    else f"cuda:0 to cuda:{count - 1} or cpu")
            raise ConfigError(f"run.device: got {device!r}, which this machine does not have; expected {have}")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("run.device: got 'mps', which this machine does not have; expected cpu")


def finished_summary(out: Path, episodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The summary of a finished run in `out`, or None when anything is left to run or to write.

    Finished: config.yaml is there (and `check_resumable` found it the same config), every episode
    has a complete record in episodes.jsonl, and summary.json is the summary of those records.
    Such a run is only shown again, never written to, so it can be rerun (and `embodied show`n)
    from a read-only copy.
    """
    if not (out / "config.yaml").is_file():
        return None
    try:
        by_id = {r["episode_id"]: r for r in read_records(out / "episodes.jsonl")}
        on_disk = read_summary(out / "summary.json")
    except (OSError, ValueError):
        return None
    if any(spec["episode_id"] not in by_id for spec in episodes):
        return None
    # as it would be stored (records come from JSON, so plain types: no default= needed)
    summary = json.loads(json.dumps(summarize([by_id[s["episode_id"]] for s in episodes])))
    return summary if summary == on_disk else None
