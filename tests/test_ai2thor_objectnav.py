"""RoboTHOR ObjectNav through the THOR adapter, driven by the FAKE controller (fake.py: a box
world emitting real `ai2thor.server.Event`s): the challenge's dataset format, its success rule,
SPL equal to ai2thor's own `compute_single_spl` on the recorded paths, and every ObjectNav agent
(random, oracle, CoW) for full episodes through the same runner as on PyBullet.
"""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import records, require_extra, write_yaml

require_extra("ai2thor", "thor", "EMBODIED_REQUIRE_THOR")

from ai2thor.server import Event  # noqa: E402
from ai2thor.util.metrics import compute_single_spl, path_distance  # noqa: E402

from embodied import registry  # noqa: E402
from embodied.config import ConfigError, load_config  # noqa: E402
from embodied.envs.ai2thor import robothor_episodes as eps  # noqa: E402
from embodied.envs.ai2thor.fake import FakeController  # noqa: E402
from embodied.envs.ai2thor.objectnav import (ENV_ID, RobothorObjectNavConfig,  # noqa: E402
                                             RobothorObjectNavEnv)
from embodied.interfaces import DiscreteNavigationAction as A  # noqa: E402
from embodied.runner import run_experiment  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "robothor"
SMALL = {"width": 64, "height": 48}


def make_env(privileged: bool = False, **kw) -> RobothorObjectNavEnv:
    cfg = RobothorObjectNavConfig(controller="fake", dataset=str(DATA), thor=dict(SMALL), **kw)
    return RobothorObjectNavEnv(cfg, privileged=privileged)


def episode(ident: str) -> dict:
    return next(e for e in eps.read_episodes(str(DATA), "val") if e["episode_id"] == ident)


def as_dicts(points: list[list[float]]) -> list[dict[str, float]]:
    return [dict(zip("xyz", p)) for p in points]


# ----------------------------------------------------------------------------------- dataset
def test_reads_the_challenge_format() -> None:
    got = eps.read_episodes(str(DATA), "val")
    assert [e["episode_id"] for e in got] == [
        "FloorPlan_Fake1_1_Television_0", "FloorPlan_Fake1_1_Apple_1", "FloorPlan_Fake1_1_Mug_2",
        "FloorPlan_Fake1_2_Laptop_0", "FloorPlan_Fake1_2_Vase_1"]
    first = got[0]
    assert first["initial_horizon"] == 30.0 and first["initial_orientation"] == 90.0
    assert first["shortest_path_length"] == pytest.approx(path_distance(first["shortest_path"]))
    one_file = DATA / "val/episodes/FloorPlan_Fake1_2.json.gz"
    assert [e["scene"] for e in eps.read_episodes(str(one_file), "ignored")] == ["FloorPlan_Fake1_2"] * 2


def test_missing_dataset_says_where_to_get_it(tmp_path: Path) -> None:
    for dataset in (None, str(tmp_path / "absent"), str(tmp_path)):
        with pytest.raises(ConfigError, match="allenai/robothor-challenge") as err:
            eps.read_episodes(dataset, "val")
        assert err.value.key == "env.dataset"


def test_episode_without_a_required_field_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json.gz"
    with gzip.open(bad, "wt") as f:
        json.dump([{"id": "x", "scene": "FloorPlan_Fake1_1", "object_type": "Mug"}], f)
    with pytest.raises(ValueError, match=r"episode #0 lacks \['initial_position', 'initial_orientation'\]"):
        eps.read_episodes(str(bad), "val")


# ----------------------------------------------------------------------------------- the fake
def test_the_fake_says_so_and_emits_real_events() -> None:
    fake = FakeController()
    assert fake.is_fake and isinstance(fake.last_event, Event) and fake.last_event.metadata["fake"]
    with pytest.raises(ValueError, match="Invalid action"):
        fake.step(action="Teleport")
    env = make_env()
    try:
        _, info = env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_1_Mug_2")})
        assert info["renderer"] == "fake"
    finally:
        env.close()


# ----------------------------------------------------------------------------------- success
def _event_with(env: RobothorObjectNavEnv, **goal_fields) -> Event:
    event = env.controller.step(action="Pass")
    for obj in event.metadata["objects"]:
        if obj["objectType"] == env.category:
            obj.update(goal_fields)
    return event


