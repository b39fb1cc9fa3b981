"""Camera geometry, the top-down map and dead reckoning: against hand-made depth images with
known answers, and against the real env (its houses, privileged masks and navigation grid)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from embodied.envs.objectnav import ObjectNavEnv
from embodied.envs.objectnav_episodes import split_episode
from embodied.perception.geometry import (Intrinsics, depth_to_points, look_angles,
                                          points_to_pixels, relative_to_world, world_to_relative)
from embodied.perception.mapping import (FREE, OCCUPIED, UNKNOWN, DeadReckoning, MapConfig,
                                         TopDownMap)

MOVE, LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3, 4


@pytest.fixture(scope="module")
def env() -> ObjectNavEnv:
    e = ObjectNavEnv(privileged=True, max_steps=10_000)
    yield e
    e.close()


def reset(env: ObjectNavEnv, index: int) -> tuple[dict, Intrinsics]:
    obs, info = env.reset(seed=0, options={"episode": split_episode("val", index)})
    return obs, Intrinsics.from_info(info["camera"])


# ---------------------------------------------------------------------------- geometry
def test_intrinsics_from_info_reads_the_env_camera(env: ObjectNavEnv) -> None:
    _, intr = reset(env, 0)
    assert (intr.width, intr.height) == (224, 224)
    assert intr.cx == pytest.approx(111.5) and intr.fx == pytest.approx(112.0)
    assert intr.camera_height == pytest.approx(0.88) and intr.far == pytest.approx(20.0)
    fov = Intrinsics.from_fov(224, 224, math.pi / 2, far=20.0)
    for name in ("fx", "fy", "cx", "cy", "width", "height", "hfov", "vfov", "far"):
        assert getattr(fov, name) == pytest.approx(getattr(intr, name)), name


def test_lifted_object_pixels_land_inside_the_object(env: ObjectNavEnv) -> None:
    """The exact inverse of the env camera: pixels the privileged instance mask gives to one
    object, lifted with obs["pose"] and moved to the world with the start pose, fall inside that
    object's AABB (within 2 cm: TinyRenderer, the fallback renderer, samples pixel corners,
    half a pixel off, i.e. 1.3 cm at the 3 m kept here), at every pitch."""
    obs, intr = reset(env, 1)
    rng = np.random.default_rng(0)
    objects = {o.instance_id: o.world_aabb() for o in env.house.objects}
    checked = 0
    for action in [UP, LEFT, DOWN, DOWN, LEFT, MOVE, DOWN, RIGHT, UP, UP] + list(
            rng.choice([MOVE, MOVE, LEFT, RIGHT], size=10)):
        obs, *_ = env.step(int(action))
        pts, rc = depth_to_points(obs["depth"], intr, obs["pose"], max_depth=3.0)
        world = relative_to_world(pts, env.start)
        inst = obs["instance"][rc[:, 0], rc[:, 1]]
        for iid in np.unique(inst[inst > 0]):
            lo, hi = objects[int(iid)]
            p = world[inst == iid]
            outside = np.maximum(lo - p, 0.0) + np.maximum(p - hi, 0.0)
            assert outside.max() < 0.02, (iid, outside.max(), obs["pose"])
            checked += len(p)
    assert checked > 50_000
    # and back: the points project onto their own pixels
    uv, z = points_to_pixels(pts, intr, obs["pose"])
    assert np.all(z > 0)
    np.testing.assert_allclose(uv, rc[:, ::-1], atol=1e-6)


def test_frames_and_look_angles() -> None:
    start = (1.0, -2.0, math.pi / 2)
    p = np.array([[1.0, 0.5], [0.0, 0.0]])
    w = relative_to_world(p, start)
    np.testing.assert_allclose(w, [[0.5, -1.0], [1.0, -2.0]], atol=1e-12)
    np.testing.assert_allclose(world_to_relative(w, start), p, atol=1e-12)
    yaw, pitch = look_angles((0.0, 0.0), 0.88, (0.0, 2.0, 0.88 - 2.0))
    assert yaw == pytest.approx(math.pi / 2) and pitch == pytest.approx(-math.pi / 4)


# ---------------------------------------------------------------------------- hand-made depth
def synthetic_depth(intr: Intrinsics, wall_x: float | None, wall_top: float = 2.5) -> np.ndarray:
    """Depth seen from (0, 0), yaw 0, pitch 0: the floor z = 0 and, optionally, a wall (the
    plane x = wall_x, up to wall_top); everything else is sky (far)."""
    u = np.arange(intr.width)
    v = np.arange(intr.height)
    b = ((intr.cy - v) / intr.fy)[:, None] * np.ones((1, intr.width))
    depth = np.full((intr.height, intr.width), intr.far)
    with np.errstate(divide="ignore"):
        floor_t = np.where(b < 0, intr.camera_height / -b, np.inf)
    depth = np.minimum(depth, floor_t)
    if wall_x is not None:
        on_wall = intr.camera_height + wall_x * b <= wall_top
        depth = np.where(on_wall & (wall_x < depth), wall_x, depth)
    del u
    return depth.astype(np.float32)[..., None]


INTR = Intrinsics.from_fov(160, 160, math.pi / 2, camera_height=0.88, far=20.0)


def cells_where(tmap: TopDownMap, pred) -> np.ndarray:
    """State of every cell whose centre (x, y) satisfies pred(x, y)."""
    h, w = tmap.shape
    ij = np.stack(np.mgrid[0:h, 0:w], axis=-1).reshape(-1, 2)
    xy = tmap.cell_to_world(ij)
    sel = pred(xy[:, 0], xy[:, 1])
    return tmap.state[ij[sel, 0], ij[sel, 1]]


def test_floor_and_wall_give_free_up_to_the_wall_occupied_at_it_unknown_behind() -> None:
    tmap = TopDownMap(MapConfig(), INTR)
    assert tmap.world_to_cell(np.zeros(2)).tolist() == [128, 128]   # the start is a cell centre
    tmap.update(synthetic_depth(INTR, wall_x=3.0), (0.0, 0.0, 0.0, 0.0))
    # wall plane x = 3.0 is the centre line of the cells x in [2.9375, 3.0625)
    # (the 90 deg view spans |y| <= 3.0 there: 49 cells)
    wall = cells_where(tmap, lambda x, y: np.isclose(x, 3.0) & (np.abs(y) <= 3.0))
    assert np.all(wall == OCCUPIED) and len(wall) == 49
    free = cells_where(tmap, lambda x, y: (x > 0.1) & (x <= 2.875) & (np.abs(y) < 0.9 * x))
    assert np.all(free == FREE) and len(free) > 300
    behind = cells_where(tmap, lambda x, y: x >= 3.125)
    assert np.all(behind == UNKNOWN)
    outside_fov = cells_where(tmap, lambda x, y: np.abs(y) > 1.1 * np.abs(x) + 0.3)
    assert np.all(outside_fov == UNKNOWN)
    assert np.count_nonzero(tmap.state == OCCUPIED) == 49      # nothing else is an obstacle
    # traversable: free and more than 0.18 m (one cell, centre to centre) from the wall cells
    trav = tmap.traversable
    for x, expected in [(2.875, False), (2.75, True)]:
        i, j = tmap.world_to_cell(np.array([x, 0.0]))
        assert trav[i, j] == expected


def test_far_returns_and_sky_are_ignored() -> None:
    tmap = TopDownMap(MapConfig(max_depth=5.0), INTR)
    tmap.update(synthetic_depth(INTR, wall_x=7.0), (0.0, 0.0, 0.0, 0.0))
    assert not np.any(tmap.state == OCCUPIED)               # the wall is beyond max_depth
    assert np.all(cells_where(tmap, lambda x, y: x > 5.0) == UNKNOWN)
    assert np.all(cells_where(tmap, lambda x, y: (x > 1) & (x < 4.8) & (np.abs(y) < 0.5))
                  == FREE)
    sky_only = np.full((INTR.height, INTR.width, 1), INTR.far, np.float32)
    before = tmap.state.copy()
    tmap.update(sky_only, (0.0, 0.0, math.pi, 0.0))
    changed = tmap.state != before
    # only the agent's own footprint (it stands there) is new
    assert np.all(np.hypot(*(tmap.cell_to_world(np.argwhere(changed)).T)) <= 0.18 + 1e-9)


def test_obstacles_are_sticky_but_repeated_free_views_clear_them() -> None:
    cfg = MapConfig(occupied_gain=3, score_cap=12)
    tmap = TopDownMap(cfg, INTR)
    floor = synthetic_depth(INTR, wall_x=None)
    xy = np.array([[2.0, 0.0]])
    tmap.mark_occupied(xy)                                  # seen once
    i, j = tmap.world_to_cell(xy[0])
    for k in range(3):
        assert tmap.state[i, j] == OCCUPIED, k
        tmap.update(floor, (0.0, 0.0, 0.0, 0.0))            # floor seen there, no obstacle
    assert tmap.state[i, j] == FREE
    for _ in range(10):
        tmap.mark_occupied(xy)                              # seen many times: at the cap
    for _ in range(11):
        tmap.update(floor, (0.0, 0.0, 0.0, 0.0))
    assert tmap.state[i, j] == OCCUPIED
    tmap.update(floor, (0.0, 0.0, 0.0, 0.0))
    assert tmap.state[i, j] == FREE
    # a refused move is certain: no number of free views clears it
    tmap.mark_blocked((1.5, 0.0), 0.0)
    blocked = np.argwhere(tmap.blocked)
    assert len(blocked) >= 2
    ahead = tmap.cell_to_world(blocked)[:, 0] - 1.5
    assert ahead.min() >= 0.18 and ahead.max() <= 0.18 + 0.25 + 0.0625
    for _ in range(20):
        tmap.update(floor, (0.0, 0.0, 0.0, 0.0))
    assert np.all(tmap.state[blocked[:, 0], blocked[:, 1]] == OCCUPIED)


# ---------------------------------------------------------------------------- real houses
def agreement(tmap: TopDownMap, env: ObjectNavEnv) -> tuple[float, np.ndarray]:
    """Fraction of known map cells that the house's ground truth agrees with: FREE where the
    cell centre is outside every obstacle footprint, OCCUPIED where an obstacle footprint lies
    within one map cell (the 0.05 m grid's occupied cells dilated by 2)."""
    g = env.grid
    ij = np.argwhere(tmap.state != UNKNOWN)
    xy = relative_to_world(tmap.cell_to_world(ij), env.start)
    gij = g.world_to_cell(xy)
    inside = g.in_grid(gij)
    gi = np.clip(gij[:, 0], 0, g.free.shape[0] - 1)
    gj = np.clip(gij[:, 1], 0, g.free.shape[1] - 1)
    near_obstacle = ndimage.binary_dilation(g.occupied, iterations=2)[gi, gj] | ~inside
    s = tmap.state[ij[:, 0], ij[:, 1]]
    ok = np.where(s == OCCUPIED, near_obstacle, inside & ~g.occupied[gi, gj])
    return float(ok.mean()), ij


@pytest.mark.parametrize("index", [0, 3])
def test_a_spin_maps_the_room_and_agrees_with_the_navgrid(env: ObjectNavEnv, index: int) -> None:
    obs, intr = reset(env, index)
    tmap = TopDownMap(MapConfig(), intr)
    tmap.update(obs["depth"], obs["pose"])
    for _ in range(11):
        obs, *_ = env.step(LEFT)
        tmap.update(obs["depth"], obs["pose"])
    score, _ = agreement(tmap, env)
    assert score >= 0.9
    # the agent's room: its free floor within 4 m is mapped FREE, its walls OCCUPIED
    room = env.house.rooms[env.house.room_of(env.start[:2])]
    x0, y0, x1, y1 = room.bounds
    ij = np.stack(np.mgrid[0:tmap.shape[0], 0:tmap.shape[1]], -1).reshape(-1, 2)
    xy_map = tmap.cell_to_world(ij)
    xy = relative_to_world(xy_map, env.start)
    near = np.hypot(*xy_map.T) < 4.0
    m = 0.2
    interior = near & (xy[:, 0] > x0 + m) & (xy[:, 0] < x1 - m) & (xy[:, 1] > y0 + m) & \
        (xy[:, 1] < y1 - m) & env.grid.is_free(xy)
    st = tmap.state[ij[:, 0], ij[:, 1]]
    assert np.mean(st[interior] == FREE) > 0.8
    band = 0.08
    on_wall = near & (((np.abs(xy[:, 0] - x0) < band) | (np.abs(xy[:, 0] - x1) < band))
                      & (xy[:, 1] > y0) & (xy[:, 1] < y1)
                      | ((np.abs(xy[:, 1] - y0) < band) | (np.abs(xy[:, 1] - y1) < band))
                      & (xy[:, 0] > x0) & (xy[:, 0] < x1))
    seen_wall = on_wall & (st != UNKNOWN)
    assert seen_wall.sum() > 20
    assert np.mean(st[seen_wall] == OCCUPIED) > 0.7


def test_dead_reckoning_tracks_the_env_pose_from_depth_alone(env: ObjectNavEnv) -> None:
    """50 random actions, many MoveAheads into walls: the pose integrated from the actions and
    the depth frames (never the env's success flag) equals the env's GPS+compass pose."""
    obs, intr = reset(env, 2)
    dr = DeadReckoning(intr)
    dr.reset(obs["depth"])
    rng = np.random.default_rng(3)
    refused = detected = 0
    for a in rng.choice([MOVE] * 6 + [LEFT, RIGHT, UP, DOWN], size=50):
        obs, _, _, _, info = env.step(int(a))
        pose = dr.update(int(a), obs["depth"])
        refused += int(a == MOVE and not info["last_action_success"])
        detected += int(dr.last_move_failed)
        np.testing.assert_allclose(pose[[0, 1, 3]], obs["pose"][[0, 1, 3]], atol=1e-4)
        assert abs(math.remainder(pose[2] - obs["pose"][2], 2 * math.pi)) < 1e-4
    assert refused >= 3 and detected == refused
