"""SfA beyond its own generator: the hand-written held-out set scored end to end, and the pieces
that got it there (handles flush with their door, the view action, fits that follow the hand).

The set (tests/data/handwritten, README there) was written by hand in PartNet-Mobility layout;
none of it comes from `embodied.envs.articulated.objects`. The thresholds are the issue's done
criteria; `experiments/sfa_handwritten.yaml` is the same run from the command line.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from embodied.agents.sfa import SfaAgent, SfaConfig
from embodied.agents.sfa_views import camera_elevation, touches_border
from embodied.config import load_config
from embodied.perception.articulation import JointEstimate, aggregate_joint
from embodied.perception.pointcloud import face_offsets, normals_and_offsets
from embodied.runner import run_experiment

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the whole set
@pytest.fixture(scope="module")
def handwritten_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, dict]]:
    """experiments/sfa_handwritten.yaml as shipped (views on), into a temporary folder."""
    raw = yaml.safe_load((REPO / "experiments/sfa_handwritten.yaml").read_text())
    raw["env"]["objects"] = [str(REPO / p) for p in raw["env"]["objects"]]
    raw["run"].update(output=str(tmp_path_factory.mktemp("hw") / "out"), progress=False)
    path = tmp_path_factory.mktemp("cfg") / "hw.yaml"
    path.write_text(yaml.safe_dump(raw))
    summary = run_experiment(load_config(path))
    lines = (Path(raw["run"]["output"]) / "episodes.jsonl").read_text().splitlines()
    by_name = {json.loads(line)["episode_id"]: json.loads(line) for line in lines}   # folder names
    assert sorted(by_name) == sorted(Path(p).parent.name for p in raw["env"]["objects"])
    return summary, by_name


def test_handwritten_set_meets_the_targets(handwritten_run) -> None:
    summary, by_name = handwritten_run
    assert summary["episodes"] == 10 and summary["failed"] == 0
    mean, median = summary["metrics"], summary["medians"]
    assert mean["joint_type_accuracy"] >= 0.9, {k: r["joint_type_accuracy"] for k, r in by_name.items()}
    assert median["axis_angle_error_deg"] <= 5.0
    assert median["axis_position_error"] <= 0.03
    assert median["part_iou"] >= 0.6
    # the lid hinged at its back that starts closed: the case a fixed front camera got wrong
    chest = by_name["chest_back_lid"]
    assert chest["joint_type_accuracy"] == 1.0 and chest["part_iou"] >= 0.6, chest
    assert chest["views"] >= 1                     # it looked from above before lifting
    # the small drawer pulled out of the frame: seen again from further away, and fitted
    small = by_name["scaled_small_cabinet"]
    assert small["views"] >= 1 and small["failures"]["ok"] == 2, small


def test_handwritten_failures_are_tabled(handwritten_run) -> None:
    summary, by_name = handwritten_run
    table = summary["failures"]
    assert sum(table.values()) == 15                    # every true joint of the set, once
    assert table["ok"] >= 12
    assert sum(r["failures"]["ok"] for r in by_name.values()) == table["ok"]


def test_fixed_cameras_never_move(tmp_path: Path) -> None:
    """agent.views=false is the fixed-camera setting: no view action is ever sent."""
    from embodied.envs.articulation import ArticulationConfig, ArticulationEnv, user_episodes

    env = ArticulationEnv(ArticulationConfig(max_interactions=8))
    episode = user_episodes([str(REPO / "tests/data/handwritten/chest_back_lid/mobility.urdf")])[0]
    obs, info = env.reset(options={"episode": episode})
    agent = SfaAgent(SfaConfig(max_interactions=7, views=False, export_dir=""))
    agent.reset(info)
    done = False
    while not done:
        action = agent.act(obs)
        assert action.get("view") is None
        obs, _, terminated, truncated, step = env.step(action)
        done = terminated or truncated
    env.close()
    assert step["metrics"]["views"] == 0


# ------------------------------------------------------------------------------ the pieces
def _grid(x0: float, x1: float, y0: float, y1: float, step: float = 0.005) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1e-9, step), np.arange(y0, y1 + 1e-9, step))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def test_face_offsets_find_a_handle_flush_with_its_door() -> None:
    """A door (the plane z=0, 40 x 40 cm, 5 mm spacing) with a bar 16 x 2 cm standing 2.5 cm
    proud and fixed flush to it (no gap), seen from +z: the bar's top stands 25 mm above the door
    around it, though its own small neighbourhood is nearly flat."""
    door = _grid(-0.2, 0.2, -0.2, 0.2)
    on_bar = (np.abs(door[:, 0]) <= 0.08) & (np.abs(door[:, 1]) <= 0.01)
    door3 = np.c_[door[~on_bar], np.zeros((~on_bar).sum())]
    bar_top = np.c_[door[on_bar], np.full(on_bar.sum(), 0.025)]
    cloud = np.concatenate([door3, bar_top])
    cameras = np.array([[0.0, 0.0, 1.0]])
    normals, local = normals_and_offsets(cloud, cameras, 24)
    wide = face_offsets(cloud, normals)
    bar = np.arange(len(door3), len(cloud))
    centre = bar[np.argmin(np.linalg.norm(cloud[bar, :2], axis=1))]
    assert local[centre] < 0.01                         # the local plane runs through the bar ...
    assert wide[centre] == pytest.approx(0.025, abs=0.003)   # ... the door's does not
    far = np.linalg.norm(door3[:, :2], axis=1) > 0.15
    assert np.all(np.abs(wide[:len(door3)][far]) < 0.002)


def test_face_offsets_are_zero_on_an_edge_between_two_faces() -> None:
    """The corner of a box (top z=0 for x<0, front x=0 for z<0) seen from (1, 0, 1): the edge
    stands proud of the median plane of its two-faced neighbourhood, but is no handle."""
    top = _grid(-0.3, 0.0, -0.2, 0.2)
    front = _grid(-0.3, 0.0, -0.2, 0.2)
    cloud = np.concatenate([np.c_[top[:, 0], top[:, 1], np.zeros(len(top))],
                            np.c_[np.zeros(len(front)), front[:, 1], front[:, 0]]])
    normals, _ = normals_and_offsets(cloud, np.array([[1.0, 0.0, 1.0]]), 24)
    wide = face_offsets(cloud, normals)
    edge = (np.abs(cloud[:, 0]) < 1e-9) & (np.abs(cloud[:, 2]) < 1e-9)
    assert edge.sum() > 10 and np.all(wide[edge] == 0.0)


def test_camera_elevation_and_the_image_border() -> None:
    # a camera at height 1 looking at the origin from 1 m away horizontally: 45 degrees down
    eye = np.array([1.0, 0.0, 1.0])
    fwd = -eye / np.linalg.norm(eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    E = np.eye(4)
    E[:3, 0], E[:3, 1], E[:3, 2], E[:3, 3] = right, np.cross(fwd, right), fwd, eye
    assert camera_elevation(E) == pytest.approx(45.0)
    K = np.array([[100.0, 0.0, 80.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]])   # 160 x 120
    assert not touches_border(np.zeros((1, 3)), K, E, (120, 160))            # the image centre
    # a point 0.8 of the half-width off the axis at depth d projects to u = 80 + 100*0.8*... :
    # put one exactly 79 px right of the centre (column 159, the last)
    d = float(np.linalg.norm(eye))
    edge_point = eye + d * fwd + right * (79.0 / 100.0) * d
    assert touches_border(edge_point[None], K, E, (120, 160))
    inside = eye + d * fwd + right * (70.0 / 100.0) * d
    assert not touches_border(inside[None], K, E, (120, 160))


def test_a_fit_must_follow_the_hand() -> None:
    plausible = SfaAgent._plausible
    point, pull = np.array([0.5, 0.0, 0.3]), np.array([1.0, 0.0, 0.0])
    hand = np.array([0.12, 0.0, 0.0])                  # a small drawer came out 12 cm
    # the wrong minimum: a quarter turn that lays the front onto the floor, point barely moved
    R = Rotation.from_rotvec([0.0, -math.pi / 2, 0.0]).as_matrix()
    pivot = np.array([0.5, 0.0, 0.29])
    assert not plausible(R, pivot - R @ pivot, point, pull, 0.12, hand)
    assert plausible(np.eye(3), hand + 0.01, point, pull, 0.12, hand)       # where the hand went
    # a door pulled near its hinge swings on after it is let go: further the same way is fine
    assert plausible(np.eye(3), 2.0 * hand, point, pull, 0.12, hand)
    assert not plausible(np.eye(3), np.array([0.0, 0.2, 0.0]), point, pull, 0.12, hand)
    # without proprioception: forward along the pull, at most 1.5 pull distances
    assert plausible(np.eye(3), np.array([0.1, 0.0, 0.0]), point, pull, 0.12, None)
    assert not plausible(np.eye(3), np.array([-0.1, 0.0, 0.0]), point, pull, 0.12, None)
    assert not plausible(np.eye(3), np.array([0.3, 0.0, 0.0]), point, pull, 0.12, None)


def test_type_vote_counts_the_points_behind_each_fit() -> None:
    """Three fits to slivers of a drawer (a few hundred points, half hidden) that came out as
    turns must not outvote the fit to its whole front."""
    whole = JointEstimate("prismatic", np.array([1.0, 0.0, 0.0]), np.zeros(3), 0.12, support=3000.0)
    slivers = [JointEstimate("revolute", np.array([0.0, 0.0, 1.0]), np.zeros(3), 0.1, support=300.0)
               for _ in range(3)]
    assert aggregate_joint([whole, *slivers]).type == "prismatic"
    assert aggregate_joint([replace_support(whole, 500.0), *slivers]).type == "revolute"


def replace_support(e: JointEstimate, support: float) -> JointEstimate:
    from dataclasses import replace

    return replace(e, support=support)


def test_an_opened_drawer_hiding_a_handle_seen_at_the_start_is_pushed_back() -> None:
    """The upper drawer, pulled out 20 cm, stands between the camera and the lower drawer's
    handle seen at the start: the agent's next pull pushes it back by its opening. (The line of
    sight from the camera at (1.5, 0, 1) to the handle crosses x 0.45 at z 0.33, on the front.)"""
    from embodied.agents.sfa import _Part

    agent = SfaAgent(SfaConfig(export_dir=""))
    agent.reset({})
    agent.cameras = np.array([[1.5, 0.0, 1.0]])
    handle = np.array([0.25, 0.0, 0.2])                      # the lower drawer's, from the start
    agent.handle_memory = [(handle, np.array([1.0, 0.0, 0.0]))]
    # the upper drawer's front (x 0.25 at the start, z 0.25..0.5), 1 cm grid
    front = np.array([[0.25, y, z] for y in np.linspace(-0.2, 0.2, 41) for z in np.linspace(0.25, 0.5, 26)])
    pose = np.eye(4)
    pose[0, 3] = 0.2
    # out by 20 cm: its front now at x 0.45, and its top (z 0.5) in view
    top = np.array([[x, y, 0.5] for x in np.linspace(0.05, 0.45, 41) for y in np.linspace(-0.2, 0.2, 41)])
    drawer = _Part(rest_points=front, current_points=front + [0.2, 0.0, 0.0],
                   estimates=[JointEstimate("prismatic", np.array([1.0, 0.0, 0.0]), front.mean(axis=0), 0.2,
                                            state_range=(0.0, 0.2), support=400.0)],
                   grasp=np.array([0.45, 0.0, 0.42]), grasp_shift=np.array([0.2, 0.0, 0.0]),
                   touch=np.array([0.25, 0.0, 0.42]), pull=np.array([1.0, 0.0, 0.0]), pose=pose,
                   canonical=np.concatenate([front, top - [0.2, 0.0, 0.0]]))
    agent.parts = [drawer]
    cloud_now = np.concatenate([drawer.current_points, top])   # the handle below is out of sight
    assert agent._between(drawer, agent.cameras.mean(axis=0), handle)
    point, direction, distance = agent._unhide(cloud_now)
    assert np.allclose(point, drawer.grasp) and np.allclose(direction, [-1.0, 0.0, 0.0])
    assert distance == pytest.approx(0.2)
    assert agent._unhide(cloud_now) is None                    # once per part
    # in view again (or tried), a remembered handle asks for nothing
    drawer.closed = False
    assert agent._unhide(np.concatenate([cloud_now, handle[None]])) is None
