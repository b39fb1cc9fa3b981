"""Frontiers and planning on hand-made grids whose answers are known, and driving a path with
the discrete actions in a small kinematic simulation."""
from __future__ import annotations

import math
from typing import Callable

import networkx as nx
import numpy as np
import pytest

from embodied.perception.frontier import (Blacklist, find_frontiers, frontier_mask,
                                          select_frontier)
from embodied.perception.mapping import FREE, OCCUPIED, UNKNOWN, MapConfig, TopDownMap
from embodied.perception.planner import (LOOK_DOWN, MOVE_AHEAD, ROTATE_LEFT, ROTATE_RIGHT,
                                         astar, face_action, geodesic_field, grid_graph,
                                         next_action, path_length, plan)

RES = 0.125


def ascii_map(rows: list[str], agent_radius: float = 0.01) -> tuple[TopDownMap, dict]:
    """A map from text: '.' free, '#' occupied, '?' unknown, letters are free cells whose
    (i, j) are returned by letter. Row r of the text is map row base + r, column c is column
    base + c, base being the map centre. A tiny agent radius makes traversable == free."""
    tmap = TopDownMap(MapConfig(resolution=RES, size_m=8.0, agent_radius=agent_radius))
    base = tmap.world_to_cell(np.zeros(2))
    marks: dict[str, tuple[int, int]] = {}
    free, occ = [], []
    for r, line in enumerate(rows):
        for c, ch in enumerate(line):
            ij = (int(base[0] + r), int(base[1] + c))
            if ch == "#":
                occ.append(ij)
            elif ch != "?":
                free.append(ij)
                if ch.isalpha():
                    marks[ch] = ij
    if free:
        tmap.mark_free(tmap.cell_to_world(np.array(free)))
    if occ:
        tmap.mark_occupied(tmap.cell_to_world(np.array(occ)))
    return tmap, marks


def xy(tmap: TopDownMap, ij: tuple[int, int]) -> np.ndarray:
    return tmap.cell_to_world(np.array(ij))


def as_set(cells: np.ndarray) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in cells}


# ---------------------------------------------------------------------------- frontiers
def test_frontier_cells_and_clusters_are_exact() -> None:
    rows = ["##########",
            "#........#",
            "#........?",      # an opening to the unknown on the right: frontier (2,8), (3,8)
            "#..?.....?",      # an unknown hole inside: frontier around (3,3)
            "#........#",
            "##########"]
    tmap, _ = ascii_map(rows)
    b = tmap.world_to_cell(np.zeros(2))
    cell = lambda r, c: (int(b[0] + r), int(b[1] + c))      # noqa: E731
    st = tmap.state
    assert st[cell(3, 3)] == UNKNOWN and st[cell(0, 0)] == OCCUPIED and st[cell(1, 1)] == FREE
    expected_hole = {cell(2, 3), cell(4, 3), cell(3, 2), cell(3, 4)}
    expected_door = {cell(2, 8), cell(3, 8)}
    assert as_set(np.argwhere(frontier_mask(st))) == expected_hole | expected_door
    found = find_frontiers(tmap, min_size=1, min_pocket=0)
    assert [as_set(f.cells) for f in found] == [expected_hole, expected_door]   # largest first
    hole = found[0]
    assert hole.size == 4
    np.testing.assert_allclose(hole.centroid_xy, xy(tmap, cell(3, 3)))   # symmetric ring
    # (the ring's four cells are equally near its centre, so which one is the target is a tie:
    # test_the_target_is_the_frontier_cell_nearest_the_centroid pins the rule on asymmetric ones)
    # size filter: clusters below min_size are dropped
    assert [as_set(f.cells) for f in find_frontiers(tmap, min_size=3, min_pocket=0)] == \
        [expected_hole]
    # pocket filter: the enclosed one-cell hole is not worth a visit; the opening still is
    assert [as_set(f.cells) for f in find_frontiers(tmap, min_size=1, min_pocket=0.5)] == \
        [expected_door]


def frontier_at(rows: list[str], **kwargs) -> tuple[TopDownMap, list, Callable[[int, int], tuple[int, int]]]:
    """find_frontiers on an ascii map, and the (i, j) of text row r, column c."""
    tmap, _ = ascii_map(rows)
    b = tmap.world_to_cell(np.zeros(2))
    return tmap, find_frontiers(tmap, **kwargs), lambda r, c: (int(b[0] + r), int(b[1] + c))


