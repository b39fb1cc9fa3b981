"""Frontiers and planning on hand-made grids whose answers are known, and driving a path with
the discrete actions in a small kinematic simulation."""
from __future__ import annotations

import math

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
    assert tuple(tmap.world_to_cell(hole.target_xy)) in expected_hole
    # size filter: clusters below min_size are dropped
    assert [as_set(f.cells) for f in find_frontiers(tmap, min_size=3, min_pocket=0)] == \
        [expected_hole]
    # pocket filter: the enclosed one-cell hole is not worth a visit; the opening still is
    assert [as_set(f.cells) for f in find_frontiers(tmap, min_size=1, min_pocket=0.5)] == \
        [expected_door]


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
