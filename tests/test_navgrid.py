"""The navigation grid and its geodesic distances, against answers computed by hand.

The error bounds used here are the ones documented in embodied/perception/navgrid.py:
open space 0 <= error <= 0.49 %; around obstacles 0 <= error <= 0.5 % * l + 1.1 * resolution * turn,
where turn is the total turning angle (rad) of the exact shortest path.
"""
import math

import numpy as np
import pytest

from embodied.perception.navgrid import (
    NavGrid,
    distance_field,
    geodesic_distance,
    nearest_free,
    segment_is_free,
    shortest_path,
)

RES = 0.05
R = 0.18  # agent radius = inflation
OPEN_SPACE_REL = 1.0 / math.cos(math.atan(1 / 5) / 2) - 1.0  # 0.488 %: the 5-neighbourhood lattice


def box(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def source_at(grid, xy):
    mask = np.zeros(grid.shape, dtype=bool)
    i, j = grid.world_to_cell(np.asarray(xy, float))
    assert grid.free[i, j], "test layouts put sources on free cells"
    mask[i, j] = True
    return mask


def obstacle_bound(exact, turn):
    return 0.005 * exact + 1.1 * RES * turn + 1e-9


# ---------------------------------------------------------------- coordinates
def test_world_cell_round_trip_and_conventions():
    g = NavGrid(free=np.ones((4, 6), bool), origin=(-1.0, 2.0), resolution=0.5)
    # row i <-> y = y0 + (i + 0.5) res ; column j <-> x = x0 + (j + 0.5) res
    np.testing.assert_allclose(g.cell_to_world(np.array([0, 0])), [-0.75, 2.25])
    np.testing.assert_allclose(g.cell_to_world(np.array([3, 5])), [1.75, 3.75])
    ij = np.array([[0, 0], [3, 5], [2, 1]])
    np.testing.assert_array_equal(g.world_to_cell(g.cell_to_world(ij)), ij)
    # vectorised is_free; outside the grid is never free
    g.free[1, 2] = False
    pts = np.array([[[-0.75, 2.25], [0.25, 2.75]], [[5.0, 5.0], [-1.01, 2.1]]])
    np.testing.assert_array_equal(g.is_free(pts), [[True, False], [False, False]])


# ---------------------------------------------------------------- rasterisation
def _exact_distance(p, poly):
    """Point-to-convex-polygon distance, written out per point (independent of the module)."""
    n = len(poly)
    signs = []
    best = math.inf
    for k in range(n):
        a, b = poly[k], poly[(k + 1) % n]
        e = b - a
        signs.append(e[0] * (p[1] - a[1]) - e[1] * (p[0] - a[0]))
        t = min(1.0, max(0.0, float(np.dot(p - a, e) / np.dot(e, e))))
        best = min(best, float(np.linalg.norm(p - (a + t * e))))
    if all(s >= 0 for s in signs) or all(s <= 0 for s in signs):
        return 0.0
    return best


def test_free_iff_centre_farther_than_inflation():
    rng = np.random.default_rng(3)
    polys = []
    for _ in range(4):
        c = rng.uniform(0.4, 1.6, 2)
        hx, hy = rng.uniform(0.05, 0.3, 2)
        th = rng.uniform(0, np.pi)
        rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        corners = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]]) @ rot.T + c
        polys.append(corners if rng.random() < 0.5 else corners[::-1])  # both orientations
    g = NavGrid.from_footprints(polys, (0, 0, 2, 2), RES, R)
    assert g.shape == (40, 40)
    for i in range(40):
        for j in range(40):
            p = g.cell_to_world(np.array([i, j]))
            d = min(_exact_distance(p, poly) for poly in polys)
            assert g.free[i, j] == (d > R), (i, j, d)
            assert g.occupied[i, j] == (d == 0.0)


