"""Exact shortest paths for a disc-shaped agent among polygonal obstacles.

Why this module exists: SPL divides by the shortest path length l, so every SPL a backend reports
is only as good as its l. A grid planner (``navgrid.py``) overestimates l: its paths go through
cell centres, which lie up to a cell outside the true free space at every bend, and end at a goal
cell's centre instead of the goal region's edge (measured on the val split: +1.1 % on average,
+2.9 % at worst). Habitat computes l on its navmesh and AI2-THOR with its own path query; to be
comparable with them the embedded backend computes l exactly, here, and keeps the grid for what a
grid is good at (reachability masks, an oracle's planning, maps).

The method is the textbook one for shortest paths among polygons:

* **Free space** ``F`` = the bounds minus every footprint grown by the agent radius, as one shapely
  polygon. Growing by a radius rounds the corners; shapely approximates each quarter circle by
  ``quad_segs`` chords whose vertices lie on the true circle, so ``F`` is very slightly larger than
  the true free space: with the default 16 a path that bends round a corner is at most
  ``r (1 - cos(pi / 64))`` = 0.2 mm closer to it and never more than 0.04 % of the arc shorter.
* **Reduced visibility graph.** A shortest path in a polygonal domain is a polyline that bends
  only at reflex vertices of ``F`` (corners of the grown obstacles), and each of its segments is
  tangent to the boundary at both ends (its neighbours along the boundary lie on one side of the
  segment's line). Nodes are those vertices; edges are the tangent segments that lie in ``F``
  (``shapely.covers`` on a prepared polygon, vectorised). Built once per free space.
* **Distances from a start**: edges from the start to every node it sees, then Dijkstra
  (``scipy.sparse.csgraph``).
* **Distance to a region** ``R`` (e.g. the cells within the success distance of a goal): the path
  ends on the boundary of ``R``, at a point the last bend ``u`` sees. For a polygonal ``R`` that
  point is a vertex of ``R`` or the foot of the perpendicular from ``u`` onto an edge of ``R``; so
  the answer is the smallest ``d(u) + |u g|`` over those candidate pairs whose segment lies in
  ``F``. Pairs are tested in increasing order of that value, so the first one that passes is the
  answer and usually only a handful are tested.
* **Regions with a condition** (ObjectNav's "the goal is in line of sight from here"): an
  ``accept(points)`` predicate cuts ``R`` along a boundary that is not polygonal. Its crossings
  are located by bisection (to ~0.1 mm) between samples ``spacing`` apart, along ``R``'s boundary
  and on a lattice inside it, and become candidates too. Where the condition's boundary meets
  ``R``'s the crossing is exact; along a smooth stretch of it the optimum is stationary, so the
  error of missing it by ``spacing / 2`` is second order (well under a millimetre at 2 cm).

Start points outside ``F`` (an agent is collision-free against the exact geometry, but footprints
of round objects are circumscribed polygons) are snapped to the nearest point of ``F`` within
``snap_distance``, adding the gap, as ``navgrid.geodesic_distance`` does.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point, Polygon, box
from shapely.geometry.polygon import orient
from shapely.ops import nearest_points

Accept = Callable[[np.ndarray], np.ndarray]
"""(K, 2) world points -> (K,) bool: whether a point of the region counts (e.g. line of sight)."""

QUAD_SEGS = 16
"""Chords per quarter circle where obstacles are grown (see the module docstring for the error)."""

SNAP_DISTANCE = 0.15
"""How far (m) a start outside the free space may be snapped onto it (as ``navgrid``)."""

EPSILON = 1e-7
"""Metres by which the free space used for segment tests is grown, so that segments ending on its
boundary (computed points are off by rounding) are not refused. Paths may thus graze obstacles by
a tenth of a micrometre."""

_BISECTIONS = 9
"""Halvings of a sample gap when locating a crossing of ``accept``: 2 cm / 2**9 = 0.04 mm."""


def _polygon_nodes(free: Polygon | shapely.MultiPolygon
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reflex vertices of the free space (where shortest paths may bend) and their two neighbours
    along the boundary: (N, 2) points, (N, 2) previous vertices, (N, 2) next vertices."""
    pts, prevs, nexts = [], [], []
    parts = free.geoms if hasattr(free, "geoms") else [free]
    for part in parts:
        part = orient(part, 1.0)            # exterior CCW, holes CW: free space on the left
        for ring in (part.exterior, *part.interiors):
            c = np.asarray(ring.coords)[:-1]
            if len(c) < 3:
                continue
            a, n = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
            turn = (c[:, 0] - a[:, 0]) * (n[:, 1] - c[:, 1]) - (c[:, 1] - a[:, 1]) * (n[:, 0] - c[:, 0])
            reflex = turn < 0.0             # a right turn with free space on the left
            pts.append(c[reflex])
            prevs.append(a[reflex])
            nexts.append(n[reflex])
    if not pts:
        empty = np.zeros((0, 2))
        return empty, empty, empty
    return np.concatenate(pts), np.concatenate(prevs), np.concatenate(nexts)


