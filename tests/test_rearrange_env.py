"""The two-phase rearrangement env (`embodied/Rearrange-PyBullet-v0`): its rules, its episodes,
its metrics, and invariants under random play.

Small images (48-64 px) and few episodes, so the file runs in well under a minute on 2 cores. The
scripted oracle below changes the world with the env's own actions only; it reads the privileged
poses, plans on the env's collision-checked lattice (`rearrange_world.lattice_bfs`), and looks
ahead by rendering from candidate views (tests may move the agent: `teleport`) to find one from
which the rule it needs holds (restated here: `pickup_choice`, `snap_works`, `open_choice`).
Measured on the whole val split: it fixes all 100 episodes (55 unshuffle steps on average).
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import embodied  # noqa: F401  (registers the Gym ids)
from embodied import metrics, registry
from embodied.config import ConfigError
from embodied.envs import rearrange_episodes as eps
from embodied.envs.rearrange import ENV_ID, RearrangeConfig, RearrangeEnv
from embodied.envs.rearrange_room import cached_room, link_frames
from embodied.envs.rearrange_world import lattice_bfs, lattice_path
from embodied.interfaces import (REARRANGE_ACTION_NAMES, REARRANGE_PICKUPABLE_TYPES,
                                 RearrangeAction, open_action, pickup_action)

A = RearrangeAction
SMALL = {"width": 64, "height": 64}


def make(privileged: bool = True, **kwargs: Any) -> RearrangeEnv:
    return RearrangeEnv(RearrangeConfig(**{**SMALL, **kwargs}), privileged=privileged)


@pytest.fixture(scope="module")
def val() -> list[dict[str, Any]]:
    return eps.split_episodes("val", 8)


def episode_with(episodes: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in episodes if any(c["kind"] == kind for c in e["changes"]))


def to_unshuffle(env: RearrangeEnv, episode: dict[str, Any]) -> dict[str, Any]:
    env.reset(seed=0, options={"episode": episode})
    return env.step(A.DONE)[4]


def teleport(env: RearrangeEnv, xy: Any, yaw: float, pitch: float = 0.0) -> dict[str, Any]:
    """Put the agent somewhere (tests only) and refresh its frame, as a step would."""
    env.position = np.asarray(xy, dtype=float).copy()
    env.yaw, env.pitch = yaw, pitch
    return env._observe()


def energy(env: RearrangeEnv, name: str) -> float:
    return metrics.pose_energy(env.goal_poses[name], env.current_poses()[name])


# ---------------------------------------------------------------------------------- oracle
PITCHES = (0.0, -30.0, -60.0, 30.0)


def _walk(env: RearrangeEnv, path: list[np.ndarray]) -> None:
    moves = {0: A.MOVE_AHEAD, 1: A.MOVE_LEFT, -1: A.MOVE_RIGHT, 2: A.MOVE_BACK, -2: A.MOVE_BACK}
    for nxt in path[1:]:
        d = nxt - env.position
        rel = round(((math.atan2(d[1], d[0]) - env.yaw + math.pi) % (2 * math.pi) - math.pi)
                    / (math.pi / 2))
        info = env.step(moves[rel])[4]
        assert info["last_action_success"], "a lattice move the planner found was refused"


def find_view(env: RearrangeEnv, target: tuple[np.ndarray, np.ndarray], works: Any
              ) -> tuple[tuple[int, int], int, float] | None:
    """The oracle's look-ahead: the lattice point (nearest first in moves, within reach of the
    box `target`), number of left turns and pitch from which `works()` holds. It peeks by
    rendering from there (`teleport`) and puts the agent back; the world does not change."""
    lo, hi = target
    here = (env.position.copy(), env.yaw, env.pitch)
    cells, parent = lattice_bfs(env.world, env.position, env.yaw, eps.STEP_SIZE)
    keys = list(cells)
    pts = np.array([cells[k] for k in keys])
    gap = np.maximum(np.maximum(lo[:2] - pts, pts - hi[:2]), 0.0)
    near = [keys[i] for i in np.flatnonzero(np.hypot(gap[:, 0], gap[:, 1]) <= 1.5)]
    near.sort(key=lambda k: len(lattice_path(parent, k)))
    try:
        for key in near:
            for turns in (0, 1, 3, 2):
                for pitch in PITCHES:
                    teleport(env, cells[key], here[1] + turns * math.pi / 2, math.radians(pitch))
                    if works():
                        return key, turns, pitch
        return None
    finally:
        teleport(env, *here)


def oracle_act(env: RearrangeEnv, target: tuple[np.ndarray, np.ndarray], action: int,
               works: Any) -> bool:
    """Find a view from which `works()` (the action will do what the oracle wants), walk there
    with move actions, turn, tilt the camera, and act."""
    view = find_view(env, target, works)
    if view is None:
        return False
    key, turns, pitch = view
    cells, parent = lattice_bfs(env.world, env.position, env.yaw, eps.STEP_SIZE)
    _walk(env, [cells[k] for k in lattice_path(parent, key)])
    for _ in range(turns):
        env.step(A.ROTATE_LEFT)
    while env.pitch > math.radians(pitch) + 1e-6:
        env.step(A.LOOK_DOWN)
    while env.pitch < math.radians(pitch) - 1e-6:
        env.step(A.LOOK_UP)
    return bool(env.step(action)[4]["last_action_success"])


def snap_works(env: RearrangeEnv, name: str) -> bool:
    """A drop here would snap the held `name` to its goal (the rule restated, collisions too)."""
    goal = env.goal_state.poses[name]
    if not env._goal_in_reach(name, goal):
        return False
    env.world.set_pose(name, goal)
    ok = not (env.world.pickupable_collides(name) or env.world.agent_collides(env.position))
    env.world.hold(name)
    return ok


def open_choice(env: RearrangeEnv, kind: str) -> str | None:
    """The part `open_by_type_<kind>` would act on now (the rule restated, both modes)."""
    state, goal = env.world.state.openness, env.goal_state.openness
    found = [o.name for o in env.room.openables if o.type == kind
             and env._visible(o.instance_id) and env._distance(o.name) <= eps.INTERACT_DISTANCE]
    if env.config.open_mode == "toggle":
        return min(found, key=lambda n: env._priority[n]) if found else None
    found = [n for n in found if abs(state[n] - goal[n]) > 0.2]
    return min(found, key=lambda n: (env._distance(n), n)) if found else None


def open_works(env: RearrangeEnv, name: str) -> bool:
    if open_choice(env, env.room.openable(name).type) != name:
        return False
    before = env.world.state.openness[name]
    env.world.set_openness(name, env.goal_state.openness[name])
    ok = not (env.world.openable_collides(name) or env.world.agent_collides(env.position))
    env.world.set_openness(name, before)
    return ok


def pickup_choice(env: RearrangeEnv, kind: str) -> str | None:
    """What `pickup_<kind>` would take now (the rule, restated: nearest visible within reach)."""
    found = sorted((env._distance(q.name), q.name) for q in env.room.pickupables
                   if q.type == kind and env._visible(q.instance_id))
    return found[0][1] if found and found[0][0] <= eps.INTERACT_DISTANCE else None


def run_oracle(env: RearrangeEnv, episode: dict[str, Any]) -> dict[str, Any]:
    """Skip the walkthrough, then fix every change with the env's actions; the final metrics."""
    info = to_unshuffle(env, episode)
    for change in info["privileged"]["changes"]:
        name = change["name"]
        if change["kind"] == "move":
            kind = env.room.pickupable(name).type
            assert oracle_act(env, env.world.aabb(name), pickup_action(kind),
                              lambda: pickup_choice(env, kind) == name), f"pickup {name}"
            assert env.world.state.held == name
            c = env.world.corners(name, env.goal_state.poses[name])
            assert oracle_act(env, (c.min(0), c.max(0)), A.DROP_HELD_OBJECT_WITH_SNAP,
                              lambda: snap_works(env, name)), f"snap {name}"
        else:
            part = env.room.openable(name)
            assert oracle_act(env, env.world.aabb(name), open_action(part.type),
                              lambda: open_works(env, name)), f"open {name}"
    obs, _, terminated, truncated, info = env.step(A.DONE)
    assert terminated and not truncated
    return info["metrics"]