def test_the_target_is_the_frontier_cell_nearest_the_centroid() -> None:
    """A frontier's target point is where CoW looks and what the blacklist remembers: the frontier
    cell nearest the cluster's centroid, never a cell at its end."""
    # a straight opening of 5 cells: the centroid is the middle cell, the target too
    rows = ["#######",
            "#.....?",
            "#.....?",
            "#.....?",
            "#.....?",
            "#.....?",
            "#######"]
    tmap, (opening,), cell = frontier_at(rows, min_size=1, min_pocket=0)
    assert as_set(opening.cells) == {cell(r, 5) for r in range(1, 6)}
    np.testing.assert_allclose(opening.centroid_xy, xy(tmap, cell(3, 5)))
    np.testing.assert_allclose(opening.target_xy, xy(tmap, cell(3, 5)))
    # the same across (a row of 5 cells, away from the map's centre in x and y)
    tmap, (opening,), cell = frontier_at(["???????", "#.....#", "#.....#", "#######"], min_size=1, min_pocket=0)
    np.testing.assert_allclose(opening.target_xy, xy(tmap, cell(1, 3)))
    # an L (4 cells down a column, then 2 more along the bottom row): its centroid lies off the
    # frontier; the target is the frontier cell nearest it. Cells (1..4, 1), (4, 2), (4, 3) in the
    # text's rows and columns:
    #   mean row = (1 + 2 + 3 + 4 + 4 + 4) / 6 = 3, mean column = (1 + 1 + 1 + 1 + 2 + 3) / 6 = 1.5
    #   squared distances: (1,1) 4.25, (2,1) 1.25, (3,1) 0.25, (4,1) 1.25, (4,2) 1.25, (4,3) 3.25
    rows = ["#?####",
            "?.#...",
            "?.#...",
            "?.#...",
            "?...##",
            "#???##"]
    tmap, found, cell = frontier_at(rows, min_size=1, min_pocket=0)
    (ell,) = [f for f in found if cell(4, 2) in as_set(f.cells)]
    assert as_set(ell.cells) == {cell(1, 1), cell(2, 1), cell(3, 1), cell(4, 1), cell(4, 2), cell(4, 3)}
    np.testing.assert_allclose(ell.centroid_xy, tmap.cell_to_world(np.array([3.0, 1.5]) + np.array(cell(0, 0))))
    np.testing.assert_allclose(ell.target_xy, xy(tmap, cell(3, 1)))


def test_min_pocket_is_an_area_in_square_metres() -> None:
    """Enclosed unknown pockets smaller than min_pocket m^2 make no frontier. At 0.125 m cells a
    cell is 1/64 m^2, so 0.5 m^2 is 32 cells: a 3 x 3 pocket (0.14 m^2) is ignored, a 4 x 8 one
    (exactly 0.5 m^2) is not, and one cell less (31 cells) is again."""
    def room_with_pocket(height: int, width: int, fill: int = 0) -> list[str]:
        rows = ["#" * (width + 4)] + ["#" + "." * (width + 2) + "#"]
        for r in range(height):
            hole = "?" * width
            if r == 0 and fill:
                hole = "." * fill + hole[fill:]
            rows.append("#." + hole + ".#")
        return rows + ["#" + "." * (width + 2) + "#", "#" * (width + 4)]

    def pockets(rows: list[str]) -> int:
        return len(frontier_at(rows, min_size=1, min_pocket=0.5)[1])

    assert len(frontier_at(room_with_pocket(3, 3), min_size=1, min_pocket=0)[1]) == 1   # found at all
    assert pockets(room_with_pocket(3, 3)) == 0          # 9 cells = 0.14 m^2 < 0.5
    assert pockets(room_with_pocket(4, 8)) == 1          # 32 cells = 0.5 m^2: kept
    assert pockets(room_with_pocket(4, 8, fill=1)) == 0  # 31 cells < 0.5 m^2


ROOMS = ["#######?#######",     # A: an opening just across the wall from S
         "#....S#.......#",
         "#.....#.......#",
         "#.....#.......#",
         "#.....#.......#",
         "#.............#",     # the rooms connect along the bottom row
         "#?#############"]     # B: an opening in S's own room, farther in a straight line


