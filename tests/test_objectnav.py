"""The embedded ObjectNav env: Gymnasium compliance, motion rules, no penetration, determinism."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import embodied  # noqa: F401  (registers the Gymnasium ids)
from embodied import registry
from embodied.envs import objectnav_episodes as eps
from embodied.envs.objectnav import (LOOK_DOWN, LOOK_UP, MOVE_AHEAD, ROTATE_LEFT, STOP,
                                     ObjectNavConfig, ObjectNavEnv)

registry.load_builtin()


def _point_polygon_distance(p: np.ndarray, poly: np.ndarray) -> float:
    """Signed-free distance from a point to a convex polygon (0 inside): independent of navgrid."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
    closest = a + t[:, None] * ab
    d = np.linalg.norm(p - closest, axis=1).min()
    cross = ab[:, 0] * (p[1] - a[:, 1]) - ab[:, 1] * (p[0] - a[:, 0])
    inside = (cross >= 0).all() or (cross <= 0).all()
    return 0.0 if inside else float(d)


@pytest.fixture(scope="module")
def env() -> ObjectNavEnv:
    e = ObjectNavEnv(ObjectNavConfig(split="val", max_steps=500), privileged=True)
    yield e
    e.close()


# with its defaults, i.e. the embedded simulator; the AI2-THOR and Habitat envs need their
# simulators by default and are checked on their fakes in tests/test_envs.py
@pytest.mark.parametrize("env_id", [i for i in registry.ids("env") if i.endswith("-PyBullet-v0")])
def test_check_env_passes_on_every_registered_env(env_id: str) -> None:
    e = gym.make(env_id)
    check_env(e.unwrapped, skip_render_check=True)
    e.close()


def test_reset_pose_is_origin_and_move_ahead_advances_a_quarter_metre(env: ObjectNavEnv) -> None:
    spec = eps.split_episode("val", 0)
    obs, info = env.reset(seed=0, options={"episode": spec})
    np.testing.assert_allclose(obs["pose"], 0.0, atol=1e-6)
    assert info["goal"] == spec["category"] == obs["goal"]
    # Turn left (30 deg a turn) until a move is accepted; the GPS+compass pose must then be
    # 0.25 m along the heading turned so far, in the start's frame, and nothing else moved.
    turns = 0
    for _ in range(12):
        obs, _, _, _, step_info = env.step(MOVE_AHEAD)
        if step_info["last_action_success"]:
            break
        env.step(ROTATE_LEFT)
        turns += 1
    assert step_info["last_action_success"], "no heading of the start pose allowed a move"
    heading = math.radians(30.0 * turns)
    np.testing.assert_allclose(obs["pose"], [0.25 * math.cos(heading), 0.25 * math.sin(heading),
                                             math.remainder(heading, 2 * math.pi), 0.0], atol=1e-5)
    assert env.path_length == pytest.approx(0.25) and len(env.trajectory) == 2


def test_look_is_clamped_and_reports_failure(env: ObjectNavEnv) -> None:
    env.reset(seed=1, options={"episode": eps.split_episode("val", 1)})
    results = [env.step(LOOK_UP)[4]["last_action_success"] for _ in range(3)]
    assert results == [True, False, False]  # +30 deg is the limit
    results = [env.step(LOOK_DOWN)[4]["last_action_success"] for _ in range(5)]
    assert results == [True, True, True, False, False]  # down to -60 deg
    assert env._relative_pose()[3] == pytest.approx(math.radians(-60))


def test_two_thousand_random_actions_never_penetrate_geometry(env: ObjectNavEnv) -> None:
    rng = np.random.default_rng(0)
    refused = 0
    for episode_index in range(4):
        env.reset(seed=episode_index, options={"episode": eps.split_episode("val", 2 * episode_index)})
        polys = [p for o in env.house.objects if o.category != "Floor" for p in o.footprints(0.03, 1.0)]
        for _ in range(500):
            action = int(rng.choice([MOVE_AHEAD, MOVE_AHEAD, MOVE_AHEAD, ROTATE_LEFT, 2]))
            _, _, _, _, info = env.step(action)
            refused += not info["last_action_success"]
            clearance = min(_point_polygon_distance(env.position, poly) for poly in polys)
            assert clearance >= eps.AGENT_RADIUS - 2e-3, (env.position, clearance)
    assert refused > 0  # the walk did run into things, so refusals were exercised


def test_same_episode_and_actions_give_identical_observations_and_metrics() -> None:
    spec = eps.split_episode("val", 3)
    actions = np.random.default_rng(5).integers(0, 5, size=40).tolist() + [STOP]
    runs = []
    for _ in range(2):
        e = ObjectNavEnv(ObjectNavConfig(split="val"))
        obs, _ = e.reset(seed=3, options={"episode": spec})
        frames = [obs["rgb"].copy()]
        for a in actions:
            obs, _, term, trunc, info = e.step(a)
            frames.append(obs["rgb"].copy())
            if term or trunc:
                break
        runs.append((frames, info["metrics"]))
        e.close()
    assert runs[0][1] == runs[1][1]
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)


