"""One real episode on habitat-sim, measured: the check a machine with Habitat runs (tests cannot).

`check_episode(config)` builds the env exactly as the runner does, runs one episode of the split
with a fixed action script (a 360-degree spin, then forward moves with a turn whenever one is
refused, then Stop) and reports what a person verifying the backend needs to see: the frames'
shapes and ranges, the pose before and after, whether the privileged semantic map finds the goal
instances in view, the geodesic distance the dataset file recorded next to the one measured on
the navmesh, the metrics and the speed. `scripts/check_backends.py` calls it.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Mapping

import numpy as np

from embodied.envs.habitat import episodes as episodes_lib
from embodied.envs.habitat.objectnav import HabitatObjectNavConfig, HabitatObjectNavEnv
from embodied.interfaces import DiscreteNavigationAction as Action

__all__ = ["check_episode", "script"]


def script(max_steps: int) -> list[Action]:
    """The fixed actions: 12 left turns (360 degrees at 30), then MoveAhead until the budget
    leaves one step for Stop (`check_episode` turns right when a move is refused)."""
    n = max(0, max_steps - 1)
    spin = [Action.ROTATE_LEFT] * min(12, n)
    return spin + [Action.MOVE_AHEAD] * (n - len(spin)) + [Action.STOP]


def _describe(a: np.ndarray) -> dict[str, Any]:
    a = np.asarray(a)
    out: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.size and a.dtype.kind in "fiu":
        out.update(min=float(a.min()), max=float(a.max()))
    return out


def check_episode(config: HabitatObjectNavConfig | Mapping[str, Any] | None = None,
                  episode_index: int = 0, max_steps: int = 40, seed: int = 0,
                  backend: Any = None) -> dict[str, Any]:
    """Run episode `episode_index` of `config.split` for at most `max_steps` actions and report.

    `config` is the env's config or a dict of its fields (defaults: habitat-sim, HM3D v1 val);
    `backend` replaces the simulator module (tests pass the fake). Raises what the env raises:
    a missing habitat-sim, GPU, dataset or scene is a ConfigError whose line says what to do."""
    cfg = config if isinstance(config, HabitatObjectNavConfig) else HabitatObjectNavConfig(**dict(config or {}))
    cfg = dataclasses.replace(cfg, max_steps=max(1, max_steps))
    t0 = time.perf_counter()
    env = HabitatObjectNavEnv(cfg, privileged=True, backend=backend)   # habitat-sim / GPU checks first
    try:
        spec = episodes_lib.read_episodes(episodes_lib.split_path(cfg.split, cfg.data_path))[episode_index]
        t1 = time.perf_counter()
        obs, info = env.reset(seed=seed, options={"episode": spec})
        t2 = time.perf_counter()
        goal_id = info["privileged"]["goal_semantic_id"]
        frames = {k: _describe(v) for k, v in obs.items() if isinstance(v, np.ndarray)}
        start_pose = obs["pose"].tolist()
        start_habitat = env.position.tolist()
        goal_pixels, refused, step_seconds, actions = 0, 0, [], script(cfg.max_steps)
        step_info: dict[str, Any] = {}
        i = 0
        while i < len(actions):
            action = actions[i]
            ts = time.perf_counter()
            obs, _, terminated, truncated, step_info = env.step(action)
            step_seconds.append(time.perf_counter() - ts)
            goal_pixels = max(goal_pixels, int(np.count_nonzero(obs["semantic"] == goal_id)))
            if action == Action.MOVE_AHEAD and not step_info["last_action_success"] and i + 1 < len(actions) - 1:
                refused += 1
                actions[i + 1] = Action.ROTATE_RIGHT
            i += 1
            if terminated or truncated:
                break
        return {
            "simulator": env.simulator_name,
            "scene_id": spec["scene_id"],
            "episode_id": spec["episode_id"],
            "category": spec["category"],
            "frames": frames,
            "camera": info["camera"],
            "pose_start": start_pose,
            "pose_end": obs["pose"].tolist(),
            "habitat_position_start": start_habitat,
            "habitat_position_end": env.position.tolist(),
            "goal_semantic_id": goal_id,
            "goal_pixels_max": goal_pixels,
            "geodesic_distance_file": spec.get("geodesic_distance"),
            "geodesic_distance_navmesh": env.shortest_path_length,
            "refused_moves": refused,
            "metrics": step_info.get("metrics"),
            "build_seconds": round(t1 - t0, 3),
            "reset_seconds": round(t2 - t1, 3),
            "steps": len(step_seconds),
            "fps": round(len(step_seconds) / max(sum(step_seconds), 1e-9), 2),
        }
    finally:
        env.close()
