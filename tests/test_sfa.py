"""SfA agent (`embodied.agents.sfa`) and its scoring (`embodied.envs.articulation_metrics`):
hand-made estimates score exactly; the agent finds a drawer's and a door's joint in PyBullet;
an object without movable joints ends with "no articulation found"; the check_env contract holds."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
from gymnasium.utils.env_checker import check_env

from embodied import registry
from embodied.agents.sfa import NO_ARTICULATION, SfaAgent, SfaConfig
from embodied.envs.articulated import objects as objects_lib
from embodied.envs import articulation as art
from embodied.envs.articulation import ArticulationConfig, ArticulationEnv
from embodied.envs.articulation_metrics import match_joints, score_estimate
from embodied.perception.articulated_model import reload_check

# ------------------------------------------------------------------------- scoring (pure)
DOOR = {"joint": "j_door", "type": "revolute", "axis": [0.0, 0.0, 1.0], "origin": [0.5, 0.2, 0.4]}
DRAWER = {"joint": "j_drawer", "type": "prismatic", "axis": [1.0, 0.0, 0.0],
          "origin": [0.5, 0.0, 0.8]}


def test_perfect_estimate_scores_zero_error() -> None:
    est = {"joints": [{"type": "prismatic", "axis": [-1.0, 0.0, 0.0], "origin": [0.5, 0.0, 0.8]},
                      {"type": "revolute", "axis": [0.0, 0.0, -1.0], "origin": [0.5, 0.2, 2.0]}]}
    m = score_estimate(est, [DOOR, DRAWER])
    assert m["joint_type_accuracy"] == 1.0
    assert m["axis_angle_error_deg"] == 0.0 and m["axis_position_error"] == 0.0
    assert (m["parts_found"], m["parts_true"], m["parts_matched"]) == (2, 2, 2)
    assert m["articulation_found"] == 1


def test_swapped_axis_scores_90_degrees_and_offset_line_its_distance() -> None:
    est = [{"type": "revolute", "axis": [1.0, 0.0, 0.0], "origin": [0.5, 0.2, 0.4]}]
    assert score_estimate(est, [DOOR])["axis_angle_error_deg"] == pytest.approx(90.0, abs=1e-12)
    est = [{"type": "revolute", "axis": [0.0, 0.0, 1.0], "origin": [0.5, 0.23, 0.0]}]
    assert score_estimate(est, [DOOR])["axis_position_error"] == pytest.approx(0.03, abs=1e-12)


def test_wrong_type_and_missing_joints_count_against_accuracy() -> None:
    est = [{"type": "revolute", "axis": [1.0, 0.0, 0.0], "origin": [0.5, 0.0, 0.8]},
           {"type": "static", "axis": [0.0, 0.0, 0.0], "origin": [0.0, 0.0, 0.0]}]
    m = score_estimate(est, [DOOR, DRAWER])
    # the static part is no joint; the one revolute prediction is matched (to the drawer, the
    # cheaper pair: same axis and place, wrong type), the door is missed
    assert m["parts_found"] == 1 and m["parts_matched"] == 1
    assert m["joint_type_accuracy"] == 0.0
    assert "axis_position_error" not in m            # no revolute-revolute pair
    assert score_estimate(None, [DOOR])["joint_type_accuracy"] == 0.0
    # the drawer found with its right type, the door missed: 1 correct of 2 true joints = 0.5
    # (over the matched pairs only it would read 1 / 1: a perfect score for half the object)
    found = score_estimate([{"type": "prismatic", "axis": [1.0, 0.0, 0.0], "origin": [0.5, 0.0, 0.8]}],
                           [DOOR, DRAWER])
    assert (found["parts_matched"], found["joint_type_accuracy"]) == (1, 0.5)


def test_parallel_drawers_are_told_apart_by_their_centroid() -> None:
    low = dict(DRAWER, joint="low", origin=[0.5, 0.0, 0.3])
    pred = [{"type": "prismatic", "axis": [1, 0, 0], "origin": [0, 0, 0], "centroid": [0.4, 0.0, 0.32]},
            {"type": "prismatic", "axis": [1, 0, 0], "origin": [0, 0, 0], "centroid": [0.4, 0.0, 0.79]}]
    assert sorted(match_joints(pred, [DRAWER, low])) == [(0, 1), (1, 0)]


def test_joint_state_error_is_the_net_motion_error_with_the_axis_sign() -> None:
    drawer = dict(DRAWER, joint="j_drawer")
    door = dict(DOOR, joint="j_door")
    # the drawer's axis is predicted reversed: its +0.10 is -0.10 along the true axis, which
    # moved -0.12 (pushed in) -> 0.02; the door: 0.5 rad predicted, 0.45 true -> 0.05
    est = [{"type": "prismatic", "axis": [-1, 0, 0], "origin": [0.5, 0.0, 0.8], "state": 0.10},
           {"type": "revolute", "axis": [0, 0, 1], "origin": [0.5, 0.2, 0.4], "state": 0.5}]
    m = score_estimate(est, [door, drawer], displacements={"j_drawer": -0.12, "j_door": 0.45})
    assert m["joint_state_error_m"] == pytest.approx(0.02)
    assert m["joint_state_error_rad"] == pytest.approx(0.05)
    assert "joint_state_error_m" not in score_estimate(est, [door, drawer])


def test_no_true_joints() -> None:
    assert score_estimate({"joints": []}, [])["joint_type_accuracy"] == 1.0
    assert score_estimate([DOOR], [])["joint_type_accuracy"] == 0.0


def test_part_iou_and_chamfer_by_hand() -> None:
    # 1 cm voxels: the true door has 4 points in 4 voxels; the prediction shares 2 of them and
    # adds 2 voxels of its own -> IoU 2 / 6. The drawer is not predicted -> IoU 0 for it.
    door_pts = [[0.005, 0.005, 0.005], [0.015, 0.005, 0.005], [0.025, 0.005, 0.005],
                [0.035, 0.005, 0.005]]
    pred_pts = [[0.005, 0.005, 0.005], [0.015, 0.005, 0.005], [0.005, 0.105, 0.005],
                [0.005, 0.205, 0.005]]
    door = dict(DOOR, child="door")
    drawer = dict(DRAWER, child="drawer")
    est = [{"type": "revolute", "axis": [0, 0, 1], "origin": [0.5, 0.2, 0.4], "points": pred_pts}]
    m = score_estimate(est, [door, drawer], {"door": door_pts, "drawer": [[0.5, 0.0, 0.8]]})
    assert m["part_iou"] == pytest.approx((2 / 6 + 0.0) / 2)
    # Chamfer: pred->true nearest distances 0, 0, 0.1, 0.2 (mean 0.075); true->pred 0, 0,
    # 0.01, 0.02 (mean 0.0075); symmetric mean 0.04125
    assert m["chamfer_distance"] == pytest.approx(0.5 * (0.075 + 0.0075))
    # a true part without points is left out of the mean, not counted as 0
    assert score_estimate(est, [door, drawer], {"door": door_pts})["part_iou"] == pytest.approx(2 / 6)
    assert "part_iou" not in score_estimate(est, [door, drawer])


# ------------------------------------------------------------------------- agent in PyBullet
def single_joint_cabinet(kind: str) -> int:
    """The first seed whose cabinet has one joint, of `kind`, closed at the start."""
    for seed in range(2000):
        spec = objects_lib.generate_object(seed, "cabinet")
        if len(spec.joints) == 1 and spec.joints[0].type == kind and spec.joints[0].state < 0.05:
            return seed
    raise AssertionError(f"no single-{kind} cabinet")


def run_episode(env: ArticulationEnv, episode: dict, cfg: SfaConfig) -> tuple[SfaAgent, dict, dict]:
    obs, info = env.reset(options={"episode": episode})
    agent = SfaAgent(cfg)
    agent.reset(info)
    done = False
    while not done:
        action = agent.act(obs)
        obs, _, terminated, truncated, step_info = env.step(action)
        done = terminated or truncated
    assert terminated and step_info["done_called"], "the agent must end with done (and its estimate)"
    return agent, info, step_info


def test_finds_a_drawer(tmp_path: Path) -> None:
    env = ArticulationEnv(privileged=True)   # the test reads the true axis from info
    seed = single_joint_cabinet("prismatic")
    agent, info, end = run_episode(env, {"episode_id": "drawer", "seed": seed, "category": "cabinet"},
                                   SfaConfig(export_dir=str(tmp_path)))
    env.close()
    m = end["metrics"]
    assert m["parts_found"] == 1 and m["joint_type_accuracy"] == 1.0
    assert m["axis_angle_error_deg"] < 10.0
    assert m["part_iou"] > 0.8 and m["chamfer_distance"] < 0.01
    assert m["joint_state_error_m"] < 0.02          # how far it pulled the drawer, all told
    assert end["record"]["sfa_result"] == "ok"
    # the exported URDF loads and has the estimated joint
    assert agent.export_path is not None and agent.export_path.is_file()
    joints = reload_check(agent.export_path)
    assert [j["type"] for j in joints] == ["prismatic"]
    true_axis = info["ground_truth"][0]["axis"]
    assert abs(float(np.dot(joints[0]["axis"], true_axis))) > math.cos(math.radians(10.0))


def test_finds_a_door() -> None:
    env = ArticulationEnv()
    seed = single_joint_cabinet("revolute")
    _, _, end = run_episode(env, {"episode_id": "door", "seed": seed, "category": "cabinet"}, SfaConfig())
    env.close()
    m = end["metrics"]
    assert m["parts_found"] == 1 and m["joint_type_accuracy"] == 1.0
    assert m["axis_angle_error_deg"] < 10.0 and m["axis_position_error"] < 0.05
    assert m["part_iou"] > 0.6


def test_two_doors_on_one_hinge_line_are_two_parts() -> None:
    """A stacked fridge: both doors turn about the same line; where along it tells them apart."""
    seed = next(s for s in range(2000)
                if len((spec := objects_lib.generate_object(s, "fridge")).joints) == 2
                and np.allclose(spec.joints[0].origin[:2], spec.joints[1].origin[:2])
                and np.allclose(spec.joints[0].axis, spec.joints[1].axis))
    env = ArticulationEnv(max_interactions=10)
    agent, _, end = run_episode(env, {"episode_id": "fridge", "seed": seed, "category": "fridge"},
                                SfaConfig())
    env.close()
    m = end["metrics"]
    assert m["parts_found"] == 2 and m["joint_type_accuracy"] == 1.0, m
    assert m["axis_position_error"] < 0.035      # one door swings ~57 degrees from one pull


FIXED_URDF = """<?xml version="1.0"?>
<robot name="rigid">
  <link name="base">
    <inertial><mass value="5"/><inertia ixx="0.1" ixy="0" ixz="0" iyy="0.1" iyz="0" izz="0.1"/></inertial>
    <visual><origin xyz="0 0 0.3"/><geometry><box size="0.4 0.5 0.6"/></geometry></visual>
    <collision><origin xyz="0 0 0.3"/><geometry><box size="0.4 0.5 0.6"/></geometry></collision>
  </link>
  <link name="knob">
    <inertial><mass value="0.1"/><inertia ixx="1e-4" ixy="0" ixz="0" iyy="1e-4" iyz="0" izz="1e-4"/></inertial>
    <visual><geometry><box size="0.04 0.1 0.04"/></geometry></visual>
    <collision><geometry><box size="0.04 0.1 0.04"/></geometry></collision>
  </link>
  <joint name="fixed_knob" type="fixed">
    <parent link="base"/><child link="knob"/><origin xyz="0.22 0 0.45"/>
  </joint>