def test_nearest_frontier_is_geodesic_not_euclidean() -> None:
    tmap, m = ascii_map(ROOMS)
    b = tmap.world_to_cell(np.zeros(2))
    a_cell, b_cell = (int(b[0] + 1), int(b[1] + 7)), (int(b[0] + 5), int(b[1] + 1))
    s = xy(tmap, m["S"])
    frontiers = find_frontiers(tmap, min_size=1, min_pocket=0)
    assert sorted(as_set(f.cells) for f in frontiers) == sorted([{a_cell}, {b_cell}])
    geo = select_frontier(tmap, frontiers, s, strategy="nearest")
    assert as_set(geo.cells) == {b_cell}
    assert geo.distance == pytest.approx(4 * math.sqrt(2) * RES)     # (1,5) -> (5,1) diagonal
    assert geo.goal_cell == b_cell
    # A is reached around the wall, never through it: its distance is the long way round
    a = next(f for f in frontiers if as_set(f.cells) == {a_cell})
    # (no diagonal step may cut past the wall's end: 4 down, 2 across, 4 up)
    assert a.goal_cell == a_cell and a.distance == pytest.approx(10 * RES)
    euc = select_frontier(tmap, frontiers, s, strategy="euclidean")
    assert euc is a and a.distance == pytest.approx(2 * RES)        # now the straight line
    # a blacklisted frontier is skipped
    bl = Blacklist(radius=0.2)
    bl.add(geo.target_xy)
    assert as_set(select_frontier(tmap, frontiers, s, blacklist=bl).cells) == {a_cell}
    bl.add(a.target_xy)
    assert select_frontier(tmap, frontiers, s, blacklist=bl) is None


def test_largest_frontier_and_unreachable_frontiers() -> None:
    rows = ["#####???##",
            "#S.......#",
            "#........#",
            "##########",
            "#...?....#",       # a sealed room with a hole: unreachable from S
            "##########"]
    tmap, m = ascii_map(rows)
    frontiers = find_frontiers(tmap, min_size=1, min_pocket=0)
    s = xy(tmap, m["S"])
    big = select_frontier(tmap, frontiers, s, strategy="largest")
    assert big.size == 3 and math.isfinite(big.distance)
    near = select_frontier(tmap, frontiers, s, strategy="nearest")
    assert near is big                                   # the only reachable one
    sealed = [f for f in frontiers if not math.isfinite(f.distance)]
    assert [f.size for f in sealed] == [1, 1]            # the hole's two free neighbours


# ---------------------------------------------------------------------------- planning
MAZE = ["S.......#",
        "#######.#",
        "#.......#",
        "#.#######",
        "#.......G"]


def test_maze_path_has_the_known_shortest_length() -> None:
    tmap, m = ascii_map(MAZE)
    path = plan(tmap, xy(tmap, m["S"]), goal_xy=xy(tmap, m["G"]))
    # corridors one cell wide, so no diagonal step exists: 7 + 2 + 6 + 2 + 7 = 24 cells
    assert path is not None and len(path) == 25
    assert path_length(path) == pytest.approx(24 * RES)
    np.testing.assert_allclose(path[0], xy(tmap, m["S"]))
    np.testing.assert_allclose(path[-1], xy(tmap, m["G"]))
    assert np.all(tmap.traversable[tuple(tmap.world_to_cell(path).T)])
    # the reference A* and networkx agree
    length, cells = astar(tmap.traversable, m["S"], m["G"], RES)
    assert length == pytest.approx(24 * RES) and len(cells) == 25


def test_open_space_paths_are_octile_and_match_independent_planners() -> None:
    rng = np.random.default_rng(0)
    free = rng.random((40, 50)) > 0.3
    graph = nx.from_scipy_sparse_array(grid_graph(free, RES))
    tmap = TopDownMap(MapConfig(resolution=RES, size_m=8.0))   # its coordinates; grid: free
    cells = np.argwhere(free)
    for k in range(20):
        s, g = cells[rng.integers(len(cells))], cells[rng.integers(len(cells))]
        field = geodesic_field(tmap, tmap.cell_to_world(s), traversable=free, snap_radius=0.0)
        d_ref = astar(free, s, g, RES)[0]
        try:
            d_nx = nx.shortest_path_length(graph, int(s[0] * 50 + s[1]), int(g[0] * 50 + g[1]),
                                           weight="weight")
        except nx.NetworkXNoPath:
            d_nx = math.inf
        assert field.distance[tuple(g)] == pytest.approx(d_ref) and d_ref == pytest.approx(d_nx)
        if math.isfinite(d_ref):
            assert path_length(field.path_to(g)) == pytest.approx(d_ref)
    # in the open: octile distance, within 8.3 % of Euclidean
    open_map, _ = ascii_map(["." * 30] * 20)
    b = open_map.world_to_cell(np.zeros(2))
    start, goal = xy(open_map, (b[0], b[1])), xy(open_map, (b[0] + 12, b[1] + 16))
    path = plan(open_map, start, goal_xy=goal)
    assert path_length(path) == pytest.approx((4 + 12 * math.sqrt(2)) * RES)
    assert path_length(path) <= 1.083 * float(np.hypot(*(goal - start)))


