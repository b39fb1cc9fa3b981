"""The SfA env `embodied/Articulation-PyBullet-v0`: Gymnasium contract, interaction physics,
calibrated point cloud, user URDF validation, determinism, explosion recovery."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import embodied.envs.articulation_registration  # noqa: F401  (registers the env)
from embodied import registry
from embodied.agents.base import Agent
from embodied.config import AgentConfig, ConfigError, load_config, validate_section
from embodied.envs import articulation as art
from embodied.envs.articulated import objects as objects_lib
from embodied.envs.articulation import ArticulationConfig, ArticulationEnv
from embodied.runner import run_experiment


def find_cabinet() -> int:
    """The first seed whose cabinet has a drawer with room to slide out 0.1 m and a door."""
    for seed in range(500):
        spec = objects_lib.generate_object(seed, "cabinet")
        drawers = [j for j in spec.joints if j.type == "prismatic" and j.state < j.upper - 0.12]
        doors = [j for j in spec.joints if j.type == "revolute" and j.state < j.upper - 0.5]
        if drawers and doors:
            return seed
    raise AssertionError("no suitable cabinet")


@pytest.fixture(scope="module")
def cabinet_episode() -> dict:
    seed = find_cabinet()
    return {"episode_id": "cab", "seed": seed, "category": "cabinet"}


@pytest.fixture
def env():
    e = ArticulationEnv(max_interactions=20, privileged=True)   # tests read ground truth
    yield e
    e.close()


def handle_point(env: ArticulationEnv, joint: objects_lib.JointSpec) -> tuple[np.ndarray, np.ndarray]:
    """World point on the front of the part's handle, and the part's current outward normal."""
    part = next(p for p in env.object_spec.parts if p.name == joint.child)
    pose = env._link_pose(env.joint_index[joint.name])
    local = np.asarray(part.handle.center) + [0.01, 0.0, 0.0]
    return (pose @ np.r_[local, 1.0])[:3], pose[:3, 0]


def pull(env: ArticulationEnv, point: np.ndarray, direction: np.ndarray, distance: float) -> dict:
    action = {"point": point.astype(np.float32), "direction": direction.astype(np.float32),
              "distance": np.array([distance], np.float32)}
    return env.step(action)[4]


def test_check_env_passes() -> None:
    env = ArticulationEnv(cameras=2, width=64, height=48)
    check_env(env, skip_render_check=True)
    env.close()


def test_registered_in_both_registries() -> None:
    entry = registry.get("env", art.ENV_ID)
    assert entry.cls is ArticulationEnv and entry.config_cls is ArticulationConfig
    eps = registry.list_episodes(ArticulationConfig(episodes=3))
    assert [e["episode_id"] for e in eps] == ["val_0000", "val_0001", "val_0002"]
    assert all(2_000_000 <= e["seed"] < 3_000_000 for e in eps)
    env = gym.make(art.ENV_ID, disable_env_checker=True)
    assert isinstance(env.unwrapped, ArticulationEnv)
    env.close()


def test_splits_are_disjoint() -> None:
    seeds = {s: {e["seed"] for e in art.split_episodes(s)} for s in art.SPLITS}
    assert not seeds["train"] & seeds["val"] and not seeds["val"] & seeds["test"]
    assert not seeds["train"] & seeds["test"]
    assert len(seeds["val"]) == 30


def test_pulling_a_drawer_moves_its_joint_by_the_pull(env: ArticulationEnv, cabinet_episode) -> None:
    env.reset(options={"episode": cabinet_episode})
    joint = next(j for j in env.object_spec.joints
                 if j.type == "prismatic" and j.state < j.upper - 0.12)
    point, _ = handle_point(env, joint)
    axis = np.asarray(next(g for g in env.ground_truth() if g["joint"] == joint.name)["axis"])
    before = env.joint_states()[joint.name]
    info = pull(env, point, axis, 0.1)
    assert info["moved"] and info["link"] == joint.child and not info["physics_exploded"]
    assert info["joint_states"][joint.name] - before == pytest.approx(0.1, abs=0.02)
    assert info["metrics"] == {"interactions": 1, "moved": 1, "exploded": 0, "views": 0}


def test_the_gripper_shift_is_how_far_the_held_point_went(env: ArticulationEnv,
                                                         cabinet_episode) -> None:
    """Proprioception: a drawer pulled 10 cm along its axis carried the gripper 10 cm along it;
    a pull on the fixed carcass, or into empty space, carried it nowhere."""
    obs, _ = env.reset(options={"episode": cabinet_episode})
    assert np.all(obs["gripper_shift"] == 0.0)
    joint = next(j for j in env.object_spec.joints
                 if j.type == "prismatic" and j.state < j.upper - 0.12)
    point, _ = handle_point(env, joint)
    axis = np.asarray(next(g for g in env.ground_truth() if g["joint"] == joint.name)["axis"])
    before = env.joint_states()[joint.name]
    obs, *_, info = env.step({"point": point.astype(np.float32),
                              "direction": axis.astype(np.float32),
                              "distance": np.array([0.1], np.float32)})
    assert env.observation_space.contains(obs)
    shift = obs["gripper_shift"].astype(float)
    assert shift @ axis == pytest.approx(info["joint_states"][joint.name] - before, abs=0.005)
    assert np.linalg.norm(shift - (shift @ axis) * axis) < 0.005
    lo, hi = env._object_aabb()
    obs, *_, info = env.step({"point": (hi + 0.5).astype(np.float32),
                              "direction": np.array([1, 0, 0], np.float32),
                              "distance": np.array([0.1], np.float32)})
    assert info["link"] is None and np.all(obs["gripper_shift"] == 0.0)


def test_pulling_a_door_handle_opens_it(env: ArticulationEnv, cabinet_episode) -> None:
    env.reset(options={"episode": cabinet_episode})
    joint = next(j for j in env.object_spec.joints
                 if j.type == "revolute" and j.state < j.upper - 0.5)
    point, normal = handle_point(env, joint)
    before = env.joint_states()[joint.name]
    info = pull(env, point, normal, 0.1)
    assert info["moved"] and info["link"] == joint.child
    assert info["joint_states"][joint.name] - before > 0.1     # rad: opened by the pull
    # and pushing it back along its new normal closes it again
    point, normal = handle_point(env, joint)
    info = pull(env, point, -normal, 0.1)
    assert info["moved"] and info["joint_states"][joint.name] < before + 0.1


def test_empty_space_touches_nothing(env: ArticulationEnv, cabinet_episode) -> None:
    env.reset(options={"episode": cabinet_episode})
    before = env.joint_states()
    lo, hi = env._object_aabb()
    info = pull(env, hi + 0.5, np.array([1.0, 0.0, 0.0]), 0.2)
    assert info["link"] is None and not info["moved"] and info["joint_states"] == before


@pytest.mark.parametrize("cameras", [1, 3])
def test_point_cloud_lies_on_the_object(cameras: int, cabinet_episode) -> None:
    env = ArticulationEnv(cameras=cameras, privileged=True)   # privileged: obs has segmentation
    obs, info = env.reset(options={"episode": cabinet_episode})
    n = int(obs["num_points"][0])
    assert n > 500
    pts = obs["points"][:n]
    assert np.all(obs["points"][n:] == 0.0)
    lo, hi = env._object_aabb()                 # no floor: every point is on the object
    assert np.all(pts >= lo - 0.01) and np.all(pts <= hi + 0.01)
    # each point lies on the object's surface (the probe is a 1 mm sphere): depth, intrinsics
    # and extrinsics are consistent to about a millimetre
    sample = pts[:: max(1, n // 200)]
    dists = []
    for q in sample:
        env._p.resetBasePositionAndOrientation(env.probe, q.tolist(), [0, 0, 0, 1],
                                               physicsClientId=env.client)
        hits = env._p.getClosestPoints(env.probe, env.body, 0.05, physicsClientId=env.client)
        dists.append(min(h[8] for h in hits) if hits else 1.0)
    assert np.percentile(np.abs(dists), 99) < 0.003
    # segmentation says object wherever depth is valid, and the background is at `far`
    seg, depth = obs["segmentation"][0], obs["depth"][0]
    assert np.all((seg >= 0) == (depth < env.far))
    assert np.all(seg[seg >= 0] & ((1 << 24) - 1) == env.body)
    env.close()


def test_a_pixel_action_grabs_what_the_pixel_sees(env: ArticulationEnv, cabinet_episode) -> None:
    obs, _ = env.reset(options={"episode": cabinet_episode})
    joint = next(j for j in env.object_spec.joints if j.type == "prismatic")
    point, normal = handle_point(env, joint)
    # the pixel whose ray hits the handle front: project the point into camera 0
    K, E = obs["intrinsics"][0].astype(float), obs["extrinsics"][0].astype(float)
    cam = E[:3, :3].T @ (point - E[:3, 3])
    u, v = (int(round(K[0, 0] * cam[0] / cam[2] + K[0, 2])), int(round(K[1, 1] * cam[1] / cam[2] + K[1, 2])))
    assert np.linalg.norm(env.pixel_point((0, v, u)) - point) < 0.02     # lifted back onto it
    before = env.joint_states()[joint.name]
    info = env.step({"point": np.zeros(3, np.float32), "pixel": (0, v, u),
                     "direction": normal.astype(np.float32), "distance": np.array([0.1], np.float32)})[4]
    assert info["link"] == joint.child and info["moved"]
    assert env.joint_states()[joint.name] - before == pytest.approx(0.1, abs=0.02)
    # a pixel that sees nothing grabs nothing; one outside the image is a clear error
    assert np.all(np.isnan(env.pixel_point((0, 0, 0))))
    with pytest.raises(ValueError, match="outside 1 camera"):
        env.pixel_point((0, 999, 0))


def test_part_points_are_the_links_own_points(env: ArticulationEnv, cabinet_episode) -> None:
    obs, _ = env.reset(options={"episode": cabinet_episode})
    parts = env.part_points(obs)
    assert set(parts) == {j.child for j in env.object_spec.joints}
    total = 0
    for name, pts in parts.items():
        assert len(pts) > 50, name
        link = next(j for j in range(env.num_links) if env.link_names[j] == name)
        lo, hi = (np.asarray(v) for v in env._p.getAABB(env.body, link, physicsClientId=env.client))
        assert np.all(pts >= lo - 0.01) and np.all(pts <= hi + 0.01), name
        total += len(pts)
    # the rest of the cloud is the base: fewer points than the cloud, none shared between parts
    assert total < int(obs["num_points"][0])
    assert env.start_part_points.keys() == parts.keys()


def test_ground_truth_from_pybullet_matches_the_spec(env: ArticulationEnv, cabinet_episode) -> None:
    """The user-URDF path (reading joints from pybullet) agrees with objects.ground_truth."""
    env.reset(options={"episode": cabinet_episode})
    expected = env.ground_truth()
    env.object_spec = None
    got = env.ground_truth()
    for e, g in zip(expected, got):
        assert g["joint"] == e["joint"] and g["type"] == e["type"]
        assert np.allclose(g["axis"], e["axis"], atol=1e-3)
        off = np.asarray(g["origin"]) - np.asarray(e["origin"])   # a point on the same axis line
        assert np.linalg.norm(np.cross(off, e["axis"])) < 1e-3


def test_user_urdf_episode(tmp_path: Path, cabinet_episode) -> None:
    spec = objects_lib.generate_object(cabinet_episode["seed"], "cabinet")
    path = objects_lib.write_urdf(spec, tmp_path)
    cfg = ArticulationConfig(objects=[str(path)])
    eps = registry.list_episodes(cfg)
    assert eps[0]["urdf"] == str(path) and eps[0]["episode_id"] == path.stem
    env = ArticulationEnv(cfg, privileged=True)
    obs, info = env.reset(seed=0)
    assert info["category"] == "user" and len(info["ground_truth"]) == len(spec.joints)
    assert obs["num_points"][0] > 500
    env.close()


def test_malformed_user_urdf_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot name='x'><link name='a'/><joint name='j' type='revolute'>"
                   "<parent link='a'/><child link='b'/></joint></robot>")
    with pytest.raises(ConfigError, match=r"env\.objects\[0\]: .*bad\.urdf.*joint 'j'"):
        validate_section(ArticulationConfig, {"id": art.ENV_ID, "split": "val",
                                              "objects": [str(bad)]}, "env")
    with pytest.raises(ConfigError, match="no such URDF file"):
        ArticulationConfig(objects=[str(tmp_path / "missing.urdf")])
    (tmp_path / "junk.urdf").write_text("<robot><link")
    with pytest.raises(ConfigError, match="junk.urdf: malformed XML"):
        ArticulationConfig(objects=[str(tmp_path / "junk.urdf")])


def test_same_seed_same_observation() -> None:
    a, b = ArticulationEnv(privileged=True), ArticulationEnv(privileged=True)
    obs_a, info_a = a.reset(seed=7)
    obs_b, info_b = b.reset(seed=7)
    assert info_a["episode_id"] == info_b["episode_id"]
    for key in obs_a:
        assert np.array_equal(obs_a[key], obs_b[key]), key
    n = int(obs_a["num_points"][0])
    action = {"point": obs_a["points"][n // 2], "direction": np.array([0.3, -0.5, 0.8], np.float32),
              "distance": np.array([0.2], np.float32)}
    sa, sb = a.step(action), b.step(action)
    for key in sa[0]:
        assert np.array_equal(sa[0][key], sb[0][key]), key
    assert sa[4]["joint_states"] == sb[4]["joint_states"]
    a.close()
    b.close()


def test_done_and_max_interactions() -> None:
    env = ArticulationEnv(max_interactions=2, privileged=True)
    env.reset(seed=0)
    far = np.array([9.0, 9.0, 9.0], np.float32)
    step = {"point": far, "direction": np.array([1, 0, 0], np.float32),
            "distance": np.array([0.1], np.float32)}
    assert env.step(step)[2:4] == (False, False)
    assert env.step(step)[2:4] == (False, True)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step({**step, "distance": np.array([0.0], np.float32)})
    assert terminated and not truncated and info["metrics"]["interactions"] == 0
    with pytest.raises(RuntimeError):
        env.step(step)
    env.close()


def test_explosion_restores_the_saved_state(env: ArticulationEnv, cabinet_episode,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Any motion beyond EXPLODE_DISTANCE counts as an explosion and is rolled back."""
    env.reset(options={"episode": cabinet_episode})
    monkeypatch.setattr(art, "EXPLODE_DISTANCE", 0.02)
    joint = next(j for j in env.object_spec.joints
                 if j.type == "prismatic" and j.state < j.upper - 0.12)
    point, _ = handle_point(env, joint)
    axis = np.asarray(next(g for g in env.ground_truth() if g["joint"] == joint.name)["axis"])
    before = env.joint_states()
    info = pull(env, point, axis, 0.1)
    assert info["physics_exploded"] and not info["moved"]
    assert info["joint_states"] == pytest.approx(before, abs=1e-9)
    assert info["metrics"]["exploded"] == 1


