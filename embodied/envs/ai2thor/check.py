"""One real THOR episode, reported: what a maintainer runs on a GPU machine to see the backend work.

`check_episode(path_or_cfg)` builds the experiment's env (RoboTHOR ObjectNav), runs its first
episode with a fixed, agent-free policy (a full turn, a few steps ahead, Stop) and returns what it
saw: image shapes and ranges, start and end pose, the episode's metrics, the SPL cross-check
against `ai2thor.util.metrics.compute_single_spl`, and frames per second. No agent or model is
loaded, so a failure here is the backend's, not a policy's. scripts/check_backends.py calls it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from embodied import registry
from embodied.config import ExperimentConfig, load_config
from embodied.interfaces import DiscreteNavigationAction as Action

__all__ = ["check_episode", "CHECK_POLICY"]

#: The fixed policy: look around (12 x 30 deg), walk four steps, look down and up, Stop.
CHECK_POLICY: tuple[Action, ...] = ((Action.ROTATE_LEFT,) * 12 + (Action.MOVE_AHEAD,) * 4
                                    + (Action.LOOK_DOWN, Action.LOOK_UP, Action.STOP))


def _env_config(cfg: Any, overrides: list[str]) -> Any:
    if isinstance(cfg, (str, Path)):
        cfg = load_config(Path(cfg), list(overrides))
    return cfg.env if isinstance(cfg, ExperimentConfig) else cfg


def check_episode(config: str | Path | Any, overrides: list[str] | tuple[str, ...] = (),
                  privileged: bool = True) -> dict[str, Any]:
    """Run the first episode of the experiment (a YAML path, an ExperimentConfig or an env
    config) and return a JSON-able report. Raises ThorUnavailable (with the fix) when THOR
    cannot start here."""
    registry.load_builtin()
    env_cfg = _env_config(config, list(overrides))
    episode = registry.list_episodes(env_cfg)[0]
    t0 = time.perf_counter()
    env = registry.make_env(env_cfg, privileged=privileged)
    try:
        started = time.perf_counter()
        obs, info = env.reset(seed=0, options={"episode": episode})
        reset_s = time.perf_counter() - started
        first = {k: v for k, v in obs.items()}
        steps, step_s, end_info = 0, 0.0, {}
        for action in CHECK_POLICY[: env_cfg.max_steps]:
            started = time.perf_counter()
            obs, _, terminated, truncated, end_info = env.step(action)
            step_s += time.perf_counter() - started
            steps += 1
            if terminated or truncated:
                break
        report: dict[str, Any] = {
            "env": env_cfg.id, "episode_id": info["episode_id"], "scene": info.get("scene"),
            "goal": info["goal"], "renderer": info.get("renderer"),
            "rgb": [list(first["rgb"].shape), str(first["rgb"].dtype), int(first["rgb"].min()),
                    int(first["rgb"].max())],
            "depth": [list(first["depth"].shape), float(np.min(first["depth"])), float(np.max(first["depth"]))],
            "instance_ids": int(len(np.unique(first["instance"]))) if "instance" in first else None,
            "camera": {k: info["camera"][k] for k in ("fx", "fy", "cx", "cy", "hfov_deg", "camera_height")},
            "pose_start": [float(v) for v in first["pose"]], "pose_end": [float(v) for v in obs["pose"]],
            "categories": len(info.get("categories", {})),
            "steps": steps, "metrics": end_info.get("metrics"),
            "reset_seconds": reset_s, "fps": steps / step_s if step_s > 0 else None,
            "seconds": time.perf_counter() - t0,
        }
        record = end_info.get("record") or {}
        if record.get("path") is not None and end_info.get("metrics"):
            from ai2thor.util.metrics import compute_single_spl

            as_dicts = [[dict(zip("xyz", p)) for p in record[k]] for k in ("path", "shortest_path")]
            report["spl_ai2thor"] = compute_single_spl(as_dicts[0], as_dicts[1], end_info["metrics"]["success"])
        return report
    finally:
        env.close()
