"""A top-down occupancy map built from depth, and dead reckoning for robots without odometry.

Why it looks the way it does (CoW, Gadre et al. 2023, Sec. 3: "a top-down map of free space and
obstacles built from depth, for frontier exploration"):

* **Frame and layout.** The map lives in the frame of ``obs["pose"]`` (the episode start is the
  origin). It is a square of ``size_m`` at ``resolution`` (32 m at 0.125 m: 256 x 256 cells), laid
  out like ``NavGrid``: row i <-> y, column j <-> x. The origin is chosen so that the start sits at
  a cell *centre*: moves of 0.25 m along the start heading then land on cell centres too.
* **Evidence per frame** (all vectorised: one lift of the strided depth image kept in image
  layout, flat cell indices, ``np.bincount``, column-wise min/max; no per-cell or per-pixel
  Python):
  - *obstacle* points: height in (``floor_tolerance``, ``ceiling``], z-depth <= ``max_depth``;
  - *floor* points: |height| <= ``floor_tolerance``, z-depth <= ``max_depth``: "observed free";
  - sky pixels (depth = far) carry no surface and are ignored; so are returns beyond
    ``max_depth`` (depth noise grows with range on real sensors, and at 0.125 m cells the floor
    is sampled more sparsely than the cells beyond ~4 m anyway).
  - *surface fill*: a horizontal surface seen at a grazing angle (a 0.75 m table top from a
    0.88 m camera) gets one sample per ~0.5-0.9 m, so the cells between two same-height samples
    of one column get obstacle points too (``_surface_fill``, with a guard against occlusion
    pairs); the same fill closes the gaps between sparse far floor rows (as inferred free).
  - *floor seen under something* (a floor sample farther than an obstacle sample above it in
    the same column: the floor under a table, seen between its legs) is only *inferred* free:
    that cell may hold the overhang, and must not wear its obstacle evidence away.
  - *inferred free* ("column rays"): each image column is a vertical plane through the eye, i.e.
    one 2-D ray on the map. Along it, space is free from the agent up to the nearest return of a
    descending ray that is not floor, or the farthest floor return, whichever is nearer. This
    fills the blind zone under the camera (at pitch 0 the floor is first seen 0.88 m ahead, so a
    360 deg spin would otherwise leave an unknown ring around the agent, whose edge would be a
    frontier) and the holes between far floor samples. The agent's own footprint (it stands
    there) is inferred free as well.
* **Fusion rule** (``score`` in [0, ``score_cap``], plus ``known``):
  - occupied wins over free within a frame (a cell holding a wall's base holds floor points too);
  - an obstacle observation sets ``score = min(max(score, 0) + occupied_gain, score_cap)``: a
    newly seen obstacle is OCCUPIED at once, however long the cell looked free before;
  - an *observed*-free frame (floor points, no obstacle point in the cell) lowers the score by 1;
    the cell reads FREE once the score is back at 0. So an obstacle seen once (a spurious edge
    pixel, a cell grazed by a wall's corner) is cleared by ``occupied_gain`` later free
    observations, while one seen many times (score at the cap) needs ``score_cap`` of them:
    sticky, but not forever;
  - *inferred* free only turns UNKNOWN cells FREE; it never lowers a score, because what the rays
    pass over in the blind zone was not really seen (a low object there would be missed);
  - a refused MoveAhead (``mark_blocked``) is certain: those cells stay OCCUPIED for good.
* **Traversable** cells are FREE and farther than ``agent_radius`` (centre to centre) from every
  OCCUPIED cell: a disc dilation. At 0.125 m cells and r = 0.18 m that is the 3 x 3 block, and the
  agent disc at a traversable cell centre then clears every occupied *square* (its nearest point is
  >= 0.1875 m away). UNKNOWN is not traversable: the planner never routes through unseen space;
  frontier exploration is what expands the known area. Computed lazily, on the known bounding box.

Speed (``benchmarks/mapping_speed.py``, 224 x 224 depth, stride 2, 600 steps of exploration in
val houses, this 2-core CPU): ``update`` 1.3 ms mean, 1.5 ms p95 (stride 1: 3.1 ms).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from embodied.config import ConfigError
from embodied.perception.geometry import Intrinsics, column_directions, lift_grid, valid_depth
from embodied.perception.navgrid import NavGrid

__all__ = ["UNKNOWN", "FREE", "OCCUPIED", "MapConfig", "TopDownMap", "DeadReckoning",
           "disc_offsets"]

UNKNOWN, FREE, OCCUPIED = -1, 0, 1
"""Values of ``TopDownMap.state`` (int8)."""


@dataclass
class MapConfig:
    """Settings of the top-down map (metres unless said otherwise).

    ``floor_tolerance`` 0.05: the simulator's depth and pose are exact, and the agent collides
    with anything from 0.03 m up (a baseball bat lying on the floor is 0.07 m high), so the band
    that counts as floor is tight; on a real robot (pose and pitch errors: 1 deg at 5 m is 9 cm)
    raise it to ~0.1. ``ceiling`` 1.9: returns above are ignored (door lintels at 2.1 m, the
    tops of walls), so doorways stay open. ``stride``: every stride-th pixel row and column is
    lifted (2 at 224 x 224: ~9 cm between samples at 5 m, finer than a cell).
    ``min_obstacle_points``: obstacle samples a cell needs in one frame (1: the simulator's depth
    has no flying pixels; raise it for a real sensor). ``occupied_gain`` / ``score_cap``: the
    fusion rule's stickiness (module docstring). ``column_rays``, ``fill_surfaces``
    (``fill_dz``, ``fill_max_gap``): the inferred-free rays and the same-surface fill.
    """

    resolution: float = 0.125
    size_m: float = 32.0
    floor_tolerance: float = 0.05
    ceiling: float = 1.9
    agent_radius: float = 0.18
    max_depth: float = 5.0
    stride: int = 2
    min_obstacle_points: int = 1
    occupied_gain: int = 3
    score_cap: int = 12
    column_rays: bool = True
    fill_surfaces: bool = True
    fill_dz: float = 0.03
    fill_max_gap: float = 1.0

    def __post_init__(self) -> None:
        """Range checks naming the key (`agent.map.stride: ...` in an experiment), so a value that
        would be silently clamped (stride 0 ran as 1) or map nothing fails before any episode."""
        if not self.resolution > 0:
            raise ConfigError(f"got {self.resolution}, expected > 0 (m)", key="resolution")
        if not self.size_m > self.resolution:
            raise ConfigError(f"got {self.size_m}, expected more than resolution ({self.resolution} m)",
                              key="size_m")
        if self.occupied_gain < 1:
            raise ConfigError(f"got {self.occupied_gain}, expected an integer >= 1", key="occupied_gain")
        if self.score_cap < self.occupied_gain:
            raise ConfigError(f"got {self.score_cap}, expected >= occupied_gain ({self.occupied_gain})",
                              key="score_cap")
        for name in ("stride", "min_obstacle_points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected an integer >= 1", key=name)
        for name in ("floor_tolerance", "agent_radius", "fill_dz", "fill_max_gap"):
            if getattr(self, name) < 0:
                raise ConfigError(f"got {getattr(self, name)}, expected >= 0 (m)", key=name)
        if not self.max_depth > 0:
            raise ConfigError(f"got {self.max_depth}, expected > 0 (m)", key="max_depth")
        if not self.ceiling > self.floor_tolerance:
            raise ConfigError(f"got {self.ceiling}, expected more than floor_tolerance "
                              f"({self.floor_tolerance} m): nothing would count as an obstacle", key="ceiling")


def disc_offsets(radius: float, resolution: float) -> np.ndarray:
    """(K, 2) integer cell offsets whose centres are within ``radius`` of the centre cell's."""
    k = int(math.floor(radius / resolution + 1e-9))
    di, dj = np.mgrid[-k:k + 1, -k:k + 1]
    keep = (di * di + dj * dj) * resolution * resolution <= radius * radius + 1e-12
    return np.stack([di[keep], dj[keep]], axis=1)


