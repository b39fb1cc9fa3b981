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


# ---------------------------------------------------------------- details, against hand-made grids
def _distance_to_footprint(p, poly):
    """Distance from a point to a footprint of 1, 2 or more vertices (0 inside a proper polygon;
    a zero-area polygon is only its edges). Independent of the module, like _exact_distance."""
    poly = np.asarray(poly, float)
    if len(poly) == 1:
        return float(np.linalg.norm(p - poly[0]))
    area2 = sum(poly[k, 0] * poly[(k + 1) % len(poly), 1] - poly[(k + 1) % len(poly), 0] * poly[k, 1]
                for k in range(len(poly)))
    if len(poly) >= 3 and abs(area2) > 1e-12:
        return _exact_distance(p, poly)
    edges = [(poly[0], poly[1])] if len(poly) == 2 else \
        [(poly[k], poly[(k + 1) % len(poly)]) for k in range(len(poly))]
    best = math.inf
    for a, b in edges:
        e = b - a
        t = min(1.0, max(0.0, float(np.dot(p - a, e) / np.dot(e, e))))
        best = min(best, float(np.linalg.norm(p - (a + t * e))))
    return best


def _proper(poly) -> bool:
    """A polygon with an area (its first three vertices are not collinear)."""
    (ax, ay), (bx, by) = poly[1] - poly[0], poly[2] - poly[0]
    return abs(ax * by - ay * bx) > 1e-12


def test_points_segments_triangles_and_flat_footprints_away_from_the_origin():
    """The brute-force check of test_free_iff_centre_farther_than_inflation on bounds that do
    not start at (0, 0), with every kind of footprint from_footprints accepts: a point, a
    segment, a triangle (both orientations), a collinear (zero-area) 'polygon', an empty one."""
    rng = np.random.default_rng(11)
    bounds = (-2.3, 1.1, -0.1, 2.85)                     # 2.2 m x 1.75 m, origin far from 0
    polys = [np.array([[-1.71, 1.93]]),                                 # a point
             np.array([[-2.0, 2.5], [-1.4, 2.7]]),                      # a segment
             np.array([[-0.9, 1.3], [-0.3, 1.45], [-0.6, 2.1]]),        # a triangle, ccw
             np.array([[-1.2, 2.75], [-0.5, 2.4], [-0.8, 2.85]])[::-1],  # a triangle, cw
             np.zeros((0, 2)),                                          # nothing (skipped)
             np.array([[-2.2, 1.2], [-1.9, 1.35], [-1.6, 1.5]])]        # collinear: its segment
    polys.append(rng.uniform([-0.6, 2.3], [-0.2, 2.8], (1, 2)))         # another point, last
    g = NavGrid.from_footprints(polys, bounds, RES, R)
    assert g.shape == (35, 44) and g.origin == (-2.3, 1.1)
    for i in range(35):
        for j in range(44):
            p = g.cell_to_world(np.array([i, j]))
            d = min(_distance_to_footprint(p, poly) for poly in polys if len(poly))
            assert g.free[i, j] == (d > R), (i, j, d)
            inside = any(len(poly) >= 3 and _distance_to_footprint(p, poly) == 0.0 and _proper(poly)
                         for poly in polys)
            assert g.occupied[i, j] == inside, (i, j)


def test_a_centre_on_a_polygons_edge_is_inside_it_either_orientation():
    # cell centres at x = 0.25, 0.75, ...: the square's left edge x = 0.75 runs through a column
    for square in (box(0.75, 0.75, 1.75, 1.75), box(0.75, 0.75, 1.75, 1.75)[::-1]):
        g = NavGrid.from_footprints([square], (0, 0, 3, 3), 0.5, 0.1)
        assert g.occupied[1, 1] and g.occupied[3, 3] and g.occupied[1, 3]   # corners (0.75, 0.75) ...
        assert not g.occupied[0, 1] and not g.free[1, 1]


