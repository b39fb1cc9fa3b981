"""A small learned interaction scorer for SfA: where on an object is a pull likely to move a part?

The SfA paper learns where to interact; this is its light version. Each face candidate of
``SfaAgent.candidates`` is described by a few geometric features of the first cloud (no colour,
no segmentation; see ``FEATURES``), and a tiny MLP (numpy, one hidden layer; ``hidden=0`` is
logistic regression) maps them to the log-odds that a pull there moves a movable link. The
weights shipped in ``sfa_scorer.npz`` next to this file are trained on the procedural *train*
split by ``scripts/train_sfa_scorer.py`` (CPU, minutes); ``SfaConfig.scorer = "learned"`` uses
them to order face candidates.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    from embodied.agents.sfa import Candidates

#: the weights shipped with embodied (see TRAIN_COMMAND).
DEFAULT_WEIGHTS = Path(__file__).with_name("sfa_scorer.npz")
TRAIN_COMMAND = "python scripts/train_sfa_scorer.py --out embodied/agents/sfa_scorer.npz"

#: one name per column of ``candidate_features``.
FEATURES = (
    "height",          # height of the point within the cloud's vertical extent (0 bottom, 1 top)
    "radial",          # horizontal distance from the cloud's centroid / the cloud's largest one
    "lateral",         # |sideways offset| (across the view) / the cloud's half width
    "front_depth",     # m behind the cloud's front-most point, along the horizontal view ray
    "view_cos",        # cosine between the point's normal and its view ray
    "normal_z",        # vertical component of the normal (top faces ~1, fronts ~0)
    "offset_mm",       # mm in front of the local PCA plane
    "log_support",     # log of the candidate's support (points of its grid cell)
    "boundary_dist",   # m to the nearest cloud boundary / depth discontinuity (capped)
    "surface_var",     # smallest PCA eigenvalue share of a wider neighbourhood (0: a plane)
    "handle_dist",     # m to the nearest handle candidate (capped; capped value if none)
    "handles",         # log(1 + number of handle candidates of the cloud)
)
#: m: distances above this say "far" alike.
CAP = 0.3
#: neighbours for the boundary test and for the surface variation.
BOUNDARY_K = 16
SURFACE_K = 48
#: a point whose neighbours' centroid lies this many mean neighbour distances away is a boundary.
BOUNDARY_SHIFT = 0.6


def _boundary(cloud: np.ndarray, tree: cKDTree) -> np.ndarray:
    """Points at the cloud's rim or at a depth jump: their neighbours lie to one side of them."""
    k = min(BOUNDARY_K, len(cloud))
    dist, idx = tree.query(cloud, k=k)
    shift = np.linalg.norm(cloud[idx].mean(axis=1) - cloud, axis=1)
    return shift > BOUNDARY_SHIFT * np.maximum(dist[:, 1:].mean(axis=1), 1e-9)


def _surface_variation(cloud: np.ndarray, tree: cKDTree, points: np.ndarray) -> np.ndarray:
    k = min(SURFACE_K, len(cloud))
    nb = cloud[tree.query(points, k=k)[1]]
    centred = nb - nb.mean(axis=1, keepdims=True)
    eig = np.linalg.eigvalsh(np.einsum("nki,nkj->nij", centred, centred))
    return eig[:, 0] / np.maximum(eig.sum(axis=1), 1e-12)


