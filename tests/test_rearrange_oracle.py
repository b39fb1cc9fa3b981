"""The rearrangement oracle (`embodied.agents.rearrange_oracle`) and the privileged move lattice
it plans on (`info["privileged"]["lattice"]`).

The oracle is the upper bound of the two-phase task, so it must fix whole val episodes; and it
is an agent, so it may read only what it is handed: these tests give it copies of the reset
info and of the observations, and replay an episode's observations to it after the env is gone.
Small images (64 px) and three episodes keep the file well under a minute on 2 cores.
"""
from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embodied  # noqa: F401  (registers the Gym ids)
from embodied import metrics, registry
from embodied.agents.rearrange_oracle import (RearrangeOracleAgent, RearrangeOracleConfig,
                                              lattice_distances, lattice_path, moved_pose)
from embodied.config import ConfigError
from embodied.envs import rearrange_episodes as eps
from embodied.envs.rearrange import RearrangeConfig, RearrangeEnv
from embodied.interfaces import RearrangeAction

A = RearrangeAction


@pytest.fixture(scope="module")
def val() -> list[dict[str, Any]]:
    return eps.split_episodes("val", 12)


@pytest.fixture(scope="module")
def env() -> Any:
    e = RearrangeEnv(RearrangeConfig(width=64, height=64), privileged=True)
    yield e
    e.close()


def play(env: RearrangeEnv, agent: RearrangeOracleAgent, episode: dict[str, Any]
         ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[int]]:
    """One episode with the agent seeing only copies of the reset info and the observations:
    (final info, reset info, observations handed over, actions taken)."""
    obs, info = env.reset(seed=0, options={"episode": episode})
    first_info = copy.deepcopy(info)
    agent.reset(copy.deepcopy(info))
    seen, actions = [], []
    done = False
    while not done:
        seen.append(copy.deepcopy(obs))
        actions.append(int(agent.act(copy.deepcopy(obs))))
        obs, _, terminated, truncated, info = env.step(actions[-1])
        done = terminated or truncated
    return info, first_info, seen, actions


# ---------------------------------------------------------------------------------- the oracle
def test_oracle_fixes_val_episodes(env: RearrangeEnv, val: list[dict[str, Any]]) -> None:
    """An openness change, the most moved objects, and one more: every one fixed, nothing newly
    misplaced, nothing left in hand, and `done` (not the step limit) ends the episode."""
    opening = next(e for e in val if any(c["kind"] == "open" for c in e["changes"]))
    most = max(val, key=lambda e: len(e["changes"]))
    other = next(e for e in val if e not in (opening, most))
    agent = RearrangeOracleAgent(RearrangeOracleConfig())
    for episode in (opening, most, other):
        info = play(env, agent, episode)[0]
        m = info["metrics"]
        assert m["success"] == 1.0 and m["energy_remaining"] == 0.0, (episode["episode_id"], m)
        assert m["fixed_strict"] == 1.0 and m["start_misplaced"] == len(episode["changes"])
        assert not m["held_at_end"] and m["walkthrough_steps"] == 1
        assert m["unshuffle_steps"] < 200 and agent.given_up == []


def test_walkthrough_is_done_at_once(env: RearrangeEnv, val: list[dict[str, Any]]) -> None:
    obs, info = env.reset(seed=0, options={"episode": val[0]})
    agent = RearrangeOracleAgent(RearrangeOracleConfig())
    agent.reset(copy.deepcopy(info))
    assert int(obs["phase"]) == 0 and agent.act(obs) == A.DONE
    info = env.step(A.DONE)[4]
    assert info["phase_switched"] and info["phase"] == "unshuffle"


def test_reads_only_what_it_is_handed(env: RearrangeEnv, val: list[dict[str, Any]]) -> None:
    """Replayed from the recorded reset info and observations, with the env closed, a fresh
    agent takes the same actions; the module imports no env or simulator."""
    scratch = RearrangeEnv(RearrangeConfig(width=64, height=64), privileged=True)
    try:
        _, info, seen, actions = play(scratch, RearrangeOracleAgent(RearrangeOracleConfig()),
                                      val[3])
    finally:
        scratch.close()
    fresh = RearrangeOracleAgent(RearrangeOracleConfig())
    fresh.reset(copy.deepcopy(info))
    assert [int(fresh.act(obs)) for obs in seen] == actions
    assert actions[-1] == A.DONE and len(actions) > 5
    import embodied.agents.rearrange_oracle as module
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and (m.startswith("embodied.envs") or m.split(".")[0] in
                          ("pybullet", "gymnasium", "open3d")) for m in imported), imported