</robot>
"""


def test_rigid_object_ends_with_no_articulation_found(tmp_path: Path) -> None:
    path = tmp_path / "rigid.urdf"
    path.write_text(FIXED_URDF)
    # Handed to the env directly: as `env.objects` a file without a movable joint is a config error
    # (an experiment must not score an object with nothing to find); the agent must still cope.
    env = ArticulationEnv(ArticulationConfig(max_interactions=6), privileged=True)
    agent, info, end = run_episode(env, {"episode_id": "rigid", "seed": 0, "category": "user",
                                         "urdf": str(path)}, SfaConfig(export_dir=str(tmp_path / "out")))
    env.close()
    assert info["ground_truth"] == []
    assert end["record"]["sfa_result"] == NO_ARTICULATION
    m = end["metrics"]
    assert m["parts_found"] == 0 and m["articulation_found"] == 0 and m["joint_type_accuracy"] == 1.0
    assert m["interactions"] >= 1                        # it did try
    assert reload_check(agent.export_path) == []         # a rigid model still exports


def test_registered_and_check_env_still_passes() -> None:
    import embodied.agents  # noqa: F401  (registers the agents)

    entry = registry.get("agent", "sfa")
    assert entry.cls is SfaAgent and entry.config_cls is SfaConfig
    env = ArticulationEnv(width=64, height=48)
    check_env(env, skip_render_check=True)
    env.close()


def test_patience_stops_when_nothing_new_moves(tmp_path: Path) -> None:
    path = tmp_path / "rigid.urdf"
    path.write_text(FIXED_URDF)
    env = ArticulationEnv(ArticulationConfig(max_interactions=10))  # directly: see the test above
    agent, _, end = run_episode(env, {"episode_id": "rigid", "seed": 0, "category": "user",
                                      "urdf": str(path)}, SfaConfig(patience=2))
    env.close()
    assert end["metrics"]["interactions"] == 2 and agent.export_path is None


def box_distance(points: np.ndarray, boxes, pose: np.ndarray) -> np.ndarray:
    """Distance (m) from world points to the union of a link's boxes, the link at `pose`."""
    local = (points - pose[:3, 3]) @ pose[:3, :3]
    best = np.full(len(points), np.inf)
    for b in boxes:
        q = np.abs(local - np.asarray(b.center)) - np.asarray(b.size) / 2.0
        best = np.minimum(best, np.linalg.norm(np.maximum(q, 0.0), axis=1))
    return best