def _nearest(targets: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest target, capped at CAP (CAP when no target)."""
    if len(targets) == 0:
        return np.full(len(points), CAP)
    return np.minimum(cKDTree(targets).query(points)[0], CAP)


def candidate_features(cloud: np.ndarray, cameras: np.ndarray, cands: "Candidates") -> np.ndarray:
    """(M, len(FEATURES)) geometric features, one row per candidate of ``cands``."""
    cloud = np.asarray(cloud, dtype=float)
    idx = np.asarray(cands.index, dtype=np.int64)
    pts = cloud[idx]
    lo, hi = cloud.min(axis=0), cloud.max(axis=0)
    centre = cloud.mean(axis=0)
    # horizontal view direction (cameras -> object) and the sideways axis across it
    ray = centre - np.asarray(cameras, dtype=float).reshape(-1, 3).mean(axis=0)
    ray[2] = 0.0
    ray = ray / np.linalg.norm(ray) if np.linalg.norm(ray) > 1e-9 else np.array([1.0, 0.0, 0.0])
    side = np.array([-ray[1], ray[0], 0.0])
    rel_all, rel = cloud - centre, pts - centre
    flat = np.linalg.norm(rel_all[:, :2], axis=1).max()
    depth_all = rel_all @ ray
    tree = cKDTree(cloud)
    boundary = _boundary(cloud, tree)
    handles = idx[np.asarray(cands.handle, dtype=bool)]
    cols = [
        (pts[:, 2] - lo[2]) / max(hi[2] - lo[2], 1e-9),
        np.linalg.norm(rel[:, :2], axis=1) / max(flat, 1e-9),
        np.abs(rel @ side) / max(np.abs(rel_all @ side).max(), 1e-9),
        rel @ ray - depth_all.min(),
        np.asarray(cands.view_cos)[idx],
        np.asarray(cands.normals)[idx, 2],
        1000.0 * np.asarray(cands.offsets)[idx],
        np.log(np.maximum(np.asarray(cands.support, dtype=float), 1.0)),
        _nearest(cloud[boundary], pts),
        _surface_variation(cloud, tree, pts) if len(pts) else np.zeros(0),
        _nearest(cloud[handles], pts),
        np.full(len(pts), np.log1p(len(handles))),
    ]
    return np.stack(cols, axis=1) if len(pts) else np.zeros((0, len(FEATURES)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class InteractionScorer:
    """Standardised features -> tanh hidden layer (``hidden`` units; 0: none) -> log-odds."""

    def __init__(self, hidden: int = 16, l2: float = 1e-3, steps: int = 3000, lr: float = 0.01,
                 seed: int = 0) -> None:
        self.hidden, self.l2, self.steps, self.lr, self.seed = hidden, l2, steps, lr, seed
        self.params: dict[str, np.ndarray] = {}
        self.mean = np.zeros(len(FEATURES))
        self.std = np.ones(len(FEATURES))

    # ------------------------------------------------------------------ model
    def _forward(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log-odds, hidden activations) of standardised features."""
        p = self.params
        h = np.tanh(Z @ p["W1"] + p["b1"]) if "W1" in p else Z
        return h @ p["w"] + p["b"], h

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Log-odds that a pull moves a part, per feature row."""
        if not self.params:
            raise RuntimeError("InteractionScorer: fit() or load() it first")
        return self._forward((np.asarray(X, dtype=float) - self.mean) / self.std)[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(self.decision(X))

    def fit(self, X: np.ndarray, y: np.ndarray) -> "InteractionScorer":
        """Full-batch Adam on the mean log loss plus ``l2`` times the squared weights."""
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float).reshape(-1)
        self.mean, self.std = X.mean(axis=0), X.std(axis=0)
        self.std[self.std < 1e-9] = 1.0
        Z = (X - self.mean) / self.std
        rng = np.random.default_rng(self.seed)
        f = Z.shape[1]
        width = self.hidden or f
        self.params = {"w": rng.normal(0, 1 / np.sqrt(width), width), "b": np.zeros(1)}
        if self.hidden:
            self.params.update(W1=rng.normal(0, 1 / np.sqrt(f), (f, self.hidden)),
                               b1=np.zeros(self.hidden))
        m = {k: np.zeros_like(v) for k, v in self.params.items()}
        v2 = {k: np.zeros_like(v) for k, v in self.params.items()}
        for step in range(1, self.steps + 1):
            logit, h = self._forward(Z)
            err = (_sigmoid(logit) - y) / len(y)             # d loss / d logit
            grads = {"w": h.T @ err + self.l2 * self.params["w"], "b": np.array([err.sum()])}
            if self.hidden:
                dh = np.outer(err, self.params["w"]) * (1.0 - h ** 2)
                grads.update(W1=Z.T @ dh + self.l2 * self.params["W1"], b1=dh.sum(axis=0))
            for k, g in grads.items():                      # Adam
                m[k] = 0.9 * m[k] + 0.1 * g
                v2[k] = 0.999 * v2[k] + 0.001 * g * g
                mhat, vhat = m[k] / (1 - 0.9 ** step), v2[k] / (1 - 0.999 ** step)
                self.params[k] -= self.lr * mhat / (np.sqrt(vhat) + 1e-8)
        return self

    # ------------------------------------------------------------------ agent interface
    def score(self, cloud: np.ndarray, cameras: np.ndarray, cands: "Candidates") -> np.ndarray:
        """One log-odds per candidate (higher: a pull there likelier moves a part)."""
        if len(cands.index) == 0:
            return np.zeros(0)
        return self.decision(candidate_features(cloud, cameras, cands))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:     # a file object: np.savez would append ".npz" to a name
            np.savez(fh, features=np.array(FEATURES), mean=self.mean, std=self.std,
                     hidden=np.array(self.hidden), **self.params)
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> "InteractionScorer":
        """Weights from ``path``; None: those shipped with embodied (``DEFAULT_WEIGHTS``)."""
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"interaction scorer weights not found: {path}; train them "
                                    f"with `{TRAIN_COMMAND}` (or give agent.scorer=PATH)")
        with np.load(path) as data:
            names = tuple(str(s) for s in data["features"])
            if names != FEATURES:
                raise ValueError(f"{path}: weights for features {names}, this code computes "
                                 f"{FEATURES}; retrain with `{TRAIN_COMMAND}`")
            out = cls(hidden=int(data["hidden"]))
            out.mean, out.std = data["mean"], data["std"]
            out.params = {k: data[k] for k in ("W1", "b1", "w", "b") if k in data.files}
        return out


def first_candidates(env, agent, episode: dict) -> tuple[dict, np.ndarray, np.ndarray, "Candidates | None"]:
    """Reset ``env`` to ``episode`` and ``agent`` to it: (obs, cloud, cameras, the agent's
    candidates on the first observation), as the agent would see them (for training, tests)."""
    from embodied.agents.sfa import valid_cloud

    obs, info = env.reset(seed=0, options={"episode": episode})
    agent.reset(info)
    cloud = valid_cloud(obs)
    cameras = np.asarray(obs["extrinsics"], dtype=float)[:, :3, 3]
    return obs, cloud, cameras, agent.candidates(cloud, cameras)