def test_stop_at_start_fails_with_zero_spl(env: ObjectNavEnv) -> None:
    spec = eps.split_episode("val", 4)
    env.reset(seed=0, options={"episode": spec})
    _, _, terminated, _, info = env.step(STOP)
    m = info["metrics"]
    assert terminated and m["success"] is False and m["spl"] == 0.0
    assert m["path_length"] == 0.0 and m["steps"] == 1
    assert m["shortest_path_length"] >= eps.MIN_GEODESIC
    assert m["distance_to_goal"] == pytest.approx(m["shortest_path_length"])


def _stand_by_the_goal(env: ObjectNavEnv) -> tuple[np.ndarray, float, int]:
    """A free spot within the success distance of the episode's goal from which the goal shows
    plenty of pixels when faced: (position, yaw facing the goal, its pixels), found by rendering
    the scene directly (not through the env's scoring)."""
    (lo, hi, iid), *_ = env.goal_boxes
    centre = (lo + hi) / 2
    grid = env.grid
    cells = np.argwhere(grid.free)
    spots = grid.cell_to_world(cells)
    gap = np.array([np.hypot(*np.maximum(np.maximum(lo - p, p - hi), 0.0)) for p in spots])
    for k in np.argsort(np.abs(gap - 0.6)):          # ~0.6 m away: close, but the object in view
        p = spots[k]
        yaw = math.atan2(centre[1] - p[1], centre[0] - p[0])
        seen = int((env.scene.render(p[0], p[1], yaw, 0.0, want_seg=True)["instance"] == iid).sum())
        if gap[k] <= 0.8 and seen >= 40:
            return p, yaw, seen
    raise AssertionError("no spot near the goal sees it")


def _stop_at(env: ObjectNavEnv, spec: dict, position: np.ndarray, yaw: float) -> dict:
    env.reset(seed=0, options={"episode": spec})
    env.position, env.yaw = np.array(position, dtype=float), float(yaw)   # as if walked there
    return env.step(STOP)[4]["metrics"]


def test_success_needs_the_goal_in_view_with_enough_pixels() -> None:
    """RoboTHOR's rule: Stop within the success distance *and* with the goal visible
    (>= min_visible_pixels of it in the last frame). Standing at the same spot, facing the goal
    succeeds and facing away fails; the pixel threshold is inclusive."""
    spec = eps.split_episode("val", 0)
    env = ObjectNavEnv(ObjectNavConfig(split="val"))
    try:
        env.reset(seed=0, options={"episode": spec})
        spot, yaw, seen = _stand_by_the_goal(env)
        facing = _stop_at(env, spec, spot, yaw)
        away = _stop_at(env, spec, spot, yaw + math.pi)
    finally:
        env.close()
    assert facing["success"] is True and facing["spl"] > 0.0
    assert away["success"] is False and away["spl"] == 0.0
    assert away["distance_to_goal"] == facing["distance_to_goal"]     # the same spot: only the view differs
    for threshold, success in ((seen, True), (seen + 1, False)):
        strict = ObjectNavEnv(ObjectNavConfig(split="val", min_visible_pixels=threshold))
        try:
            assert _stop_at(strict, spec, spot, yaw)["success"] is success, threshold
        finally:
            strict.close()
    lax = ObjectNavEnv(ObjectNavConfig(split="val", require_visible=False))   # Habitat's rule
    try:
        assert _stop_at(lax, spec, spot, yaw + math.pi)["success"] is True
    finally:
        lax.close()


def test_episode_truncates_at_max_steps() -> None:
    e = ObjectNavEnv(ObjectNavConfig(split="val", max_steps=3))
    e.reset(seed=0, options={"episode": eps.split_episode("val", 0)})
    out = [e.step(ROTATE_LEFT) for _ in range(3)]
    assert [o[3] for o in out] == [False, False, True] and not out[-1][2]
    assert out[-1][4]["metrics"]["success"] is False
    with pytest.raises(RuntimeError):
        e.step(ROTATE_LEFT)
    e.close()


def test_oracle_succeeds_with_high_spl_on_a_few_episodes() -> None:
    from embodied.agents.oracle import OracleAgent, OracleConfig

    e = ObjectNavEnv(ObjectNavConfig(split="val"), privileged=True)
    agent = OracleAgent(OracleConfig())
    results = []
    for index in range(4):
        obs, info = e.reset(seed=index, options={"episode": eps.split_episode("val", index)})
        agent.reset({**info, "seed": index})
        done = False
        while not done:
            obs, _, term, trunc, step_info = e.step(agent.act(obs))
            done = term or trunc
        results.append(step_info["metrics"])
    e.close()
    assert all(m["success"] for m in results), results
    assert np.mean([m["spl"] for m in results]) >= 0.9, results