# ---------------------------------------------------------------------------------- API
def test_action_vocabulary_is_the_challenges() -> None:
    assert REARRANGE_ACTION_NAMES[:10] == (
        "done", "move_ahead", "move_left", "move_right", "move_back", "rotate_right",
        "rotate_left", "look_up", "look_down", "drop_held_object_with_snap")
    assert "pickup_spray_bottle" in REARRANGE_ACTION_NAMES
    assert "open_by_type_microwave" in REARRANGE_ACTION_NAMES
    assert [int(a) for a in RearrangeAction] == list(range(len(REARRANGE_ACTION_NAMES)))
    assert REARRANGE_ACTION_NAMES[pickup_action("Mug")] == "pickup_mug"
    with pytest.raises(ValueError):
        pickup_action("Television")


@pytest.mark.parametrize("privileged", [False, True])
def test_check_env_passes_without_warnings(privileged: bool) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(ENV_ID, privileged=privileged, width=48, height=48)
        try:
            check_env(env.unwrapped)
        finally:
            env.close()
    assert not [str(w.message) for w in caught]


def test_privileged_keys_only_when_privileged(val: list[dict[str, Any]]) -> None:
    for privileged in (False, True):
        env = make(privileged)
        try:
            obs, info = env.reset(seed=0, options={"episode": val[0]})
            step_info = env.step(A.DONE)[4]
            assert {"instance", "semantic", "boxes"} <= set(obs) if privileged \
                else not {"instance", "semantic", "boxes"} & set(obs)
            assert ("privileged" in info) == ("privileged" in step_info) == privileged
            assert info["phase"] == "walkthrough" and step_info["phase"] == "unshuffle"
        finally:
            env.close()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1, 2.5, len(REARRANGE_ACTION_NAMES), "mug", None])