def test_a_drawer_pulled_out_shows_its_tray_in_the_model(tmp_path: Path) -> None:
    """What the closed drawer hid (its sides and floor) joins its start-pose points, and lies on
    the drawer's true boxes, not on the cabinet behind it."""
    env = ArticulationEnv(max_interactions=15)
    episode = next(e for e in art.split_episodes("val") if e["episode_id"] == "val_0000")
    obs, info = env.reset(options={"episode": episode})
    start = {env.link_names[j]: env._link_pose(j) for j in env.movable}
    agent = SfaAgent(SfaConfig(max_interactions=14, export_dir=str(tmp_path)))
    agent.reset(info)
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(agent.act(obs))
        done = terminated or truncated
    boxes = {p.name: p.boxes for p in env.object_spec.parts}
    env.close()
    grown = 0
    for part in agent.parts:
        # the true part it is: the one its first-seen points lie on
        name = min(start, key=lambda n: np.median(box_distance(part.rest_points, boxes[n], start[n])))
        on_part = box_distance(part.canonical, boxes[name], start[name]) < 0.015
        assert on_part.mean() > 0.9, (name, on_part.mean())
        axis = np.asarray(part.joint.axis)
        if part.joint.type == "prismatic" and np.ptp(part.canonical @ axis) > 0.2:
            assert np.ptp(part.rest_points @ axis) < 0.08       # the front (and handle) only
            grown += 1
    assert grown >= 1
    assert agent.export_path is not None and reload_check(agent.export_path)