def test_unreachable_goal_gives_none() -> None:
    tmap, m = ascii_map(["S..#...",
                         "...#..G",
                         "...#..."])
    assert plan(tmap, xy(tmap, m["S"]), goal_xy=xy(tmap, m["G"])) is None
    mask = np.zeros(tmap.shape, bool)
    mask[m["G"]] = True
    assert plan(tmap, xy(tmap, m["S"]), goal_mask=mask) is None
    with pytest.raises(ValueError):
        plan(tmap, xy(tmap, m["S"]))


def test_planning_starts_from_the_nearest_traversable_cell() -> None:
    """With the real agent radius, a cell beside a wall is not traversable; an agent standing
    there (a wall seen only now) still gets a path, from the nearest traversable cell."""
    rows = ["##########",
            "#........#",
            "#........#",
            "#........#",
            "#........#",
            "##########"]
    tmap, _ = ascii_map(rows, agent_radius=0.18)
    b = tmap.world_to_cell(np.zeros(2))
    beside_wall = (int(b[0] + 1), int(b[1] + 1))
    assert not tmap.traversable[beside_wall]
    goal = (int(b[0] + 3), int(b[1] + 6))
    path = plan(tmap, xy(tmap, beside_wall), goal_xy=xy(tmap, goal))
    assert path is not None
    assert tuple(tmap.world_to_cell(path[0])) == (beside_wall[0] + 1, beside_wall[1] + 1)
    assert np.all(tmap.traversable[tuple(tmap.world_to_cell(path).T)])


# ---------------------------------------------------------------------------- driving
ARENA = ["########################",     # a room with a block in the middle; the passages
         "#......................#",     # around it are 6 cells (0.75 m) wide, a doorway's
         "#......................#",     # width
         "#......................#",
         "#......................#",
         "#......................#",
         "#......................#",
         "#......##########......#",
         "#......##########......#",
         "#......##########......#",
         "#......##########......#",
         "#......................#",
         "#......................#",
         "#......................#",
         "#......................#",
         "#......................#",
         "#......................#",
         "########################"]


def blocked_at(tmap: TopDownMap, p: np.ndarray, radius: float) -> bool:
    """Does a disc at p overlap an occupied cell square (the simulator's collision check)?"""
    occ = tmap.cell_to_world(np.argwhere(tmap.state == OCCUPIED))
    dx = np.maximum(np.abs(occ[:, 0] - p[0]) - RES / 2, 0.0)
    dy = np.maximum(np.abs(occ[:, 1] - p[1]) - RES / 2, 0.0)
    return bool((np.hypot(dx, dy) < radius).any())


@pytest.mark.parametrize("start_yaw", [0.0, 2.0, -2.6])
def test_next_action_drives_the_agent_along_the_path_to_the_goal(start_yaw: float) -> None:
    """A tiny kinematic simulation of the env's action model (0.25 m moves, 30 deg turns,
    moves into an obstacle refused) driven by plan + next_action, replanning every step, gets
    around the block in the middle to the goal without ever being refused."""
    tmap, _ = ascii_map(ARENA, agent_radius=0.18)
    b = tmap.world_to_cell(np.zeros(2))
    pos = xy(tmap, (int(b[0] + 5), int(b[1] + 12))).copy()
    goal = xy(tmap, (int(b[0] + 12), int(b[1] + 11)))
    yaw, refused, steps = start_yaw, 0, 0
    straight = float(np.hypot(*(goal - pos)))
    walked = 0.0
    for steps in range(200):
        path = plan(tmap, pos, goal_xy=goal)
        assert path is not None
        a = next_action(path, (pos[0], pos[1], yaw), tmap=tmap)
        if a is None:
            break
        if a == MOVE_AHEAD:
            new = pos + 0.25 * np.array([math.cos(yaw), math.sin(yaw)])
            if any(blocked_at(tmap, pos + t * (new - pos), 0.18) for t in (0.5, 1.0)):
                refused += 1
                tmap.mark_blocked(pos, yaw)
            else:
                walked += 0.25
                pos = new
        elif a in (ROTATE_LEFT, ROTATE_RIGHT):
            yaw = math.remainder(yaw + (math.pi / 6 if a == ROTATE_LEFT else -math.pi / 6),
                                 2 * math.pi)
        else:
            pytest.fail(f"unexpected action {a}")
    assert np.hypot(*(goal - pos)) <= 0.2
    assert refused == 0 and steps < 80
    assert walked > straight                 # it went around the block, not through it