def test_invalid_actions_raise_value_error(bad: Any, val: list[dict[str, Any]]) -> None:
    env = make(False)
    try:
        env.reset(seed=0, options={"episode": val[0]})
        with pytest.raises(ValueError):
            env.step(bad)
        assert env.steps == 0
    finally:
        env.close()


def test_config_range_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="open_mode"):
        RearrangeConfig(open_mode="sometimes")
    with pytest.raises(ConfigError, match="walkthrough_steps"):
        RearrangeConfig(walkthrough_steps=0)


# ---------------------------------------------------------------------------------- episodes
def test_same_seed_same_episode_and_observations(val: list[dict[str, Any]]) -> None:
    envs = [make(True), make(True)]
    try:
        outs = [e.reset(seed=11) for e in envs]
        assert outs[0][1]["episode_id"] == outs[1][1]["episode_id"]
        assert data_equivalence(outs[0][0], outs[1][0], exact=True)
        for action in [A.MOVE_AHEAD, A.ROTATE_LEFT, A.LOOK_DOWN, A.DONE, A.MOVE_BACK,
                       A.PICKUP_MUG, A.ROTATE_RIGHT]:
            a, b = (e.step(action) for e in envs)
            assert data_equivalence(a[0], b[0], exact=True) and a[1:4] == b[1:4]
            assert data_equivalence(a[4], b[4])
    finally:
        for e in envs:
            e.close()
    assert eps.split_episode("val", 3) == val[3]          # random access = the listed split
    assert eps._room_episodes.__wrapped__("val", 0) == val[:2]    # regenerated, not cached


def test_splits_use_disjoint_rooms() -> None:
    ranges = sorted((s.seed_base, s.seed_base + s.rooms + eps.MAX_RESEEDS * eps.RESEED_STRIDE)
                    for s in eps.SPLITS.values())
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))


