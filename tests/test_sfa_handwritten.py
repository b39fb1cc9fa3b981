"""SfA on hand-written URDF files, in the style of real-world ones (PartNet-Mobility `mobility.urdf`):
triangle meshes (OBJ) for visual and collision, link frames away from the part's centre, a hinge
whose joint frame is rotated (`rpy`) with its axis given in that rotated frame, explicit limits,
damping and plausible inertials, an empty root link with a fixed joint to the body.

Why: the procedural objects (`embodied.envs.articulated.objects`) are all boxes with unrotated
joint frames, so they cannot show that the env reads a user file's joints correctly (the ground
truth comes from pybullet for user URDFs) nor that the agent copes with mesh geometry. Nothing
here comes from that generator: every file is written below, by hand.

Geometry (metres; world z up, the front faces +x as the env assumes; 4 mm gaps, 18 mm panels):

* door_cabinet: 0.45 deep (x) x 0.6 wide (y) x 0.8 high (z), hollow; one door hinged at its +y
  edge. The joint frame is pitched by -90 deg (rpy 0 -pi/2 0), so local x is world +z and the
  axis "1 0 0" is the vertical hinge; opening angles (0..1.9 rad) swing the free edge out to +x.
* drawer_chest: 0.45 x 0.6 x 0.7, a divider, two drawers sliding out along +x. The lower drawer's
  frame is unrotated (axis "1 0 0"); the upper one's is yawed by pi (axis "-1 0 0"), so both
  open towards world +x.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from embodied.agents.sfa import SfaConfig
from embodied.envs.articulation import ArticulationConfig, ArticulationEnv, user_episodes
from embodied.metrics import axis_angle_error_deg, axis_position_error
from tests.test_sfa import run_episode

T = 0.018        # panel thickness
GAP = 0.004      # clearance between a moving part and the body when closed
DEPTH, WIDTH = 0.45, 0.6
WOOD, DARK = "0.72 0.55 0.36 1", "0.15 0.15 0.15 1"

# 8 corners of a box, index 4*ix + 2*iy + iz + 1 (OBJ counts from 1); 12 outward-facing triangles
BOX_FACES = ((1, 2, 4), (1, 4, 3), (5, 7, 8), (5, 8, 6), (1, 5, 6), (1, 6, 2),
             (3, 4, 8), (3, 8, 7), (1, 3, 7), (1, 7, 5), (2, 6, 8), (2, 8, 4))


def box_obj(size: Sequence[float], offset: Sequence[float] = (0.0, 0.0, 0.0)) -> str:
    """A triangulated box of `size` centred at `offset`, as Wavefront OBJ text."""
    lo = np.asarray(offset, float) - np.asarray(size, float) / 2
    hi = lo + np.asarray(size, float)
    verts = [(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    return "".join(f"v {x:.5f} {y:.5f} {z:.5f}\n" for x, y, z in verts) + \
        "".join(f"f {a} {b} {c}\n" for a, b, c in BOX_FACES)


def xyz(v: Sequence[float]) -> str:
    return " ".join(f"{float(x):.5g}" for x in v)


def mesh(folder: Path, name: str, size: Sequence[float], at: Sequence[float] = (0, 0, 0),
         baked: Sequence[float] = (0, 0, 0), rgba: str = WOOD) -> str:
    """Write meshes/<name>.obj (a box of `size` whose vertices are offset by `baked`, as meshes
    exported in an object's frame are) and return its <visual> and <collision>, placed at `at`
    in the link frame."""
    (folder / "meshes").mkdir(exist_ok=True)
    (folder / "meshes" / f"{name}.obj").write_text(box_obj(size, baked))
    geom = f'<origin xyz="{xyz(at)}" rpy="0 0 0"/><geometry><mesh filename="meshes/{name}.obj"/></geometry>'
    return (f'    <visual name="{name}">{geom}<material name="m_{name}"><color rgba="{rgba}"/></material></visual>\n'
            f'    <collision name="{name}">{geom}</collision>\n')


def inertial(mass: float, size: Sequence[float], at: Sequence[float]) -> str:
    """The inertial of a solid box of `mass` and `size` centred at `at` (link frame)."""
    a, b, c = size
    ixx, iyy, izz = (mass * (b * b + c * c) / 12, mass * (a * a + c * c) / 12, mass * (a * a + b * b) / 12)
    return (f'    <inertial><origin xyz="{xyz(at)}" rpy="0 0 0"/><mass value="{mass}"/>'
            f'<inertia ixx="{ixx:.5g}" ixy="0" ixz="0" iyy="{iyy:.5g}" iyz="0" izz="{izz:.5g}"/></inertial>\n')


def carcass(folder: Path, height: float) -> str:
    """The hollow body's panels (back, sides, bottom, top), with their offsets baked into the OBJs."""
    d, w, h = DEPTH, WIDTH, height
    return (mesh(folder, "back", (T, w, h), baked=(-d / 2 + T / 2, 0, h / 2))
            + mesh(folder, "side_left", (d, T, h), baked=(0, -w / 2 + T / 2, h / 2))
            + mesh(folder, "side_right", (d, T, h), baked=(0, w / 2 - T / 2, h / 2))
            + mesh(folder, "bottom", (d, w - 2 * T, T), baked=(0, 0, T / 2))
            + mesh(folder, "top", (d, w - 2 * T, T), baked=(0, 0, h - T / 2)))


def robot(name: str, height: float, body: str, parts: str) -> str:
    """PartNet-Mobility's layout: an empty root, the body fixed to it, the moving parts on the body."""
    return f"""<?xml version="1.0"?>
<robot name="{name}">
  <link name="base"/>
  <joint name="joint_body" type="fixed">
    <origin xyz="0 0 0" rpy="0 0 0"/><parent link="base"/><child link="body"/>
  </joint>
  <link name="body">
{inertial(15.0, (DEPTH, WIDTH, height), (0, 0, height / 2))}{body}  </link>
{parts}</robot>
"""


def moving_part(name: str, content: str, joint: str, kind: str, origin: Sequence[float], rpy: str,
                axis: str, upper: float, effort: float, velocity: float, damping: float) -> str:
    """A moving link (its inertial and geometry: `content`) and the joint hanging it on the body."""
    return f"""  <link name="{name}">
{content}  </link>
  <joint name="{joint}" type="{kind}">
    <origin xyz="{xyz(origin)}" rpy="{rpy}"/>
    <parent link="body"/><child link="{name}"/>
    <axis xyz="{axis}"/>
    <limit lower="0" upper="{upper}" effort="{effort}" velocity="{velocity}"/>
    <dynamics damping="{damping}" friction="0"/>
  </joint>
"""


def write_door_cabinet(folder: Path) -> Path:
    h = 0.8
    sw, sh = WIDTH - 2 * T - 2 * GAP, h - 2 * T - 2 * GAP          # the door: 0.556 x 0.756
    hinge = (DEPTH / 2, WIDTH / 2 - T, h / 2)                       # +y inner edge of the opening
    # door frame: local x = world +z, local y = world +y, local z = world -x (rpy 0 -pi/2 0),
    # so a world offset (dx, dy, dz) from the hinge is local (dz, dy, -dx), a world size
    # (sx, sy, sz) is local (sz, sy, sx)
    door_at = (0.0, -(GAP + sw / 2), T / 2)                         # world (-T/2, -(GAP+sw/2), 0)
    handle = mesh(folder, "door_handle", (0.16, 0.02, 0.025), rgba=DARK,
                  baked=(0.0, -(GAP + sw - 0.05), -0.0125))         # a vertical bar 5 cm from the free edge
    door = moving_part("door", inertial(4.5, (sh, sw, T), door_at)
                       + mesh(folder, "door_panel", (sh, sw, T), at=door_at) + handle,
                       "door_hinge", "revolute", hinge, rpy=f"0 {-math.pi / 2:.8f} 0", axis="1 0 0",
                       upper=1.9, effort=30, velocity=2, damping=0.5)
    path = folder / "door_cabinet.urdf"
    path.write_text(robot("door_cabinet", h, carcass(folder, h), door))
    return path


def drawer(folder: Path, name: str, z0: float, sh: float, flip: bool) -> str:
    """A drawer (front, tray of back + sides + bottom, handle bar) whose frame sits at the
    bottom centre of its front face; `flip`: the frame is yawed by pi (local x = world -x)."""
    s = -1.0 if flip else 1.0                                       # world x = s * local x
    sw = WIDTH - 2 * T - 2 * GAP
    depth, bw, bh = DEPTH - 2 * T - 2 * GAP, sw - 2 * GAP, 0.7 * sh
    geometry = (mesh(folder, f"{name}_front", (T, sw, sh), at=(-s * T / 2, 0, sh / 2))
                + mesh(folder, f"{name}_back", (T, bw, bh), at=(s * (-depth + T / 2), 0, bh / 2))
                + mesh(folder, f"{name}_side_a", (depth - 2 * T, T, bh), at=(-s * depth / 2, bw / 2 - T / 2, bh / 2))
                + mesh(folder, f"{name}_side_b", (depth - 2 * T, T, bh), at=(-s * depth / 2, T / 2 - bw / 2, bh / 2))
                + mesh(folder, f"{name}_bottom", (depth - 2 * T, bw - 2 * T, T), at=(-s * depth / 2, 0, T / 2))
                + mesh(folder, f"{name}_handle", (0.025, 0.18, 0.02), at=(s * 0.0125, 0, 0.6 * sh), rgba=DARK))
    return moving_part(name, inertial(3.5, (depth, sw, sh), (-s * depth / 2, 0, sh / 2)) + geometry,
                       f"{name}_slide", "prismatic", (DEPTH / 2, 0, z0),
                       rpy=f"0 0 {math.pi if flip else 0:.8f}", axis=f"{s:g} 0 0",
                       upper=0.35, effort=50, velocity=1, damping=1.0)


def write_drawer_chest(folder: Path) -> Path:
    h = 0.7
    slot = (h - 3 * T) / 2                                          # two slots split by a divider
    sh = slot - 2 * GAP
    divider = mesh(folder, "divider", (DEPTH - T, WIDTH - 2 * T, T), baked=(T / 2, 0, h / 2))
    parts = (drawer(folder, "drawer_low", T + GAP, sh, flip=False)
             + drawer(folder, "drawer_high", h / 2 + T / 2 + GAP, sh, flip=True))
    path = folder / "drawer_chest.urdf"
    path.write_text(robot("drawer_chest", h, carcass(folder, h) + divider, parts))
    return path


# object -> (writer, expected ground truth: joint name, type, world axis, world origin at state 0)
OBJECTS = {
    "door_cabinet": (write_door_cabinet,
                     [("door_hinge", "revolute", (0, 0, 1), (0.225, 0.282, 0.4))]),
    "drawer_chest": (write_drawer_chest,
                     [("drawer_low_slide", "prismatic", (1, 0, 0), (0.225, 0.0, 0.022)),
                      ("drawer_high_slide", "prismatic", (1, 0, 0), (0.225, 0.0, 0.363))]),
}


def episode(path: Path) -> dict:
    (ep,) = user_episodes([str(path)])
    return ep


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_env_reads_the_joints_of_a_handwritten_urdf(tmp_path: Path, name: str) -> None:
    write, expected = OBJECTS[name]
    path = write(tmp_path)
    env = ArticulationEnv(ArticulationConfig(objects=[str(path)]), privileged=True)
    obs, info = env.reset(options={"episode": episode(path)})
    env.close()
    gt = info["ground_truth"]
    assert [(j["joint"], j["type"]) for j in gt] == [(e[0], e[1]) for e in expected]
    for j, (_, _, axis, origin) in zip(gt, expected):
        assert np.allclose(j["axis"], axis, atol=1e-6), (j["joint"], j["axis"])
        assert np.allclose(j["origin"], origin, atol=1e-4), (j["joint"], j["origin"])
        assert j["state"] == pytest.approx(0.0, abs=1e-3)           # closed, and nothing fell open
    assert obs["num_points"][0] > 1000                              # the meshes are seen


def run_agent(folder: Path, name: str) -> tuple[dict, list[dict], dict]:
    """Run SfA (the env's and agent's default budgets) on the object; return its estimate, the
    ground truth and the episode's metrics, and print them (shown when a test fails)."""
    path = OBJECTS[name][0](folder)
    env = ArticulationEnv(ArticulationConfig(objects=[str(path)]), privileged=True)  # gt in info
    agent, info, end = run_episode(env, episode(path), SfaConfig())
    env.close()
    estimate, gt, m = agent.estimate(), info["ground_truth"], end["metrics"]
    brief = [{k: j[k] for k in ("type", "axis", "origin", "centroid") if k in j} for j in estimate["joints"]]
    print(f"\n{name}: estimate {brief}\nground truth {gt}\nmetrics {m}")
    return estimate, gt, m


@pytest.fixture(scope="module")
def sfa_run(tmp_path_factory: pytest.TempPathFactory):
    """One agent episode per object, shared by the tests that look at different sides of it."""
    cache: dict[str, tuple[dict, list[dict], dict]] = {}

    def run(name: str) -> tuple[dict, list[dict], dict]:
        if name not in cache:
            cache[name] = run_agent(tmp_path_factory.mktemp(name), name)
        return cache[name]
    return run


def test_agent_finds_the_hinge_of_a_handwritten_door(sfa_run) -> None:
    estimate, gt, m = sfa_run("door_cabinet")
    assert (m["parts_found"], m["parts_true"]) == (1, 1)
    assert m["joint_type_accuracy"] == 1.0
    assert m["axis_angle_error_deg"] <= 5.0 and m["axis_position_error"] <= 0.03
    (joint,) = estimate["joints"]                                   # the same, without the scorer's matching
    assert axis_angle_error_deg(joint["axis"], gt[0]["axis"]) <= 5.0
    assert axis_position_error(joint["origin"], joint["axis"], gt[0]["origin"], gt[0]["axis"]) <= 0.03


def test_agent_finds_both_handwritten_drawers(sfa_run) -> None:
    estimate, _, m = sfa_run("drawer_chest")
    assert [j["type"] for j in estimate["joints"]] == ["prismatic", "prismatic"]
    assert (m["parts_found"], m["parts_true"], m["parts_matched"]) == (2, 2, 2)
    assert m["joint_type_accuracy"] == 1.0


def test_agent_estimates_the_handwritten_drawers_slide_axis(sfa_run) -> None:
    estimate, gt, m = sfa_run("drawer_chest")
    errors = [axis_angle_error_deg(j["axis"], gt[0]["axis"]) for j in estimate["joints"]]
    assert errors and max(errors) <= 5.0, errors                    # gt: both slide along world +x
    assert m["axis_angle_error_deg"] <= 5.0