def test_next_action_turns_towards_the_carrot_and_reports_arrival() -> None:
    path = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert next_action(path, (0.0, 0.0, 0.0)) == MOVE_AHEAD
    assert next_action(path, (0.0, 0.0, 0.5)) == ROTATE_RIGHT
    assert next_action(path, (0.0, 0.0, -0.5)) == ROTATE_LEFT
    assert next_action(path, (1.0, 0.9, math.pi / 2)) is None       # within 0.2 m of the end
    assert next_action(None, (0.0, 0.0, 0.0)) is None


def test_face_action_turns_then_looks_at_a_target() -> None:
    pose = [0.0, 0.0, 0.0, 0.0]
    target = (0.0, 2.0, 0.2)          # to the left, below the camera: 18.8 deg down
    actions = []
    for _ in range(10):
        a = face_action(pose, target, camera_height=0.88)
        if a is None:
            break
        actions.append(a)
        if a in (ROTATE_LEFT, ROTATE_RIGHT):
            pose[2] += math.pi / 6 if a == ROTATE_LEFT else -math.pi / 6
        else:
            pose[3] += math.pi / 6 if a != LOOK_DOWN else -math.pi / 6
    assert actions == [ROTATE_LEFT] * 3 + [LOOK_DOWN]


# ---------------------------------------------------------------------------- frontier details
def corner_map(rows: list[str], agent_radius: float = 0.01) -> TopDownMap:
    """Like ascii_map, but text row r, column c is map cell (r, c): the text's top-left corner is
    the map's first cell, so a room can touch the map's edge (a 16 x 16 cell map)."""
    tmap = TopDownMap(MapConfig(resolution=RES, size_m=2.0, agent_radius=agent_radius))
    free = [(r, c) for r, line in enumerate(rows) for c, ch in enumerate(line) if ch not in "#?"]
    occ = [(r, c) for r, line in enumerate(rows) for c, ch in enumerate(line) if ch == "#"]
    tmap.mark_free(tmap.cell_to_world(np.array(free)))
    if occ:
        tmap.mark_occupied(tmap.cell_to_world(np.array(occ)))
    return tmap


def test_spread_carries_the_smallest_key_through_passable_cells_only() -> None:
    from embodied.perception.frontier import _LEVEL, _spread

    key = np.full((5, 5), np.inf)
    key[2, 2] = 0.5
    val, src = _spread(key, np.ones((5, 5), bool), 1)
    # one step: the 8 neighbours, one level up, all from the centre (flat index 12); the rest untouched
    ring = np.zeros((5, 5), bool)
    ring[1:4, 1:4] = True
    assert np.all(val[ring & (key != 0.5)] == 0.5 + _LEVEL) and val[2, 2] == 0.5
    assert np.all(src[ring] == 12) and np.all(src[~ring] == -1) and np.all(np.isinf(val[~ring]))
    # two steps reach the whole 5 x 5 (Chebyshev distance 2), two levels up at the border
    val, src = _spread(key, np.ones((5, 5), bool), 2)
    assert np.all(src == 12) and val[0, 0] == val[4, 4] == val[0, 4] == val[4, 0] == 0.5 + 2 * _LEVEL
    assert val[0, 2] == val[2, 0] == val[4, 2] == val[2, 4] == 0.5 + 2 * _LEVEL
    # a cell that is not passable is neither entered nor crossed: a wall column at j = 3
    passable = np.ones((5, 5), bool)
    passable[:, 3] = False
    val, src = _spread(key, passable, 2)
    assert np.all(np.isinf(val[:, 3:])) and np.all(src[:, 3:] == -1)
    # two sources, 0.1 at (0, 0) and 0.5 at the centre: fewest cells away first, then the smaller key
    key[0, 0] = 0.1
    val, src = _spread(key, np.ones((5, 5), bool), 2)
    assert src[1, 1] == 0 and val[1, 1] == 0.1 + _LEVEL            # one step from both: 0.1 wins
    assert src[2, 1] == 12 and val[2, 1] == 0.5 + _LEVEL            # one step from 0.5, two from 0.1
    assert src[4, 4] == 12 and val[4, 4] == 0.5 + 2 * _LEVEL