def test_shuffle_changes_exactly_the_listed_objects(val: list[dict[str, Any]]) -> None:
    env = make(True)
    try:
        for episode in val:
            info = to_unshuffle(env, episode)["privileged"]
            goal, start = info["goal_poses"], info["unshuffle_start_poses"]
            listed = {c["name"] for c in episode["changes"]}
            assert 1 <= len(listed) == len(episode["changes"]) <= 5
            assert sum(c["kind"] == "open" for c in episode["changes"]) <= 1
            moved = {n for n in goal if metrics.pose_energy(goal[n], start[n]) > 0}
            assert moved == listed, episode["episode_id"]
            for name in set(goal) - listed:
                assert goal[name]["position"] == start[name]["position"]
                assert goal[name]["openness"] == start[name]["openness"]
            for c in episode["changes"]:
                if c["kind"] == "open":
                    assert abs(goal[c["name"]]["openness"] - c["openness"]) > 0.2
    finally:
        env.close()


def test_articulated_links_follow_pybullets_kinematics(val: list[dict[str, Any]]) -> None:
    env = make(False)
    try:
        env.reset(seed=0, options={"episode": val[0]})
        world = env.world
        for o in env.room.openables:
            world.set_openness(o.name, 0.7)
            a = world._arts[o.articulated]
            state = world._p.getLinkState(a.body, a.joints[o.joint], computeForwardKinematics=True,
                                          physicsClientId=world.client)
            rot, origin = link_frames(env.room.articulated[o.articulated],
                                      {o.joint: o.joint_state(0.7)})[o.link]
            np.testing.assert_allclose(state[4], origin, atol=1e-4)
            q = np.array(state[5])
            np.testing.assert_allclose(world.pose(o.name)["rotation"], q * np.sign(q[3]),
                                       atol=1e-4)
    finally:
        env.close()


# ---------------------------------------------------------------------------------- rules
def _duplicate_room() -> tuple[dict[str, Any], str]:
    """A val episode whose room has two pickupables of one type."""
    for index in range(eps.SPLITS["val"].rooms):
        episode = eps.split_episode("val", 2 * index)
        room = cached_room(episode["room_seed"])
        counts = Counter(q.type for q in room.pickupables)
        kind = next((t for t, n in counts.items() if n >= 2), None)
        if kind is not None:
            return episode, kind
    raise AssertionError("no val room has a duplicate pickupable")


def _open_floor(env: RearrangeEnv, length: float) -> tuple[np.ndarray, float]:
    """A lattice point and heading with `length` m of free floor straight ahead."""
    cells, _ = lattice_bfs(env.world, env.position, env.yaw, eps.STEP_SIZE)
    for xy in cells.values():
        for k in range(4):
            yaw = env.yaw + k * math.pi / 2
            ahead = xy + length * np.array([math.cos(yaw), math.sin(yaw)])
            if env.world.try_move(xy, ahead):
                return xy, yaw
    raise AssertionError("no open floor")


def test_pickup_takes_the_nearest_visible_of_its_type_within_reach() -> None:
    episode, kind = _duplicate_room()
    env = make(True)
    try:
        to_unshuffle(env, episode)
        near, far = [q.name for q in env.room.pickupables if q.type == kind][:2]
        xy, yaw = _open_floor(env, 2.4)
        ahead = np.array([math.cos(yaw), math.sin(yaw)])

        def place(name: str, d: float) -> None:
            x, y = xy + d * ahead
            env.world.set_pose(name, (x, y, 0.0, yaw))
            assert not env.world.pickupable_collides(name)

        place(near, 0.9)
        place(far, 1.3)
        teleport(env, xy, yaw, math.radians(-30))
        assert env.step(A.ROTATE_LEFT)[4]["last_action_success"]         # face away: not visible
        assert not env.step(pickup_action(kind))[4]["last_action_success"]
        env.step(A.ROTATE_RIGHT)
        assert env.step(A.PICKUP_MUG if kind != "Mug" else A.PICKUP_APPLE)[4][
            "last_action_success"] is False                              # another type: nothing
        info = env.step(pickup_action(kind))[4]
        assert info["last_action_success"] and env.world.state.held == near
        obs = env.step(A.LOOK_DOWN)[0]
        assert obs["held"] == REARRANGE_PICKUPABLE_TYPES.index(kind)
        assert not env.step(pickup_action(kind))[4]["last_action_success"]   # hands full
        assert env.room.pickupable(near).instance_id not in obs["instance"]  # not drawn
        env.world.set_pose(near, env.shuffled_state.poses[near])          # empty hands again
        place(far, 1.9)                                                    # visible, too far
        teleport(env, xy, yaw, math.radians(-30))
        assert env._counts[env.room.pickupable(far).instance_id] > 0
        assert not env.step(pickup_action(kind))[4]["last_action_success"]
        place(far, 1.3)
        teleport(env, xy, yaw, math.radians(-30))
        assert env.step(pickup_action(kind))[4]["last_action_success"]
        assert env.world.state.held == far
    finally:
        env.close()