def _disc_structure(radius: float, resolution: float) -> np.ndarray:
    off = disc_offsets(radius, resolution)
    k = int(np.abs(off).max()) if len(off) else 0
    s = np.zeros((2 * k + 1, 2 * k + 1), dtype=bool)
    s[off[:, 0] + k, off[:, 1] + k] = True
    return s


class TopDownMap:
    """UNKNOWN / FREE / OCCUPIED grid in the map frame, updated from depth frames.

    ``intrinsics`` is needed by ``update`` (``Intrinsics.from_info(info["camera"])``); a map built
    only from ``mark_*`` calls (tests, other sensors) may omit it.
    """

    def __init__(self, config: MapConfig | None = None,
                 intrinsics: Intrinsics | None = None) -> None:
        self.config = config or MapConfig()
        self.intrinsics = intrinsics
        cfg = self.config
        self.resolution = float(cfg.resolution)
        n = int(round(cfg.size_m / cfg.resolution))
        self.shape = (n, n)
        self.origin = (-(n // 2 + 0.5) * self.resolution, -(n // 2 + 0.5) * self.resolution)
        self._footprint = disc_offsets(cfg.agent_radius, self.resolution)
        self._inflate = _disc_structure(cfg.agent_radius, self.resolution)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new episode)."""
        self.score = np.zeros(self.shape, dtype=np.int16)
        self.known = np.zeros(self.shape, dtype=bool)
        self.blocked = np.zeros(self.shape, dtype=bool)
        self._bbox: list[int] | None = None          # [i0, i1, j0, j1) of known cells
        self._state: np.ndarray | None = None
        self._traversable: np.ndarray | None = None
        self.frames = 0

    # ------------------------------------------------------------------ coordinates
    def world_to_cell(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) map-frame (x, y) -> (..., 2) int64 (i, j); may lie outside (``in_bounds``)."""
        xy = np.asarray(xy, dtype=np.float64)
        j = np.floor((xy[..., 0] - self.origin[0]) / self.resolution)
        i = np.floor((xy[..., 1] - self.origin[1]) / self.resolution)
        return np.stack([i, j], axis=-1).astype(np.int64)

    def cell_to_world(self, ij: np.ndarray) -> np.ndarray:
        """(..., 2) (i, j) -> (..., 2) map-frame (x, y) of the cell centres."""
        ij = np.asarray(ij, dtype=np.float64)
        x = self.origin[0] + (ij[..., 1] + 0.5) * self.resolution
        y = self.origin[1] + (ij[..., 0] + 0.5) * self.resolution
        return np.stack([x, y], axis=-1)

    def in_bounds(self, ij: np.ndarray) -> np.ndarray:
        """Whether (..., 2) cell indices lie inside the map."""
        ij = np.asarray(ij)
        h, w = self.shape
        return (ij[..., 0] >= 0) & (ij[..., 0] < h) & (ij[..., 1] >= 0) & (ij[..., 1] < w)

    # ------------------------------------------------------------------ views
    @property
    def state(self) -> np.ndarray:
        """(H, W) int8 grid of UNKNOWN (-1), FREE (0), OCCUPIED (1)."""
        if self._state is None:
            s = np.full(self.shape, UNKNOWN, dtype=np.int8)
            s[self.known] = FREE
            s[self.known & (self.score > 0)] = OCCUPIED
            s[self.blocked] = OCCUPIED
            self._state = s
        return self._state

    @property
    def occupied(self) -> np.ndarray:
        return self.state == OCCUPIED

    @property
    def free(self) -> np.ndarray:
        return self.state == FREE

    @property
    def unknown(self) -> np.ndarray:
        return self.state == UNKNOWN

    def bbox(self, margin: int = 0) -> tuple[int, int, int, int]:
        """(i0, i1, j0, j1), half-open, of the known cells grown by ``margin`` cells and clipped
        to the map: everything outside is UNKNOWN, so frontiers and plans only look inside."""
        h, w = self.shape
        if self._bbox is None:
            return (0, 0, 0, 0)
        i0, i1, j0, j1 = self._bbox
        return (max(0, i0 - margin), min(h, i1 + margin), max(0, j0 - margin), min(w, j1 + margin))

    @property
    def traversable(self) -> np.ndarray:
        """(H, W) bool: FREE and farther than ``agent_radius`` from every OCCUPIED cell."""
        if self._traversable is None:
            trav = np.zeros(self.shape, dtype=bool)
            k = self._inflate.shape[0] // 2
            i0, i1, j0, j1 = self.bbox(margin=k)
            if i1 > i0 and j1 > j0:
                st = self.state[i0:i1, j0:j1]
                near = ndimage.binary_dilation(st == OCCUPIED, structure=self._inflate)
                trav[i0:i1, j0:j1] = (st == FREE) & ~near
            self._traversable = trav
        return self._traversable

    def clearance(self, xy: np.ndarray, max_range: float = 0.5) -> np.ndarray:
        """(N,) distance (m) from each (N, 2) map-frame point to the nearest OCCUPIED cell
        *square* (0 inside one), ``inf`` when none is within ``max_range``. Exact with respect
        to the grid, unlike ``traversable`` (which is about cell centres): the driver uses it
        to check that a 0.25 m move keeps the agent's disc off every known obstacle."""
        p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        res = self.resolution
        k = int(math.ceil(max_range / res)) + 1
        d = np.arange(-k, k + 1)
        di, dj = np.meshgrid(d, d, indexing="ij")
        cells = self.world_to_cell(p)
        ii = cells[:, 0, None] + di.ravel()[None, :]
        jj = cells[:, 1, None] + dj.ravel()[None, :]
        h, w = self.shape
        inside = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
        occ = np.zeros(ii.shape, dtype=bool)
        occ[inside] = self.state[ii[inside], jj[inside]] == OCCUPIED
        cx = self.origin[0] + (jj + 0.5) * res
        cy = self.origin[1] + (ii + 0.5) * res
        dx = np.maximum(np.abs(cx - p[:, 0, None]) - res / 2, 0.0)
        dy = np.maximum(np.abs(cy - p[:, 1, None]) - res / 2, 0.0)
        dist = np.where(occ, np.hypot(dx, dy), np.inf).min(axis=1)
        return np.where(dist <= max_range, dist, np.inf)

    def explored_area(self) -> float:
        """Square metres of known cells (a coverage metric for exploration)."""
        return float(np.count_nonzero(self.known)) * self.resolution ** 2

    def to_navgrid(self) -> "NavGrid":
        """The traversable cells as a ``NavGrid`` (to reuse its lattice ``distance_field``)."""
        return NavGrid(free=self.traversable.copy(), origin=self.origin,
                       resolution=self.resolution, occupied=self.occupied)

    # ------------------------------------------------------------------ updates
    def _touch(self, flat: np.ndarray) -> None:
        """Grow the known bounding box over flat cell indices and drop cached views."""
        self._state = None
        self._traversable = None
        if len(flat) == 0:
            return
        w = self.shape[1]
        lo, hi = int(flat.min()), int(flat.max())
        i0, i1 = lo // w, hi // w + 1
        cols = flat % w
        j0, j1 = int(cols.min()), int(cols.max()) + 1
        if self._bbox is None:
            self._bbox = [i0, i1, j0, j1]
        else:
            b = self._bbox
            self._bbox = [min(b[0], i0), max(b[1], i1), min(b[2], j0), max(b[3], j1)]

    def update(self, depth: np.ndarray, pose: Sequence[float]) -> None:
        """Fuse one depth frame taken at ``pose`` = (x, y, yaw, pitch) (see the module docstring).

        ``depth`` (H, W) or (H, W, 1) z-depth in metres, as the env returns it."""
        if self.intrinsics is None:
            raise RuntimeError("TopDownMap.update needs intrinsics (Intrinsics.from_info)")
        cfg, intr = self.config, self.intrinsics
        stride = max(1, int(cfg.stride))
        x, y = float(pose[0]), float(pose[1])
        yaw, pitch = float(pose[2]), (float(pose[3]) if len(pose) > 3 else 0.0)
        X, Y, Z, D = lift_grid(depth, intr, pose, stride=stride)
        valid = valid_depth(D, intr)                     # hit a surface (not sky)
        near = valid & (D <= cfg.max_depth)
        tol = cfg.floor_tolerance
        is_floor = valid & (np.abs(Z) <= tol)
        obstacle = near & (Z > tol) & (Z <= cfg.ceiling)
        flat = self._flat(X, Y)
        ncells = self.shape[0] * self.shape[1]

        hd = np.hypot(X - x, Y - y)                      # horizontal distance from the eye
        occ_cells = flat[obstacle]
        if cfg.fill_surfaces:
            occ_cells = np.concatenate([occ_cells,
                                        self._surface_fill(X, Y, Z, hd, valid, obstacle)])
        counts = np.bincount(occ_cells[occ_cells >= 0], minlength=ncells)
        occ = counts >= cfg.min_obstacle_points
        # floor seen *under* something (a farther floor sample below a nearer obstacle sample
        # in the same column: through a table's legs) is only inferred free: the cell may hold
        # the overhang, whose top a grazing view samples too sparsely to outvote the floor
        above = np.minimum.accumulate(np.where(valid & (Z > tol) & (Z <= cfg.ceiling), hd,
                                               np.inf), axis=0)
        under = np.zeros_like(is_floor)
        under[1:] = hd[1:] > above[:-1] + self.resolution
        seen_floor = is_floor & near
        free = np.zeros(ncells, dtype=bool)
        floor_cells = flat[seen_floor & ~under]
        free[floor_cells[floor_cells >= 0]] = True
        free &= ~occ

        inferred = np.zeros(ncells, dtype=bool)
        floor_cells = flat[seen_floor & under]
        if cfg.fill_surfaces:        # the floor between sparse far samples (weak evidence)
            floor_cells = np.concatenate([floor_cells,
                                          self._surface_fill(X, Y, Z, hd, valid, seen_floor)])
        inferred[floor_cells[floor_cells >= 0]] = True
        if cfg.column_rays:
            self._column_rays(inferred, hd, Z, valid, is_floor, yaw, pitch, x, y, stride)
        foot = self.world_to_cell(np.array([x, y]))[None, :] + self._footprint
        foot = foot[self.in_bounds(foot)]
        inferred[foot[:, 0] * self.shape[1] + foot[:, 1]] = True
        inferred &= ~occ & ~free

        score = self.score.reshape(-1)
        known = self.known.reshape(-1)
        occ_idx = np.flatnonzero(occ)
        free_idx = np.flatnonzero(free)
        inf_idx = np.flatnonzero(inferred)
        s = score[occ_idx]
        score[occ_idx] = np.minimum(np.maximum(s, 0) + cfg.occupied_gain, cfg.score_cap)
        score[free_idx] = np.maximum(score[free_idx] - 1, 0)
        known[occ_idx] = True
        known[free_idx] = True
        known[inf_idx] = True
        self._touch(np.concatenate([occ_idx, free_idx, inf_idx]))
        self.frames += 1

    def _flat(self, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """Flat cell index of points ((N, 2) array, or x and y arrays); -1 outside the map."""
        if y is None:
            pts = np.asarray(x, dtype=np.float64)
            x, y = pts[..., 0], pts[..., 1]
        h, w = self.shape
        j = np.floor((x - self.origin[0]) / self.resolution).astype(np.int64)
        i = np.floor((y - self.origin[1]) / self.resolution).astype(np.int64)
        inside = (i >= 0) & (i < h) & (j >= 0) & (j < w)
        return np.where(inside, i * w + j, -1)

    def _surface_fill(self, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, hd: np.ndarray,
                      valid: np.ndarray, surface: np.ndarray) -> np.ndarray:
        """Flat cells between vertically adjacent ``surface`` samples of one horizontal surface.

        A table top 0.13 m below the camera is seen at a grazing angle: 2 m away, consecutive
        sampled rows land ~0.9 m apart on it, so most of its cells get no point, while the floor
        under it, seen between the legs, is sampled densely. Two samples in adjacent rows of one
        column at the same height (within ``fill_dz``), less than ``fill_max_gap`` apart, are
        taken to lie on one horizontal surface and the cells between them get obstacle points.
        The same fill, on floor samples, closes the holes between far floor rows (as inferred
        free: it was not sampled).

        Two samples at one height can also be a grazing ray's occlusion pair (a table edge and
        the wall behind it). Every image column is a vertical plane, so a sample on a vertical
        face (wall, cabinet front) has a column neighbour at the same horizontal distance; a
        pair is refused when its far sample's upper neighbour or its near sample's lower
        neighbour shows such a vertical face."""
        cfg = self.config
        half = 0.5 * self.resolution
        vtol = 0.2 * half
        vertical = valid[:-1] & valid[1:] & (np.abs(hd[:-1] - hd[1:]) < vtol)  # rows r, r+1
        pair = surface[:-1] & surface[1:] & (np.abs(Z[:-1] - Z[1:]) < cfg.fill_dz)
        pair[1:] &= ~vertical[:-1]          # far sample (row r) on a face with row r - 1
        pair[:-1] &= ~vertical[1:]          # near sample (row r + 1) on a face with row r + 2
        dx = X[1:] - X[:-1]
        dy = Y[1:] - Y[:-1]
        gap = np.hypot(dx, dy)
        pair &= (gap > half) & (gap < cfg.fill_max_gap)
        if not pair.any():
            return np.zeros(0, dtype=np.int64)
        k = (gap[pair] / half).astype(np.int64)          # samples strictly between the two
        idx = np.repeat(np.arange(len(k)), k)
        m = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        t = (m + 1) / (k[idx] + 1)
        x0, y0 = X[:-1][pair][idx], Y[:-1][pair][idx]
        return self._flat(x0 + t * dx[pair][idx], y0 + t * dy[pair][idx])

    def _column_rays(self, out: np.ndarray, hd: np.ndarray, Z: np.ndarray, valid: np.ndarray,
                     is_floor: np.ndarray, yaw: float, pitch: float, x: float, y: float,
                     stride: int) -> None:
        """Mark (in ``out``, flat) the cells along each image column's 2-D ray from the agent up
        to that column's free range: min(nearest non-floor return, farthest floor return,
        ``max_depth``), less half a cell so the ray stops short of the obstacle's cell."""
        cfg, intr = self.config, self.intrinsics
        # only returns of descending rays (below the eye) can hide the floor: a door lintel or
        # the top of a wall seen over a doorway does not stop the floor beyond from being seen
        block = np.where(valid & ~is_floor & (Z < intr.camera_height), hd, np.inf).min(axis=0)
        reach = np.where(is_floor, hd, 0.0).max(axis=0)
        free_to = np.minimum(np.minimum(block, reach), cfg.max_depth) - 0.5 * self.resolution
        if not (free_to > 0).any():
            return
        step = 0.5 * self.resolution
        s = (np.arange(int(math.ceil(float(free_to.max()) / step))) + 0.5) * step
        theta = column_directions(intr, yaw, pitch, stride)
        ci, si = np.nonzero(s[None, :] < free_to[:, None])
        dist = s[si]
        flat = self._flat(x + dist * np.cos(theta[ci]), y + dist * np.sin(theta[ci]))
        out[flat[flat >= 0]] = True

    def mark_blocked(self, xy_from: Sequence[float], heading: float,
                     step: float = 0.25) -> None:
        """A MoveAhead from ``xy_from`` along ``heading`` was refused: something the camera
        missed (too low, too thin, below the view) is within ``step + agent_radius`` ahead.
        Mark the cells on the segment from just outside the agent's radius to ``step`` beyond it
        OCCUPIED for good, so the planner stops sending the agent into it."""
        r = self.config.agent_radius
        lo = r + 0.5 * self.resolution
        hi = r + step
        n = max(2, int(math.ceil((hi - lo) / (0.5 * self.resolution))) + 1)
        dist = np.linspace(lo, hi, n)
        xy = np.stack([float(xy_from[0]) + dist * math.cos(heading),
                       float(xy_from[1]) + dist * math.sin(heading)], axis=1)
        flat = self._flat(xy)
        flat = flat[flat >= 0]
        self.blocked.reshape(-1)[flat] = True
        self.known.reshape(-1)[flat] = True
        self._touch(flat)

    def mark_free(self, xy: np.ndarray) -> None:
        """Mark the cells of (N, 2) map-frame points FREE (observed), e.g. where the agent
        walked; clears their obstacle score (not ``blocked``)."""
        flat = self._flat(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
        flat = flat[flat >= 0]
        self.known.reshape(-1)[flat] = True
        self.score.reshape(-1)[flat] = 0
        self._touch(flat)

    def mark_occupied(self, xy: np.ndarray) -> None:
        """Mark the cells of (N, 2) map-frame points OCCUPIED (as an obstacle observation)."""
        flat = self._flat(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
        flat = flat[flat >= 0]
        self.known.reshape(-1)[flat] = True
        sc = self.score.reshape(-1)
        sc[flat] = np.minimum(np.maximum(sc[flat], 0) + self.config.occupied_gain,
                              self.config.score_cap)
        self._touch(flat)


# ---------------------------------------------------------------------------- dead reckoning
class DeadReckoning:
    """Integrate the discrete actions into a pose, for robots that report no odometry.

    MoveAhead (0) advances ``step_size`` along the heading, RotateLeft/RotateRight (1/2) turn by
    ``rotate_deg``, LookUp/LookDown (3/4) change the pitch within ``pitch_limits_deg`` (a look
    past a limit is refused by the env, and the limits are known, so it is clamped here), Stop (5)
    does nothing. The only uncertain action is MoveAhead: it is refused in front of an obstacle.
    Whether it happened is read from the depth frames, never from the env's success flag:

    * a pure translation parallel to the floor leaves the floor's depth image *unchanged* (the
      depth of a floor pixel depends only on its ray and the camera height), so floor pixels say
      nothing; only the other pixels ("structure": walls, furniture) change when the agent moves;
    * structure pixels are those whose depth differs from the floor plane's depth at that pixel
      (computed from the intrinsics and pitch) in either frame, sky excluded;
    * the move happened iff more than ``min_changed_fraction`` of them changed by more than
      ``abs_tol + rel_tol * depth``. A refused move renders the same frame (fraction ~0); a real
      one changes nearly every structure pixel. With fewer than ``min_structure_pixels`` structure
      pixels (a floor-only view), the move is assumed done: whatever could have blocked it would
      stand within 0.43 m ahead, and would show up as structure.
    """

    def __init__(self, intrinsics: Intrinsics, step_size: float = 0.25, rotate_deg: float = 30.0,
                 look_deg: float = 30.0, pitch_limits_deg: tuple[float, float] = (-60.0, 30.0),
                 abs_tol: float = 0.01, rel_tol: float = 0.01, min_changed_fraction: float = 0.1,
                 min_structure_pixels: int = 20) -> None:
        self.intrinsics = intrinsics
        self.step_size = float(step_size)
        self.rotate = math.radians(rotate_deg)
        self.look = math.radians(look_deg)
        self.pitch_limits = tuple(math.radians(v) for v in pitch_limits_deg)
        self.abs_tol, self.rel_tol = float(abs_tol), float(rel_tol)
        self.min_changed_fraction = float(min_changed_fraction)
        self.min_structure_pixels = int(min_structure_pixels)
        self.reset()

    def reset(self, depth: np.ndarray | None = None,
              pose: Sequence[float] = (0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
        """Start a new episode at ``pose`` (the start is the origin) with its first frame."""
        p = list(pose) + [0.0] * (4 - len(pose))
        self.pose = np.array(p[:4], dtype=np.float64)
        self._depth = None if depth is None else self._plain(depth).copy()
        self.last_move_failed = False
        return self.pose.copy()

    @staticmethod
    def _plain(depth: np.ndarray) -> np.ndarray:
        d = np.asarray(depth, dtype=np.float32)
        return d[..., 0] if d.ndim == 3 else d

    def _floor_depth(self, pitch: float) -> np.ndarray:
        """(H, 1) z-depth of the floor plane per image row at this pitch (inf above horizon)."""
        intr = self.intrinsics
        b = (intr.cy - np.arange(intr.height)) / intr.fy
        down = -(math.sin(pitch) + b * math.cos(pitch))   # -(z component of ray (1, a, b))
        with np.errstate(divide="ignore"):
            fd = np.where(down > 1e-9, intr.camera_height / np.maximum(down, 1e-9), np.inf)
        return fd[:, None]

    def moved(self, before: np.ndarray, after: np.ndarray, pitch: float) -> bool:
        """Did the camera translate between two frames at the same pitch? (see the class doc)"""
        far = self.intrinsics.far if math.isfinite(self.intrinsics.far) else np.inf
        valid = (before < far * (1 - 1e-6)) & (after < far * (1 - 1e-6))
        fd = self._floor_depth(pitch)
        tol_b = self.abs_tol + self.rel_tol * before
        structure = valid & ((np.abs(before - fd) > tol_b)
                             | (np.abs(after - fd) > self.abs_tol + self.rel_tol * after))
        n = int(np.count_nonzero(structure))
        if n < self.min_structure_pixels:
            return True
        changed = np.count_nonzero(structure & (np.abs(after - before) > tol_b))
        return changed > self.min_changed_fraction * n

    def update(self, action: int, depth: np.ndarray) -> np.ndarray:
        """Advance the pose by ``action`` given the frame observed *after* it; returns the pose
        (x, y, yaw, pitch) in the start frame, like ``obs["pose"]``."""
        depth = self._plain(depth)
        a = int(action)
        x, y, yaw, pitch = self.pose
        self.last_move_failed = False
        if a == 0:
            if self._depth is None or self.moved(self._depth, depth, pitch):
                x += self.step_size * math.cos(yaw)
                y += self.step_size * math.sin(yaw)
            else:
                self.last_move_failed = True
        elif a in (1, 2):
            yaw = yaw + (self.rotate if a == 1 else -self.rotate)
            yaw = math.atan2(math.sin(yaw), math.cos(yaw))
        elif a in (3, 4):
            new = pitch + (self.look if a == 3 else -self.look)
            if self.pitch_limits[0] - 1e-9 <= new <= self.pitch_limits[1] + 1e-9:
                pitch = new
        self.pose = np.array([x, y, yaw, pitch])
        self._depth = depth.copy()
        return self.pose.copy()
