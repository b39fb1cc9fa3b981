"""Frontiers: the edge between known free space and the unknown, and which one to explore next.

Why it looks the way it does (CoW's exploration is classical frontier exploration, Yamauchi
1997): a frontier cell is a FREE cell 4-adjacent to an UNKNOWN cell; frontier cells are grouped
into clusters (``scipy.ndimage.label``, 8-connectivity, so a diagonal edge stays one cluster)
and clusters smaller than ``min_size`` cells (speckle between sparse far floor samples, a cell
peeking past a chair leg) are dropped. Everything is array code over the known bounding box:
no per-cell Python.

Choosing (``select_frontier``):

* ``"nearest"`` (default, CoW's): the smallest *geodesic* distance from the agent over the
  traversable grid, read off one Dijkstra field (``planner.geodesic_field``) that the caller then
  reuses to plan the path. A frontier cell itself is often not traversable (it is FREE but within
  the agent's radius of a wall), so the cell to drive to (``Frontier.goal_cell``) is the
  reachable cell nearest to the frontier, at most ``reach`` away *through free cells* (never
  through a wall), and the frontier's distance is the geodesic distance to that cell.
* ``"euclidean"``: straight-line distance to the frontier's target point (cheap; ignores walls).
* ``"largest"``: the biggest cluster (most unknown boundary), ties by distance.

A frontier whose target point lies within ``radius`` of a blacklisted point (an attempt that
failed: unreachable, or the agent got stuck on the way) is skipped (``Blacklist``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field
from typing import Sequence

import numpy as np
from scipy import ndimage

from embodied.perception.mapping import FREE, UNKNOWN, TopDownMap
from embodied.perception.planner import GeodesicField, geodesic_field

__all__ = ["Frontier", "Blacklist", "frontier_mask", "find_frontiers", "select_frontier"]

_FOUR = ndimage.generate_binary_structure(2, 1)
_EIGHT = ndimage.generate_binary_structure(2, 2)


@dataclass
class Frontier:
    """One frontier cluster. ``cells`` (K, 2) int (i, j); ``centroid_xy`` the mean of the cell
    centres (may lie off the frontier when it is curved); ``target_xy`` the frontier cell nearest
    the centroid (on the frontier: where to look); ``size`` = K. ``distance`` (m) and
    ``goal_cell`` are filled in by ``select_frontier``."""

    cells: np.ndarray
    centroid_xy: np.ndarray
    size: int
    target_xy: np.ndarray
    distance: float = math.inf
    goal_cell: tuple[int, int] | None = None


@dataclass
class Blacklist:
    """World points (map frame) near which frontiers are no longer chosen."""

    radius: float = 0.5
    points: list[np.ndarray] = dc_field(default_factory=list)

    def add(self, xy: Sequence[float]) -> None:
        self.points.append(np.asarray(xy, dtype=float)[:2].copy())

    def contains(self, xy: Sequence[float]) -> bool:
        if not self.points:
            return False
        p = np.asarray(self.points)
        q = np.asarray(xy, dtype=float)[:2]
        return bool((np.hypot(p[:, 0] - q[0], p[:, 1] - q[1]) <= self.radius).any())

    def clear(self) -> None:
        self.points.clear()


def frontier_mask(state: np.ndarray, min_pocket: int = 0) -> np.ndarray:
    """FREE cells with an UNKNOWN 4-neighbour (cells beyond the grid's edge do not count).

    With ``min_pocket`` > 0, UNKNOWN regions enclosed by known cells (8-connected components
    not touching the grid's edge) smaller than that many cells do not make frontiers: the gap
    behind a sofa, the floor under a bed, a cell no ray reached between two chairs. Driving to
    them reveals nothing new, and they are most of what a frontier explorer otherwise gets
    stuck on once the rooms are seen. ``state`` should include a ring of UNKNOWN around the
    known area (``find_frontiers`` passes the known bounding box + 1), so that the outside is
    one component touching the edge."""
    unknown = state == UNKNOWN
    if min_pocket > 0 and unknown.any():
        labels, n = ndimage.label(unknown, structure=_EIGHT)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        small = sizes < min_pocket
        small[edge] = False
        small[0] = False
        unknown = unknown & ~small[labels]
    near_unknown = ndimage.binary_dilation(unknown, structure=_FOUR, border_value=0)
    return (state == FREE) & near_unknown


def find_frontiers(tmap: TopDownMap, min_size: int = 5, min_pocket: float = 0.5) -> list[Frontier]:
    """Frontier clusters of a ``TopDownMap`` with at least ``min_size`` cells, largest first.
    ``min_pocket`` (m^2): enclosed unknown pockets smaller than this are ignored
    (``frontier_mask``)."""
    i0, i1, j0, j1 = tmap.bbox(margin=1)
    if i1 <= i0 or j1 <= j0:
        return []
    pocket_cells = int(math.ceil(min_pocket / float(tmap.resolution) ** 2)) if min_pocket else 0
    mask = frontier_mask(tmap.state[i0:i1, j0:j1], pocket_cells)
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return []
    flat = labels.ravel()
    idx = np.flatnonzero(flat)
    lab = flat[idx]
    order = np.argsort(lab, kind="stable")
    idx, lab = idx[order], lab[order]
    sizes = np.bincount(lab, minlength=n + 1)[1:]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    w = j1 - j0
    ci = idx // w + i0
    cj = idx % w + j0
    res = float(tmap.resolution)
    x = tmap.origin[0] + (cj + 0.5) * res
    y = tmap.origin[1] + (ci + 0.5) * res
    sum_x = np.bincount(lab, weights=x, minlength=n + 1)[1:]
    sum_y = np.bincount(lab, weights=y, minlength=n + 1)[1:]
    out = []
    for k in np.flatnonzero(sizes >= min_size):
        s, e = starts[k], starts[k] + sizes[k]
        centroid = np.array([sum_x[k] / sizes[k], sum_y[k] / sizes[k]])
        near = int(np.argmin((x[s:e] - centroid[0]) ** 2 + (y[s:e] - centroid[1]) ** 2))
        out.append(Frontier(cells=np.stack([ci[s:e], cj[s:e]], axis=1), centroid_xy=centroid,
                            size=int(sizes[k]), target_xy=np.array([x[s + near], y[s + near]])))
    out.sort(key=lambda f: -f.size)
    return out


_LEVEL = 1e6    # a spread key: steps from the reachable cell * _LEVEL + its geodesic distance


def _spread(key: np.ndarray, passable: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Carry each finite key up to ``steps`` cells (8-connected) into ``passable`` cells, adding
    ``_LEVEL`` per cell crossed and keeping the smallest key and the flat index of the cell it
    came from. A frontier cell thus finds the reachable cell *nearest to it* (fewest cells away,
    then the smallest geodesic distance from the agent), through free space only, so a
    frontier behind a thin wall never borrows the distance of a cell on the agent's side."""
    h, w = key.shape
    val = key.copy()
    src = np.where(np.isfinite(key), np.arange(h * w).reshape(h, w), -1)
    for _ in range(steps):
        nv, ns = val.copy(), src.copy()
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di == 0 and dj == 0:
                    continue
                # target window [ti0:ti1, tj0:tj1] receives from the window shifted by (di, dj)
                ti0, ti1 = max(0, -di), h - max(0, di)
                tj0, tj1 = max(0, -dj), w - max(0, dj)
                cand = val[ti0 + di:ti1 + di, tj0 + dj:tj1 + dj] + _LEVEL
                cur = nv[ti0:ti1, tj0:tj1]
                better = (cand < cur) & passable[ti0:ti1, tj0:tj1]
                cur[better] = cand[better]
                ns[ti0:ti1, tj0:tj1][better] = src[ti0 + di:ti1 + di, tj0 + dj:tj1 + dj][better]
        val, src = nv, ns
    return val, src


def _reach_goals(tmap: TopDownMap, frontiers: list[Frontier], field: GeodesicField,
                 reach: float) -> None:
    """Fill ``goal_cell`` / ``distance`` of each frontier: the reachable cell nearest to one of
    its cells (at most ``reach`` away through FREE cells; among equally near ones, the one
    nearest the agent) and the geodesic distance from the agent to it."""
    i0, i1, j0, j1 = field.box
    for f in frontiers:
        f.distance, f.goal_cell = math.inf, None
    if i1 <= i0 or j1 <= j0 or not frontiers:
        return
    k = max(0, int(math.floor(reach / float(tmap.resolution) + 1e-9)))
    h, w = field.distance.shape
    a0, a1, b0, b1 = max(0, i0 - k), min(h, i1 + k), max(0, j0 - k), min(w, j1 + k)
    dist = field.distance[a0:a1, b0:b1]
    val, src = _spread(dist, tmap.state[a0:a1, b0:b1] == FREE, k)
    ww = b1 - b0
    for f in frontiers:
        ii, jj = f.cells[:, 0] - a0, f.cells[:, 1] - b0
        ok = (ii >= 0) & (ii < a1 - a0) & (jj >= 0) & (jj < ww)
        if not ok.any():
            continue
        v = val[ii[ok], jj[ok]]
        m = int(np.argmin(v))
        if np.isfinite(v[m]):
            s = int(src[ii[ok][m], jj[ok][m]])
            f.goal_cell = (a0 + s // ww, b0 + s % ww)
            f.distance = float(field.distance[f.goal_cell])


def select_frontier(tmap: TopDownMap, frontiers: list[Frontier], agent_xy: Sequence[float],
                    strategy: str = "nearest", field: GeodesicField | None = None,
                    blacklist: Blacklist | None = None, reach: float = 0.375,
                    ) -> Frontier | None:
    """The frontier to explore next (see the module docstring), or None if none is left.

    ``field``: a Dijkstra from the agent already computed this step (else one is run for the
    geodesic strategies). Unreachable frontiers are skipped by every strategy except
    ``"euclidean"`` (which does not look at the grid; the caller's plan then fails and should
    blacklist it). With a field, every strategy fills each candidate's ``goal_cell`` and its
    geodesic ``distance`` (inf if unreachable); ``"euclidean"`` without one sets ``distance``
    to the straight-line distance to ``target_xy`` and leaves ``goal_cell`` None.
    """
    if strategy not in ("nearest", "euclidean", "largest"):
        raise ValueError(f"strategy must be nearest, euclidean or largest, got {strategy!r}")
    cands = [f for f in frontiers if not (blacklist and blacklist.contains(f.target_xy))]
    if not cands:
        return None
    agent = np.asarray(agent_xy, dtype=float)[:2]
    if strategy == "euclidean" and field is None:
        for f in cands:
            f.distance = float(np.hypot(*(f.target_xy - agent)))
        return min(cands, key=lambda f: f.distance)
    if field is None:
        field = geodesic_field(tmap, agent)
        if field is None:
            return None
    _reach_goals(tmap, cands, field, reach)
    if strategy == "euclidean":
        return min(cands, key=lambda f: float(np.hypot(*(f.target_xy - agent))))
    reachable = [f for f in cands if math.isfinite(f.distance)]
    if not reachable:
        return None
    if strategy == "largest":
        return max(reachable, key=lambda f: (f.size, -f.distance))
    return min(reachable, key=lambda f: f.distance)