# ------------------------------------------------------------------------- end to end (runner)
@dataclass
class PokeConfig(AgentConfig):
    """A test agent: pokes random points of the cloud towards the camera, then says done."""

    id: str = "test_articulation_poke"
    pokes: int = 2


class PokeAgent(Agent):
    """Pokes `pokes` random cloud points 5 cm towards camera 0, then sends distance 0 (done)."""

    def reset(self, info: dict) -> None:
        self.rng = np.random.default_rng(int(info["seed"]))
        self.count = 0

    def act(self, obs: dict) -> dict:
        self.count += 1
        n = int(obs["num_points"][0])
        point = obs["points"][int(self.rng.integers(n))]
        toward = obs["extrinsics"][0][:3, 3] - point
        done = self.count > self.config.pokes
        return {"point": point, "direction": (toward / np.linalg.norm(toward)).astype(np.float32),
                "distance": np.array([0.0 if done else 0.05], np.float32)}


registry.register_agent(PokeConfig.id, PokeAgent, PokeConfig)


def test_runs_under_the_experiment_runner(tmp_path: Path) -> None:
    doc = {"name": "sfa_poke", "env": {"id": art.ENV_ID, "split": "val", "episodes": 2},
           "agent": {"id": PokeConfig.id},
           "run": {"imports": ["embodied.envs.articulation_registration",
                               "tests.test_articulation_env"],
                   "output": str(tmp_path / "out"), "progress": False, "workers": 1}}
    path = tmp_path / "sfa.yaml"
    path.write_text(yaml.safe_dump(doc))
    summary = run_experiment(load_config(path))
    records = [json.loads(x) for x in (tmp_path / "out/episodes.jsonl").read_text().splitlines()]
    assert [r["episode_id"] for r in records] == ["val_0000", "val_0001"]
    for r in records:
        assert r["error"] is None and r["interactions"] == 2 and r["steps"] == 3
    assert summary["episodes"] == 2 and summary["failed"] == 0