def corridor(length: int) -> list[str]:
    """A room, traversable (with a real agent radius) in rows 2-4, and a one-cell corridor of
    `length` cells leading south from row 6 to the unknown: the frontier cell at its end, (5 +
    length, 8), is FREE but not traversable, `length + 1` cells from the nearest traversable row."""
    return (["#################"] + ["#...............#"] * 5
            + ["########.########"] * length + ["########?########"])


@pytest.mark.parametrize("length, reach, reached", [(2, 0.375, True), (3, 0.375, False), (3, 0.5, True),
                                                    (0, 0.0, False), (2, 0.25, False)])
def test_a_frontier_is_reached_from_the_nearest_traversable_cell_within_reach(length: int, reach: float,
                                                                            reached: bool) -> None:
    """reach 0.375 m at 0.125 m cells is 3 cells (exactly: 0.375 / 0.125 = 3). Within reach, the
    goal is the reachable cell nearest the frontier through free cells (here row 4, at most 2
    columns from the corridor: the corridor's walls allow no diagonal step) and, among those,
    the one nearest the agent at (2, 2): (4, 6), 2 diagonal + 2 straight steps away."""
    tmap, _ = ascii_map(corridor(length), agent_radius=0.18)
    b = tmap.world_to_cell(np.zeros(2))
    cell = lambda r, c: (int(b[0] + r), int(b[1] + c))      # noqa: E731
    assert tmap.traversable[cell(4, 6)] and not tmap.traversable[cell(5, 8)]
    (front,) = [f for f in find_frontiers(tmap, min_size=1, min_pocket=0)
                if cell(5 + length, 8) in as_set(f.cells)]
    chosen = select_frontier(tmap, [front], xy(tmap, cell(2, 2)), reach=reach)
    if reached:
        assert chosen is front and front.goal_cell == cell(4, 6)
        assert front.distance == pytest.approx((2 + 2 * math.sqrt(2)) * RES)
    else:
        assert chosen is None and front.goal_cell is None and math.isinf(front.distance)


def test_the_default_reach_is_three_cells_at_this_resolution() -> None:
    for length, reached in ((2, True), (3, False)):
        tmap, _ = ascii_map(corridor(length), agent_radius=0.18)
        b = tmap.world_to_cell(np.zeros(2))
        found = find_frontiers(tmap, min_size=1, min_pocket=0)
        assert (select_frontier(tmap, found, xy(tmap, (int(b[0] + 2), int(b[1] + 2)))) is not None) == reached


def test_the_goal_is_the_frontier_cell_nearest_the_agent_and_every_side_is_reached() -> None:
    rows = ["???...???",        # north: three frontier cells; the middle one is nearest the agent
            "####.####",
            "#.......#",
            "#.......#",
            "?.......?",        # west and east: one cell each
            "#.......#",
            "#.......#",
            "####.####",
            "????.????"]        # south: one cell
    tmap, _ = ascii_map(rows)
    b = tmap.world_to_cell(np.zeros(2))
    cell = lambda r, c: (int(b[0] + r), int(b[1] + c))      # noqa: E731
    found = find_frontiers(tmap, min_size=1, min_pocket=0)
    select_frontier(tmap, found, xy(tmap, cell(4, 4)))          # the room's centre
    by_cell = {c: f for f in found for c in as_set(f.cells)}
    assert as_set(by_cell[cell(0, 4)].cells) == {cell(0, 3), cell(0, 4), cell(0, 5)}
    expected = {cell(0, 4): 4, cell(4, 1): 3, cell(4, 7): 3, cell(8, 4): 4}   # cells straight away
    for goal, steps in expected.items():
        assert by_cell[goal].goal_cell == goal and by_cell[goal].distance == pytest.approx(steps * RES), goal


@pytest.mark.parametrize("rows, frontier", [
    (["?...#",
      "#...#",
      "#...#",
      "#####"], (0, 1)),            # in the map's first row
    (["?####",
      "....#",
      "....#",
      "#####"], (1, 0)),            # in the map's first column
])
def test_a_frontier_at_the_edge_of_the_map_is_reached(rows: list[str], frontier: tuple[int, int]) -> None:
    """The known area starts at the map's first row or column, where the search window cannot
    grow: the one frontier cell is still found and reached (from (2, 2): one diagonal and one
    straight step)."""
    tmap = corner_map(rows)
    (found,) = find_frontiers(tmap, min_size=1, min_pocket=0)
    assert as_set(found.cells) == {frontier}
    assert select_frontier(tmap, [found], tmap.cell_to_world(np.array([2, 2]))) is found
    assert found.goal_cell == frontier and found.distance == pytest.approx((1 + math.sqrt(2)) * RES)


