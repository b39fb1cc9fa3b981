"""Exact shortest paths (embodied/perception/geodesic.py) against answers computed by hand.

The free space approximates each grown corner by 16 chords per quarter circle whose vertices lie
on the true circle, so a path round a corner can only be shorter than the exact one, by at most
``1 - sinc(pi / 64)`` = 0.04 % of its arc: ``exact * (1 - ARC_REL) <= l <= exact`` below.
"""
import math

import numpy as np
import pytest
from shapely.geometry import Point, box as shapely_box

from embodied.perception.geodesic import FreeSpace, Target
from embodied.perception.navgrid import NavGrid, distance_field, geodesic_distance
from tests.test_navgrid import wrap_around_point

R = 0.18
ARC_REL = 1e-3   # generous against 0.04 % of the arc; well under the 0.2 % that matters for SPL


def rect(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def within(value, exact):
    """l is never longer than exact (to rounding) and shorter by at most the chord error."""
    return exact * (1 - ARC_REL) - 1e-9 <= value <= exact + 1e-9


def around_disc(a, b, c, rho):
    """Exact shortest path from a to b round a disc of radius rho at c (Pythagoras on the two
    tangents plus the arc between the tangent points), or |ab| when the segment clears it."""
    a, b, c = (np.asarray(v, float) for v in (a, b, c))
    ab = b - a
    t = np.clip(np.dot(c - a, ab) / np.dot(ab, ab), 0, 1)
    if np.linalg.norm(a + t * ab - c) >= rho:
        return float(np.linalg.norm(ab))
    la, lb = np.linalg.norm(a - c), np.linalg.norm(b - c)
    cos_phi = np.dot(a - c, b - c) / (la * lb)
    phi = math.acos(np.clip(cos_phi, -1, 1))
    arc = phi - math.acos(rho / la) - math.acos(rho / lb)
    return math.sqrt(la ** 2 - rho ** 2) + math.sqrt(lb ** 2 - rho ** 2) + rho * arc


# ---------------------------------------------------------------- known answers
def test_open_space_is_euclidean():
    fs = FreeSpace([], (0, 0, 8, 5), R)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.uniform([0, 0], [8, 5], size=(2, 2))
        assert fs.distance(a, b) == pytest.approx(np.linalg.norm(a - b), abs=1e-9)


def test_open_space_to_a_goal_box_ends_on_the_success_circle():
    # goal box 0.4 x 0.2 at (4, 2.5); success within 1 m of the box; start 3.5 m right of its edge
    fs = FreeSpace([], (0, 0, 10, 5), R)
    region = shapely_box(3.8, 2.4, 4.2, 2.6).buffer(1.0, quad_segs=64)
    target = Target(fs, region)
    assert fs.distance_to([target], np.array([7.7, 2.5])) == pytest.approx(2.5, abs=1e-9)
    # off-axis: the nearest point is on the rounded corner: |start - corner| - 1
    start = np.array([7.0, 4.9])
    exact = float(np.linalg.norm(start - [4.2, 2.6])) - 1.0
    assert fs.distance_to([target], start) == pytest.approx(exact, abs=1e-4)  # 64-gon chords
    assert fs.distance_to([target], np.array([4.5, 2.0])) == 0.0             # inside already


def test_disc_obstacle():
    # a point footprint grown by 0.5 m is a disc obstacle of radius 0.5
    c, rho = np.array([3.0, 2.0]), 0.5
    fs = FreeSpace([c[None]], (0, 0, 6, 4), rho)
    for a, b in [((1.0, 2.0), (5.0, 2.0)), ((1.2, 1.7), (4.9, 2.4)), ((2.0, 0.5), (4.0, 3.6)),
                 ((1.0, 1.0), (5.0, 1.0))]:   # the last clears the disc: a straight line
        exact = around_disc(a, b, c, rho)
        assert within(fs.distance(a, b), exact), (a, b, fs.distance(a, b), exact)
    # by hand for the first pair: tangents sqrt(2^2 - 0.5^2) = 1.936492 each, the half turn
    # pi - 2 acos(0.25) = 0.505361 rad of arc at 0.5 m: 2 * 1.936492 + 0.252680 = 4.125664
    assert around_disc((1.0, 2.0), (5.0, 2.0), c, rho) == pytest.approx(4.125664, abs=1e-6)


def door_free_space():
    """A 6 m x 4 m room cut by a zero-thickness wall along y = 2 with a door from x = 2.5 to
    x = 3.55 (as tests/test_navgrid.py, so the two can be compared)."""
    walls = [np.array([[-0.1, 2.0], [2.5, 2.0]]), np.array([[3.55, 2.0], [6.1, 2.0]])]
    return walls, FreeSpace(walls, (0, 0, 6, 4), R)


def test_wall_end():
    # round the end of the left wall at (2.5, 2): a disc of radius R at the wall's end
    _, fs = door_free_space()
    a, b = np.array([1.525, 1.025]), np.array([1.525, 2.975])
    # by hand (tests/test_navgrid.py): 2 * 1.367059 + 0.18 * 1.832629 = 3.063991 m
    assert within(fs.distance(a, b), 3.063991)
    for a, b in [((0.525, 0.525), (2.025, 3.475)), ((2.225, 1.675), (0.275, 3.725)),
                 ((1.025, 0.125), (2.575, 2.625))]:
        exact, _ = wrap_around_point(np.array(a), np.array(b), np.array([2.5, 2.0]), R)
        assert within(fs.distance(a, b), exact)


def test_doorway_straight_and_narrow():
    walls, fs = door_free_space()
    # straight through the door centre, 0.525 m clear of both jambs
    assert fs.distance((3.025, 0.525), (3.025, 3.475)) == pytest.approx(2.95, abs=1e-9)
    # a door narrower than the agent (2 * 0.18 m) is closed: the far side is unreachable
    narrow = [np.array([[-0.1, 2.0], [2.9, 2.0]]), np.array([[3.25, 2.0], [6.1, 2.0]])]
    fs = FreeSpace(narrow, (0, 0, 6, 4), R)
    assert math.isinf(fs.distance((3.0, 0.5), (3.0, 3.5)))


def test_two_doors_take_the_shorter():
    # wall along y = 2 with doors at x in [1, 2] and [4.5, 5.5]; both ends near the right door
    walls = [np.array([[-0.1, 2.0], [1.0, 2.0]]), np.array([[2.0, 2.0], [4.5, 2.0]]),
             np.array([[5.5, 2.0], [6.1, 2.0]])]
    fs = FreeSpace(walls, (0, 0, 6, 4), R)
    a, b = np.array([3.5, 1.0]), np.array([3.5, 3.0])
    # round the right door's left jamb (4.5, 2): 2 sqrt(2 - 0.18^2) + 0.18 (3 pi / 2 - 2 acos(
    # 0.18 / sqrt(2))) = 2.805424 + 0.328691 = 3.134115; the left door's jamb (2, 2) mirrors it with 1.5 m legs: longer
    exact, _ = wrap_around_point(a, b, np.array([4.5, 2.0]), R)
    assert exact == pytest.approx(3.134115, abs=1e-5)
    assert within(fs.distance(a, b), exact)
    assert within(fs.distance(b + [1.5, 0.0], a + [1.5, 0.0]), 2.0)   # at the door: straight


def test_unreachable_and_snapping():
    # a closed room inside a hall
    walls = [rect(2.0, 1.0, 3.5, 1.1), rect(2.0, 2.4, 3.5, 2.5), rect(2.0, 1.0, 2.1, 2.5),
             rect(3.4, 1.0, 3.5, 2.5)]
    fs = FreeSpace(walls, (0, 0, 5, 4), R)
    assert math.isinf(fs.distance((0.5, 0.5), (2.75, 1.75)))
    assert math.isfinite(fs.distance((0.5, 0.5), (4.5, 3.5)))
    # a start 5 cm inside an obstacle's grown margin is snapped out, the gap counted
    start = np.array([2.0 - R + 0.05, 0.5 + 1.0])          # 0.13 m from the wall's left face
    snapped = fs.snap(start)
    assert snapped is not None and snapped[1] == pytest.approx(0.05, abs=1e-9)
    # snapped to x = 2.0 - 0.18 = 1.82, then straight to x = 0.5: 0.05 + 1.32
    assert fs.distance(start, (0.5, 1.5)) == pytest.approx(1.37, abs=1e-9)
    assert fs.snap(np.array([2.05, 1.5])) is None           # inside the wall: too far to snap


def test_path_along_an_obstacle_edge_to_where_the_region_meets_it():
    """The path rounds a wall's corner, runs along its grown top edge and ends where the success
    circle crosses that edge: a vertex of (region & free space) that lies on the edge only to
    rounding. The scene is turned by several angles, so the edge is not axis-aligned and the
    rounding falls either way (a tangent test that trusted the sign of a 1e-16 cross product
    refused this last leg in a third of these cases: +2.5 mm on a test-split episode)."""
    start, c = np.array([-0.5, 0.0]), np.array([1.0, 0.2])  # c: the corner; edge at y = 0.38
    a = start - c
    la = np.linalg.norm(a)
    tangent = math.sqrt(la ** 2 - R ** 2)
    # the tangent point sits acos(R / |a|) from the direction c -> start; the arc runs to 90 deg
    arc = math.atan2(a[1], a[0]) % (2 * math.pi) - math.acos(R / la) - math.pi / 2
    for degrees in np.linspace(0.0, 90.0, 16):
        t = math.radians(degrees)
        turn = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        fs = FreeSpace([rect(1.0, -1.0, 5.0, 0.2) @ turn.T], (-8.0, -8.0, 8.0, 8.0), R)
        for cx in np.linspace(2.5, 3.5, 5):
            cy = 0.15
            end_x = cx - math.sqrt(1.0 - (0.2 + R - cy) ** 2)
            exact = tangent + R * arc + (end_x - 1.0)
            target = Target(fs, Point(*(turn @ [cx, cy])).buffer(1.0, quad_segs=256))
            assert within(fs.distance_to([target], turn @ start), exact), (degrees, cx)


# ---------------------------------------------------------------- conditions on the region
def test_condition_cuts_the_region_along_its_boundary():
    # success within 1 m of a point goal at (0, 0); only points with x <= 0.5 count (as if the
    # goal were hidden from the right): the path from (3, 0) ends at (0.5, 0), 2.5 m
    fs = FreeSpace([], (-2, -2, 4, 2), R)

    def left_of_half(p):
        return np.asarray(p).reshape(-1, 2)[:, 0] <= 0.5

    target = Target(fs, Point(0, 0).buffer(1.0, quad_segs=64), left_of_half)
    assert fs.distance_to([target], np.array([3.0, 0.0])) == pytest.approx(2.5, abs=1e-4)
    # from above the cut, the nearest accepted point is where the cut meets the circle
    start = np.array([3.0, 1.5])
    corner = np.array([0.5, math.sqrt(1 - 0.25)])
    assert fs.distance_to([target], start) == pytest.approx(np.linalg.norm(start - corner),
                                                            abs=1e-4)
    # no accepted point at all: unreachable
    nowhere = Target(fs, Point(0, 0).buffer(1.0), lambda p: np.zeros(len(np.reshape(p, (-1, 2))),
                                                                     bool))
    assert math.isinf(fs.distance_to([nowhere], np.array([3.0, 0.0])))


def test_condition_boundary_inside_the_region_is_found():
    # the accepted set is a disc of radius 0.3 around (0, -0.6), inside the 1 m success circle:
    # its boundary is not the region's, so it is found between lattice samples and bisected
    fs = FreeSpace([], (-2, -2, 4, 2), R)

    def near_spot(p):
        p = np.asarray(p).reshape(-1, 2)
        return np.hypot(p[:, 0], p[:, 1] + 0.6) <= 0.3

    target = Target(fs, Point(0, 0).buffer(1.0, quad_segs=64), near_spot, spacing=0.04)
    start = np.array([3.0, -0.6])
    # nearest accepted point (0.3, -0.6): 2.7 m. The crossings found lie up to half a spacing
    # (2 cm) along the curved edge from it: second order, (0.02^2 / 2) (1 / 0.3 + 1 / 2.7) = 0.8 mm
    got = fs.distance_to([target], start)
    assert 2.7 - 1e-9 <= got <= 2.7 + 1e-3


def test_nearest_of_several_targets():
    fs = FreeSpace([], (0, 0, 10, 4), R)
    near = Target(fs, Point(2, 2).buffer(0.5, quad_segs=64))
    far = Target(fs, Point(8, 2).buffer(0.5, quad_segs=64))
    assert fs.distance_to([far, near], np.array([4.0, 2.0])) == pytest.approx(1.5, abs=1e-9)


# ---------------------------------------------------------------- the grid, against the exact
def test_grid_never_shorter_and_within_its_documented_error():
    """The navigation grid's distances are upper bounds of the exact ones (its paths are real
    paths through free cell centres), and not by more than its documented error."""
    walls = [np.array([[-0.1, 2.0], [2.5, 2.0]]), np.array([[3.55, 2.0], [6.1, 2.0]]),
             rect(4.3, 0.6, 4.9, 1.0), rect(0.8, 2.9, 1.2, 3.3)]
    fs = FreeSpace(walls, (0, 0, 6, 4), R)
    g = NavGrid.from_footprints(walls, (0, 0, 6, 4), 0.05, R)
    rng = np.random.default_rng(3)
    free = np.argwhere(g.free)
    a_ij = free[rng.integers(len(free))]
    a = g.cell_to_world(a_ij)
    src = np.zeros(g.shape, bool)
    src[a_ij[0], a_ij[1]] = True
    field = distance_field(g, src)
    checked = 0
    for ij in free[rng.integers(len(free), size=60)]:
        b = g.cell_to_world(ij)
        grid_l, exact = geodesic_distance(g, field, b), fs.distance(a, b)
        if not math.isfinite(grid_l):
            continue
        assert exact <= grid_l + 1e-9
        assert grid_l <= exact * 1.005 + 0.05 * math.pi    # lattice error + at most a half turn
        checked += 1
    assert checked > 40