def test_gap_narrower_than_two_radii_is_impassable():
    # a wall across the room at x = 2 with one gap between y = 0.8 and y = 0.8 + gap
    def layout(gap):
        walls = [box(1.95, -0.1, 2.05, 0.8), box(1.95, 0.8 + gap, 2.05, 2.1)]
        g = NavGrid.from_footprints(walls, (0, 0, 4, 2), RES, R)
        f = distance_field(g, source_at(g, (0.525, 1.025)))
        return g, f

    g, f = layout(0.34)  # 0.34 < 2 * 0.18: every point of the gap is within 0.17 of a jamb
    assert not g.free[:, 39:42].any()
    assert math.isinf(geodesic_distance(g, f, np.array([3.525, 1.025])))
    # 0.45 > 2r: passable (the centres at y = 1.025 are 0.225 from both jambs; with 0.40 the
    # centres would sit 0.175 from a jamb, so the free cells, not the gap, decide)
    g, f = layout(0.45)
    assert math.isfinite(geodesic_distance(g, f, np.array([3.525, 1.025])))


def test_bounds_limit_the_grid():
    g = NavGrid.from_footprints([], (0.0, 0.0, 1.02, 0.5), RES, R)
    # 1.02 / 0.05 -> 21 columns; the last centre (1.025) lies outside the bounds: not free
    assert g.shape == (10, 21)
    assert g.free[:, :20].all() and not g.free[:, 20].any()


# ---------------------------------------------------------------- distance fields
def test_open_room_matches_euclidean_within_the_lattice_bound():
    g = NavGrid.from_footprints([], (0, 0, 6, 4), RES, R)
    a = np.array([0.525, 0.325])
    f = distance_field(g, source_at(g, a))
    rng = np.random.default_rng(0)
    for ij in rng.integers(0, [80, 120], size=(200, 2)):
        b = g.cell_to_world(ij)
        euclid = float(np.linalg.norm(b - a))
        err = geodesic_distance(g, f, b) - euclid
        assert -1e-9 <= err <= OPEN_SPACE_REL * euclid + 1e-9
    # exactly along a lattice direction (here 3:4 is not one, 1:2 is): no error at all
    b = a + np.array([1.0, 2.0])
    assert geodesic_distance(g, f, b) == pytest.approx(math.sqrt(5.0), abs=1e-9)
    # between cell centres the field is interpolated: still within the bound
    q = np.array([4.51, 3.07])
    assert geodesic_distance(g, f, q) == pytest.approx(np.linalg.norm(q - a), rel=OPEN_SPACE_REL)


def door_layout():
    """A 6 m x 4 m room cut by a zero-thickness wall along y = 2 with a door from x = 2.5 to
    x = 3.55 (centre x = 3.025, on a column of cell centres)."""
    walls = [np.array([[-0.1, 2.0], [2.5, 2.0]]), np.array([[3.55, 2.0], [6.1, 2.0]])]
    return NavGrid.from_footprints(walls, (0, 0, 6, 4), RES, R)


def test_path_straight_through_the_door_centre_is_exact():
    g = door_layout()
    a, b = np.array([3.025, 0.525]), np.array([3.025, 3.475])
    f = distance_field(g, source_at(g, a))
    # aligned with the door centre, 0.525 m from each jamb: the straight segment, 3.475 - 0.525
    assert geodesic_distance(g, f, b) == pytest.approx(2.95, abs=1e-9)


def wrap_around_point(a, b, e, r):
    """Exact shortest path from a (below the wall) to b (above) around the wall end e, inflated
    by r: the tangent from a to the circle of radius r at e, the arc, the tangent to b.

    Tangent length (Pythagoras, right angle at the tangent point): t = sqrt(|a - e|^2 - r^2).
    The tangent point lies acos(r / |a - e|) from the direction e -> a, so the arc spans
    phi - acos(r/|a-e|) - acos(r/|b-e|), phi = angle from e->a to e->b around the door side.
    Returns (length, total turning angle = arc angle).
    """
    da, db = a - e, b - e
    la, lb = np.linalg.norm(da), np.linalg.norm(db)
    phi = math.atan2(db[1], db[0]) - math.atan2(da[1], da[0])  # a below (< 0), b above (> 0)
    arc = phi - math.acos(r / la) - math.acos(r / lb)
    if arc <= 0:  # the straight segment clears the inflated end
        return float(np.linalg.norm(b - a)), 0.0
    return math.sqrt(la**2 - r**2) + math.sqrt(lb**2 - r**2) + r * arc, arc


