"""One phase's scene graph from a stream of frames: detections -> CSR features -> ``SceneGraph``.

Why a separate piece: the rearrangement agents (``embodied.agents.csr``) build graphs step by step
while they explore, and ``embodied eval csr`` builds them from recorded trajectories to measure
moved-object detection; both must embed and filter detections the same way, or the evaluation
would measure something the agent never does.

Per frame:

* detections with boxes under ``min_box_frac`` of the image are skipped (the release's
  ``box_frac_threshold``, the same 0.8 % its training used): a few-pixel box carries no appearance;
* nodes are embedded with the scene model and the object model (``csr_encoder.embed_frame``);
* edges: the release embeds every ordered pair of detections in the frame (n(n-1) network passes),
  which on this project's CPUs is most of an episode's time. Here each detection is paired with its
  ``neighbours`` nearest detections in the image (both orders), at most ``max_edges`` pairs in all:
  the relations that say where an object is are the ones with the things around it; with
  ``edge_every`` k, only every k-th frame that has detections embeds edges (time again).
* the graph is updated with 3-D positions (depth + pose) and, when ``gate`` is on, the category and
  distance gates of ``SceneGraph`` (off for the release's rules);
* with ``max_views`` (and the gates on), a detection that can only be one node -- the single node
  of its category within 0.3 m -- which was already seen ``max_views`` times and never from
  farther away is not embedded again: its view (pose, box, 3-D position) is added and its features
  stay. Most of an agent's frames show objects it knows well, so this saves most encoder passes.

Nothing here imports an env: frames are plain arrays.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from embodied.perception.csr_encoder import (CSREncoder, as_boxes, box_area_fraction, embed_nodes, encode_inputs,
                                             inputs_for)
from embodied.perception.scene_graph import SceneGraph, box_position

__all__ = ["MIN_BOX_FRACTION", "neighbour_pairs", "GraphBuilder"]

MIN_BOX_FRACTION = 0.008      # release: box_frac_threshold


def neighbour_pairs(boxes: np.ndarray, neighbours: int = 2, max_edges: int = 16) -> list[tuple[int, int]]:
    """Ordered detection pairs to embed as edges: each detection with its ``neighbours`` nearest
    (box-centre distance in the image), both orders, nearest pairs first, at most ``max_edges``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(b)
    if n < 2 or max_edges <= 0 or neighbours <= 0:
        return []
    centres = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    dist = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    chosen: dict[tuple[int, int], float] = {}
    for i in range(n):
        for j in [k for k in np.argsort(dist[i], kind="stable") if k != i][:neighbours]:
            a, c = sorted((i, int(j)))
            chosen[(a, c)] = float(dist[a, c])
    out: list[tuple[int, int]] = []
    for (a, c), _ in sorted(chosen.items(), key=lambda kv: (kv[1], kv[0])):
        out.extend([(a, c), (c, a)])
    return out[:max_edges - max_edges % 2] if len(out) > max_edges else out