def test_walkthrough_allows_no_interaction(val: list[dict[str, Any]]) -> None:
    env = make(True)
    try:
        env.reset(seed=0, options={"episode": val[0]})
        before = env.current_poses()
        for action in REARRANGE_ACTION_NAMES:
            if action.startswith(("pickup", "open", "drop")):
                assert not env.step(REARRANGE_ACTION_NAMES.index(action))[4]["last_action_success"]
        assert data_equivalence(before, env.current_poses())
    finally:
        env.close()


def test_drop_snaps_to_the_goal_only_within_reach_and_in_view(val: list[dict[str, Any]]) -> None:
    episode = episode_with(val, "move")
    env = make(True)
    try:
        to_unshuffle(env, episode)
        name = next(c["name"] for c in episode["changes"] if c["kind"] == "move")
        assert energy(env, name) > 0
        env.world.hold(name)
        # far from the goal: put down elsewhere (or kept), never at the goal
        goal_xy = env.world.corners(name, env.goal_state.poses[name]).mean(0)[:2]
        cells, _ = lattice_bfs(env.world, env.position, env.yaw, eps.STEP_SIZE)
        far = max(cells.values(), key=lambda p: np.hypot(*(p - goal_xy)))
        teleport(env, far, env.yaw, math.radians(-30))
        for k in range(4):
            if env.world.state.held is None:
                break
            teleport(env, far, env.yaw + k * math.pi / 2, math.radians(-30))
            assert not env.step(A.DROP_HELD_OBJECT_WITH_SNAP)[4]["last_action_success"]
        assert env.world.state.held is None                # it went onto something in view
        assert energy(env, name) > 0
        assert not env.world.pickupable_collides(name)
        env.world.hold(name)
        c = env.world.corners(name, env.goal_state.poses[name])
        assert oracle_act(env, (c.min(0), c.max(0)), A.DROP_HELD_OBJECT_WITH_SNAP,
                          lambda: snap_works(env, name))
        assert env.world.state.held is None
        assert energy(env, name) == 0.0
        assert env.current_poses()[name]["position"] == env.goal_poses[name]["position"]
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["goal", "toggle"])
def test_open_by_type_sets_the_goal_openness(mode: str, val: list[dict[str, Any]]) -> None:
    episode = episode_with(val, "open")
    env = make(True, open_mode=mode)
    try:
        to_unshuffle(env, episode)
        name = next(c["name"] for c in episode["changes"] if c["kind"] == "open")
        part = env.room.openable(name)
        start = env.shuffled_state.openness[name]
        assert energy(env, name) == 1.0
        assert oracle_act(env, env.world.aabb(name), open_action(part.type),
                          lambda: open_works(env, name))
        assert env.world.state.openness[name] == env.goal_state.openness[name]
        assert energy(env, name) == 0.0
        again = env.step(open_action(part.type))[4]["last_action_success"]
        if mode == "toggle" and again:          # 2023: toggles back to the unshuffle start
            assert env.world.state.openness[name] == start
        elif mode == "goal":                    # 2021/2022: stays at the goal
            assert env.world.state.openness[name] == env.goal_state.openness[name]
    finally:
        env.close()


# ---------------------------------------------------------------------------------- metrics
def test_scripted_oracle_fixes_everything(val: list[dict[str, Any]]) -> None:
    env = make(True)
    try:
        for episode in (episode_with(val, "open"), max(val, key=lambda e: len(e["changes"]))):
            result = run_oracle(env, episode)
            assert result["success"] == 1.0 and result["energy_remaining"] == 0.0, result
            assert result["fixed_strict"] == 1.0 and result["start_misplaced"] >= 1
    finally:
        env.close()