@pytest.mark.parametrize("visible, distance, category_only_elsewhere, expected", [
    (True, 0.99, False, True),
    (True, 1.0, False, True),
    (True, 1.01, False, False),      # visible but beyond 1.0 m
    (False, 0.5, False, False),      # close but not visible
    (True, 0.5, True, False),        # another type is what is visible
])
def test_success_only_when_a_goal_object_is_visible_within_one_metre(
        visible: bool, distance: float, category_only_elsewhere: bool, expected: bool) -> None:
    env = make_env()
    try:
        env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_1_Mug_2")})
        if category_only_elsewhere:
            env.category = "Television"
            event = _event_with(env, visible=False, distance=0.5)
            for obj in event.metadata["objects"]:
                if obj["objectType"] == "Mug":
                    obj.update(visible=True, distance=0.5)
        else:
            event = _event_with(env, visible=visible, distance=distance)
        assert env.goal_visible(event) is expected
        env._event = event
        metrics = env.step(A.STOP)[4]["metrics"]
        assert metrics["success"] is expected
        assert (metrics["spl"] > 0) is expected
    finally:
        env.close()


def test_stop_far_from_the_goal_fails_and_running_out_of_steps_never_succeeds() -> None:
    env = make_env(max_steps=3)
    try:
        env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_1_Television_0")})
        assert env.step(A.STOP)[4]["metrics"]["success"] is False
        env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_1_Television_0")})
        out = [env.step(A.ROTATE_LEFT) for _ in range(3)]
        assert out[-1][3] and not out[-1][2] and out[-1][4]["metrics"]["success"] is False
    finally:
        env.close()


# ----------------------------------------------------------------------------------- SPL
def _oracle_episode(env: RobothorObjectNavEnv, ident: str) -> dict:
    from embodied.agents.oracle import OracleAgent, OracleConfig

    agent = OracleAgent(OracleConfig())
    obs, info = env.reset(seed=0, options={"episode": episode(ident)})
    agent.reset({**info, "seed": 0})
    for _ in range(env.config.max_steps):
        obs, _, terminated, truncated, step_info = env.step(agent.act(obs))
        if terminated or truncated:
            return step_info
    raise AssertionError("the episode did not end")


@pytest.mark.parametrize("ident", ["FloorPlan_Fake1_1_Mug_2", "FloorPlan_Fake1_2_Vase_1"])
def test_spl_equals_ai2thors_compute_single_spl_on_the_recorded_paths(ident: str) -> None:
    env = make_env(privileged=True, max_steps=120)
    try:
        info = _oracle_episode(env, ident)
    finally:
        env.close()
    m, rec = info["metrics"], info["record"]
    path, shortest = as_dicts(rec["path"]), as_dicts(rec["shortest_path"])
    assert m["success"] is True and len(path) == m["steps"]    # the start + every action but Stop
    # by hand: l / max(p, l), p and l the 3-D polyline lengths
    p = sum(math.dist(a, b) for a, b in zip(rec["path"], rec["path"][1:]))
    l = sum(math.dist(a, b) for a, b in zip(rec["shortest_path"], rec["shortest_path"][1:]))
    assert (m["path_length"], m["shortest_path_length"]) == (pytest.approx(p), pytest.approx(l))
    # (0, 1]: success counts within 1 m while THOR's path runs to the object, so p < l happens
    assert 0 < m["spl"] <= 1 and m["spl"] == pytest.approx(l / max(p, l))
    assert m["spl"] == pytest.approx(compute_single_spl(path, shortest, m["success"]), abs=1e-12)
    assert compute_single_spl(path, shortest, False) == 0.0
    assert m["distance_to_goal"] < 1.0 and 0.0 < m["soft_spl"] <= 1.0


def test_spl_of_a_failed_walk_is_zero_in_both() -> None:
    env = make_env(max_steps=6)
    try:
        env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_1_Television_0")})
        for a in (A.MOVE_AHEAD, A.MOVE_AHEAD, A.ROTATE_LEFT, A.MOVE_AHEAD):
            env.step(a)
        info = env.step(A.STOP)[4]
    finally:
        env.close()
    m, rec = info["metrics"], info["record"]
    assert m["success"] is False and m["spl"] == 0.0
    assert compute_single_spl(as_dicts(rec["path"]), as_dicts(rec["shortest_path"]), m["success"]) == 0.0
    assert m["path_length"] == pytest.approx(0.75)                 # three 0.25 m moves
    assert 0.0 < m["soft_spl"] < 1.0


