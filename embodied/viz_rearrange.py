"""Pictures of the CSR rearrangement agents: what they see beside their two scene graphs.

``csr_frame(agent)`` is the agent's ``debug_frame`` (the runner puts it beside the env's frame in
the episode video): the two phases side by side -- in the unshuffle phase, the frame the
walkthrough saw from the agent's current lattice pose above the current frame -- and a top-down view of the agent's depth map with the walkthrough graph's nodes
(blue), the unshuffle graph's nodes (orange), a line from each detected change's current place to
where it belongs (red: a move, magenta: an openness change), the planned path and the agent,
titled with the phase and what the agent is doing.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from embodied.perception.mapping import FREE, OCCUPIED
from embodied.viz import draw_disc, draw_polyline

__all__ = ["csr_frame", "graph_map"]

_UNKNOWN = np.array([40, 40, 40], np.uint8)
_FREE = np.array([200, 200, 200], np.uint8)
_OCC = np.array([90, 90, 110], np.uint8)
_WALK = np.array([40, 110, 255], np.uint8)
_UNSHUFFLE = np.array([255, 150, 30], np.uint8)
_MOVE = np.array([230, 30, 30], np.uint8)
_OPEN = np.array([220, 40, 220], np.uint8)
_AGENT = np.array([30, 200, 60], np.uint8)
_PATH = np.array([250, 230, 40], np.uint8)


def graph_map(agent: Any, size: int) -> np.ndarray:
    """The map window around what is known, ``size`` px square, with both graphs drawn on it."""
    m = agent.map
    i0, i1, j0, j1 = m.bbox(margin=4)
    if i1 <= i0 or j1 <= j0:
        i0, i1, j0, j1 = 0, m.shape[0], 0, m.shape[1]
    side = max(i1 - i0, j1 - j0, 16)
    ci, cj = (i0 + i1) // 2, (j0 + j1) // 2
    i0, j0 = max(0, ci - side // 2), max(0, cj - side // 2)
    state = m.state[i0:i0 + side, j0:j0 + side]
    img = np.empty(state.shape + (3,), np.uint8)
    img[:] = _UNKNOWN
    img[state == FREE] = _FREE
    img[state == OCCUPIED] = _OCC
    scale = size / side
    idx = np.minimum((np.arange(size) / scale).astype(int), side - 1)
    out = img[::-1][idx][:, idx].copy()
    res = m.resolution / scale
    x_origin = m.origin[0] + j0 * m.resolution
    y_top = m.origin[1] + (i0 + side) * m.resolution

    def px(xy: Any) -> np.ndarray:
        x, y = float(xy[0]), float(xy[1])
        return np.array([(y_top - y) / res, (x - x_origin) / res])

    for graph, colour in zip(agent.graphs, (_WALK, _UNSHUFFLE)):
        if graph is None:
            continue
        for p in graph.positions():
            if np.all(np.isfinite(p)):
                draw_disc(out, px(p), 3.0, colour)
    for ch in getattr(agent, "changes", []):
        if ch.walk_position is not None and ch.unshuffle_position is not None:
            draw_polyline(out, np.stack([px(ch.unshuffle_position), px(ch.walk_position)]),
                          _MOVE if ch.kind == "move" else _OPEN, width=2)
    if getattr(agent, "path", None):
        pts = np.stack([px(agent.nav.xy(c)) for c in agent.path])
        draw_polyline(out, pts, _PATH, width=2)
    x, y, yaw = (float(v) for v in agent.pose[:3])
    here = px((x, y))
    ahead = px((x + 0.4 * math.cos(yaw), y + 0.4 * math.sin(yaw)))
    draw_disc(out, here, max(2.0, 0.18 / res), _AGENT)
    draw_polyline(out, np.stack([here, ahead]), _AGENT, width=2)
    return out


def phase_pair(agent: Any, size: int) -> np.ndarray:
    """The two phases one above the other, ``size`` px tall: what the walkthrough saw from the
    agent's current lattice pose (black if it never stood there so), and what the agent sees now."""
    half = size // 2
    now = _fit(agent.rgb, half)
    walk = agent.walk_views.get(agent.state) if getattr(agent, "state", None) is not None else None
    then = _fit(walk, half) if walk is not None else np.zeros_like(now)
    if agent.phase == 0:
        then = np.zeros_like(now)
    return np.concatenate([then, now], axis=0)


def _fit(img: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize to size x size (video frames need no better)."""
    h, w = img.shape[:2]
    rows = np.minimum((np.arange(size) * h / size).astype(int), h - 1)
    cols = np.minimum((np.arange(size) * w / size).astype(int), w - 1)
    return img[rows][:, cols]


def csr_frame(agent: Any) -> np.ndarray | None:
    """The agent's view of the episode (module docstring), as tall as its camera frame: the
    walkthrough's view from here above the current one, beside the map of both graphs."""
    if agent.rgb is None or not hasattr(agent, "map"):
        return None
    size = agent.rgb.shape[0]
    pair = phase_pair(agent, size)
    graph = graph_map(agent, pair.shape[0])
    return np.concatenate([pair, graph], axis=1)