def test_path_bending_around_the_door_jamb():
    g = door_layout()
    e = np.array([2.5, 2.0])  # the end of the left wall
    a, b = np.array([1.525, 1.025]), np.array([1.525, 2.975])
    # By hand: a - e = (-0.975, -0.975), |a - e| = 0.975 * sqrt(2) = 1.378858
    #   tangent t = sqrt(1.378858^2 - 0.18^2) = sqrt(1.901250 - 0.0324) = 1.367059
    #   acos(0.18 / 1.378858) = 1.439880 rad; e->a points at -135 deg, e->b at +135 deg -> the way
    #   round through the door is phi = 270 deg = 4.712389 rad
    #   arc = 4.712389 - 2 * 1.439880 = 1.832629 rad -> r * arc = 0.329873
    #   exact = 2 * 1.367059 + 0.329873 = 3.063991 m (the straight line, 1.95 m, crosses the wall)
    exact, turn = wrap_around_point(a, b, e, R)
    assert exact == pytest.approx(3.063991, abs=1e-6)
    assert turn == pytest.approx(1.832629, abs=1e-6)
    f = distance_field(g, source_at(g, a))
    err = geodesic_distance(g, f, b) - exact
    assert -1e-9 <= err <= obstacle_bound(exact, turn)  # bound: 0.0153 + 0.1008 m


@pytest.mark.parametrize("a, b", [
    ((0.525, 0.525), (2.025, 3.475)),
    ((2.225, 1.675), (0.275, 3.725)),
    ((1.025, 0.125), (2.575, 2.625)),   # ends beside the door: the arc is short
    ((0.125, 1.575), (5.025, 3.825)),   # crosses the door diagonally, wraps the jamb slightly
])
def test_paths_around_the_jamb_within_the_documented_error(a, b):
    g = door_layout()
    a, b = np.array(a), np.array(b)
    exact, turn = wrap_around_point(a, b, np.array([2.5, 2.0]), R)
    f = distance_field(g, source_at(g, a))
    err = geodesic_distance(g, f, b) - exact
    assert -1e-9 <= err <= obstacle_bound(exact, turn)


def test_unreachable_region_is_inf():
    # a closed square room (outer 2..3.5 x 1..2.5, walls 0.1 thick) inside a 5 m x 4 m hall
    walls = [box(2.0, 1.0, 3.5, 1.1), box(2.0, 2.4, 3.5, 2.5), box(2.0, 1.0, 2.1, 2.5),
             box(3.4, 1.0, 3.5, 2.5)]
    g = NavGrid.from_footprints(walls, (0, 0, 5, 4), RES, R)
    f = distance_field(g, source_at(g, (0.525, 0.525)))
    inside = np.array([2.775, 1.775])
    assert g.is_free(inside)
    assert math.isinf(geodesic_distance(g, f, inside))
    assert math.isfinite(geodesic_distance(g, f, np.array([4.525, 3.525])))
    assert np.isinf(f[~g.free]).all()
    assert np.isinf(distance_field(g, np.zeros(g.shape, bool))).all()  # no source: all inf


def test_multi_source_field_is_the_min_of_single_source_fields():
    g = door_layout()
    s1, s2 = source_at(g, (0.525, 0.525)), source_at(g, (5.025, 3.525))
    both = distance_field(g, s1 | s2)
    expected = np.minimum(distance_field(g, s1), distance_field(g, s2))
    np.testing.assert_allclose(both, expected, rtol=0, atol=1e-9)