def test_an_unreachable_frontier_does_not_hide_the_others() -> None:
    """Frontiers are visited largest first; a big one far from any traversable cell (beyond the
    search window: a long corridor too narrow for the agent leads to it) must not stop the
    smaller reachable one from getting its distance."""
    rows = (["#################",
             "#...............#",
             "#...............#",
             "?...............#",       # a reachable frontier on the west side, row 3
             "#...............#",
             "#...............#"]
            + ["########.########"] * 6
            + ["#####.......#####"] * 4
            + ["#####???????#####"])
    tmap, _ = ascii_map(rows, agent_radius=0.18)
    b = tmap.world_to_cell(np.zeros(2))
    cell = lambda r, c: (int(b[0] + r), int(b[1] + c))      # noqa: E731
    found = find_frontiers(tmap, min_size=1, min_pocket=0)
    assert [f.size for f in found] == [7, 1]              # the far room's edge first
    chosen = select_frontier(tmap, found, xy(tmap, cell(3, 6)))
    assert math.isinf(found[0].distance) and found[0].goal_cell is None
    assert chosen is found[1] and found[1].goal_cell == cell(3, 2)   # (3, 1) is beside the wall
    assert found[1].distance == pytest.approx(4 * RES)


def state_grid(rows: list[str]) -> np.ndarray:
    """A map state array straight from text ('.' FREE, '#' OCCUPIED, '?' UNKNOWN)."""
    codes = {".": FREE, "#": OCCUPIED, "?": UNKNOWN}
    return np.array([[codes[ch] for ch in line] for line in rows])


@pytest.mark.parametrize("rows, cells", [
    (["##???##", "#.....#", "#.....#", "#######"], 3),          # unknown in the first row only
    (["#######", "#.....#", "#.....#", "##???##"], 3),          # ... the last row
    (["#######", "?.....#", "?.....#", "#######"], 2),          # ... the first column
    (["#######", "#.....?", "#.....?", "#######"], 2),          # ... the last column
])
def test_unknown_touching_the_grid_edge_is_the_outside_not_a_pocket(rows: list[str], cells: int) -> None:
    """frontier_mask drops small *enclosed* unknown pockets; unknown reaching the grid's edge is
    the unexplored outside, however small it looks in the grid, and its frontier stays."""
    st = state_grid(rows)
    assert frontier_mask(st, min_pocket=100).sum() == frontier_mask(st).sum() == cells


def test_pockets_are_8_connected_and_the_grid_edge_is_no_unknown() -> None:
    # the unknown cell at (2, 3) touches the outside (1, 4) only diagonally: 8-connected, it is the
    # outside, not a 1-cell pocket, and its frontier stays
    rows = ["#####?",
            "####?#",
            "#..?##",
            "#...##",
            "######"]
    st = state_grid(rows)
    assert frontier_mask(st, min_pocket=5).sum() == frontier_mask(st).sum() == 2     # (2, 2), (3, 3)
    # a FREE cell on the grid's edge is no frontier because of what lies beyond the grid
    assert not frontier_mask(state_grid(["...", "...", "..."])).any()
    # the first component in raster order (label 1) may be an enclosed pocket: dropped like any other
    enclosed = np.pad(state_grid(["#?#####", "#.....#", "#######"]), 1, constant_values=OCCUPIED)
    enclosed[-1, -1] = UNKNOWN                     # the outside, in the last corner: labelled after it
    assert frontier_mask(enclosed, min_pocket=2).sum() == 0 and frontier_mask(enclosed).sum() == 1


def test_the_defaults_five_cells_and_half_a_square_metre() -> None:
    """find_frontiers(tmap): clusters of at least 5 cells, pockets of at least 0.5 m^2 (32 cells)."""
    opening = lambda n: ["#######"] + ["#.....?" if r < n else "#.....#" for r in range(6)] + ["#######"]  # noqa: E731
    assert len(find_frontiers(ascii_map(opening(5))[0])) == 1
    assert len(find_frontiers(ascii_map(opening(4))[0])) == 0
    # min_size 0 means every cluster, like 1
    tmap, _ = ascii_map(opening(1))
    assert [f.size for f in find_frontiers(tmap, min_size=0)] == [f.size for f in find_frontiers(tmap, min_size=1)] == [1]
    room = ["#" * 12] + ["#" + "." * 10 + "#"] + ["#." + "?" * 8 + ".#"] * 5 + ["#" + "." * 10 + "#", "#" * 12]
    assert len(find_frontiers(ascii_map(room)[0])) == 1          # 40 cells = 0.625 m^2: kept


