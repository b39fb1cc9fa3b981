"""Shortest paths on the map's traversable grid, and turning a path into discrete actions.

Why it looks the way it does: the original CoW runs networkx A* in Python on every step, which
dominates its per-step cost. Here one *single-source* Dijkstra from the agent
(``scipy.sparse.csgraph.dijkstra``, C code) gives the geodesic distance to every reachable cell
at once: frontier selection reads distances off that field, and the path to whichever goal is
chosen is read back through its predecessor array, so a step costs one search, whatever the
number of candidate goals.

Measured alternatives (``benchmarks/mapping_speed.py --planners``: 60 maps from exploration
runs in val houses, start -> the farthest reachable cell, this 2-core CPU; mean / p95 ms):

* ``csgraph.dijkstra`` over the 8-connected grid of the traversable cells inside their bounding
  box (graph built with numpy every call) + reading the path back: 0.7 / 1.1 ms -- and it
  yields the distance to *every* cell, which frontier selection needs anyway;
* ``astar`` below (binary heap + numpy arrays, octile heuristic): 3.3 / 10.5 ms for one goal,
  because its inner loop is Python; kept as an independent reference for the tests;
* ``networkx.astar_path`` on the same graph (what CoW does): 29 / 82 ms;
* scikit-image's ``MCP`` would be the other C option, but it is not installed (not added).

Grid graph: 8-connected, edge lengths ``res`` and ``res * sqrt(2)``; a diagonal step is allowed
only when both cells it cuts past are traversable (no corner cutting through an obstacle's
inflation). Paths are therefore octile-optimal: at most ~8 % longer than Euclidean in open space
(off-axis directions), which the lookahead in ``next_action`` smooths out when driving.

The map is mostly unknown (a 32 m map, a few rooms seen), so the graph only spans the bounding
box of the traversable cells (+ 1 cell): everything outside is not traversable anyway.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from embodied.interfaces import DiscreteNavigationAction

if TYPE_CHECKING:        # the planner works on any map with these attributes; no import cycle
    from embodied.perception.mapping import TopDownMap

__all__ = ["MOVE_AHEAD", "ROTATE_LEFT", "ROTATE_RIGHT", "LOOK_UP", "LOOK_DOWN", "STOP",
           "GeodesicField", "geodesic_field", "grid_graph", "plan", "astar", "path_length",
           "next_action", "face_action"]

# The discrete action contract lives in embodied.interfaces, which envs and agents both import
# (perception never imports an env). These shorthands are its enum members, kept for callers.
_A = DiscreteNavigationAction
MOVE_AHEAD, ROTATE_LEFT, ROTATE_RIGHT = _A.MOVE_AHEAD, _A.ROTATE_LEFT, _A.ROTATE_RIGHT
LOOK_UP, LOOK_DOWN, STOP = _A.LOOK_UP, _A.LOOK_DOWN, _A.STOP

SQRT2 = math.sqrt(2.0)


def _wrap(a: float) -> float:
    return math.atan2(math.sin(a), math.cos(a))


# ------------------------------------------------------------------------------ the graph
def grid_graph(free: np.ndarray, resolution: float = 1.0) -> csr_matrix:
    """Directed CSR graph of an 8-connected grid over the True cells of ``free`` (node = flat
    index of the cell in ``free``), both directions of every edge, no corner cutting.

    Built with numpy only (four neighbour offsets, masks, one CSR conversion): ~0.3 ms for
    100 x 100 cells, so it is rebuilt every step rather than maintained incrementally."""
    h, w = free.shape
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, weights = [], [], []

    def add(a_mask: np.ndarray, a_idx: np.ndarray, b_idx: np.ndarray, length: float) -> None:
        a, b = a_idx[a_mask], b_idx[a_mask]
        rows.extend((a, b))
        cols.extend((b, a))
        weights.append(np.full(2 * len(a), length))

    if w > 1:       # right
        add(free[:, :-1] & free[:, 1:], idx[:, :-1], idx[:, 1:], resolution)
    if h > 1:       # down
        add(free[:-1, :] & free[1:, :], idx[:-1, :], idx[1:, :], resolution)
    if h > 1 and w > 1:
        diag = SQRT2 * resolution
        # a diagonal step crosses a 2 x 2 block and needs all four cells: the same mask serves
        # down-right (i, j) -> (i+1, j+1) and down-left (i, j+1) -> (i+1, j)
        m = free[:-1, :-1] & free[1:, 1:] & free[1:, :-1] & free[:-1, 1:]
        add(m, idx[:-1, :-1], idx[1:, 1:], diag)
        add(m, idx[:-1, 1:], idx[1:, :-1], diag)
    n = h * w
    if not rows:
        return csr_matrix((n, n))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    d = np.concatenate(weights)
    return csr_matrix((d, (r, c)), shape=(n, n))


# ------------------------------------------------------------------------------ the field
@dataclass
class GeodesicField:
    """Geodesic distances (m) from one start cell over the traversable grid, with the search
    tree to read paths back. ``distance`` has the map's shape (``inf`` where unreachable);
    ``box`` = (i0, i1, j0, j1) is the window the search ran in."""

    distance: np.ndarray
    start_cell: tuple[int, int]
    box: tuple[int, int, int, int]
    predecessors: np.ndarray            # flat, window-local; -9999 = none
    origin: tuple[float, float]
    resolution: float

    def reachable(self, cell: Sequence[int]) -> bool:
        i, j = int(cell[0]), int(cell[1])
        h, w = self.distance.shape
        return 0 <= i < h and 0 <= j < w and bool(np.isfinite(self.distance[i, j]))

    def nearest(self, mask: np.ndarray) -> tuple[int, int] | None:
        """The reachable cell of ``mask`` (map-shaped bool) with the smallest distance."""
        i0, i1, j0, j1 = self.box
        d = np.where(mask[i0:i1, j0:j1], self.distance[i0:i1, j0:j1], np.inf)
        k = int(np.argmin(d))
        if not np.isfinite(d.flat[k]):
            return None
        w = j1 - j0
        return (i0 + k // w, j0 + k % w)

    def path_cells(self, goal_cell: Sequence[int]) -> np.ndarray | None:
        """(K, 2) cells from the start to ``goal_cell`` (both included), or None."""
        if not self.reachable(goal_cell):
            return None
        i0, i1, j0, j1 = self.box
        w = j1 - j0
        node = (int(goal_cell[0]) - i0) * w + (int(goal_cell[1]) - j0)
        chain = [node]
        pred = self.predecessors
        while pred[node] >= 0:
            node = int(pred[node])
            chain.append(node)
        chain = np.array(chain[::-1])
        return np.stack([chain // w + i0, chain % w + j0], axis=1)

    def path_to(self, goal_cell: Sequence[int]) -> np.ndarray | None:
        """(K, 2) world waypoints (cell centres) from the start cell to ``goal_cell``, or None."""
        cells = self.path_cells(goal_cell)
        if cells is None:
            return None
        x = self.origin[0] + (cells[:, 1] + 0.5) * self.resolution
        y = self.origin[1] + (cells[:, 0] + 0.5) * self.resolution
        return np.stack([x, y], axis=1)


def _window(trav: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(trav.any(axis=1))
    cols = np.flatnonzero(trav.any(axis=0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    h, w = trav.shape
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))


def _snap(trav: np.ndarray, cell: tuple[int, int], radius_cells: int) -> tuple[int, int] | None:
    """The traversable cell nearest ``cell`` within a square of ``radius_cells``."""
    h, w = trav.shape
    i, j = cell
    if 0 <= i < h and 0 <= j < w and trav[i, j]:
        return (i, j)
    i0, i1 = max(0, i - radius_cells), min(h, i + radius_cells + 1)
    j0, j1 = max(0, j - radius_cells), min(w, j + radius_cells + 1)
    if i0 >= i1 or j0 >= j1:
        return None
    win = trav[i0:i1, j0:j1]
    if not win.any():
        return None
    di, dj = np.nonzero(win)
    d2 = (di + i0 - i) ** 2 + (dj + j0 - j) ** 2
    k = int(np.argmin(d2))
    return (int(di[k] + i0), int(dj[k] + j0))


def geodesic_field(tmap: "TopDownMap", start_xy: Sequence[float], snap_radius: float = 0.6,
                   traversable: np.ndarray | None = None) -> GeodesicField | None:
    """One Dijkstra from the agent over ``tmap``'s traversable cells (a ``TopDownMap``, or any
    object with ``traversable``, ``world_to_cell``, ``origin``, ``resolution``).

    The agent may stand in a cell that is no longer traversable (an obstacle seen since, or its
    cell centre within the inflation of a wall it is beside): the search then starts from the
    nearest traversable cell within ``snap_radius``. None when there is none."""
    trav = tmap.traversable if traversable is None else traversable
    res = float(tmap.resolution)
    start = tuple(int(v) for v in tmap.world_to_cell(np.asarray(start_xy, dtype=float)[:2]))
    snapped = _snap(trav, start, int(math.ceil(snap_radius / res)))
    if snapped is None:
        return None
    i0, i1, j0, j1 = _window(trav, margin=1)
    sub = trav[i0:i1, j0:j1]
    w = j1 - j0
    graph = grid_graph(sub, res)
    src = (snapped[0] - i0) * w + (snapped[1] - j0)
    dist, pred = dijkstra(graph, directed=True, indices=src, return_predecessors=True)
    full = np.full(trav.shape, np.inf)
    full[i0:i1, j0:j1] = dist.reshape(sub.shape)
    return GeodesicField(distance=full, start_cell=snapped, box=(i0, i1, j0, j1),
                         predecessors=pred, origin=tuple(tmap.origin), resolution=res)


def plan(tmap: "TopDownMap", start_xy: Sequence[float], goal_xy: Sequence[float] | None = None,
         goal_mask: np.ndarray | None = None, goal_snap: float = 0.3,
         field: GeodesicField | None = None) -> np.ndarray | None:
    """Shortest path on ``tmap``'s traversable grid: (K, 2) world waypoints (cell centres, the
    first is the (snapped) start cell) or None if no goal cell is reachable.

    Give either ``goal_xy`` (a point: its cell, or the nearest traversable cell within
    ``goal_snap`` when the point itself is not traversable, e.g. next to a wall) or
    ``goal_mask`` (a map-shaped bool grid: the nearest reachable cell of it, e.g. "anywhere
    within 1 m of the object"). ``field`` reuses a search already run from the same start."""
    if (goal_xy is None) == (goal_mask is None):
        raise ValueError("give exactly one of goal_xy and goal_mask")
    field = field or geodesic_field(tmap, start_xy)
    if field is None:
        return None
    if goal_mask is not None:
        goal = field.nearest(np.asarray(goal_mask, dtype=bool))
    else:
        res = float(tmap.resolution)
        cell = tuple(int(v) for v in tmap.world_to_cell(np.asarray(goal_xy, dtype=float)[:2]))
        k = int(math.ceil(goal_snap / res))
        h, w = field.distance.shape
        i0, i1 = max(0, cell[0] - k), min(h, cell[0] + k + 1)
        j0, j1 = max(0, cell[1] - k), min(w, cell[1] + k + 1)
        goal = None
        if i0 < i1 and j0 < j1:
            di, dj = np.mgrid[i0:i1, j0:j1]
            d2 = (di - cell[0]) ** 2 + (dj - cell[1]) ** 2
            within = d2 * res * res <= goal_snap ** 2 + 1e-9
            ok = np.isfinite(field.distance[i0:i1, j0:j1]) & within
            if ok.any():
                # the reachable cell nearest the goal point (then nearest the agent)
                key = np.where(ok, d2 + field.distance[i0:i1, j0:j1] * 1e-6, np.inf)
                k2 = int(np.argmin(key))
                goal = (int(di.flat[k2]), int(dj.flat[k2]))
    if goal is None:
        return None
    return field.path_to(goal)


def path_length(path: np.ndarray | None) -> float:
    """Length (m) of a polyline; inf for None (no path)."""
    if path is None:
        return math.inf
    p = np.asarray(path, dtype=float)
    return float(np.sum(np.linalg.norm(np.diff(p, axis=0), axis=1))) if len(p) > 1 else 0.0


# ------------------------------------------------------------------------------ reference A*
def astar(free: np.ndarray, start: Sequence[int], goal: Sequence[int],
          resolution: float = 1.0) -> tuple[float, np.ndarray | None]:
    """Textbook A* (binary heap, octile heuristic) on the same 8-connected, no-corner-cutting
    grid as ``grid_graph``: (length, (K, 2) cells) or (inf, None). A reference and a benchmark
    baseline; the planner itself uses ``geodesic_field``."""
    h, w = free.shape
    s, g = (int(start[0]), int(start[1])), (int(goal[0]), int(goal[1]))
    if not (free[s] and free[g]):
        return math.inf, None
    gi, gj = g
    best = np.full(h * w, np.inf)
    parent = np.full(h * w, -1, dtype=np.int64)
    closed = np.zeros(h * w, dtype=bool)
    start_k = s[0] * w + s[1]
    best[start_k] = 0.0
    heap = [(0.0, 0.0, start_k)]
    steps = ((0, 1, 1.0), (0, -1, 1.0), (1, 0, 1.0), (-1, 0, 1.0),
             (1, 1, SQRT2), (1, -1, SQRT2), (-1, 1, SQRT2), (-1, -1, SQRT2))
    goal_k = gi * w + gj
    while heap:
        _, cost, k = heapq.heappop(heap)
        if closed[k]:
            continue
        closed[k] = True
        if k == goal_k:
            break
        i, j = divmod(k, w)
        for di, dj, c in steps:
            ni, nj = i + di, j + dj
            if not (0 <= ni < h and 0 <= nj < w) or not free[ni, nj]:
                continue
            if di and dj and not (free[i + di, j] and free[i, j + dj]):
                continue
            nk = ni * w + nj
            ncost = cost + c
            if ncost < best[nk]:
                best[nk] = ncost
                parent[nk] = k
                dx, dy = abs(nj - gj), abs(ni - gi)
                heur = (dx + dy) + (SQRT2 - 2.0) * min(dx, dy)
                heapq.heappush(heap, (ncost + heur, ncost, nk))
    if not np.isfinite(best[goal_k]):
        return math.inf, None
    chain = [goal_k]
    while chain[-1] != start_k:
        chain.append(int(parent[chain[-1]]))
    chain = np.array(chain[::-1])
    return float(best[goal_k]) * resolution, np.stack([chain // w, chain % w], axis=1)


# ------------------------------------------------------------------------------ driving
def _carrot(p: np.ndarray, d: np.ndarray, k: int, lookahead: float, x: float, y: float,
            tmap: "TopDownMap | None") -> np.ndarray:
    """The first path point at least ``lookahead`` ahead (past index k, the one nearest the
    agent); with a map, pulled back to the farthest point in straight line of sight (every
    sample of the segment in a traversable cell), so the carrot stops at a corner instead of
    dragging the agent across it."""
    ahead = np.flatnonzero(d[k:] >= lookahead)
    last = k + int(ahead[0]) if len(ahead) else len(p) - 1
    if tmap is None:
        return p[last]
    trav = tmap.traversable
    here = tuple(tmap.world_to_cell(np.array([x, y])))
    for n in range(last, k, -1):
        seg = float(np.hypot(p[n, 0] - x, p[n, 1] - y))
        t = np.linspace(0.0, 1.0, max(2, int(seg / (0.5 * tmap.resolution)) + 2))[1:]
        pts = np.stack([x + t * (p[n, 0] - x), y + t * (p[n, 1] - y)], axis=1)
        cells = tmap.world_to_cell(pts)
        ok = tmap.in_bounds(cells)
        ok[ok] = trav[cells[ok, 0], cells[ok, 1]]
        ok |= (cells[:, 0] == here[0]) & (cells[:, 1] == here[1])
        if ok.all():
            return p[n]
    return p[min(k + 1, len(p) - 1)]


def next_action(path: np.ndarray | None, pose: Sequence[float], lookahead: float = 0.4,
                turn_threshold: float = math.radians(20.0), arrive_distance: float = 0.2,
                tmap: "TopDownMap | None" = None, step_size: float = 0.25,
                rotate_step: float = math.radians(30.0)) -> DiscreteNavigationAction | None:
    """The discrete action that follows ``path`` from ``pose`` = (x, y, yaw, ...), or None when
    the path's end is within ``arrive_distance`` (or there is no path): the caller decides what
    arriving means (Stop at an object, replan at a frontier).

    Steers at a carrot: the first waypoint at least ``lookahead`` ahead along the path (past the
    waypoint nearest the agent), which smooths the grid's 45-degree zigzags. If the carrot's
    bearing is off by more than ``turn_threshold`` turn towards it, else MoveAhead.

    Why 20 deg and not 15 (half a 30 deg turn): a bearing exactly between two reachable
    headings (a 45 deg diagonal, common on a grid) is 15 deg off both, and the path is
    replanned after every turn, so the carrot jitters by a fraction of a degree and a 15 deg
    threshold turns left, right, left, ... forever (seen in exploration runs). With 20 deg, a
    turn leaves at most 10 deg of error: the carrot must move by 10 deg to undo it. Walking up
    to 20 deg off costs at most 0.25 * sin(20) = 8.5 cm of sideways drift per step, which
    the lookahead takes back.

    With ``tmap`` (a ``TopDownMap``) the driver also respects the map, because a traversable
    path only guarantees clearance at cell *centres* (7.5 mm to spare at 0.125 m cells and a
    0.18 m agent) while the agent walks 0.25 m along 30-degree headings: the carrot is kept in
    line of sight (it stops at corners), and a MoveAhead is only issued along a heading whose
    move keeps the agent's disc off every OCCUPIED cell square (``TopDownMap.clearance``, at
    half and full step); otherwise it turns towards the safe heading (of the 12 reachable ones)
    nearest the carrot's bearing. A refused move costs a step and, via ``mark_blocked``, can
    wrongly close a narrow passage, so avoiding one is worth the check (~0.1 ms).
    """
    if path is None or len(path) == 0:
        return None
    p = np.asarray(path, dtype=float)
    x, y, yaw = float(pose[0]), float(pose[1]), float(pose[2])
    d = np.hypot(p[:, 0] - x, p[:, 1] - y)
    if d[-1] <= arrive_distance:
        return None
    k = int(np.argmin(d))
    target = _carrot(p, d, k, lookahead, x, y, tmap)
    bearing = math.atan2(target[1] - y, target[0] - x)
    err = _wrap(bearing - yaw)
    turn = ROTATE_LEFT if err > 0 else ROTATE_RIGHT
    if tmap is None:
        return turn if abs(err) > turn_threshold else MOVE_AHEAD
    n = int(round(2 * math.pi / rotate_step))
    ks = np.arange(-(n // 2) + 1, n // 2 + 1)                  # -5..6 for 30 deg steps
    heads = yaw + ks * rotate_step
    ends = np.stack([np.cos(heads), np.sin(heads)], axis=1)
    samples = np.concatenate([np.array([[x, y]]) + 0.5 * step_size * ends,
                              np.array([[x, y]]) + step_size * ends])
    radius = float(tmap.config.agent_radius)
    reach = radius + step_size
    clear = tmap.clearance(np.concatenate([[[x, y]], samples]), max_range=reach)
    need = min(radius, float(clear[0]) - 1e-6)       # never closer than now, if already close
    safe = (clear[1:1 + len(ks)] > need) & (clear[1 + len(ks):] > need)
    errs = np.abs(np.angle(np.exp(1j * (heads - bearing))))
    straight = int(np.flatnonzero(ks == 0)[0])
    if abs(err) <= turn_threshold and safe[straight]:
        return MOVE_AHEAD
    ok = safe & (errs <= math.pi / 2)
    if not ok.any():                                  # nothing safe nearby: plain pursuit
        return turn if abs(err) > turn_threshold else MOVE_AHEAD
    best = int(np.argmin(np.where(ok, errs + 1e-3 * np.abs(ks), np.inf)))
    if ks[best] == 0:
        return MOVE_AHEAD
    return ROTATE_LEFT if ks[best] > 0 else ROTATE_RIGHT


def face_action(pose: Sequence[float], target_xyz: Sequence[float], camera_height: float = 0.88,
                rotate_step: float = math.radians(30.0), look_step: float = math.radians(30.0),
                pitch_limits: tuple[float, float] = (math.radians(-60.0), math.radians(30.0))
                ) -> DiscreteNavigationAction | None:
    """Turn (yaw first, then pitch) until a 3-D point is as centred as the 30-degree steps
    allow; None once it is. Success in ObjectNav needs the object *in view* when Stop is
    called, so an agent that arrives beside the goal faces it before stopping.

    Yaw is aligned to within half a rotate step; pitch goes to the reachable multiple of
    ``look_step`` (within ``pitch_limits``) nearest the target's elevation."""
    from embodied.perception.geometry import look_angles

    yaw_t, pitch_t = look_angles(pose[:2], camera_height, target_xyz)
    err = _wrap(yaw_t - float(pose[2]))
    if abs(err) > rotate_step / 2 + 1e-9:
        return ROTATE_LEFT if err > 0 else ROTATE_RIGHT
    pitch = float(pose[3]) if len(pose) > 3 else 0.0
    lo = math.ceil(pitch_limits[0] / look_step - 1e-9)
    hi = math.floor(pitch_limits[1] / look_step + 1e-9)
    want = min(max(round(pitch_t / look_step), lo), hi) * look_step
    if want > pitch + look_step / 2:
        return LOOK_UP
    if want < pitch - look_step / 2:
        return LOOK_DOWN
    return None