def test_distances_are_symmetric():
    g = door_layout()
    a, b = np.array([0.525, 0.525]), np.array([4.025, 3.225])
    fa, fb = distance_field(g, source_at(g, a)), distance_field(g, source_at(g, b))
    assert geodesic_distance(g, fa, b) == pytest.approx(geodesic_distance(g, fb, a), abs=1e-9)


def test_non_free_sources_are_ignored():
    g = door_layout()
    wall_cell = np.zeros(g.shape, bool)
    wall_cell[g.world_to_cell(np.array([1.0, 2.0]))[0], 20] = True
    assert np.isinf(distance_field(g, wall_cell)).all()


# ---------------------------------------------------------------- point queries
def test_geodesic_distance_snaps_from_a_non_free_cell():
    g = door_layout()
    a = np.array([1.025, 0.525])
    f = distance_field(g, source_at(g, a))
    # 0.16 m from the wall: the cell (centre y = 1.825, 0.175 from the wall) is not free; the
    # nearest free centre is (1.025, 1.775), 0.065 m away
    p = np.array([1.025, 1.84])
    assert not g.is_free(p)
    np.testing.assert_allclose(nearest_free(g, p, 0.15), [1.025, 1.775])
    assert geodesic_distance(g, f, p) == pytest.approx(1.25 + 0.065, abs=1e-9)
    # on the wall itself: the nearest free centre is 0.225 m away, beyond the 0.15 m snap radius
    assert math.isinf(geodesic_distance(g, f, np.array([1.025, 2.0])))
    assert nearest_free(g, np.array([1.025, 2.0]), 0.15) is None
    np.testing.assert_allclose(nearest_free(g, np.array([1.025, 2.0])), [1.025, 1.775])


# ---------------------------------------------------------------- paths
def test_shortest_path_descends_the_field():
    g = door_layout()
    a, b = np.array([1.525, 1.025]), np.array([1.525, 2.975])
    f = distance_field(g, source_at(g, a))
    raw = shortest_path(g, f, b, simplify=False)
    np.testing.assert_allclose(raw[0], b)
    np.testing.assert_allclose(raw[-1], a)
    raw_len = float(np.linalg.norm(np.diff(raw, axis=0), axis=1).sum())
    assert raw_len == pytest.approx(f[tuple(g.world_to_cell(b))], abs=1e-9)  # retraces Dijkstra
    smooth = shortest_path(g, f, b)
    assert len(smooth) < len(raw)
    smooth_len = float(np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum())
    exact, _ = wrap_around_point(a, b, np.array([2.5, 2.0]), R)
    assert exact - 1e-9 <= smooth_len <= raw_len + 1e-9
    for p, q in zip(smooth[:-1], smooth[1:]):
        assert segment_is_free(g, p, q)
    # unreachable start -> no path
    walls = [box(2.0, 1.0, 3.5, 1.1), box(2.0, 2.4, 3.5, 2.5), box(2.0, 1.0, 2.1, 2.5),
             box(3.4, 1.0, 3.5, 2.5)]
    g2 = NavGrid.from_footprints(walls, (0, 0, 5, 4), RES, R)
    f2 = distance_field(g2, source_at(g2, (0.525, 0.525)))
    assert shortest_path(g2, f2, np.array([2.775, 1.775])).shape == (0, 2)


def test_segment_is_free():
    g = door_layout()
    assert segment_is_free(g, np.array([3.025, 0.5]), np.array([3.025, 3.5]))  # through the door
    assert not segment_is_free(g, np.array([1.0, 0.5]), np.array([1.0, 3.5]))  # through the wall
    assert not segment_is_free(g, np.array([1.0, 0.5]), np.array([9.0, 0.5]))  # leaves the grid


def test_pickling_drops_the_cached_graph():
    import pickle

    g = door_layout()
    f = distance_field(g, source_at(g, (0.525, 0.525)))
    assert g._cache  # the graph is cached for the next field on this grid
    g2 = pickle.loads(pickle.dumps(g))
    assert not g2._cache and np.array_equal(g2.free, g.free)
    np.testing.assert_array_equal(distance_field(g2, source_at(g2, (0.525, 0.525))), f)