def test_shortest_path_comes_from_thors_query_from_the_start() -> None:
    env = make_env()
    try:
        env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_2_Laptop_0")})
        query = [c for c in env.controller.calls if c["action"] == "GetShortestPath"][-1]
        assert query["objectType"] == "Laptop"
        assert (query["position"]["x"], query["position"]["z"]) == (1.0, 1.5)
        assert env.shortest_path_length == pytest.approx(episode("FloorPlan_Fake1_2_Laptop_0")["shortest_path_length"])
    finally:
        env.close()


# ----------------------------------------------------------------------------------- agents
def test_observation_and_info_match_the_pybullet_contract() -> None:
    env = make_env(privileged=True)
    try:
        obs, info = env.reset(seed=0, options={"episode": episode("FloorPlan_Fake1_1_Apple_1")})
        assert set(obs) == {"rgb", "depth", "pose", "goal", "instance", "semantic"}
        assert obs in env.observation_space
        assert info["actions"] == ("MoveAhead", "RotateLeft", "RotateRight", "LookUp", "LookDown", "Stop")
        assert info["camera"]["height_m"] == pytest.approx(0.88) and info["categories"]["background"] == 0
        np.testing.assert_allclose(obs["pose"], [0, 0, 0, -math.pi / 6], atol=1e-6)   # horizon 30 down
        obs, *_ = env.step(A.MOVE_AHEAD)      # initial_orientation 0: THOR +z, the world's +Y
        np.testing.assert_allclose(obs["pose"], [0.25, 0, 0, -math.pi / 6], atol=1e-6)
        obs, *_ = env.step(A.ROTATE_LEFT)
        assert obs["pose"][2] == pytest.approx(math.radians(30))
    finally:
        env.close()


@pytest.mark.parametrize("agent", [
    {"id": "random"},
    {"id": "oracle"},
    {"id": "cow", "localizer": {"id": "ground_truth"}},
])
def test_every_objectnav_agent_runs_full_episodes_through_the_runner(tmp_path: Path, agent: dict) -> None:
    cfg_path = write_yaml(tmp_path / "exp.yaml", {
        "name": f"robothor_fake_{agent['id']}",
        "env": {"id": ENV_ID, "controller": "fake", "dataset": str(DATA), "split": "val",
                "episodes": 2, "max_steps": 40, "thor": {"width": 64, "height": 48}},
        "agent": agent,
        "run": {"workers": 1, "seed": 0, "progress": False, "output": str(tmp_path / "out")},
    })
    summary = run_experiment(load_config(cfg_path))
    recs = records(tmp_path / "out")
    assert summary["episodes"] == 2 and summary["failed"] == 0
    for rec in recs.values():
        assert rec["error"] is None and rec["renderer"] == "fake"
        assert 1 <= rec["steps"] <= 40
        assert rec["spl"] == pytest.approx(compute_single_spl(as_dicts(rec["path"]), as_dicts(rec["shortest_path"]),
                                                              rec["success"]), abs=1e-12)
    if agent["id"] == "oracle":
        assert all(rec["success"] for rec in recs.values())


def test_registered_and_listed_through_the_registry() -> None:
    registry.load_builtin()
    cfg = RobothorObjectNavConfig(controller="fake", dataset=str(DATA), episodes=3)
    assert [e["episode_id"] for e in registry.list_episodes(cfg)][:1] == ["FloorPlan_Fake1_1_Television_0"]
    assert registry.get("env", ENV_ID).cls is RobothorObjectNavEnv


def test_check_episode_reports_what_one_episode_saw() -> None:
    from embodied.envs.ai2thor.check import CHECK_POLICY, check_episode

    cfg = RobothorObjectNavConfig(controller="fake", dataset=str(DATA), thor=dict(SMALL))
    report = check_episode(cfg)
    assert report["renderer"] == "fake" and report["episode_id"] == "FloorPlan_Fake1_1_Television_0"
    assert report["rgb"][:2] == [[48, 64, 3], "uint8"] and report["depth"][0] == [48, 64, 1]
    assert report["steps"] == len(CHECK_POLICY) and report["fps"] > 0
    assert report["camera"]["camera_height"] == pytest.approx(0.88)
    assert report["spl_ai2thor"] == pytest.approx(report["metrics"]["spl"], abs=1e-12)
    assert report["pose_end"][0] == pytest.approx(1.0, abs=1e-5)   # four 0.25 m steps straight ahead
    json.dumps(report)