def test_euclidean_with_a_field_and_largest_ties_and_the_blacklist() -> None:
    tmap, m = ascii_map(ROOMS)
    s = xy(tmap, m["S"])
    frontiers = find_frontiers(tmap, min_size=1, min_pocket=0)
    field = geodesic_field(tmap, s)
    a = select_frontier(tmap, frontiers, s, strategy="euclidean", field=field)
    # the straight-line nearest (A, across the wall), yet every goal and geodesic distance filled in
    b0 = tmap.world_to_cell(np.zeros(2))
    assert as_set(a.cells) == {(int(b0[0] + 1), int(b0[1] + 7))}
    assert a.distance == pytest.approx(10 * RES) and all(f.goal_cell is not None for f in frontiers)
    # a pose (x, y, yaw) is as good as a point
    assert select_frontier(tmap, frontiers, [*s, 1.2], strategy="euclidean") is a
    # largest: equal sizes (1 cell each): the nearer (geodesic) one
    b = select_frontier(tmap, frontiers, s, strategy="largest")
    assert b is not a and b.distance == pytest.approx(4 * math.sqrt(2) * RES)
    with pytest.raises(ValueError, match="^strategy must be nearest, euclidean or largest, got 'closest'$"):
        select_frontier(tmap, frontiers, s, strategy="closest")
    bl = Blacklist(radius=0.5)
    assert not bl.contains([0.0, 0.0])                      # empty: nothing is blacklisted
    bl.add([0.0, 0.0, 3.0])                                 # poses (x, y, yaw) too
    assert bl.contains([0.5, 0.0, -1.0]) and bl.contains([0.3, 0.4])   # the radius is inclusive
    assert not bl.contains([0.5, 0.01])
    bl.clear()
    assert not bl.contains([0.0, 0.0])


def ledge(corridor: int, transpose: bool) -> list[str]:
    """A room with a small reachable opening (west, row 3) and, down a one-cell corridor too narrow
    for the agent, a 7-cell ledge of free cells over the unknown: the biggest frontier, far from
    every traversable cell, so outside the search window of select_frontier. `transpose` turns
    the corridor east."""
    rows = (["#################", "#...............#", "#...............#", "?...............#",
             "#...............#", "#...............#"]
            + ["########.########"] * corridor + ["#####.......#####", "#####???????#####"])
    return ["".join(col) for col in zip(*rows)] if transpose else rows


@pytest.mark.parametrize("corridor", [3, 6])
@pytest.mark.parametrize("transpose", [False, True])
def test_a_frontier_outside_the_search_window_is_unreachable_and_does_not_hide_others(corridor: int,
                                                                                        transpose: bool) -> None:
    tmap, _ = ascii_map(ledge(corridor, transpose), agent_radius=0.18)
    b = tmap.world_to_cell(np.zeros(2))
    cell = (lambda r, c: (int(b[0] + c), int(b[1] + r))) if transpose else (lambda r, c: (int(b[0] + r), int(b[1] + c)))
    found = find_frontiers(tmap, min_size=1, min_pocket=0)
    assert [f.size for f in found] == [7, 1]
    chosen = select_frontier(tmap, found, xy(tmap, cell(3, 6)))
    assert math.isinf(found[0].distance) and found[0].goal_cell is None
    assert chosen is found[1] and found[1].goal_cell == cell(3, 2)     # (3, 1) is beside the wall
    assert found[1].distance == pytest.approx(4 * RES)


def test_largest_and_nearest_differ_when_the_big_one_is_farther() -> None:
    rows = ["#############",
            "#...........#",
            "?.S.........#",       # a one-cell opening next to the agent
            "#...........#",
            "#######?????#"]       # a five-cell one farther away
    tmap, m = ascii_map(rows)
    found = find_frontiers(tmap, min_size=1, min_pocket=0)
    near = select_frontier(tmap, found, xy(tmap, m["S"]), strategy="nearest")
    big = select_frontier(tmap, found, xy(tmap, m["S"]), strategy="largest")
    assert (near.size, big.size) == (1, 5) and near.distance < big.distance