def test_noop_leaves_every_energy(val: list[dict[str, Any]]) -> None:
    from embodied.agents.noop import NoopAgent, NoopConfig

    env, agent = make(False), NoopAgent(NoopConfig())
    try:
        obs, info = env.reset(seed=0, options={"episode": val[1]})
        agent.reset(info)
        for phase in ("walkthrough", "unshuffle"):
            assert info["phase"] == phase
            obs, _, terminated, truncated, info = env.step(agent.act(obs))
        assert terminated and not truncated
        m = info["metrics"]
        assert m["success"] == 0.0 and m["energy_remaining"] == 1.0 and m["fixed"] == 0.0
        assert m["start_misplaced"] == len(val[1]["changes"]) and m["steps"] == 2
    finally:
        env.close()


def test_noop_experiment_runs_end_to_end(tmp_path: Any) -> None:
    from embodied.config import load_config
    from embodied.runner import run_experiment

    cfg = load_config("experiments/rearrange_noop.yaml",
                      ["env.episodes=2", f"run.output={tmp_path / 'run'}", "run.progress=false"])
    run_experiment(cfg)
    import json
    records = [json.loads(line) for line in (tmp_path / "run/episodes.jsonl").read_text().splitlines()]
    assert [r["error"] for r in records] == [None, None]
    assert all(r["energy_remaining"] == 1.0 and r["steps"] == 2 for r in records)


def test_nothing_handed_out_aliases_the_env(val: list[dict[str, Any]]) -> None:
    from tests.test_envs import scribble

    env = make(True)
    try:
        obs, info = env.reset(seed=0, options={"episode": val[0]})
        goal = {k: dict(v) for k, v in env.goal_poses.items()}
        frame = {k: v.copy() for k, v in env._frame.items()}
        scribble(obs)
        scribble(info)
        assert data_equivalence(env._frame, frame, exact=True)
        step = env.step(A.DONE)
        scribble(step[0])
        scribble(step[4])
        assert data_equivalence(env.goal_poses, goal)
        m = env.step(A.DONE)[4]["metrics"]
        assert m["energy_remaining"] == 1.0
    finally:
        env.close()


# ---------------------------------------------------------------------------------- invariants
def test_a_thousand_random_actions_keep_the_world_sound(val: list[dict[str, Any]]) -> None:
    """No penetration of the agent, placed objects cut into nothing, the held object is never
    drawn, observations stay in their space, and the phase switches exactly once."""
    env = make(True, width=48, height=48, walkthrough_steps=200, unshuffle_steps=800)
    rng = np.random.default_rng(0)
    try:
        obs, info = env.reset(seed=0, options={"episode": val[2]})
        weights = np.ones(len(REARRANGE_ACTION_NAMES))
        weights[0] = 0.0                                       # never "done"
        weights[9:] = 3.0                                      # interact often
        weights /= weights.sum()
        switches, phases, steps = 0, [], 0
        terminated = truncated = False
        while not (terminated or truncated):
            action = int(rng.choice(len(weights), p=weights))
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            switches += bool(info.get("phase_switched"))
            phases.append(info["phase"])
            assert obs in env.observation_space
            assert env.world.agent_clearance(env.position) > -1e-3
            held = env.world.state.held
            if held is not None:
                assert env.room.pickupable(held).instance_id not in obs["instance"]
            if REARRANGE_ACTION_NAMES[action] == "drop_held_object_with_snap":
                for q in env.room.pickupables:
                    if q.name != env.world.state.held:
                        assert not env.world.pickupable_collides(q.name), q.name
        assert steps == 1000 and truncated and not terminated
        assert switches == 1 and phases.count("walkthrough") == 199
        assert set(info["metrics"]) >= {"success", "fixed_strict", "misplaced", "energy_remaining"}
    finally:
        env.close()


def test_registered_with_the_project_registry() -> None:
    registry.load_builtin()
    entry = registry.get("env", ENV_ID)
    assert entry.cls is RearrangeEnv and entry.config_cls is RearrangeConfig
    assert registry.get("agent", "noop")