def test_unshuffle_state_rebuilt_from_the_reset_info(env: RearrangeEnv,
                                                     val: list[dict[str, Any]]) -> None:
    """The walkthrough's info (goal records + changes) gives the env's unshuffle-start records:
    the same boxes, and pose energy > 0 for exactly the changed objects."""
    episode = max(val, key=lambda e: len(e["changes"]))
    _, info = env.reset(seed=0, options={"episode": episode})
    agent = RearrangeOracleAgent(RearrangeOracleConfig())
    agent.reset(copy.deepcopy(info))
    start = env.step(A.DONE)[4]["privileged"]["unshuffle_start_poses"]
    changed = {c["name"] for c in episode["changes"]}
    assert set(agent.todo) == changed
    for change in episode["changes"]:
        if change["kind"] == "move":
            goal = info["privileged"]["goal_poses"][change["name"]]
            mine = moved_pose(goal, change["pose"])
            np.testing.assert_allclose(mine["bounding_box"], start[change["name"]]["bounding_box"],
                                       atol=1e-6)
            assert metrics.pose_energy(start[change["name"]], mine) == 0.0


def test_experiment_runs_through_the_runner(tmp_path: Path) -> None:
    from embodied.config import load_config
    from embodied.runner import run_experiment

    registry.load_builtin()
    assert registry.agent_needs_privileged(RearrangeOracleConfig())
    cfg = load_config("experiments/rearrange_oracle.yaml",
                      ["env.episodes=2", "env.width=64", "env.height=64",
                       f"run.output={tmp_path / 'run'}", "run.progress=false"])
    summary = run_experiment(cfg)
    records = [json.loads(line) for line in (tmp_path / "run/episodes.jsonl").read_text().splitlines()]
    assert [r["error"] for r in records] == [None, None]
    assert all(r["success"] == 1.0 and r["energy_remaining"] == 0.0 for r in records), records
    assert summary["episodes"] == 2


def test_config_range_errors_name_the_key() -> None:
    for key, value in (("reach_margin", -0.1), ("max_spots", 0), ("max_misdrops", 0)):
        with pytest.raises(ConfigError) as err:
            RearrangeOracleConfig(**{key: value})
        assert key in str(err.value)


# ---------------------------------------------------------------------------------- lattice
def test_lattice_bfs_respects_walls_and_blocked_moves() -> None:
    """A 5x3 lattice with a wall between columns 1 and 2 except in the top row."""
    passable = np.zeros((5, 3, 2), dtype=bool)
    passable[:4, :, 0] = True           # moves along x
    passable[:, :2, 1] = True           # moves along y
    passable[1, :2, 0] = False          # the wall, open at j = 2
    dist, parent = lattice_distances(passable, (0, 0))
    assert dist[4, 0] == 4 + 2 * 2       # up to the gap, through, and back down
    path = lattice_path(parent, (4, 0))
    assert path[0] == (0, 0) and path[-1] == (4, 0) and len(path) == dist[4, 0] + 1
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(path, path[1:]))
    dist2, _ = lattice_distances(passable, (0, 0), blocked={(1, 2, 0)})
    assert dist2[4, 0] == -1 and dist2[1, 2] == 3
    assert (lattice_distances(passable, (9, 9))[0] == -1).all()


def test_privileged_lattice_is_the_envs_moves_and_a_copy(env: RearrangeEnv,
                                                         val: list[dict[str, Any]]) -> None:
    """Free points are where the agent stands (its start among them), passable edges are moves
    the env allows and the others it refuses; what is handed out is not the env's cache."""
    _, info = env.reset(seed=0, options={"episode": val[0]})
    lat = info["privileged"]["lattice"]
    origin, step = np.asarray(lat["origin"]), lat["step"]
    start = np.round((env.position - origin) / step).astype(int)
    assert lat["free"][tuple(start)] and step == eps.STEP_SIZE
    rng = np.random.default_rng(0)
    free = np.argwhere(lat["free"])
    for i, j in free[rng.choice(len(free), 40, replace=False)]:
        for axis in (0, 1):
            a, b = (i + 1, j) if axis == 0 else (i, j + 1)
            if a < lat["free"].shape[0] and b < lat["free"].shape[1] and lat["free"][a, b]:
                ok = env.world.try_move(origin + step * np.array([i, j]),
                                        origin + step * np.array([a, b]))
                assert ok == lat["passable"][i, j, axis]
    lat["free"][:] = False
    lat["passable"][:] = False
    again = env.step(A.LOOK_DOWN)[4]["privileged"]["lattice"]
    assert again["free"][tuple(start)] and again["passable"].any()