class GraphBuilder:
    """Builds one phase's ``SceneGraph`` frame by frame (see the module docstring)."""

    def __init__(self, scene_encoder: CSREncoder, object_encoder: CSREncoder | None,
                 intrinsics: Mapping[str, Any] | None, max_edges: int = 16, neighbours: int = 2,
                 min_box_frac: float = MIN_BOX_FRACTION, gate: bool = True,
                 gate_distance: float = 1.0, match_threshold: float = 0.5, edge_every: int = 1,
                 max_views: int | None = None) -> None:
        self.scene = scene_encoder
        self.object = object_encoder
        self.intrinsics = intrinsics
        self.max_edges = int(max_edges)
        self.neighbours = int(neighbours)
        self.min_box_frac = float(min_box_frac)
        self.gate = bool(gate)
        self.edge_every = max(1, int(edge_every))
        self.max_views = None if max_views is None else max(1, int(max_views))
        self.skipped = 0
        self._observed = 0
        self.graph = SceneGraph(match_threshold, gate_distance if gate else None)
        self.frames = 0

    @torch.no_grad()
    def _well_seen(self, p: np.ndarray, category: str, box: np.ndarray) -> int | None:
        """The node this detection certainly is, if that node needs no more features: the only
        node of its category within 0.3 m, already seen ``max_views`` times, never from closer."""
        if not np.all(np.isfinite(p)):
            return None
        near = [i for i, n in enumerate(self.graph.nodes)
                if n.category() == category and (q := n.position()) is not None
                and float(np.linalg.norm(q - p)) < 0.3]
        if len(near) != 1:
            return None
        node = self.graph.nodes[near[0]]
        area = max(0, int(box[2] - box[0])) * max(0, int(box[3] - box[1]))
        if len(node.views) < self.max_views or area > 1.2 * max(v.area for v in node.views):
            return None
        return near[0]

    def add_frame(self, rgb: np.ndarray, boxes: Any, categories: Sequence[str],
                  depth: np.ndarray | None = None, pose: Sequence[float] | None = None) -> list[int]:
        """Integrate a frame; returns the node of each detection (-1 for skipped small boxes).

        ``boxes`` are (N, 4) half-open pixel boxes, ``categories`` their labels.
        """
        b = as_boxes(boxes)
        if len(categories) != len(b):
            raise ValueError(f"{len(categories)} categories for {len(b)} boxes")
        self.frames += 1
        keep = np.flatnonzero(box_area_fraction(b, rgb.shape[0], rgb.shape[1]) >= self.min_box_frac) \
            if len(b) else np.zeros(0, dtype=np.int64)
        out = [-1] * len(b)
        if len(keep) == 0:
            self.graph.update(torch.zeros(0, 1), np.zeros((0, 4)))
            return out
        positions, claimed = None, set()
        if depth is not None and self.intrinsics is not None and pose is not None:
            positions = [box_position(depth, b[k], self.intrinsics, pose) for k in keep]
        if self.max_views is not None and self.gate and positions is not None:
            rest, claimed = [], set()
            for k, p in zip(keep, positions):
                node = self._well_seen(p, str(categories[k]), b[k])
                if node is None or node in claimed:
                    rest.append(int(k))
                    continue
                self.graph.add_view(node, b[k], p, pose, str(categories[k]))
                claimed.add(node)
                out[int(k)] = node
                self.skipped += 1
            positions = [positions[list(keep).index(k)] for k in rest]
            keep = np.asarray(rest, dtype=np.int64)
            if len(keep) == 0:
                self.graph.steps += 1
                return out
        kb = b[keep]
        self._observed += 1
        with_edges = (self._observed - 1) % self.edge_every == 0
        pairs = neighbour_pairs(kb, self.neighbours, self.max_edges) if with_edges else []
        first = np.concatenate([kb, kb[[p[0] for p in pairs]].reshape(-1, 4)])
        second = np.concatenate([kb, kb[[p[1] for p in pairs]].reshape(-1, 4)])
        feats = encode_inputs(self.scene, inputs_for(self.scene.config, rgb, first, second))
        nodes, edges = feats[:len(kb)], feats[len(kb):]
        objects = nodes if self.object is None else embed_nodes(self.object, rgb, kb)
        cats = [str(categories[k]) for k in keep]
        nodes_of = self.graph.update(
            nodes, kb, objects, pairs, edges if pairs else None,
            depth=depth, intrinsics=self.intrinsics, pose=pose,
            categories=cats if self.gate else None,
            exclude=claimed if self.max_views is not None and self.gate else ())
        if not self.gate:   # still remember the labels (the agent needs a type to pick up)
            for det, node in enumerate(nodes_of):
                self.graph.nodes[node].views[-1].category = cats[det]
        for k, node in zip(keep, nodes_of):
            out[int(k)] = int(node)
        return out
