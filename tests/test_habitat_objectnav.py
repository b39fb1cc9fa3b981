"""ObjectNav-Habitat on the habitat-sim fake: coordinates, metrics by hand, the gym contract, and
every ObjectNav agent through the same code as on PyBullet.

The fake (embodied.envs.habitat.fake) implements habitat-sim's API over a hand-made two-room
world; its episode 0 starts at habitat (2.3, y, 2.9) facing -z with the sofa's nearest view point
(2.3, y, 2.0) 0.9 m straight ahead, so its numbers can be worked out by hand.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env

from embodied import registry
from embodied.agents.cow import CowAgent, CowConfig
from embodied.agents.oracle import OracleAgent, OracleConfig
from embodied.agents.random import RandomConfig
from embodied.envs.habitat import episodes, fake
from embodied.envs.habitat.check import check_episode
from embodied.envs.habitat.objectnav import (ENV_ID, HabitatObjectNavConfig, HabitatObjectNavEnv,
                                             habitat_to_world, rotation_from_yaw, scene_path,
                                             world_to_habitat, yaw_from_rotation)
from embodied.interfaces import DiscreteNavigationAction as A
from embodied.perception.geometry import Intrinsics, depth_to_points

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "habitat" / "objectnav_fake.json.gz"
SPECS = episodes.read_episodes(DATA)
F = fake.FLOOR_Y


def make(privileged: bool = False, size: int = 64, **kw) -> HabitatObjectNavEnv:
    cfg = HabitatObjectNavConfig(simulator="fake", split=str(DATA), width=size, height=size, **kw)
    return HabitatObjectNavEnv(cfg, privileged=privileged)


def spec_at(index: int, x: float, z: float) -> dict:
    """Episode `index` of the file with another start (habitat x, z)."""
    spec = copy.deepcopy(SPECS[index])
    spec["start_position"] = [x, F, z]
    return spec


def run(env: HabitatObjectNavEnv, actions: list[int], spec: dict) -> tuple[dict, dict]:
    env.reset(seed=0, options={"episode": spec})
    for action in actions:
        obs, _, term, trunc, info = env.step(action)
        if term or trunc:
            return obs, info
    raise AssertionError("the episode did not end")


# ------------------------------------------------------------------------------ coordinates
def test_pose_conversion_with_known_numbers() -> None:
    assert habitat_to_world([1.0, F, 2.0]).tolist() == [-2.0, -1.0, F]
    assert world_to_habitat(habitat_to_world([1.0, F, 2.0])).tolist() == [1.0, F, 2.0]
    s = math.sin(math.pi / 4)
    assert yaw_from_rotation([0.0, s, 0.0, s]) == pytest.approx(math.pi / 2)         # [x, y, z, w]
    assert yaw_from_rotation(fake.Quaternion(w=s, y=-s)) == pytest.approx(-math.pi / 2)
    assert yaw_from_rotation([0.0, 1.0, 0.0, 0.0]) == pytest.approx(math.pi)          # (-pi, pi]
    magnum_like = type("Q", (), {"scalar": math.cos(0.3), "vector": (0.0, math.sin(0.3), 0.0)})()
    assert yaw_from_rotation(magnum_like) == pytest.approx(0.6)
    assert yaw_from_rotation(rotation_from_yaw(-2.5)) == pytest.approx(-2.5)
    assert scene_path("data/scene_datasets/hm3d/val/x/x.basis.glb", "/d") == "/d/hm3d/val/x/x.basis.glb"


def test_gps_compass_pose_follows_the_moves() -> None:
    """Episode 1 starts at habitat (0.8, 1.5) turned 90 deg left (facing -x): MoveAhead goes to
    habitat x = 0.55, 0.25 m forward in the pose; three right turns face -z, and a move there
    goes to the right of the start heading (pose y < 0)."""
    env = make()
    obs, info = env.reset(seed=0, options={"episode": SPECS[1]})
    assert env.start == pytest.approx((-1.5, -0.8, math.pi / 2))
    np.testing.assert_allclose(obs["pose"], [0, 0, 0, 0], atol=1e-6)
    obs, *_ = env.step(A.MOVE_AHEAD)
    np.testing.assert_allclose(obs["pose"], [0.25, 0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(env.position, [0.55, F, 1.5], atol=1e-6)
    for _ in range(3):
        obs, *_ = env.step(A.ROTATE_RIGHT)
    obs, *_ = env.step(A.MOVE_AHEAD)
    np.testing.assert_allclose(env.position, [0.55, F, 1.25], atol=1e-6)
    np.testing.assert_allclose(obs["pose"], [0.25, -0.25, -math.pi / 2, 0.0], atol=1e-6)
    obs, _, _, _, step = env.step(A.LOOK_UP)
    assert step["last_action_success"] and obs["pose"][3] == pytest.approx(math.radians(30))
    obs, _, _, _, step = env.step(A.LOOK_UP)                       # beyond +30 deg: refused
    assert not step["last_action_success"] and obs["pose"][3] == pytest.approx(math.radians(30))
    env.close()


def test_depth_lifts_onto_the_walls_with_the_announced_camera() -> None:
    """Facing the west wall 0.8 m away (episode 1's start), looking 30 deg down: every lifted
    wall pixel is 0.8 m forward and floor pixels are at height 0 -- the intrinsics, the pitch
    and the camera height in info["camera"] are the renderer's."""
    env = make(size=48)
    obs, info = env.reset(seed=0, options={"episode": SPECS[1]})
    obs, *_ = env.step(A.LOOK_DOWN)
    intr = Intrinsics.from_info(info["camera"])
    assert intr.camera_height == 0.88 and intr.hfov == pytest.approx(math.radians(79))
    pts, _ = depth_to_points(obs["depth"], intr, obs["pose"])
    assert len(pts) == 48 * 48
    floor, wall = pts[pts[:, 2] < 0.01], pts[pts[:, 2] >= 0.01]
    assert len(floor) > 100 and len(wall) > 100
    np.testing.assert_allclose(floor[:, 2], 0.0, atol=1e-4)
    np.testing.assert_allclose(wall[:, 0], 0.8, atol=1e-4)
    env.close()


# ------------------------------------------------------------------------------ metrics by hand
def test_success_and_spl_for_recorded_paths() -> None:
    env = make()
    # 4 moves: habitat z 2.9 -> 1.9, a view point; Stop. l = 0.9, p = 1.0.
    _, info = run(env, [A.MOVE_AHEAD] * 4 + [A.STOP], SPECS[0])
    m = info["metrics"]
    assert m["success"] and m["steps"] == 5
    assert m["shortest_path_length"] == pytest.approx(0.9, abs=1e-6)
    assert m["path_length"] == pytest.approx(1.0, abs=1e-6)
    assert m["spl"] == pytest.approx(0.9, abs=1e-6) and m["soft_spl"] == pytest.approx(0.9, abs=1e-6)
    # 3 moves: z = 2.15, 0.15 m short of the nearest view point: Stop there fails.
    _, info = run(env, [A.MOVE_AHEAD] * 3 + [A.STOP], SPECS[0])
    m = info["metrics"]
    assert not m["success"] and m["spl"] == 0.0
    assert m["distance_to_goal"] == pytest.approx(0.15, abs=1e-6)
    assert m["soft_spl"] == pytest.approx((1 - 0.15 / 0.9) * 0.9 / 0.9, abs=1e-6)
    env.close()


def test_success_needs_stop_and_less_than_0_1_m() -> None:
    # On a view point when the step budget runs out: no Stop, no success.
    env = make(max_steps=4)
    _, info = run(env, [A.MOVE_AHEAD] * 4, SPECS[0])
    assert info["metrics"]["distance_to_goal"] == pytest.approx(0.0, abs=1e-6)
    assert not info["metrics"]["success"]
    env.close()
    env = make()
    # Start 0.34 m from the view point (2.3, 2.0): one move leaves 0.09 m (success) ...
    _, info = run(env, [A.MOVE_AHEAD, A.STOP], spec_at(0, 2.3, 2.34))
    m = info["metrics"]
    assert m["success"] and m["distance_to_goal"] == pytest.approx(0.09, abs=1e-5)
    assert m["spl"] == pytest.approx(1.0)          # p = 0.25 < l = 0.34: l / max(p, l) = 1
    # ... and from 0.36 m it leaves 0.11 m (failure).
    _, info = run(env, [A.MOVE_AHEAD, A.STOP], spec_at(0, 2.3, 2.36))
    assert not info["metrics"]["success"]
    assert info["metrics"]["distance_to_goal"] == pytest.approx(0.11, abs=1e-5)
    env.close()


def test_the_geodesic_goes_round_the_wall() -> None:
    """Episode 3 (plant, in the other room) is longer by the navmesh than in a straight line."""
    env = make()
    env.reset(seed=0, options={"episode": SPECS[3]})
    straight = np.min(np.linalg.norm(env.view_points[:, [0, 2]] - [5.0, 1.0], axis=1))
    assert env.shortest_path_length > straight + 0.05
    assert env.shortest_path_length == pytest.approx(SPECS[3]["geodesic_distance"], abs=1e-5)
    with pytest.raises(ValueError, match="no path on the navmesh"):
        env.reset(seed=0, options={"episode": spec_at(3, 2.2, 0.6)})        # inside the sofa
    env.close()


# ------------------------------------------------------------------------------ gym contract
@pytest.mark.parametrize("privileged", [False, True])
def test_gymnasium_check_env_passes_without_warnings(privileged: bool) -> None:
    """gymnasium's checker, render modes included (the spec is what gymnasium.make would attach
    once the id is registered in embodied._GYM_IDS)."""
    kwargs = {"simulator": "fake", "split": str(DATA), "width": 32, "height": 32,
              "privileged": privileged}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = HabitatObjectNavEnv(**kwargs)
        env.spec = EnvSpec(ENV_ID, entry_point=HabitatObjectNavEnv, kwargs=kwargs)
        try:
            check_env(env)
        finally:
            env.close()
    assert not [str(w.message) for w in caught]


def test_privileged_observations_and_info() -> None:
    env = make(privileged=True)
    obs, info = env.reset(seed=0, options={"episode": SPECS[0]})
    sofa = info["categories"]["sofa"]
    assert info["categories"] == {k: v + 1 for k, v in fake.CATEGORIES.items()}
    assert info["privileged"]["goal_semantic_id"] == sofa
    assert np.any(obs["instance"] == 41)
    np.testing.assert_array_equal(obs["semantic"] == sofa, obs["instance"] == 41)
    p = info["privileged"]
    grid = p["navgrid"]
    start_xy = np.array(p["start_world"][:2])
    assert grid.is_free(start_xy)
    assert not grid.is_free(habitat_to_world([2.2, F, 0.6])[:2])         # inside the sofa
    assert not grid.is_free(habitat_to_world([4.0, F, 1.0])[:2])         # the dividing wall
    ij = grid.world_to_cell(habitat_to_world(env.view_points[0])[:2])
    assert p["goal_field"][ij[0], ij[1]] == 0.0
    assert p["min_visible_pixels"] == 0 and p["agent_radius"] == 0.0
    assert len(p["goal_boxes"]) == len(env.view_points)
    info["privileged"]["goal_field"][...] = 0.0                           # writes change no score
    obs, *_ = env.reset(seed=0, options={"episode": SPECS[0]})
    assert env.shortest_path_length == pytest.approx(0.9, abs=1e-6)
    env.close()


def _scribble(data, seen=None) -> None:
    """What a careless agent could do to what it was handed (as tests/test_envs.py's scribble)."""
    seen = set() if seen is None else seen
    if id(data) in seen:
        return
    seen.add(id(data))
    if isinstance(data, np.ndarray) and data.dtype != object:
        data[...] = 0
    elif isinstance(data, dict):
        for value in list(data.values()):
            _scribble(value, seen)
        data.clear()
    elif isinstance(data, (list, tuple)):
        for value in data:
            _scribble(value, seen)
        if isinstance(data, list):
            data.clear()
    elif hasattr(data, "__dict__") and not isinstance(data, type):
        for value in list(vars(data).values()):
            _scribble(value, seen)


def test_an_agent_writing_into_what_it_got_changes_no_score() -> None:
    env = make(privileged=True)
    try:
        env.reset(seed=0, options={"episode": SPECS[3]})
        clean = env.step(A.STOP)[4]["metrics"]
        for _ in range(2):
            obs, info = env.reset(seed=0, options={"episode": SPECS[3]})
            frame = env._frame["rgb"].copy()
            _scribble(obs)
            _scribble(info)
            np.testing.assert_array_equal(env._frame["rgb"], frame)
            step_obs, *_, step_info = env.step(A.STOP)
            assert step_info["metrics"] == clean
            _scribble(step_obs)
            _scribble(step_info)
    finally:
        env.close()


# ------------------------------------------------------------------------------ every agent
def play(env: HabitatObjectNavEnv, agent, spec: dict, seed: int = 0) -> tuple[dict, list[int]]:
    """The runner's loop (runner.EpisodeRunner._attempt), as on PyBullet."""
    obs, info = env.reset(seed=seed, options={"episode": spec})
    agent.reset({**info, "seed": seed})
    actions, done = [], False
    while not done:
        actions.append(int(agent.act(obs)))
        obs, _, term, trunc, step = env.step(actions[-1])
        done = term or trunc
    return step["metrics"], actions


def test_random_agent_runs_full_episodes() -> None:
    registry.load_builtin()
    env = make(max_steps=30)
    agent = registry.make_agent(RandomConfig(stop_probability=0.0))
    metrics, actions = play(env, agent, SPECS[1], seed=3)
    assert len(actions) == metrics["steps"] == 30 and A.STOP not in actions
    assert not metrics["success"]
    env.close()


def test_oracle_reaches_every_goal() -> None:
    """The metric stack's sanity check: with the privileged navmesh grid the oracle succeeds
    on all four episodes, SPL close to 1 (measured 0.90, 0.96, 0.72, 0.98: the chair's 0.36 m
    shortest path against two 0.25 m moves is the low one)."""
    env = make(privileged=True, size=48, max_steps=100)
    agent = OracleAgent(OracleConfig())
    results = [play(env, agent, spec)[0] for spec in SPECS]
    env.close()
    assert all(m["success"] for m in results), results
    assert np.mean([m["spl"] for m in results]) >= 0.85, [m["spl"] for m in results]


def test_cow_with_ground_truth_finds_goals_on_the_fake() -> None:
    """CoW unchanged (map from depth + GPS/compass, frontiers, Stop at the target): measured
    success on all four episodes at 96 x 96 with 150 steps."""
    env = make(privileged=True, size=96, max_steps=150)
    agent = CowAgent(CowConfig())
    assert CowAgent.needs_privileged(agent.config)
    results = [play(env, agent, spec) for spec in SPECS]
    env.close()
    for metrics, actions in results:
        assert actions[-1] == A.STOP and metrics["steps"] == len(actions)
    assert all(m["success"] for m, _ in results), [m for m, _ in results]


def test_check_episode_reports_frames_pose_metrics_and_speed() -> None:
    report = check_episode({"simulator": "fake", "split": str(DATA), "width": 32, "height": 32},
                           episode_index=2, max_steps=20, backend=fake)
    assert report["simulator"] == "fake" and report["category"] == "chair"
    assert report["frames"]["rgb"]["shape"] == [32, 32, 3]
    assert report["frames"]["depth"]["shape"] == [32, 32, 1] and report["frames"]["depth"]["max"] > 0
    assert report["steps"] == 20 and report["fps"] > 0 and report["metrics"]["steps"] == 20
    assert report["goal_pixels_max"] > 0
    assert report["geodesic_distance_navmesh"] == pytest.approx(report["geodesic_distance_file"], abs=1e-5)


# ------------------------------------------------------------------------------ registration
def test_registration_yaml_and_cli_in_a_fresh_process(tmp_path) -> None:
    """Registering imports no simulator; the experiment file validates; `embodied run` drives
    CoW (ground truth) through the fake end to end; without habitat-sim the same run stops at
    once with the install line (exit 2). In a subprocess: registering here would add the id to
    this pytest process's registry, which tests/test_envs.py compares with embodied._GYM_IDS."""
    code = (
        "import json, sys\n"
        "import embodied.envs.habitat.registration\n"
        "from embodied import registry\n"
        "from embodied.config import load_config\n"
        "cfg = load_config('experiments/cow_habitat_hm3d.yaml', [])\n"
        "heavy = sorted(m for m in sys.modules if m.startswith('habitat_sim') or m == 'pybullet')\n"
        "fake_cfg = load_config('experiments/cow_habitat_hm3d.yaml', ['env.simulator=fake',\n"
        f"    'env.split={DATA}'])\n"
        "print(json.dumps({'heavy': heavy, 'env': type(cfg.env).__name__, 'steps': cfg.env.max_steps,\n"
        "    'hfov': cfg.env.hfov, 'n': len(registry.list_episodes(fake_cfg.env))}))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {
        "heavy": [], "env": "HabitatObjectNavConfig", "steps": 500, "hfov": 79.0, "n": 4}
    common = ["-m", "embodied.cli", "run", "experiments/cow_habitat_hm3d.yaml",
              "run.imports=[embodied.envs.habitat.registration]", "run.progress=false"]
    out = subprocess.run([sys.executable, *common, "env.simulator=fake", f"env.split={DATA}",
                          "env.episodes=1", "env.max_steps=40", "env.width=64", "env.height=64",
                          "agent.localizer.id=ground_truth", f"run.output={tmp_path / 'run'}"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "run" / "episodes.jsonl").read_text().splitlines()[0])
    assert record["episode_id"] == "two_rooms-0000" and record["renderer"] == "fake"
    assert record["error"] is None and record["success"] is True
    if importlib.util.find_spec("habitat_sim") is None:
        out = subprocess.run([sys.executable, *common, f"run.output={tmp_path / 'real'}"], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2
        assert out.stderr.strip().startswith("error: env.simulator: habitat_sim is not installed")
        assert "conda install habitat-sim headless -c conda-forge -c aihabitat" in out.stderr
