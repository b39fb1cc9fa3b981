"""Navigation grid: where an agent of a given radius may stand, and how far it is to walk.

Why this module exists: a raster of where the agent fits is what reachability masks, an oracle's
planning and plots want, and one Dijkstra gives the distance from every cell at once. It is not
what SPL's shortest path length comes from: grid paths run through cell centres, which lie up to a
cell outside the true free space at every bend, so they overestimate (about +1 % on the val split,
+3 % at worst); ``geodesic.py`` computes that length exactly. Nothing here knows about envs.

Occupancy. ``NavGrid.from_footprints`` takes the 2-D convex footprints of every obstacle and marks
a cell free iff its centre is farther than the agent radius (``inflation``) from every polygon and
inside the bounds. The distances are computed exactly (point-segment distances, vectorised over
the cells of each polygon's window), not on a finer raster, so a free cell's centre is truly more
than ``inflation`` from all geometry (to floating-point precision) and a gap narrower than
``2 * inflation`` has no free cell in it.

Geodesic distances. ``distance_field`` runs one multi-source Dijkstra
(``scipy.sparse.csgraph.dijkstra(min_only=True)``) over the free cells, with an edge from a cell to
every cell at offset (di, dj), ``max(|di|, |dj|) <= NEIGHBOURHOOD`` (5) and ``gcd(di, dj) == 1``
(80 edges per cell), whose straight centre-to-centre segment touches only free cells (closed
squares: grazing the corner of an occupied cell blocks the edge). A 4- or 8-connected grid
overestimates off-axis distances by up to 8 %; this lattice bounds the open-space error by
``1 / cos(g / 2) - 1`` with ``g = atan(1/5)`` the widest angle between edge directions: 0.49 %.
Fast marching was the alternative: first order (a few percent near sources and along diagonals)
and an extra dependency, so the lattice Dijkstra was kept. Neighbourhoods 3 and 4 were measured
too (open space worst 1.3 % / 0.76 %, obstacles worst 3.0 % / 2.5 %) and save only ~30 % of
the time.

Accuracy, measured at resolution 0.05 m, inflation 0.18 m (the values in ``tests/test_navgrid.py``
are checked against the same bounds):

* open space, 595 random pairs of cell centres 0.5-17 m apart, vs. Euclidean: mean +0.13 %,
  worst +0.49 %, never shorter.
* around an obstacle: a wall end inflated by 0.18 m, 1000 random pairs whose straight line is
  blocked, exact answer = tangent segments + arcs around the inflated corners (Pythagoras on the
  tangent points): mean +0.39 % (+3.5 cm), worst +1.9 % (+13 cm) with the wall at random sub-cell
  offsets; mean +0.49 %, worst +2.4 % (+17 cm) with the wall on the 5 cm lattice (the worst case:
  the first free centres then sit ~4.5 cm outside the inflated boundary). Never shorter than
  exact. The excess grows with how much the path turns, because a path round a corner must go
  through free cell *centres*, which lie 0 to ~1 cell outside the inflated boundary: in every
  measured case ``0 <= error <= 0.5 % * l + 1.1 * resolution * turn``, ``turn`` being the total
  turning angle (rad) of the exact path. Short paths that bend round a door jamb are therefore the
  worst in relative terms (the tests' 3.06 m path with a 105 deg turn: +9.4 cm, 3 %).
* at resolution 0.025 m the obstacle errors halve (mean +0.26 %, worst +1.0 %) for ~4x the time.

Speed (this 2-core CPU; 12 m x 12 m house at 0.05 m = 240 x 240 cells): grid from 78 footprints
11 ms (328 footprints: 44 ms); first distance field 38 ms (graph build + Dijkstra); later fields
on the same grid reuse the cached graph, 15 ms. Total grid + one field ~50 ms (target < 0.5 s).
At 0.025 m: ~0.21 s.

Conventions (docs/internals.md): row i <-> y = y0 + (i + 0.5) * res, column j <-> x = x0 +
(j + 0.5) * res; world points are (x, y), cells are (i, j) = (row, column).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field as dc_field
from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

NEIGHBOURHOOD = 5
"""Largest |di|, |dj| of a Dijkstra edge (see the module docstring for the accuracy it buys)."""

SNAP_DISTANCE = 0.15
"""How far (m) ``geodesic_distance`` looks for a free cell when the query point's cell is not free:
an agent that is collision-free can still stand in a cell whose *centre* is within the radius of
an obstacle; its nearest free cell is then at most about one cell diagonal away."""


@dataclass(eq=False)
class NavGrid:
    """A 2-D navigability grid: ``free[i, j]`` says whether the agent may stand at the cell centre.

    ``occupied`` (optional) marks cells whose centre lies inside a footprint: the un-inflated
    obstacles, which maps and plots want and ``free`` cannot tell apart from the inflation margin.
    """

    free: np.ndarray
    origin: tuple[float, float]
    resolution: float
    occupied: np.ndarray | None = None
    _cache: dict = dc_field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.free = np.asarray(self.free, dtype=bool)
        if self.free.ndim != 2:
            raise ValueError(f"NavGrid.free must be 2-D (H, W), got shape {self.free.shape}")
        if not self.resolution > 0:
            raise ValueError(f"NavGrid.resolution must be > 0, got {self.resolution}")
        self.origin = (float(self.origin[0]), float(self.origin[1]))
        self.resolution = float(self.resolution)
        if self.occupied is not None:
            self.occupied = np.asarray(self.occupied, dtype=bool)
            if self.occupied.shape != self.free.shape:
                raise ValueError("NavGrid.occupied must have the shape of NavGrid.free")

    def __getstate__(self) -> dict:
        """Pickle without the cached graph (tens of MB): workers rebuild it on first use."""
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    # ------------------------------------------------------------------ coordinates
    @property
    def shape(self) -> tuple[int, int]:
        return self.free.shape  # type: ignore[return-value]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) covered by the cells."""
        h, w = self.free.shape
        x0, y0 = self.origin
        return (x0, y0, x0 + w * self.resolution, y0 + h * self.resolution)

    def world_to_cell(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world (x, y) -> (..., 2) int (i, j); may lie outside the grid (``in_grid``)."""
        xy = np.asarray(xy, dtype=float)
        j = np.floor((xy[..., 0] - self.origin[0]) / self.resolution)
        i = np.floor((xy[..., 1] - self.origin[1]) / self.resolution)
        return np.stack([i, j], axis=-1).astype(np.int64)

    def cell_to_world(self, ij: np.ndarray) -> np.ndarray:
        """(..., 2) (i, j) -> (..., 2) world (x, y) of the cell centres."""
        ij = np.asarray(ij, dtype=float)
        x = self.origin[0] + (ij[..., 1] + 0.5) * self.resolution
        y = self.origin[1] + (ij[..., 0] + 0.5) * self.resolution
        return np.stack([x, y], axis=-1)

    def in_grid(self, ij: np.ndarray) -> np.ndarray:
        """Whether (..., 2) cell indices lie inside the grid."""
        ij = np.asarray(ij)
        h, w = self.free.shape
        return (ij[..., 0] >= 0) & (ij[..., 0] < h) & (ij[..., 1] >= 0) & (ij[..., 1] < w)

    def is_free(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) world points -> (...) bool: the point's cell is free (False outside)."""
        ij = self.world_to_cell(xy)
        inside = self.in_grid(ij)
        h, w = self.free.shape
        i = np.clip(ij[..., 0], 0, h - 1)
        j = np.clip(ij[..., 1], 0, w - 1)
        return inside & self.free[i, j]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_footprints(cls, polygons: Sequence[np.ndarray], bounds: Sequence[float],
                        resolution: float = 0.05, inflation: float = 0.18) -> "NavGrid":
        """Rasterise convex footprints; a cell is free iff its centre is > ``inflation`` from all.

        ``polygons`` are (N, 2) convex polygons in world (x, y), either orientation; N = 1 (a
        point) and N = 2 (a segment) are accepted. ``bounds`` = (xmin, ymin, xmax, ymax); cells
        whose centre falls outside them are not free. Each polygon only touches the cells of its
        bounding box grown by ``inflation``, so the cost is proportional to the obstacles' area,
        not to (cells x polygons).
        """
        xmin, ymin, xmax, ymax = (float(b) for b in bounds)
        if not (xmax > xmin and ymax > ymin):
            raise ValueError(f"bounds must be (xmin, ymin, xmax, ymax), max > min; got {bounds}")
        res = float(resolution)
        w = max(1, int(math.ceil((xmax - xmin) / res - 1e-9)))
        h = max(1, int(math.ceil((ymax - ymin) / res - 1e-9)))
        xs = xmin + (np.arange(w) + 0.5) * res
        ys = ymin + (np.arange(h) + 0.5) * res
        free = (ys <= ymax)[:, None] & (xs <= xmax)[None, :]
        occupied = np.zeros((h, w), dtype=bool)
        r = float(inflation)
        r2 = r * r
        for poly in polygons:
            p = np.asarray(poly, dtype=float).reshape(-1, 2)
            if len(p) == 0:
                continue
            lo = p.min(axis=0) - r
            hi = p.max(axis=0) + r
            j0 = max(0, int(math.floor((lo[0] - xmin) / res - 0.5)))
            j1 = min(w, int(math.ceil((hi[0] - xmin) / res - 0.5)) + 1)
            i0 = max(0, int(math.floor((lo[1] - ymin) / res - 0.5)))
            i1 = min(h, int(math.ceil((hi[1] - ymin) / res - 0.5)) + 1)
            if j0 >= j1 or i0 >= i1:
                continue
            px = xs[None, j0:j1]
            py = ys[i0:i1, None]
            inside = _inside_convex(p, px, py)
            d2 = _squared_distance_to_boundary(p, px, py)
            occupied[i0:i1, j0:j1] |= inside
            free[i0:i1, j0:j1] &= ~(inside | (d2 <= r2))
        return cls(free=free, origin=(xmin, ymin), resolution=res, occupied=occupied)


def _squared_distance_to_boundary(p: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Squared distance from points (broadcast px, py) to the polygon's edges (or its one point)."""
    if len(p) == 1:
        return (px - p[0, 0]) ** 2 + (py - p[0, 1]) ** 2
    best = None
    n = len(p) if len(p) > 2 else 1  # a 2-point "polygon" is one segment, not a closed loop
    for k in range(n):
        ax, ay = p[k]
        bx, by = p[(k + 1) % len(p)]
        ex, ey = bx - ax, by - ay
        len2 = ex * ex + ey * ey
        if len2 > 0.0:
            t = np.clip(((px - ax) * ex + (py - ay) * ey) / len2, 0.0, 1.0)
        else:
            t = 0.0
        d2 = (px - ax - t * ex) ** 2 + (py - ay - t * ey) ** 2
        best = d2 if best is None else np.minimum(best, d2)
    return best


def _inside_convex(p: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Points inside (or on) a convex polygon of either orientation; never for N < 3 or area 0."""
    shape = np.broadcast_shapes(np.shape(px), np.shape(py))
    if len(p) < 3:
        return np.zeros(shape, dtype=bool)
    x, y = p[:, 0], p[:, 1]
    area2 = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    if abs(area2) < 1e-12:
        return np.zeros(shape, dtype=bool)
    sign = 1.0 if area2 > 0 else -1.0
    inside = np.ones(shape, dtype=bool)
    for k in range(len(p)):
        ax, ay = p[k]
        bx, by = p[(k + 1) % len(p)]
        cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        inside &= sign * cross >= 0.0
    return inside


# ---------------------------------------------------------------------- segments through cells
def _supercover(u0: float, v0: float, u1: float, v1: float) -> tuple[np.ndarray, np.ndarray]:
    """Cells (i, j) whose closed square [i, i+1] x [j, j+1] meets the segment (u0,v0)-(u1,v1).

    Coordinates are in cell units (u along rows, v along columns). Closed squares make the test
    conservative: a segment that passes exactly through a cell corner touches all four cells.
    """
    ulo, uhi = min(u0, u1), max(u0, u1)
    i_first = int(math.ceil(ulo)) - 1
    i_last = int(math.floor(uhi))
    rows = np.arange(i_first, i_last + 1)
    if u1 != u0:
        a = np.maximum(rows.astype(float), ulo)
        b = np.minimum(rows + 1.0, uhi)
        keep = a <= b
        rows, a, b = rows[keep], a[keep], b[keep]
        va = v0 + (a - u0) * (v1 - v0) / (u1 - u0)
        vb = v0 + (b - u0) * (v1 - v0) / (u1 - u0)
        vlo, vhi = np.minimum(va, vb), np.maximum(va, vb)
    else:
        vlo = np.full(len(rows), min(v0, v1))
        vhi = np.full(len(rows), max(v0, v1))
    j_first = np.ceil(vlo).astype(np.int64) - 1
    j_last = np.floor(vhi).astype(np.int64)
    counts = j_last - j_first + 1
    ii = np.repeat(rows, counts)
    starts = np.repeat(j_first - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    jj = np.arange(int(counts.sum())) + starts
    return ii.astype(np.int64), jj.astype(np.int64)


def segment_is_free(grid: NavGrid, a_xy: np.ndarray, b_xy: np.ndarray) -> bool:
    """Whether the straight segment a-b touches only free cells (closed squares, conservative).

    Used to shortcut paths and by agents as a line-of-sight test on the map.
    """
    res = grid.resolution
    u0 = (float(a_xy[1]) - grid.origin[1]) / res
    v0 = (float(a_xy[0]) - grid.origin[0]) / res
    u1 = (float(b_xy[1]) - grid.origin[1]) / res
    v1 = (float(b_xy[0]) - grid.origin[0]) / res
    ii, jj = _supercover(u0, v0, u1, v1)
    h, w = grid.free.shape
    # A segment may end exactly on a cell boundary; the closed test then also names the
    # neighbour, which must be free too (or lie outside, which counts as blocked).
    inside = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
    if not inside.all():
        return False
    return bool(grid.free[ii, jj].all())


@lru_cache(maxsize=8)
def _offsets(radius: int) -> tuple[tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]], ...]:
    """Half of the edge offsets (one of each +/- pair) and the cells each edge's segment touches."""
    out = []
    for di in range(0, radius + 1):
        for dj in range(-radius, radius + 1):
            if (di == 0 and dj <= 0) or math.gcd(di, abs(dj)) != 1:
                continue
            cells = _supercover(0.5, 0.5, di + 0.5, dj + 0.5)
            out.append(((di, dj), cells))
    return tuple(out)


def _grid_key(grid: NavGrid, radius: int) -> tuple:
    return (radius, grid.free.shape, hashlib.blake2b(np.packbits(grid.free).tobytes(),
                                                     digest_size=16).digest())


def _graph(grid: NavGrid, radius: int) -> tuple[csr_matrix, np.ndarray]:
    """The free-cell graph (symmetric CSR, weights in metres) and the cell -> node index map.

    Cached on the grid, keyed by a hash of ``free``, so several distance fields on one house
    (one per goal category) build the graph once, and editing ``free`` in place is still safe.
    """
    key = _grid_key(grid, radius)
    cached = grid._cache.get("graph")
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    free = grid.free
    h, w = free.shape
    n = int(free.sum())
    o = radius + 1
    node = np.full((h, w), -1, dtype=np.int32)
    node[free] = np.arange(n, dtype=np.int32)
    pad = np.zeros((h + 2 * o, w + 2 * o), dtype=bool)
    pad[o:o + h, o:o + w] = free
    node_pad = np.full((h + 2 * o, w + 2 * o), -1, dtype=np.int32)
    node_pad[o:o + h, o:o + w] = node
    # valid[k] = edge from each cell along offset k; the reverse offset's validity is the same
    # mask shifted by the offset. Rows of the CSR come out in node order, so no COO sort.
    offsets = _offsets(radius)
    valid = np.empty((2 * len(offsets), n), dtype=bool)
    target = np.empty((2 * len(offsets), n), dtype=np.int32)
    lengths = np.empty(2 * len(offsets))
    for k, ((di, dj), (ci, cj)) in enumerate(offsets):
        ok = pad.copy()
        for a, b in zip(ci.tolist(), cj.tolist()):
            if a == 0 and b == 0:
                continue
            ok[o:o + h, o:o + w] &= pad[o + a:o + a + h, o + b:o + b + w]
        ok[:o] = ok[o + h:] = False
        ok[:, :o] = ok[:, o + w:] = False
        valid[2 * k] = ok[o:o + h, o:o + w][free]
        valid[2 * k + 1] = ok[o - di:o - di + h, o - dj:o - dj + w][free]
        target[2 * k] = node_pad[o + di:o + di + h, o + dj:o + dj + w][free]
        target[2 * k + 1] = node_pad[o - di:o - di + h, o - dj:o - dj + w][free]
        lengths[2 * k] = lengths[2 * k + 1] = grid.resolution * math.hypot(di, dj)
    valid_n = valid.T  # (n, K): row-major order is node order, what CSR wants
    counts = valid_n.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = target.T[valid_n]
    data = np.broadcast_to(lengths, valid_n.shape)[valid_n]
    graph = csr_matrix((data, indices, indptr), shape=(n, n))
    grid._cache["graph"] = (key, graph, node)
    return graph, node


def distance_field(grid: NavGrid, sources: np.ndarray, neighbourhood: int = NEIGHBOURHOOD
                   ) -> np.ndarray:
    """Geodesic distance (m) from every cell to the nearest *free* source cell; inf if unreachable.

    ``sources`` is a bool (H, W) mask; sources that are not free are ignored (an agent can never
    stand there), so a goal region should be given as the free cells near the goal. Non-free cells
    are inf. Accuracy and cost: see the module docstring.
    """
    sources = np.asarray(sources, dtype=bool)
    if sources.shape != grid.free.shape:
        raise ValueError(f"sources must have the grid's shape {grid.free.shape}, "
                         f"got {sources.shape}")
    out = np.full(grid.free.shape, np.inf)
    seeds = sources & grid.free
    if not seeds.any():
        return out
    graph, node = _graph(grid, int(neighbourhood))
    dist = dijkstra(graph, directed=True, indices=node[seeds], min_only=True)
    out[grid.free] = dist
    return out


# ---------------------------------------------------------------------- queries on a field
def nearest_free(grid: NavGrid, xy: np.ndarray, max_distance: float | None = None
                 ) -> np.ndarray | None:
    """World centre (2,) of the free cell whose centre is nearest to ``xy``; None if none is
    within ``max_distance`` (or the grid has no free cell). Exact, by brute force over a window.
    """
    xy = np.asarray(xy, dtype=float).reshape(2)
    res = grid.resolution
    h, w = grid.free.shape
    if max_distance is None:
        i0, i1, j0, j1 = 0, h, 0, w
    else:
        c = grid.world_to_cell(xy)
        k = int(math.ceil(max_distance / res)) + 1
        i0, i1 = max(0, c[0] - k), min(h, c[0] + k + 1)
        j0, j1 = max(0, c[1] - k), min(w, c[1] + k + 1)
        if i0 >= i1 or j0 >= j1:
            return None
    ii, jj = np.nonzero(grid.free[i0:i1, j0:j1])
    if len(ii) == 0:
        return None
    centres = grid.cell_to_world(np.stack([ii + i0, jj + j0], axis=-1))
    d = np.hypot(centres[:, 0] - xy[0], centres[:, 1] - xy[1])
    k = int(np.argmin(d))
    if max_distance is not None and d[k] > max_distance:
        return None
    return centres[k]


def geodesic_distance(grid: NavGrid, field: np.ndarray, xy: np.ndarray,
                      snap_distance: float = SNAP_DISTANCE) -> float:
    """The field's value at a world point (m); inf if unreachable.

    * In a free cell: bilinear interpolation between the surrounding cell centres when every
      centre with a non-zero weight is free and finite (exact at cell centres, and removes the
      up-to-half-a-cell quantisation error in open space); otherwise the cell's own value.
    * In a non-free cell (a collision-free agent can stand where the cell centre is within the
      radius of an obstacle): the nearest free cell within ``snap_distance`` plus the Euclidean
      gap to it; inf if there is none.
    """
    xy = np.asarray(xy, dtype=float).reshape(2)
    field = np.asarray(field, dtype=float)
    h, w = grid.free.shape
    if field.shape != (h, w):
        raise ValueError(f"field must have the grid's shape {(h, w)}, got {field.shape}")
    ij = grid.world_to_cell(xy)
    if not (grid.in_grid(ij) and grid.free[ij[0], ij[1]]):
        c = nearest_free(grid, xy, snap_distance)
        if c is None:
            return math.inf
        ci, cj = grid.world_to_cell(c)
        return float(field[ci, cj] + math.hypot(c[0] - xy[0], c[1] - xy[1]))
    u = (xy[1] - grid.origin[1]) / grid.resolution - 0.5
    v = (xy[0] - grid.origin[0]) / grid.resolution - 0.5
    i0, j0 = int(math.floor(u)), int(math.floor(v))
    fu, fv = u - i0, v - j0
    total = 0.0
    for di, wu in ((0, 1.0 - fu), (1, fu)):
        for dj, wv in ((0, 1.0 - fv), (1, fv)):
            wgt = wu * wv
            if wgt == 0.0:
                continue
            a, b = i0 + di, j0 + dj
            if not (0 <= a < h and 0 <= b < w and grid.free[a, b] and np.isfinite(field[a, b])):
                return float(field[ij[0], ij[1]])
            total += wgt * field[a, b]
    return float(total)


@lru_cache(maxsize=8)
def _all_offsets(radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both directions of every edge offset: (di, dj, length in cells, touched cells i, j, and
    the start of each offset's run in the touched arrays) for vectorised edge checks."""
    dis, djs, cis, cjs, starts = [], [], [], [], []
    pos = 0
    for (di, dj), (ci, cj) in _offsets(radius):
        for s in (1, -1):
            dis.append(s * di)
            djs.append(s * dj)
            cis.append(s * ci)
            cjs.append(s * cj)
            starts.append(pos)
            pos += len(ci)
    di = np.array(dis)
    dj = np.array(djs)
    return (di, dj, np.hypot(di, dj), np.concatenate(cis), np.concatenate(cjs),
            np.array(starts))  # type: ignore[return-value]


def shortest_path(grid: NavGrid, field: np.ndarray, start_xy: np.ndarray,
                  simplify: bool = True, neighbourhood: int = NEIGHBOURHOOD,
                  max_steps: int = 100_000) -> np.ndarray:
    """World waypoints (K, 2) from ``start_xy`` down the field to a source cell; (0, 2) if the
    start is unreachable.

    Steps along the same edges as ``distance_field`` (so every step is collision-free on the
    grid) to the neighbour that minimises field + step length, i.e. it retraces Dijkstra's
    predecessors. With ``simplify`` waypoints are dropped while the shortcut stays on free cells
    (``segment_is_free``), which leaves the corners of the path, what a controller wants.
    The first waypoint is ``start_xy`` itself; the last is a source cell's centre.
    """
    field = np.asarray(field, dtype=float)
    start_xy = np.asarray(start_xy, dtype=float).reshape(2)
    ij = grid.world_to_cell(start_xy)
    if not (grid.in_grid(ij) and grid.free[ij[0], ij[1]]):
        c = nearest_free(grid, start_xy, SNAP_DISTANCE)
        if c is None:
            return np.zeros((0, 2))
        ij = grid.world_to_cell(c)
    i, j = int(ij[0]), int(ij[1])
    if not np.isfinite(field[i, j]):
        return np.zeros((0, 2))
    di, dj, length, ci, cj, starts = _all_offsets(int(neighbourhood))
    res = grid.resolution
    h, w = grid.free.shape
    cells = [(i, j)]
    for _ in range(max_steps):
        if field[i, j] <= 0.0:
            break
        ti, tj = i + ci, j + cj
        inside = (ti >= 0) & (ti < h) & (tj >= 0) & (tj < w)
        ok_cell = np.zeros(len(ti), dtype=bool)
        ok_cell[inside] = grid.free[ti[inside], tj[inside]]
        ok = np.logical_and.reduceat(ok_cell, starts)
        ni, nj = i + di, j + dj
        cand = np.full(len(di), np.inf)
        cand[ok] = field[ni[ok], nj[ok]] + res * length[ok]
        k = int(np.argmin(cand))
        if not np.isfinite(cand[k]) or field[ni[k], nj[k]] >= field[i, j]:
            break  # a local minimum off the sources: cannot happen on a field from this grid
        i, j = int(ni[k]), int(nj[k])
        cells.append((i, j))
    pts = np.concatenate([start_xy[None], grid.cell_to_world(np.array(cells))], axis=0)
    if not simplify or len(pts) <= 2:
        return pts
    keep = [0]
    a = 0
    while a < len(pts) - 1:
        b = a + 1
        while b + 1 < len(pts) and segment_is_free(grid, pts[a], pts[b + 1]):
            b += 1
        keep.append(b)
        a = b
    return pts[keep]