def test_defaults_bounds_and_the_last_row_and_column():
    g = NavGrid.from_footprints([np.array([[0.5, 0.5]])], (0.0, 0.0, 1.0, 1.0))
    assert (g.resolution, g.shape) == (0.05, (20, 20))              # 0.05 m cells by default
    assert not g.is_free(np.array([0.5 + 0.175, 0.525]))            # within 0.18 m of the point
    assert g.is_free(np.array([0.5 + 0.225, 0.525]))
    # a cell centre exactly on the upper bound is inside (centres 0.25, 0.75, 1.25 of 1.25 m)
    g = NavGrid.from_footprints([], (0.0, 0.0, 1.25, 1.25), 0.5, 0.1)
    assert g.shape == (3, 3) and g.free.all()
    # bounds smaller than a cell: one cell
    assert NavGrid.from_footprints([], (0.0, 0.0, 0.01, 0.01), 0.5, 0.1).shape == (1, 1)
    for bad in ((0, 0, 0, 1), (0, 0, 1, 0), (1, 0, 0, 1)):
        with pytest.raises(ValueError, match=r"^bounds must be \(xmin, ymin, xmax, ymax\), max > min"):
            NavGrid.from_footprints([], bad)


def test_navgrid_checks_its_arrays_and_takes_any_truthy_mask():
    g = NavGrid(free=np.array([[1, 0], [1, 1]]), origin=(0, 0), resolution=1.0,
                occupied=np.array([[0, 1], [0, 0]]))
    assert g.free.dtype == bool and g.occupied.dtype == bool and g.origin == (0.0, 0.0)
    f = distance_field(g, np.array([[0, 0], [0, 1]]))               # a 0/1 source mask works too
    # (the diagonal from (1, 1) to (0, 0) grazes the corner of the blocked (0, 1): not an edge)
    np.testing.assert_allclose(f, [[2.0, np.inf], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"^NavGrid.free must be 2-D \(H, W\), got shape \(3,\)$"):
        NavGrid(free=np.ones(3, bool), origin=(0, 0), resolution=1.0)
    with pytest.raises(ValueError, match="^NavGrid.resolution must be > 0, got 0$"):
        NavGrid(free=np.ones((2, 2), bool), origin=(0, 0), resolution=0)
    with pytest.raises(ValueError, match="^NavGrid.occupied must have the shape of NavGrid.free$"):
        NavGrid(free=np.ones((2, 2), bool), origin=(0, 0), resolution=1.0, occupied=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"^sources must have the grid's shape \(2, 2\), got \(3, 3\)$"):
        distance_field(g, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"^field must have the grid's shape \(2, 2\), got \(1, 2\)$"):
        geodesic_distance(g, np.zeros((1, 2)), np.array([0.5, 0.5]))


def test_the_cached_graph_follows_edits_of_free_and_the_neighbourhood():
    g = NavGrid(free=np.ones((5, 5), bool), origin=(0, 0), resolution=1.0)
    src = np.zeros((5, 5), bool)
    src[0, 0] = True
    assert distance_field(g, src, neighbourhood=1)[4, 2] == pytest.approx(2 * math.sqrt(2) + 2)   # octile
    assert distance_field(g, src)[4, 2] == pytest.approx(math.hypot(4, 2))   # a straight 5-lattice edge
    g.free[1:, 1] = False                                  # a wall, written in place
    g.free[0, 1] = False
    f = distance_field(g, src)
    assert np.isinf(f[4, 2]) and f[4, 0] == 4.0             # cut off; down the first column still fine
    # the last free cell (in node order) has no neighbour at all: it is unreachable, not an error
    g = NavGrid(free=np.array([[1, 1, 0, 0], [0, 0, 0, 1]], bool), origin=(0, 0), resolution=1.0)
    f = distance_field(g, np.array([[1, 0, 0, 0], [0, 0, 0, 0]], bool))
    np.testing.assert_allclose(f, [[0.0, 1.0, np.inf, np.inf], [np.inf, np.inf, np.inf, np.inf]])


def test_geodesic_distance_interpolates_between_centres_anywhere_on_the_grid():
    # a field that is linear in the cell indices is reproduced exactly by bilinear interpolation:
    # value = 1 * u + 10 * v, u and v the (fractional) row and column of the point's position
    g = NavGrid(free=np.ones((4, 5), bool), origin=(-3.0, 1.5), resolution=0.5)
    ii, jj = np.indices((4, 5))
    field = 1.0 * ii + 10.0 * jj

    def expected(x, y):
        return 1.0 * ((y - 1.5) / 0.5 - 0.5) + 10.0 * ((x + 3.0) / 0.5 - 0.5)

    for x, y in ((-2.3, 2.1), (-2.3, 2.25), (-1.75, 2.1), (-1.75, 2.25), (-1.2, 3.05)):
        assert geodesic_distance(g, field, np.array([x, y])) == pytest.approx(expected(x, y)), (x, y)
    # beyond the outermost centres (the grid's rim) a neighbour would be off the grid: the cell's value
    assert geodesic_distance(g, field, np.array([-2.9, 1.6])) == 0.0                 # cell (0, 0)
    assert geodesic_distance(g, field, np.array([-0.6, 3.45])) == 3.0 + 40.0        # cell (3, 4)
    # a non-free or unreachable neighbour centre: the cell's own value too. (-2.1, 2.1) lies in
    # cell (1, 1), between the centres of rows 0-1 and columns 1-2
    g.free[1, 2] = False
    assert geodesic_distance(g, field, np.array([-2.1, 2.1])) == field[1, 1]
    g.free[1, 2] = True
    inf_field = field.copy()
    inf_field[1, 2] = np.inf
    assert geodesic_distance(g, inf_field, np.array([-2.1, 2.1])) == field[1, 1]


def test_a_point_off_the_free_cells_snaps_and_adds_the_straight_gap():
    g = NavGrid(free=np.ones((3, 3), bool), origin=(10.0, -4.0), resolution=0.1)
    g.free[1, 1] = False
    field = np.arange(9.0).reshape(3, 3)
    # (10.16, -3.84) is in cell (1, 1), not free; the nearest free centre is (10.15, -3.95) of cell
    # (0, 1), 0.1 m away in y and 0.01 m in x: field 1 + hypot(0.01, 0.11)
    p = np.array([10.16, -3.84])
    c = nearest_free(g, p, 0.15)
    d = math.hypot(c[0] - p[0], c[1] - p[1])
    i, j = g.world_to_cell(c)
    assert geodesic_distance(g, field, p) == pytest.approx(field[i, j] + d)
    assert d == pytest.approx(min(math.hypot(cx - p[0], cy - p[1]) for cx, cy in
                                  g.cell_to_world(np.argwhere(g.free))))


@pytest.mark.parametrize("cell", [(0, 0), (0, 6), (4, 0), (4, 6), (2, 3)])
def test_nearest_free_finds_a_lone_free_cell_anywhere_within_its_reach(cell):
    """One free cell on an otherwise blocked grid, looked for from 2 cells away in each direction
    (at exactly max_distance: the bound is inclusive), and from anywhere with no bound."""
    g = NavGrid(free=np.zeros((5, 7), bool), origin=(-1.0, 3.0), resolution=0.5)
    g.free[cell] = True
    centre = g.cell_to_world(np.array(cell))
    np.testing.assert_allclose(nearest_free(g, g.cell_to_world(np.array([4, 6]) - np.array(cell))), centre)
    for di, dj in ((2, 0), (-2, 0), (0, 2), (0, -2)):
        q = centre + np.array([dj, di]) * 0.5
        np.testing.assert_allclose(nearest_free(g, q, max_distance=1.0), centre)
        assert nearest_free(g, q, max_distance=0.99) is None
    assert nearest_free(NavGrid(free=np.zeros((2, 2), bool), origin=(0, 0), resolution=1.0), np.zeros(2)) is None


def test_segments_along_the_grid_edge_and_ending_on_its_boundary():
    g = NavGrid(free=np.ones((4, 6), bool), origin=(2.0, -1.0), resolution=0.5)
    x0, y0, x1, y1 = g.bounds
    first_row, last_row = y0 + 0.25, y1 - 0.25
    first_col, last_col = x0 + 0.25, x1 - 0.25
    assert segment_is_free(g, np.array([first_col, first_row]), np.array([last_col, first_row]))
    assert segment_is_free(g, np.array([first_col, last_row]), np.array([last_col, last_row]))
    assert segment_is_free(g, np.array([first_col, first_row]), np.array([first_col, last_row]))
    assert segment_is_free(g, np.array([last_col, first_row]), np.array([last_col, last_row]))
    # touching the boundary names the cell beyond it, which is not free
    assert not segment_is_free(g, np.array([first_col, first_row]), np.array([first_col, y1]))
    assert not segment_is_free(g, np.array([first_col, first_row]), np.array([x1, first_row]))
    g.free[2, 3] = False
    assert not segment_is_free(g, np.array([first_col, y0 + 1.25]), np.array([last_col, y0 + 1.25]))


def test_shortest_path_along_the_edge_snapping_and_simplifying():
    g = NavGrid(free=np.ones((3, 8), bool), origin=(-5.0, 0.0), resolution=1.0)
    g.free[1:, 1:7] = False                         # a U: row 0, and columns 0 and 7
    src = np.zeros((3, 8), bool)
    src[2, 7] = True
    f = distance_field(g, src)
    start = g.cell_to_world(np.array([2, 0]))
    raw = shortest_path(g, f, start, simplify=False)
    cells = [tuple(int(v) for v in c) for c in g.world_to_cell(raw[1:])]
    # unit steps only along a corridor (no diagonal grazes a blocked corner), up, across, down
    assert cells == [(2, 0), (1, 0)] + [(0, j) for j in range(8)] + [(1, 7), (2, 7)]
    assert f[2, 0] == 11.0
    # simplified: the start, the two corners the free cells force, the source
    smooth = shortest_path(g, f, start)
    np.testing.assert_allclose(smooth, g.cell_to_world(np.array([[2, 0], [0, 0], [0, 7], [2, 7]])))
    assert shortest_path(g, f, g.cell_to_world(np.array([1, 3]))).shape == (0, 2)   # nothing free near
    # a start given as a (1, 2) row, in a blocked cell 0.07 m from a free centre: snapped first
    fine = NavGrid(free=np.ones((3, 3), bool), origin=(0, 0), resolution=0.1)
    fine.free[1, 1] = False
    src = np.zeros((3, 3), bool)
    src[0, 1] = True
    blocked = np.array([0.15, 0.18])                                   # cell (1, 1); (2, 1) is 0.07 away
    path = shortest_path(fine, distance_field(fine, src), blocked[None], simplify=False)
    np.testing.assert_allclose(path[0], blocked)
    np.testing.assert_allclose(path[1], [0.15, 0.25])
    # one step from the source: just the start and the source's centre
    one = shortest_path(g, f, g.cell_to_world(np.array([1, 7])))
    np.testing.assert_allclose(one, g.cell_to_world(np.array([[1, 7], [2, 7]])))


def test_shortest_path_stops_where_a_field_has_no_way_down():
    """Given a field that is no distance field (a pit off the sources, or a plateau), the path
    ends there instead of wandering."""
    g = NavGrid(free=np.ones((1, 5), bool), origin=(0, 0), resolution=1.0)
    pit = np.array([[3.0, 2.0, 1.0, 2.0, 3.0]])          # no source (0) anywhere
    path = shortest_path(g, pit, np.array([0.5, 0.5]), simplify=False)
    np.testing.assert_allclose(path, [[0.5, 0.5], [0.5, 0.5], [1.5, 0.5], [2.5, 0.5]])
    flat = np.ones((1, 5))
    np.testing.assert_allclose(shortest_path(g, flat, np.array([1.5, 0.5]), simplify=False),
                               [[1.5, 0.5], [1.5, 0.5]])


def test_a_cell_exactly_inflation_away_is_not_free_on_every_side():
    """A point obstacle at (4.25, 2.25) with 0.5 m cells and a 0.5 m radius: the four cells whose
    centres are exactly 0.5 m away (left, right, below, above) are blocked, the diagonal ones
    (0.71 m) are free: 5 blocked cells in all. Exact in binary, so no rounding decides it."""
    g = NavGrid.from_footprints([np.array([[4.25, 2.25]])], (0.0, 0.0, 8.0, 5.0), 0.5, 0.5)
    assert set(map(tuple, np.argwhere(~g.free))) == {(4, 8), (4, 7), (4, 9), (3, 8), (5, 8)}
    # the same with the grid's origin on the other side of zero in x and y (xmin > 0, ymin < 0)
    g = NavGrid.from_footprints([np.array([[5.25, -0.75]])], (1.0, -3.0, 9.0, 2.0), 0.5, 0.5)
    assert set(map(tuple, np.argwhere(~g.free))) == {(4, 8), (4, 7), (4, 9), (3, 8), (5, 8)}


def test_footprints_outside_the_bounds_or_degenerate_still_count_as_what_they_are():
    # a polygon wholly outside the bounds is skipped without stopping the ones after it; a
    # "segment" whose two ends coincide is that point
    inside = np.array([[1.25, 1.25], [1.25, 1.25]])
    g = NavGrid.from_footprints([box(10, 10, 11, 11), inside], (0.0, 0.0, 2.5, 2.5), 0.5, 0.5)
    assert set(map(tuple, np.argwhere(~g.free))) == {(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)}


def test_cells_of_points_at_and_beyond_every_edge_of_the_grid():
    # every edge cell differs from its inner neighbour, so reading a neighbour instead shows
    g = NavGrid(free=np.array([[1, 0, 1, 0],
                               [0, 1, 0, 1],
                               [1, 0, 1, 0]], bool), origin=(1.0, -2.0), resolution=0.5)
    x0, y0, x1, y1 = g.bounds
    for i in range(3):
        for j in range(4):
            x, y = g.cell_to_world(np.array([i, j]))
            assert g.is_free(np.array([x, y])) == g.free[i, j], (i, j)
    for outside in ([x0 + 0.1, y0 - 0.1], [x0 + 0.1, y1 + 0.1], [x1 + 0.1, y1 - 0.1], [x0 - 0.1, y0 + 0.1],
                    [x1 - 0.1, y1 + 0.1], [x0 + 0.1, y0 - 100.0], [x1 + 100.0, y1 - 0.1],
                    [x0 - 100.0, y0 + 0.1], [x0 + 0.1, y1 + 100.0]):
        assert not g.is_free(np.array(outside)), outside
        assert not g.in_grid(g.world_to_cell(np.array(outside)))


def test_points_given_as_rows_and_interpolation_at_the_last_row():
    g = NavGrid(free=np.ones((4, 5), bool), origin=(-3.0, 1.5), resolution=0.5)
    field = 1.0 * np.indices((4, 5))[0] + 10.0 * np.indices((4, 5))[1]
    # past the last row's centres but between two columns' centres: the cell's own value (33)
    assert geodesic_distance(g, field, np.array([-1.2, 3.45])) == 33.0
    assert geodesic_distance(g, field, np.array([[-2.3, 2.1]])) == pytest.approx(
        geodesic_distance(g, field, np.array([-2.3, 2.1])))
    np.testing.assert_allclose(nearest_free(g, np.array([[-2.3, 2.1]]), 0.5), [-2.25, 2.25])


def test_nearest_free_looks_as_far_as_max_distance_at_fine_resolution():
    g = NavGrid(free=np.zeros((12, 12), bool), origin=(0.0, 0.0), resolution=0.1)
    g.free[5, 10] = True                                  # 0.5 m (5 cells) east of cell (5, 5)
    np.testing.assert_allclose(nearest_free(g, np.array([0.55, 0.55]), 0.5), [1.05, 0.55])
    assert nearest_free(g, np.array([0.55, 0.55]), 0.45) is None


def test_a_horizontal_segment_names_only_its_own_row():
    g = NavGrid(free=np.ones((4, 6), bool), origin=(2.0, -1.0), resolution=0.5)
    g.free[1, 3] = False                                  # the row below
    assert segment_is_free(g, np.array([2.25, 0.25]), np.array([4.75, 0.25]))    # row 2
    assert not segment_is_free(g, np.array([2.25, -0.25]), np.array([4.75, -0.25]))   # row 1


def test_a_simplified_path_starts_at_the_start_and_ends_at_the_source():
    """The first waypoint is start_xy itself (not its cell's centre), the last the source's centre,
    and the corners in between are the ones the free cells force."""
    g = NavGrid(free=np.ones((2, 4), bool), origin=(0.0, 0.0), resolution=1.0)
    g.free[1, :3] = False                                 # along row 0, then down to (1, 3)
    src = np.zeros((2, 4), bool)
    src[1, 3] = True
    f = distance_field(g, src)
    path = shortest_path(g, f, np.array([0.3, 0.6]))      # in cell (0, 0), off its centre
    np.testing.assert_allclose(path, [[0.3, 0.6], [3.5, 0.5], [3.5, 1.5]])
    # from a blocked cell (snapped to its free neighbour first), simplified too
    fine = NavGrid(free=np.ones((3, 3), bool), origin=(0, 0), resolution=0.1)
    fine.free[1, 1] = False
    s = np.zeros((3, 3), bool)
    s[0, 1] = True
    path = shortest_path(fine, distance_field(fine, s), np.array([0.15, 0.18]))
    np.testing.assert_allclose(path[0], [0.15, 0.18])
    # no shortcut may leave from inside the blocked cell: the snapped centre is the second waypoint
    np.testing.assert_allclose(path[1], [0.15, 0.25])
    np.testing.assert_allclose(path[-1], [0.15, 0.05])
