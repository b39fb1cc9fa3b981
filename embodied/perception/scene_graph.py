"""CSR's online scene graph: objects tracked across frames by feature matching, one graph per phase.

Continuous Scene Representations (Gadre et al., CVPR 2022) keep, while the agent explores, a graph
whose nodes are objects and whose edges are ordered object pairs, each with a feature from the
scene model (``embodied.perception.csr_encoder``). Every frame, the detections are matched to the
nodes by their features; matched nodes absorb the new feature, unmatched detections become new
nodes, and the pairs of detections seen together update (or create) the edges between their
nodes. Between phases (walkthrough vs unshuffle) the graphs' nodes are matched with the object
model's features.

What matches the release (allenai/CSR ``src/simulation/module_relation_tracking.py``,
``module_planner.py`` and ``configs_rearrangement/rearrange_test.json``):

* detections are matched to nodes by Hungarian matching (``scipy.optimize.linear_sum_assignment``,
  maximising) on the cosine similarity of scene-model node features; a pair is accepted above
  ``cos_sim_match_threshold = 0.5``; the rest start new nodes;
* "unweighted" averaging: a matched node's feature becomes ``normalize((old + new) / 2)``, for the
  scene feature and, alongside, the object-model feature (matching within a phase uses the scene
  feature only); an edge's feature likewise, keyed by its (node, node) pair; a new edge takes the
  detection pair's feature as it is;
* graphs of two phases are matched by Hungarian matching on object-model similarity, accepted above
  ``cos_sim_object_threshold = 0.4``.

What is added or deviates:

* The graph never sees instance ids (the release kept ground-truth names beside its banks for its
  metrics). ``update`` returns the node of each detection instead, so a caller that knows the
  ground truth can score the tracking itself.
* Each node keeps where it was seen from (the agent pose of every observation, and the one with the
  largest box as ``view_pose``) and a 3-D position: per observation, the median valid depth inside
  the box, back-projected through the box centre with the pinhole intrinsics and the pose (the
  camera model of ``embodied.perception.geometry``), averaged over observations. The release stored
  agent poses per step in a separate state graph and used ground-truth 3-D positions.
* The graph is exported as a ``torch_geometric.data.Data`` (``to_data``), one per phase.

Intrinsics and poses are plain values (a dict like an env's ``info["camera"]`` and an
(x, y, yaw[, pitch]) sequence), never env objects: this module must not import an env.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from embodied.perception.geometry import Intrinsics, camera_basis

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["MATCH_THRESHOLD", "OBJECT_MATCH_THRESHOLD", "hungarian_match", "average_features",
           "box_position", "NodeView", "SceneGraph", "match_graphs"]

MATCH_THRESHOLD = 0.5          # release: cos_sim_match_threshold (within a phase, scene model)
OBJECT_MATCH_THRESHOLD = 0.4   # release: cos_sim_object_threshold (between phases, object model)
_FORBIDDEN = -1e9              # a gated pair: finite (the assignment needs it), never accepted


def hungarian_match(similarity: Any, threshold: float) -> list[tuple[int, int]]:
    """Maximum-total-similarity one-to-one assignment, keeping pairs with similarity > threshold.

    Why threshold after assigning (as the release does) rather than before: the assignment is
    global, so a weak pair can still steer which strong pairs are chosen; only the accepted pairs
    are returned, sorted by row.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be 2-D, got shape {sim.shape}")
    if sim.size == 0:
        return []
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if sim[r, c] > threshold]