COLLINEAR = 1e-9
"""|sin| of the angle below which a point counts as on a line: a region's vertex computed where
its edge meets an obstacle's edge lies on that edge only to rounding, and must not be refused as
"not tangent" because of a sign of 1e-16."""


def _side(origin: np.ndarray, direction: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Side of each point of the line through ``origin`` along ``direction``: -1, 0 (on the line,
    to within COLLINEAR) or 1."""
    rel = points - origin
    cross = direction[..., 0] * rel[..., 1] - direction[..., 1] * rel[..., 0]
    scale = np.hypot(direction[..., 0], direction[..., 1]) * np.hypot(rel[..., 0], rel[..., 1])
    return np.where(np.abs(cross) <= COLLINEAR * scale, 0.0, np.sign(cross))


def _tangent_at(node: np.ndarray, prev: np.ndarray, nxt: np.ndarray,
                other: np.ndarray) -> np.ndarray:
    """Whether the line from each node to ``other`` is tangent to the boundary at the node: both
    boundary neighbours on one side (or on the line). Only such segments can be part of a
    shortest path (a path through a vertex that is not tangent there could cut the corner)."""
    d = other - node
    return _side(node, d, prev) * _side(node, d, nxt) >= 0


class FreeSpace:
    """Where the centre of a disc of radius ``radius`` may be, with exact shortest paths.

    ``footprints`` are (N, 2) polygons (convex or not, either orientation; N = 1 is a point and
    N = 2 a segment); ``bounds`` = (xmin, ymin, xmax, ymax) confines the agent's centre.
    """

    def __init__(self, footprints: Sequence[np.ndarray], bounds: Sequence[float], radius: float,
                 quad_segs: int = QUAD_SEGS) -> None:
        xmin, ymin, xmax, ymax = (float(b) for b in bounds)
        if not (xmax > xmin and ymax > ymin):
            raise ValueError(f"bounds must be (xmin, ymin, xmax, ymax), max > min; got {bounds}")
        if not radius >= 0.0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        shapes = []
        for poly in footprints:
            p = np.asarray(poly, dtype=float).reshape(-1, 2)
            if len(p) == 0:
                continue
            if len(p) == 1:
                shapes.append(Point(p[0]))
            elif len(p) == 2:
                shapes.append(shapely.LineString(p))
            else:
                shapes.append(Polygon(p).convex_hull if not Polygon(p).is_valid else Polygon(p))
        grown = shapely.union_all(shapely.buffer(shapes, radius, quad_segs=quad_segs)) \
            if shapes else Polygon()
        self.radius = float(radius)
        self.bounds = (xmin, ymin, xmax, ymax)
        self.polygon = box(xmin, ymin, xmax, ymax).difference(grown)
        self._loose = self.polygon.buffer(EPSILON, join_style="mitre")
        shapely.prepare(self.polygon)
        shapely.prepare(self._loose)
        self.nodes, self._prev, self._next = _polygon_nodes(self.polygon)
        self._graph = self._visibility_graph()

    # ------------------------------------------------------------------ geometry queries
    def contains(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) -> (K,) bool: the point is in the (closed) free space."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return shapely.covers(self._loose, shapely.points(pts))

    def sees(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(K, 2), (K, 2) -> (K,) bool: the straight segment a-b lies in the free space."""
        a = np.asarray(a, dtype=float).reshape(-1, 2)
        b = np.asarray(b, dtype=float).reshape(-1, 2)
        if len(a) == 0:
            return np.zeros(0, dtype=bool)
        same = np.all(a == b, axis=1)
        lines = shapely.linestrings(np.stack([a, np.where(same[:, None], b + 1e-12, b)], axis=1))
        return shapely.covers(self._loose, lines)

    def _visibility_graph(self) -> coo_matrix:
        """Tangent segments between nodes that lie in free space, as a symmetric sparse matrix."""
        n = len(self.nodes)
        if n < 2:
            return coo_matrix((n, n))
        iu, iv = np.triu_indices(n, 1)
        p, q = self.nodes[iu], self.nodes[iv]
        keep = (_tangent_at(p, self._prev[iu], self._next[iu], q)
                & _tangent_at(q, self._prev[iv], self._next[iv], p))
        iu, iv = iu[keep], iv[keep]
        ok = self.sees(self.nodes[iu], self.nodes[iv])
        iu, iv = iu[ok], iv[ok]
        w = np.linalg.norm(self.nodes[iu] - self.nodes[iv], axis=1)
        return coo_matrix((np.concatenate([w, w]), (np.concatenate([iu, iv]),
                                                    np.concatenate([iv, iu]))), shape=(n, n))

    def snap(self, xy: np.ndarray, snap_distance: float = SNAP_DISTANCE
             ) -> tuple[np.ndarray, float] | None:
        """The point itself (gap 0) if free, else the nearest free point and the gap to it; None
        when that is farther than ``snap_distance``."""
        xy = np.asarray(xy, dtype=float).reshape(2)
        if self.contains(xy)[0]:
            return xy, 0.0
        if self.polygon.is_empty:
            return None
        gap = float(self.polygon.distance(Point(xy)))
        if gap > snap_distance:
            return None
        near = nearest_points(self.polygon, Point(xy))[0]
        return np.array([near.x, near.y]), gap

    # ------------------------------------------------------------------ shortest paths
    def node_distances(self, start: np.ndarray) -> np.ndarray:
        """Shortest path length from a free ``start`` to every node (inf where unreachable)."""
        start = np.asarray(start, dtype=float).reshape(2)
        n = len(self.nodes)
        if n == 0:
            return np.zeros(0)
        seen = np.flatnonzero(
            _tangent_at(self.nodes, self._prev, self._next, np.broadcast_to(start, (n, 2))))
        seen = seen[self.sees(np.broadcast_to(start, (len(seen), 2)), self.nodes[seen])]
        w = np.linalg.norm(self.nodes[seen] - start, axis=1)
        g = self._graph
        rows = np.concatenate([g.row, np.full(len(seen), n)])
        cols = np.concatenate([g.col, seen])
        data = np.concatenate([g.data, w])
        graph = coo_matrix((data, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
        return dijkstra(graph, directed=True, indices=n)[:n]

    def distance(self, start: np.ndarray, goal: np.ndarray) -> float:
        """Shortest path length between two points (inf if either is not free or unreachable)."""
        return self.distance_to([Target(self, Point(np.asarray(goal, dtype=float).reshape(2)))],
                                start)

    def distance_to(self, targets: Sequence["Target"], start: np.ndarray,
                    snap_distance: float = SNAP_DISTANCE) -> float:
        """Length of the shortest path from ``start`` to the nearest accepted point of any of the
        targets; inf if none can be reached (see the module docstring for the method)."""
        snapped = self.snap(start, snap_distance)
        if snapped is None:
            return math.inf
        start, gap = snapped
        targets = [t for t in targets if not t.empty]
        if not targets:
            return math.inf
        if any(t.holds(start) for t in targets):
            return gap
        d = self.node_distances(start)
        reach = np.isfinite(d)
        sources = np.concatenate([start[None], self.nodes[reach]])
        dist = np.concatenate([[0.0], d[reach]])
        prev = np.concatenate([start[None], self._prev[reach]])
        nxt = np.concatenate([start[None], self._next[reach]])
        best = math.inf
        for target in targets:
            best = min(best, self._last_leg(target, sources, dist, prev, nxt, best))
        return gap + best

    def _last_leg(self, target: "Target", sources: np.ndarray, dist: np.ndarray, prev: np.ndarray,
                  nxt: np.ndarray, bound: float) -> float:
        """min over (source u, end point g) of d(u) + |u g| where u sees g, below ``bound``.

        End points: the target's accepted vertices and crossings (for every source) and the feet
        of each source's perpendiculars onto the target's edges (for that source). Source 0 is the
        start; every other source is a node, where the leg must be tangent (a path bends at a node
        only round the obstacle)."""
        ns, nc = len(sources), len(target.points)
        feet, foot_src = target.feet(sources)
        pair_src = np.concatenate([np.repeat(np.arange(ns), nc), foot_src])
        pair_pt = np.concatenate([np.tile(target.points, (ns, 1)), feet])
        is_foot = np.concatenate([np.zeros(ns * nc, bool), np.ones(len(feet), bool)])
        keep = (pair_src == 0) | _tangent_at(sources[pair_src], prev[pair_src], nxt[pair_src],
                                             pair_pt)
        value = dist[pair_src] + np.linalg.norm(pair_pt - sources[pair_src], axis=1)
        keep &= value < bound
        pair_src, pair_pt, is_foot, value = pair_src[keep], pair_pt[keep], is_foot[keep], value[keep]
        order = np.argsort(value, kind="stable")
        chunk = 32
        for s in range(0, len(order), chunk):
            idx = order[s:s + chunk]
            ok = self.sees(sources[pair_src[idx]], pair_pt[idx])
            feet_here = ok & is_foot[idx]
            if feet_here.any() and target.accept is not None:
                ok[feet_here] = target.accept(pair_pt[idx[feet_here]])
            if ok.any():
                return float(value[idx[np.argmax(ok)]])
            chunk = min(4 * chunk, 4096)
        return math.inf


class Target:
    """A region to reach, clipped to the free space, with an optional condition on its points.

    Built once per goal (the condition's crossings cost ray casts) and reused for every start:
    ``points`` are the region's vertices and the condition's crossings that are accepted.
    """

    def __init__(self, free: FreeSpace, region: shapely.Geometry, accept: Accept | None = None,
                 spacing: float = 0.02) -> None:
        self.region = region.intersection(free.polygon)
        self.accept = accept
        self.empty = self.region.is_empty
        self._near = self.region.buffer(EPSILON, join_style="mitre")
        rings = _rings(self.region)
        pts = np.concatenate(rings) if rings else np.zeros((0, 2))
        self.edges_a = np.concatenate([r[:-1] for r in rings if len(r) > 1] or [np.zeros((0, 2))])
        self.edges_b = np.concatenate([r[1:] for r in rings if len(r) > 1] or [np.zeros((0, 2))])
        if accept is not None and len(pts):
            pts = np.concatenate([pts[accept(pts)], _crossings(self.region, accept, spacing)])
        self.points = pts

    def holds(self, xy: np.ndarray) -> bool:
        """Whether a point is in the region (to within EPSILON) and accepted."""
        if self.empty or not shapely.covers(self._near, Point(xy)):
            return False
        return self.accept is None or bool(self.accept(np.asarray(xy, float).reshape(1, 2))[0])

    def feet(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feet of the perpendiculars from each source onto each edge, where they fall inside the
        edge, and the index of the source each one was dropped from."""
        a, b = self.edges_a, self.edges_b
        if len(a) == 0 or len(sources) == 0:
            return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
        e = b - a
        len2 = np.maximum((e * e).sum(axis=1), 1e-18)
        t = ((sources[:, None, :] - a[None]) * e[None]).sum(axis=2) / len2   # (S, E)
        s_idx, e_idx = np.nonzero((t > 0.0) & (t < 1.0))
        return a[e_idx] + t[s_idx, e_idx, None] * e[e_idx], s_idx


def _rings(geom: shapely.Geometry) -> list[np.ndarray]:
    """Coordinates of every boundary ring / line of a geometry, and its isolated points."""
    out = []
    parts = geom.geoms if hasattr(geom, "geoms") else [geom]
    for part in parts:
        if isinstance(part, Polygon):
            out.extend(np.asarray(r.coords) for r in (part.exterior, *part.interiors))
        elif not part.is_empty:
            out.append(np.asarray(part.coords))
    return out


def _crossings(region: shapely.Geometry, accept: Accept, spacing: float) -> np.ndarray:
    """Points just on the accepted side of ``accept``'s boundary inside ``region``, located by
    bisection between neighbouring samples that disagree: along the region's boundary (every
    ``spacing / 2``) and between 4-neighbours of a ``spacing`` lattice inside it."""
    pairs_a, pairs_b, flags_a, flags_b = [], [], [], []
    for ring in _rings(region):
        if len(ring) < 2:
            continue
        seg = np.diff(ring, axis=0)
        n = np.maximum(1, np.ceil(np.linalg.norm(seg, axis=1) / (spacing / 2)).astype(int))
        k = np.repeat(np.arange(len(seg)), n)
        frac = np.concatenate([np.arange(m) / m for m in n])
        pts = np.concatenate([ring[k] + frac[:, None] * seg[k], ring[-1:]])
        ok = accept(pts)
        pairs_a.append(pts[:-1])
        pairs_b.append(pts[1:])
        flags_a.append(ok[:-1])
        flags_b.append(ok[1:])
    xmin, ymin, xmax, ymax = region.bounds
    xs = np.arange(xmin + spacing / 2, xmax, spacing)
    ys = np.arange(ymin + spacing / 2, ymax, spacing)
    if len(xs) and len(ys):
        gx, gy = np.meshgrid(xs, ys)
        lattice = np.stack([gx, gy], axis=-1)                       # (H, W, 2)
        inside = shapely.covers(region, shapely.points(lattice.reshape(-1, 2))).reshape(gx.shape)
        ok = np.zeros(gx.shape, dtype=bool)
        ok[inside] = accept(lattice[inside])
        for a_sl, b_sl in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                           ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
            both = inside[a_sl] & inside[b_sl] & (ok[a_sl] != ok[b_sl])
            pairs_a.append(lattice[a_sl][both])
            pairs_b.append(lattice[b_sl][both])
            flags_a.append(ok[a_sl][both])
            flags_b.append(ok[b_sl][both])
    if not pairs_a:
        return np.zeros((0, 2))
    a, b = np.concatenate(pairs_a), np.concatenate(pairs_b)
    va, vb = np.concatenate(flags_a), np.concatenate(flags_b)
    differ = va != vb
    if not differ.any():
        return np.zeros((0, 2))
    good = np.where(va[differ, None], a[differ], b[differ])        # the accepted end
    bad = np.where(va[differ, None], b[differ], a[differ])
    for _ in range(_BISECTIONS):
        mid = 0.5 * (good + bad)
        ok = accept(mid)
        good = np.where(ok[:, None], mid, good)
        bad = np.where(ok[:, None], bad, mid)
    return good