def test_the_experiment_writes_scores_models_and_videos(tmp_path: Path) -> None:
    """`embodied run experiments/sfa_pybullet.yaml`, two objects: every object's URDF lands in the
    run folder and reloads, each episode has a video, and summary.json has means and medians."""
    import json

    from embodied.config import load_config
    from embodied.runner import run_experiment

    cfg = load_config("experiments/sfa_pybullet.yaml",
                      ["env.episodes=2", "run.workers=1", "run.progress=false", "run.save_video=true",
                       f"run.output={tmp_path}"])
    summary = run_experiment(cfg)
    assert summary["failed"] == 0
    for name in ("joint_type_accuracy", "part_iou", "axis_angle_error_deg"):
        assert name in summary["metrics"] and name in summary["medians"]
    records = [json.loads(x) for x in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    for r in records:
        urdf = tmp_path / "urdf" / r["episode_id"] / f"{r['episode_id']}.urdf"
        assert urdf.is_file() and len(reload_check(urdf)) == r["parts_found"]
        assert (tmp_path / "videos" / f"{r['episode_id']}.mp4").stat().st_size > 1000


def test_a_door_swung_far_by_one_pull_is_still_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A microwave door 52° open, pulled at its free edge, swings a further ~22°: too far from
    the commanded translation for ICP to converge, so only the swing guesses (rotations about
    hinge lines at the part's edges) fit it. Without them this pull finds nothing."""
    point = np.array([-0.771, -0.176, 0.178])
    direction = np.array([-0.98, -0.17, 0.05]) / np.linalg.norm([-0.98, -0.17, 0.05])
    pull = {"point": point.astype(np.float32), "direction": direction.astype(np.float32),
            "distance": np.array([0.12], np.float32)}
    env = ArticulationEnv(ArticulationConfig(split="test"), privileged=True)   # gt in info
    episode = art.split_episodes("test", 67)[66]

    def one_pull() -> tuple[SfaAgent, dict, dict]:
        obs, info = env.reset(seed=0, options={"episode": episode})
        agent = SfaAgent(SfaConfig())
        agent.reset(info)
        agent.act(obs)                                   # sees the first view ...
        agent.pending = (point, direction, 0.12)         # ... but this pull is made instead
        obs, _, _, _, step = env.step(pull)
        agent.act(obs)                                   # segments and fits what it moved
        return agent, info["ground_truth"][0], step

    agent, truth, step = one_pull()
    assert step["moved"] and step["link"] == truth["child"]
    assert len(agent.parts) == 1, agent.log
    joint = agent.parts[0].joint
    assert joint.type == "revolute"
    assert abs(np.dot(joint.axis, truth["axis"])) > math.cos(math.radians(5.0))
    assert abs(abs(joint.state) - 0.38) < 0.05          # the door turned 0.90 -> 1.28 rad

    # without the fits that start from turns (about an edge; in the face's plane) and the pure
    # slide, the commanded translation alone finds nothing the hand's motion allows
    for fallback in ("_fit_swing", "_fit_slide", "_fit_spin"):
        monkeypatch.setattr(SfaAgent, fallback, lambda self, *args: None)
    agent, _, _ = one_pull()
    env.close()
    assert agent.parts == [] and "no rigid fit" in agent.log[0]["why"]


def _plate(x0: float, z0: float, width: float, height: float) -> np.ndarray:
    """Points of a vertical plate facing +y (a door front), 1 cm apart."""
    xs, zs = np.meshgrid(np.arange(x0, x0 + width, 0.01), np.arange(z0, z0 + height, 0.01))
    return np.stack([xs.ravel(), np.zeros(xs.size), zs.ravel()], axis=1)


def test_parts_filling_the_same_start_space_merge_and_neighbours_do_not() -> None:
    """A lid nudged 4° was fitted as a slide, then pulled further as the hinge it is: two
    'parts' that fill the same space at the start are one, and the hinge wins the vote. A
    drawer right below it stays a part of its own."""
    from embodied.agents.sfa import _Part
    from embodied.perception.articulation import JointEstimate

    def part(points: np.ndarray, *estimates: JointEstimate, now=(0.0, 0.03, 0.0)) -> _Part:
        return _Part(rest_points=points, current_points=points + now,
                     estimates=list(estimates), grasp=points[0], grasp_shift=np.zeros(3),
                     touch=points[0], pull=np.array([0.0, 1.0, 0.0]), canonical=points)

    hinge = lambda state: JointEstimate("revolute", np.array([1.0, 0.0, 0.0]),
                                         np.array([0.0, -0.4, 0.8]), state, state_range=(0, state))
    slide = JointEstimate("prismatic", np.array([0.0, 0.6, 0.8]), np.zeros(3), 0.03)
    lid = _plate(0.0, 0.5, 0.4, 0.3)
    nudged = part(lid, slide)                         # found first, as a slide
    swung = part(lid[::2] + [0.0, 0.0, 0.005], hinge(0.3), hinge(0.2),   # the same lid, later,
                 now=(0.0, 0.1, 0.25))                                 # now far from its nudge
    drawer = part(_plate(0.0, 0.2, 0.4, 0.28), JointEstimate(
        "prismatic", np.array([0.0, 1.0, 0.0]), np.array([0.2, 0.0, 0.3]), 0.1))
    agent = SfaAgent(SfaConfig())
    agent.reset({})
    # where it is now and its joint tell them apart: only the space they filled at the start does not
    assert not agent._same_part(nudged, swung.current_points, swung.joint)
    agent.parts = [nudged, drawer, swung]
    agent._merge_duplicates()
    assert [len(p.estimates) for p in agent.parts] == [3, 1]
    assert agent.parts[0].joint.type == "revolute" and agent.parts[1] is drawer


def test_a_part_first_recorded_far_from_its_start_is_found_along_its_joint() -> None:
    """A pull swung a door 40° unseen (no fit), a later one found it: its recorded points lie
    decimetres from where it started, but on the arc its hinge allows. At the end the agent
    turns them about the estimated hinge until they cover the first cloud's moved points, and
    takes those as the door's start."""
    from embodied.agents.sfa import _Part
    from embodied.perception.articulation import JointEstimate, joint_motion

    door = _plate(0.0, 0.2, 0.4, 0.5)                     # hinge line: x = 0, y = 0, along z
    carcass = _plate(-0.3, 0.0, 0.25, 0.8) + [0.0, -0.05, 0.0]
    hinge = JointEstimate("revolute", np.array([0.0, 0.0, 1.0]), np.zeros(3), 0.35,
                          state_range=(0.0, 0.35))

    def turned(deg: float) -> np.ndarray:
        R, t = joint_motion(replace(hinge, state=math.radians(deg)))
        return door @ R.T + t

    agent = SfaAgent(SfaConfig())
    agent.reset({})
    agent.first_cloud = np.concatenate([carcass, door])
    agent.prev = np.concatenate([carcass, turned(60.0)])
    recorded = turned(40.0)
    agent.parts = [_Part(rest_points=recorded, current_points=turned(60.0), estimates=[hinge],
                         grasp=recorded[-1], grasp_shift=np.zeros(3), touch=recorded[-1],
                         pull=np.array([0.0, 1.0, 0.0]), canonical=recorded)]
    agent._start_points()
    start = agent.parts[0].rest_points
    assert len(start) > 0.9 * len(door)
    assert np.max(cKDTree(door).query(start)[0]) < 1e-9          # all of them door-start points


def test_handles_inside_a_face_come_before_proud_corners() -> None:
    """A test-split cabinet whose top overhangs its front: the overhang's corners stand proud
    like handles (the largest proud clusters), but only the doors' handles sit inside a face,
    so they are proposed first."""
    from embodied.agents.sfa_scorer import first_candidates

    env = ArticulationEnv(ArticulationConfig(split="test"))
    obs, cloud, cameras, cands = first_candidates(env, SfaAgent(SfaConfig()),
                                                  art.split_episodes("test", 61)[60])
    link = env.point_links(obs)
    on_part = np.isin(link[cands.index[cands.handle]], env.movable)
    env.close()
    assert on_part.any() and not on_part.all()               # a real handle and proud corners
    assert list(on_part) == sorted(on_part, reverse=True), on_part   # handles on parts first


def test_a_turn_about_a_far_line_is_a_slide_and_about_an_edge_a_hinge() -> None:
    """A drawer front pushed 12 cm in, fitted with a 2.5° turn about a line 3 m away, is a
    slide along its motion; the same plate turned 10° about its own edge is a hinge there."""
    from embodied.agents.sfa_motion import FAR_HINGE, joint_from_motion
    from embodied.perception.articulation import transform_points

    front = _plate(0.0, 0.2, 0.4, 0.2)                            # x 0..0.4, y = 0, z 0.2..0.4
    centre = front.mean(axis=0)
    z = np.array([0.0, 0.0, 1.0])

    def turn(deg: float, pivot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        R = Rotation.from_rotvec(z * math.radians(deg)).as_matrix()
        return R, pivot - R @ pivot

    # about a vertical line 3 m to the side: the front moves ~13 cm along -y
    R, t = turn(2.5, centre + [3.0, 0.0, 0.0])
    slide = joint_from_motion(R, t, front, centre)
    shift = transform_points(R, t, centre[None])[0] - centre
    assert slide.type == "prismatic"
    assert np.allclose(slide.axis, shift / np.linalg.norm(shift))
    assert slide.state == pytest.approx(np.linalg.norm(shift))
    R, t = turn(10.0, np.array([0.0, 0.0, 0.3]))                  # its left edge
    hinge = joint_from_motion(R, t, front, centre)
    assert hinge.type == "revolute" and abs(hinge.axis @ z) == pytest.approx(1.0)
    assert np.linalg.norm(hinge.origin[:2]) < 1e-6
    # the same far turn on a part that reaches within FAR_HINGE of the line stays a hinge
    R, t = turn(2.5, centre + [0.9 * FAR_HINGE + 0.2, 0.0, 0.0])
    assert joint_from_motion(R, t, front, centre).type == "revolute"


def test_a_pull_whose_gripper_moved_unseen_is_made_again_from_where_the_grip_ended() -> None:
    """The env's gripper_shift says the held point went 5 cm, but the cloud shows no change
    (the part's surface slid along itself): the agent pulls once more, the same way, from where
    the grip ended. Once only; and not at all when the gripper stayed put."""
    front = _plate(0.0, 0.2, 0.4, 0.3)
    cloud = np.concatenate([front, front + [0.0, -0.01, 0.0]])
    pad = np.zeros((len(cloud) + 10, 3), np.float32)
    pad[:len(cloud)] = cloud
    camera = np.eye(4)
    camera[:3, 3] = [0.2, 2.0, 0.35]

    def obs(shift: list[float]) -> dict:
        return {"rgb": np.zeros((1, 4, 4, 3), np.uint8), "depth": np.full((1, 4, 4), 5.0, np.float32),
                "intrinsics": np.eye(3, dtype=np.float32)[None], "extrinsics": camera[None],
                "points": pad, "num_points": np.array([len(cloud)]),
                "gripper_shift": np.array(shift, np.float32)}

    point, direction = front[40], np.array([0.0, 1.0, 0.0])
    agent = SfaAgent(SfaConfig(max_interactions=5))
    agent.reset({})
    agent.act(obs([0.0, 0.0, 0.0]))
    agent.pending = (point, direction, 0.12)
    action = agent.act(obs([0.0, 0.05, 0.0]))                # moved, but nothing changed in view
    assert agent.log[-1]["repeat"] and "changed points" in agent.log[-1]["why"]
    np.testing.assert_allclose(action["point"], point + [0.0, 0.05, 0.0], atol=1e-6)
    np.testing.assert_allclose(action["direction"], direction)
    agent.pending = (point + [0.0, 0.05, 0.0], direction, 0.12)
    action = agent.act(obs([0.0, 0.04, 0.0]))                # again unseen: not a third time
    assert "repeat" not in agent.log[-1]
    assert agent.repeat is None
    agent.pending = (front[100], direction, 0.12)
    agent.act(obs([0.0, 0.004, 0.0]))                        # the gripper stayed put
    assert "repeat" not in agent.log[-1] and agent.repeat is None
