"""Lattice navigation from the agent's own depth map, for the rearrangement agents.

Why a lattice: the two-phase task moves the agent 0.25 m at a time along its heading or sideways
and turns it by 90 deg, and starts are axis-aligned, so in the frame of the start pose (the
observation's GPS+compass) the agent always stands on the points (0.25 i, 0.25 j) facing one of
four directions. A breadth-first search over those points, with a move allowed where the
agent's disc stays off every obstacle the depth map (``embodied.perception.mapping``, CoW's map)
has seen, plans in exactly the actions the env executes. Unknown space counts as passable (a
plan through it is re-made when the map learns more), moves the env refused are remembered and
never planned again.

Nothing here sees ground truth: the map is built from depth and pose only.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
from scipy import ndimage

from embodied.agents.rearrange_oracle import lattice_distances, lattice_path
from embodied.perception.mapping import FREE, OCCUPIED, TopDownMap

__all__ = ["STEP", "QUARTER", "LatticeNav", "move_action_offset"]

STEP = 0.25
QUARTER = math.pi / 2
#: lattice direction index -> (di, dj) in the start frame: +x, +y, -x, -y
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))


def move_action_offset(direction: int, heading: int) -> int:
    """Which move reaches lattice direction ``direction`` at ``heading`` (both quarter turns
    left of the start's +x): 0 ahead, 1 left, 2 back, 3 right."""
    return (direction - heading) % 4


class LatticeNav:
    """Passability of the start-frame lattice from a ``TopDownMap``; plans and first moves.

    ``half`` lattice points on each side of the start (±``half`` * 0.25 m). ``clearance`` is the
    radius the agent's disc needs from an occupied cell (the env's agent is 0.18 m; the map's
    0.125 m cells make a smaller value slightly optimistic, which the refused-move memory makes up).
    """

    def __init__(self, tmap: TopDownMap, half: int = 48, clearance: float = 0.15) -> None:
        self.map = tmap
        self.half = int(half)
        self.n = 2 * self.half + 1
        self.clearance = float(clearance)
        self.blocked: set[tuple[int, int, int]] = set()
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None
        r = int(math.ceil(self.clearance / tmap.resolution))
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        self._disc = (np.hypot(xx, yy) * tmap.resolution <= self.clearance + 1e-9)

    # ------------------------------------------------------------------ coordinates
    def cell(self, xy: Iterable[float]) -> tuple[int, int]:
        """Array index of the lattice point nearest to start-frame ``xy``."""
        x, y = (float(v) for v in xy)
        return int(round(x / STEP)) + self.half, int(round(y / STEP)) + self.half

    def xy(self, cell: tuple[int, int]) -> np.ndarray:
        return (np.asarray(cell, dtype=float) - self.half) * STEP

    def points_xy(self) -> np.ndarray:
        """(n, n, 2) start-frame coordinates of every lattice point."""
        k = (np.arange(self.n) - self.half) * STEP
        return np.stack(np.meshgrid(k, k, indexing="ij"), axis=-1)

    # ------------------------------------------------------------------ passability
    def grids(self, version: int) -> tuple[np.ndarray, np.ndarray]:
        """(free (n, n), passable (n, n, 2)) for the map as of ``version`` (cached per version)."""
        if self._cache is not None and self._cache[0] == version:
            return self._cache[1], self._cache[2]
        near = ndimage.binary_dilation(self.map.state == OCCUPIED, structure=self._disc)
        pts = self.points_xy()
        free = ~self._near(near, pts)
        passable = np.zeros((self.n, self.n, 2), dtype=bool)
        for axis, (di, dj) in enumerate(DIRECTIONS[:2]):
            ok = free.copy()
            for t in (0.25, 0.5, 0.75):
                mid = pts + t * STEP * np.array([di, dj], dtype=float)
                ok &= ~self._near(near, mid)
            shifted = np.zeros_like(free)
            if axis == 0:
                shifted[:-1] = free[1:]
            else:
                shifted[:, :-1] = free[:, 1:]
            passable[..., axis] = ok & shifted
        self._cache = (version, free, passable)
        return free, passable

    def _near(self, near: np.ndarray, xy: np.ndarray) -> np.ndarray:
        cells = self.map.world_to_cell(xy.reshape(-1, 2))
        inside = self.map.in_bounds(cells)
        out = np.ones(len(cells), dtype=bool)
        out[inside] = near[cells[inside, 0], cells[inside, 1]]
        return out.reshape(xy.shape[:-1])

    def known_free(self) -> np.ndarray:
        """(n, n) lattice points whose map cell is known FREE."""
        pts = self.points_xy().reshape(-1, 2)
        cells = self.map.world_to_cell(pts)
        inside = self.map.in_bounds(cells)
        out = np.zeros(len(pts), dtype=bool)
        out[inside] = self.map.state[cells[inside, 0], cells[inside, 1]] == FREE
        return out.reshape(self.n, self.n)

    def unknown_near(self, radius: float = 0.5, min_cells: int = 6) -> np.ndarray:
        """(n, n) lattice points with at least ``min_cells`` UNKNOWN map cells within ``radius``
        (a square window): frontier points. The count keeps the pockets a depth camera never sees
        (under a table, behind a box) from drawing the agent back again and again."""
        r = max(1, int(round(radius / self.map.resolution)))
        unknown = (~self.map.known).astype(np.float32)
        count = ndimage.uniform_filter(unknown, size=2 * r + 1, mode="constant") * (2 * r + 1) ** 2
        return self._near(count >= min_cells - 0.5, self.points_xy())

    def block(self, cell: tuple[int, int], direction: int) -> None:
        """Remember that moving from ``cell`` in ``direction`` failed."""
        di, dj = DIRECTIONS[direction]
        a, b = cell[0] + di, cell[1] + dj
        self.blocked.add((min(cell[0], a), min(cell[1], b), 0 if di else 1))

    def distances(self, start: tuple[int, int], version: int,
                  optimistic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """BFS distances/parents from ``start`` (the start point is always allowed)."""
        _, passable = self.grids(version)
        return lattice_distances(passable, start, self.blocked)

    @staticmethod
    def path(parent: np.ndarray, goal: tuple[int, int]) -> list[tuple[int, int]]:
        return lattice_path(parent, goal)

    @staticmethod
    def direction(a: tuple[int, int], b: tuple[int, int]) -> int:
        return DIRECTIONS.index((b[0] - a[0], b[1] - a[1]))