def average_features(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """The release's unweighted update: ``normalize((old + new) / 2)`` (along the last dimension).

    It weighs recent observations more than a running mean would (the last one counts 1/2).
    """
    return F.normalize((old + new) / 2.0, dim=-1)


def _intrinsics(intrinsics: Mapping[str, Any] | Intrinsics) -> Intrinsics:
    return intrinsics if isinstance(intrinsics, Intrinsics) else Intrinsics.from_info(intrinsics)


def box_position(depth: np.ndarray, box: Sequence[float], intrinsics: Mapping[str, Any] | Intrinsics,
                 pose: Sequence[float], camera_height: float | None = None) -> np.ndarray:
    """3-D point (map frame, z = height above the floor) of a detection: the box centre's ray at the
    median valid z-depth inside the box. NaN (3,) when the box holds no valid depth.

    Why the median: a box holds background and occluders too; the median is the depth of the
    pixels most of the box shows, and one stray far pixel (sky through a window) cannot move it.
    ``box`` = (x0, y0, x1, y1), half-open pixel ranges; pixel centres are at integer coordinates,
    so the centre is ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2). ``pose`` = (x, y, yaw[, pitch]).
    """
    intr = _intrinsics(intrinsics)
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim == 3:
        d = d[..., 0]
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    x0, x1 = max(0, x0), min(d.shape[1], x1)
    y0, y1 = max(0, y0), min(d.shape[0], y1)
    patch = d[y0:y1, x0:x1]
    far = intr.far * (1.0 - 1e-6) if np.isfinite(intr.far) else np.inf
    valid = patch[np.isfinite(patch) & (patch > 0.0) & (patch < far)]
    if x1 <= x0 or y1 <= y0 or valid.size == 0:
        return np.full(3, np.nan)
    z = float(np.median(valid))
    u, v = (x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0
    p = [float(t) for t in np.asarray(pose, dtype=np.float64).ravel()]
    x, y, yaw, pitch = p[0], p[1], p[2], (p[3] if len(p) > 3 else 0.0)
    h = intr.camera_height if camera_height is None else float(camera_height)
    fwd, right, up = camera_basis(yaw, pitch)
    ray = fwd + ((u - intr.cx) / intr.fx) * right + ((intr.cy - v) / intr.fy) * up
    return np.array([x, y, h]) + z * ray


@dataclass
class NodeView:
    """One observation of a node: when, from where, and where in the image."""

    step: int
    pose: tuple[float, ...] | None
    box: tuple[int, int, int, int]
    area: int
    position: tuple[float, float, float] | None
    category: str | None = None


@dataclass
class _Node:
    feature: torch.Tensor
    object_feature: torch.Tensor
    views: list[NodeView] = field(default_factory=list)

    def position(self) -> np.ndarray | None:
        ps = [v.position for v in self.views if v.position is not None]
        return np.mean(np.asarray(ps), axis=0) if ps else None

    def category(self) -> str | None:
        cats = [v.category for v in self.views if v.category is not None]
        return max(set(cats), key=cats.count) if cats else None


class SceneGraph:
    """The online graph of one phase.

    Feed it frame by frame with ``update`` (features from ``csr_encoder.embed_frame``); read it with
    ``to_data`` or the properties. Node indices are stable: a node, once created, keeps its index.

    ``gate_distance`` (m) and ``categories`` passed to ``update`` turn on what this project adds to
    the release's matching (off by default, so the default graph is the release's): a detection may
    only join a node of its own category (the detector's label) whose 3-D position is within
    ``gate_distance`` of the detection's -- objects do not move while one phase is explored, so two
    look-alike objects in different places stay two nodes.
    """

    def __init__(self, match_threshold: float = MATCH_THRESHOLD, gate_distance: float | None = None) -> None:
        self.match_threshold = float(match_threshold)
        self.gate_distance = None if gate_distance is None else float(gate_distance)
        self.nodes: list[_Node] = []
        self.edges: dict[tuple[int, int], torch.Tensor] = {}
        self.edge_counts: dict[tuple[int, int], int] = {}
        self.steps = 0

    # ------------------------------------------------------------------------------ update
    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def node_features(self) -> torch.Tensor:
        """(N, D) scene-model features of the nodes (unit norm)."""
        if not self.nodes:
            return torch.zeros(0, 0)
        return torch.stack([n.feature for n in self.nodes])

    @property
    def object_features(self) -> torch.Tensor:
        """(N, D) object-model features of the nodes (unit norm)."""
        if not self.nodes:
            return torch.zeros(0, 0)
        return torch.stack([n.object_feature for n in self.nodes])

    def categories(self) -> list[str | None]:
        """Each node's category: the label most of its detections had (None if never labelled)."""
        return [n.category() for n in self.nodes]

    def _gate(self, sim: np.ndarray, positions: list[np.ndarray | None],
              categories: Sequence[str] | None) -> np.ndarray:
        """Similarities with the pairs the gates forbid set to a huge negative value (never accepted)."""
        out = sim.copy()
        if categories is not None:
            node_cats = self.categories()
            for d, c in enumerate(categories):
                for k, nc in enumerate(node_cats):
                    if nc is not None and nc != c:
                        out[d, k] = _FORBIDDEN
        if self.gate_distance is not None:
            node_pos = [n.position() for n in self.nodes]
            for d, p in enumerate(positions):
                if p is None:
                    continue
                for k, q in enumerate(node_pos):
                    if q is not None and float(np.linalg.norm(p - q)) > self.gate_distance:
                        out[d, k] = _FORBIDDEN
        return out

    def update(self, node_features: torch.Tensor, boxes: Any,
               object_features: torch.Tensor | None = None,
               edge_pairs: Sequence[tuple[int, int]] = (),
               edge_features: torch.Tensor | None = None,
               depth: np.ndarray | None = None,
               intrinsics: Mapping[str, Any] | Intrinsics | None = None,
               pose: Sequence[float] | None = None,
               categories: Sequence[str] | None = None,
               exclude: Iterable[int] = ()) -> list[int]:
        """Integrate one frame's detections; returns the node index of each detection.

        ``node_features`` (N, D) and ``object_features`` (N, D; default: the node features) are
        unit-norm features of the N detections, ``boxes`` their (N, 4) pixel boxes,
        ``edge_pairs``/``edge_features`` the ordered detection pairs and their features. With
        ``depth``, ``intrinsics`` and ``pose`` the detections are placed in 3-D. ``categories``
        (one label per detection) are stored on the nodes and gate the matching (class doc).
        Nodes in ``exclude`` are not matched (a caller already gave them a detection of this frame).
        """
        q = torch.as_tensor(node_features, dtype=torch.float32).detach().cpu()
        n = q.shape[0]
        obj = q if object_features is None else torch.as_tensor(object_features, dtype=torch.float32).detach().cpu()
        boxes_arr = np.rint(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)).astype(np.int64)
        if obj.shape[0] != n or len(boxes_arr) != n:
            raise ValueError(f"{n} node features, {obj.shape[0]} object features, {len(boxes_arr)} boxes")
        if categories is not None and len(categories) != n:
            raise ValueError(f"{len(categories)} categories for {n} detections")
        step = self.steps
        self.steps += 1
        if n == 0:
            return []
        positions: list[np.ndarray | None] = [None] * n
        if depth is not None and intrinsics is not None and pose is not None:
            for det in range(n):
                p = box_position(depth, boxes_arr[det], intrinsics, pose)
                positions[det] = p if np.all(np.isfinite(p)) else None
        assignment: list[int | None] = [None] * n
        if self.nodes:
            sim = (q @ self.node_features.T).numpy()
            if categories is not None or self.gate_distance is not None:
                sim = self._gate(sim, positions, categories)
            for node in exclude:
                sim[:, int(node)] = _FORBIDDEN
            for det, node in hungarian_match(sim, self.match_threshold):
                assignment[det] = node
                target = self.nodes[node]
                target.feature = average_features(target.feature, q[det])
                target.object_feature = average_features(target.object_feature, obj[det])
        for det in range(n):
            if assignment[det] is None:
                assignment[det] = len(self.nodes)
                self.nodes.append(_Node(feature=q[det].clone(), object_feature=obj[det].clone()))
        pose_t = None if pose is None else tuple(float(v) for v in np.asarray(pose, dtype=np.float64).ravel())
        for det in range(n):
            box = tuple(int(v) for v in boxes_arr[det])
            p = positions[det]
            position = None if p is None else tuple(float(v) for v in p)
            area = max(0, box[2] - box[0]) * max(0, box[3] - box[1])
            self.nodes[assignment[det]].views.append(
                NodeView(step, pose_t, box, area, position, None if categories is None else str(categories[det])))
        if edge_pairs:
            if edge_features is None or len(edge_features) != len(edge_pairs):
                raise ValueError("edge_features must have one row per edge pair")
            e = torch.as_tensor(edge_features, dtype=torch.float32).detach().cpu()
            for k, (i, j) in enumerate(edge_pairs):
                a, b = assignment[int(i)], assignment[int(j)]
                if a == b:   # cannot happen with one-to-one matching; guard for hand-made input
                    continue
                key = (int(a), int(b))
                if key in self.edges:
                    self.edges[key] = average_features(self.edges[key], e[k])
                    self.edge_counts[key] += 1
                else:
                    self.edges[key] = e[k].clone()
                    self.edge_counts[key] = 1
        return [int(a) for a in assignment]

    def add_view(self, node: int, box: Sequence[float], position: Sequence[float] | None,
                 pose: Sequence[float] | None, category: str | None = None) -> None:
        """Record an observation of ``node`` without new features (a caller that knows which
        node a detection is and does not need to embed it again; see ``csr_tracking``)."""
        b = tuple(int(round(float(v))) for v in box)
        p = None if position is None or not np.all(np.isfinite(position)) else tuple(float(v) for v in position)
        pose_t = None if pose is None else tuple(float(v) for v in np.asarray(pose, dtype=np.float64).ravel())
        area = max(0, b[2] - b[0]) * max(0, b[3] - b[1])
        self.nodes[node].views.append(NodeView(self.steps, pose_t, b, area, p, category))

    # ------------------------------------------------------------------------------ export
    def positions(self) -> np.ndarray:
        """(N, 3) mean 3-D position of each node over the observations that had depth (NaN if none)."""
        out = np.full((len(self.nodes), 3), np.nan)
        for i, node in enumerate(self.nodes):
            ps = [v.position for v in node.views if v.position is not None]
            if ps:
                out[i] = np.mean(np.asarray(ps), axis=0)
        return out

    def view_poses(self) -> np.ndarray:
        """(N, P) pose of each node's best view (largest box), NaN rows where no pose was given."""
        width = max((len(v.pose) for n in self.nodes for v in n.views if v.pose is not None), default=4)
        out = np.full((len(self.nodes), width), np.nan)
        for i, node in enumerate(self.nodes):
            views = [v for v in node.views if v.pose is not None]
            if views:
                best = max(views, key=lambda v: v.area)
                out[i, :len(best.pose)] = best.pose
        return out

    def to_data(self) -> "Data":
        """The graph as ``torch_geometric.data.Data``.

        Fields: ``x`` (N, D) scene features, ``obj_x`` (N, D) object features, ``pos`` (N, 3)
        positions (NaN unknown), ``view_pose`` (N, P) best-view poses, ``n_obs`` (N,) observation
        counts, ``edge_index`` (2, E), ``edge_attr`` (E, D) edge features, ``edge_n_obs`` (E,).
        """
        from torch_geometric.data import Data  # imported here: ~2 s, only paid by graph users

        dim = self.nodes[0].feature.shape[0] if self.nodes else 0
        keys = sorted(self.edges)
        edge_index = torch.tensor(keys, dtype=torch.long).reshape(-1, 2).T.contiguous()
        edge_attr = torch.stack([self.edges[k] for k in keys]) if keys else torch.zeros(0, dim)
        return Data(
            x=self.node_features.reshape(len(self.nodes), dim),
            obj_x=self.object_features.reshape(len(self.nodes), dim),
            pos=torch.as_tensor(self.positions(), dtype=torch.float32),
            view_pose=torch.as_tensor(self.view_poses(), dtype=torch.float32),
            n_obs=torch.tensor([len(n.views) for n in self.nodes], dtype=torch.long),
            edge_index=edge_index,
            edge_attr=edge_attr,
            edge_n_obs=torch.tensor([self.edge_counts[k] for k in keys], dtype=torch.long),
            num_nodes=len(self.nodes),
        )


def match_graphs(a: "SceneGraph | Data", b: "SceneGraph | Data",
                 threshold: float = OBJECT_MATCH_THRESHOLD) -> list[tuple[int, int]]:
    """Pairs (node of a, node of b) that are the same object in two phases: Hungarian matching
    on object-model cosine similarity, accepted above ``threshold`` (release: 0.4)."""
    def feats(g: Any) -> torch.Tensor:
        return g.object_features if isinstance(g, SceneGraph) else g.obj_x

    fa, fb = feats(a), feats(b)
    if fa.numel() == 0 or fb.numel() == 0:
        return []
    return hungarian_match((fa @ fb.T).numpy(), threshold)