def test_the_view_action_moves_the_cameras_not_the_object(env: ArticulationEnv, cabinet_episode) -> None:
    """A look from above: the rig goes to the asked azimuth/elevation around the object's centre,
    the object stays as it was, the cloud still lies on it, and the look costs one interaction;
    out-of-range views are clipped to VIEW_LIMITS and say so."""
    obs, _ = env.reset(options={"episode": cabinet_episode})
    states = env.joint_states()
    lo, hi = env._object_aabb()
    centre = (lo + hi) / 2
    front_eye = obs["extrinsics"][0][:3, 3].astype(float)
    yaw = env.object_spec.base_yaw
    first_parts = {k: v.copy() for k, v in env.start_part_points.items()}
    obs, _, term, trunc, info = env.step({"point": np.zeros(3), "direction": np.zeros(3),
                                          "distance": np.array([0.1]), "view": (40.0, 70.0, 1.2)})
    assert not term and not trunc and info["view"] == [40.0, 70.0, 1.2] and not info["clipped"]
    assert info["metrics"]["interactions"] == 1 and info["metrics"]["views"] == 1 and not info["moved"]
    assert env.joint_states() == states
    eye = obs["extrinsics"][0][:3, 3].astype(float)
    out = (eye - centre) / np.linalg.norm(eye - centre)
    assert np.degrees(np.arcsin(out[2])) == pytest.approx(70.0, abs=0.5)
    assert np.degrees(np.arctan2(out[1], out[0])) == pytest.approx(np.degrees(yaw) + 40.0, abs=0.5)
    fwd = obs["extrinsics"][0][:3, 2].astype(float)                 # optical axis at the centre
    assert np.dot(fwd, -out) == pytest.approx(1.0, abs=1e-4)
    assert not np.allclose(eye, front_eye)
    n = int(obs["num_points"][0])
    pts = obs["points"][:n]
    assert n > 300 and np.all(pts >= lo - 0.01) and np.all(pts <= hi + 0.01)
    # from above, the top face fills more of the cloud than from the front
    top = pts[:, 2] > hi[2] - 0.03
    assert top.mean() > 0.2
    # nothing has moved yet: what this view shows of each part joins its true start points
    assert all(len(env.start_part_points[k]) >= len(first_parts[k]) for k in first_parts)
    assert sum(len(v) for v in env.start_part_points.values()) > sum(len(v) for v in first_parts.values())
    _, _, _, _, info = env.step({"point": np.zeros(3), "direction": np.zeros(3), "distance": np.array([0.1]),
                                 "view": (0.0, 120.0, 5.0)})
    assert info["view"] == [0.0, 85.0, 2.0] and info["clipped"]
    with pytest.raises(ValueError, match="azimuth deg, elevation deg, distance scale"):
        env.step({"point": np.zeros(3), "direction": np.zeros(3), "distance": np.array([0.1]), "view": (1.0, 2.0)})
    # once a part has moved, views no longer add to the true start points
    joint = next(j for j in env.object_spec.joints if j.type == "prismatic")
    point, normal = handle_point(env, joint)
    assert pull(env, point, normal, 0.1)["moved"]
    kept = {k: len(v) for k, v in env.start_part_points.items()}
    env.step({"point": np.zeros(3), "direction": np.zeros(3), "distance": np.array([0.1]), "view": (0.0, 25.0, 1.0)})
    assert {k: len(v) for k, v in env.start_part_points.items()} == kept
