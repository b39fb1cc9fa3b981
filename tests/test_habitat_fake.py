"""The habitat-sim fake keeps habitat-sim's API promises (what the adapter relies on): find_path
fills ShortestPath / MultiGoalShortestPath with exact geodesics and their points, the top-down view
is laid out as habitat-sim lays it out, moves stop at walls (or slide), sensors return habitat's
dtypes and shapes. It is a test double of the API, not of Habitat's numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from embodied.envs.habitat import fake
from embodied.envs.habitat import sim as sim_lib

F = fake.FLOOR_Y


@pytest.fixture(scope="module")
def sim() -> fake.Simulator:
    settings = sim_lib.SimSettings(scene_id=fake.SCENE_ID, width=40, height=30, semantic=True)
    with fake.Simulator(sim_lib.make_configuration(fake, settings)) as s:
        yield s


def test_find_path_gives_exact_geodesics_and_their_points(sim) -> None:
    pf = sim.pathfinder
    path = fake.ShortestPath()
    path.requested_start = np.array([2.0, F, 2.0])
    path.requested_end = np.array([2.0, F, 4.0])          # open floor: a straight line
    assert pf.find_path(path) and path.geodesic_distance == pytest.approx(2.0)
    # Through the door (z in [2.5, 3.5] at x = 4, passage narrowed by the 0.18 m radius):
    path.requested_start, path.requested_end = np.array([3.0, F, 2.0]), np.array([5.0, F, 2.0])
    assert pf.find_path(path)
    pts = np.asarray(path.points)
    assert len(pts) >= 3 and np.allclose(pts[[0, -1]], [[3.0, F, 2.0], [5.0, F, 2.0]])
    assert np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() == pytest.approx(path.geodesic_distance)
    # round the door jamb: every crossing of x in [3.77, 4.23] (the wall grown by the radius) is
    # at z >= 2.5, so the path is at least 2 * |(1.0, 0.5)|; the straight line would be 2.0
    assert path.geodesic_distance >= 2 * math.hypot(1.0, 0.5)
    multi = fake.MultiGoalShortestPath()
    multi.requested_start = np.array([2.0, F, 2.0])
    multi.requested_ends = np.array([[2.0, F, 5.0], [2.5, F, 2.0], [6.0, F, 2.0]])
    assert pf.find_path(multi) and multi.closest_end_point_index == 1
    assert multi.geodesic_distance == pytest.approx(0.5)
    multi.requested_ends = np.array([[2.2, F, 0.6]])           # inside the sofa
    assert not pf.find_path(multi) and math.isinf(multi.geodesic_distance) and multi.points == []


def test_navigability_and_the_top_down_view_layout(sim) -> None:
    pf = sim.pathfinder
    assert pf.is_navigable([2.0, F, 2.0]) and not pf.is_navigable([2.2, F, 0.6])
    assert not pf.is_navigable([2.0, F + 1.0, 2.0])                        # another floor
    assert not pf.is_navigable([0.1, F, 2.0])                              # within the radius
    np.testing.assert_allclose(pf.snap_point([0.1, F, 2.0]), [0.18, F, 2.0], atol=1e-3)
    lower, upper = pf.get_bounds()
    np.testing.assert_allclose(lower, [0.18, F, 0.18], atol=1e-6)
    top = pf.get_topdown_view(0.1, F)
    # rows are z, columns x, pixel (h, w) samples (lower.x + w * 0.1, lower.z + h * 0.1)
    assert top.shape == (int((upper[2] - lower[2]) / 0.1), int((upper[0] - lower[0]) / 0.1))
    h, w = round((2.0 - lower[2]) / 0.1), round((6.0 - lower[0]) / 0.1)    # (x 6.0, z 2.0): free
    assert top[h, w] and not top[round((0.6 - lower[2]) / 0.1), round((2.2 - lower[0]) / 0.1)]
    assert not pf.get_topdown_view(0.1, F + 2.0).any()


def test_moves_stop_at_walls_or_slide(sim) -> None:
    pf = sim.pathfinder
    end = pf.try_step_no_sliding([1.0, F, 1.0], [-1.0, F, 1.0])              # into the west wall
    np.testing.assert_allclose(end, [0.18, F, 1.0], atol=1e-4)
    end = pf.try_step([1.0, F, 1.0], [-1.0, F, 0.0])                          # slides along it
    np.testing.assert_allclose(end, [0.18, F, 0.18], atol=1e-4)
    agent = sim.get_agent(0)
    agent.set_state(fake.AgentState(np.array([0.3, F, 2.0]), [0.0, math.sin(math.pi / 4), 0.0,
                                                              math.cos(math.pi / 4)]))
    obs = sim.step("move_forward")                                             # facing -x, 0.12 m free
    assert obs["collided"] is True
    np.testing.assert_allclose(agent.get_state().position, [0.18, F, 2.0], atol=1e-4)
    for _ in range(3):                                                         # 3 x 30 deg: facing +z
        obs = sim.step("turn_left")
        assert obs["collided"] is False
    sim.step("move_forward")
    np.testing.assert_allclose(agent.get_state().position, [0.18, F, 2.25], atol=1e-4)
    with pytest.raises(ValueError, match="only turns bodies about y"):
        agent.set_state(fake.AgentState(np.zeros(3), [1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(AssertionError, match="No action jump"):
        sim.step("jump")


def test_sensors_return_habitats_types(sim) -> None:
    agent = sim.get_agent(0)
    agent.set_state(fake.AgentState(np.array([2.3, F, 2.9]), [0.0, 0.0, 0.0, 1.0]))   # facing the sofa
    obs = sim.get_sensor_observations()
    assert obs["rgb"].shape == (30, 40, 4) and obs["rgb"].dtype == np.uint8
    assert (obs["rgb"][..., 3] == 255).all()
    assert obs["depth"].shape == (30, 40) and obs["depth"].dtype == np.float32
    assert obs["semantic"].shape == (30, 40) and obs["semantic"].dtype == np.uint32
    assert 41 in obs["semantic"]                                   # the sofa, by its object id
    sofa_depth = obs["depth"][obs["semantic"] == 41]
    assert sofa_depth.min() == pytest.approx(2.9 - 1.0, abs=0.05)  # its near face is at z = 1.0
    before = obs["depth"].copy()
    sim.step("look_down")
    assert not np.array_equal(sim.get_sensor_observations()["depth"], before)
    agent.set_state(agent.get_state())                             # reset_sensors: level again
    np.testing.assert_allclose(sim.get_sensor_observations()["depth"], before, atol=1e-5)
