"""CSR's contrastive training: trajectory dataset format, pair sampler, MoCo-v2 trainer, retrieval eval.

Continuous Scene Representations (Gadre, Ehsani, Song, Mottaghi, CVPR 2022) train two encoders
(``embodied.perception.csr_encoder``) with MoCo-v2 on frames an agent saw while moving through a
house: the **scene** model learns that an object (node) or an ordered object pair (edge) seen at two
timesteps of one trajectory is the same thing; the **object** model that an object seen in two
trajectories (the walkthrough and the unshuffle phase of rearrangement) is the same object.

Dataset format (independent of any env; what ``embodied/Rearrange-PyBullet-v0`` and
``embodied.training.csr_data`` produce)
---------------------------------------------------------------------------------------------------
A **trajectory** is a list of frames plus metadata; a **frame** is an RGB image (H, W, 3) uint8 and
its detections, each ``(instance_id, category, box)`` with ``box = (x0, y0, x1, y1)`` in pixels,
half-open (the box covers columns x0..x1-1 and rows y0..y1-1); optionally a z-depth image (H, W)
in metres and the camera pose (x, y, yaw[, pitch]) in the house's world frame. Metadata:
``house_seed`` (which house), ``phase`` (e.g. "walkthrough"/"unshuffle"), ``trajectory_id`` (unique
in a dataset), ``camera`` (pinhole intrinsics as an env's ``info["camera"]``) and free-form ``meta``.

``instance_id`` must name the same physical object in every trajectory of a house (the object
model's positives are matched by ``(house_seed, instance_id)``); categories are strings, used only to
balance the sampling (and never by the scene graph).

On disk: one ``.npz`` per trajectory (``save_trajectory``; no pickles), arrays ``rgb`` (T, H, W, 3)
uint8, ``det_frame`` (M,), ``det_instance`` (M,), ``det_category`` (M,) indices into
``categories`` (K,) str, ``det_box`` (M, 4) int32, optional ``depth`` (T, H, W) float16 and ``pose``
(T, P) float32, and ``meta`` (a JSON string with the metadata and ``format``). A dataset is a
directory of such files (``load_dataset`` takes directories and/or files).

What matches the release (allenai/CSR ``src/lightning/modules/moco2_module.py``,
``src/dataloaders/contrastive_dataset*.py``, ``augmentations.py``, ``shared/constants.py``,
``configs_contrastive/moco_v2_*.yml``)
---------------------------------------------------------------------------------------------------
* MoCo-v2: softmax temperature 0.07, key-encoder momentum 0.999 (updated before the keys are
  computed), a queue of negatives per head (scene model: nodes and edges, 1024 each; object model:
  nodes, 65536), queues initialised with random unit vectors, loss = CE(node) + CE(edge);
* SGD lr 0.03, momentum 0.9, weight decay 1e-4, cosine annealing (the release's MocoV2 default lr;
  its yml's ``lr: 0.1`` is never passed to the module);
* augmentation per view: ColorJitter(0.4, 0.4, 0.4, 0.2) in a random order of the four operations,
  then RandomGrayscale(p=0.2); no geometric augmentation (the box masks must stay aligned);
* sampling: nodes and edges balanced 50/50, then a class (a category, or an ordered category pair)
  uniformly, then an instance uniformly, then an ordered pair of distinct observations uniformly;
  boxes under 0.8 % of the image dropped (``DATALOADER_BOX_FRAC_THRESHOLD``); instances seen once
  dropped.

What deviates, and why
---------------------------------------------------------------------------------------------------
* Input size and steps are parameters (CPU budget; the release trained 100 "epochs" of 800k pairs
  on 8 GPUs at 224 px); the cosine schedule runs over ``steps`` rather than epochs.
* Object-model positives are drawn from two *different* trajectories of the house
  (``object_pairs="cross"``): the release keyed instances by name alone, pooling same- and
  cross-trajectory pairs (``object_pairs="any"`` reproduces that).
* Each batch has exactly half nodes, half edges (the release's alternating ``idx % 2`` over a
  shuffled index gives that on average).
* Shuffle-BN without several devices: queries run through BatchNorm in ``bn_groups`` chunks and
  keys in chunks holding other samples, so a query and its key never share batch statistics (the
  release relied on DDP's batch shuffle across 8 GPUs; with one device it would have none).
* Only the query encoder is saved, in fp16 (~22.9 MB at width 64).
* A query's own node/edge is never its negative, in the batch or in the queue (``MoCo``): with
  a few thousand objects the queue holds several keys of most of them.
* The shipped models (``experiments/csr_train.yaml``) crop around the boxes (``crop_context``,
  see ``embodied.perception.csr_encoder``), train without colour jitter or grayscale (this
  renderer's colours are the same from every view, and jitter taught a colour invariance that
  lowered retrieval below the untrained encoder's) and with key momentum 0.99 (0.999 lags ~1000
  steps: most of a CPU-sized schedule). The defaults here stay the release's.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embodied.perception.csr_encoder import (
    CSREncoder, EncoderConfig, encode_inputs, all_pairs, assemble_inputs, box_area_fraction, box_masks,
    inputs_for, normalize_rgb,
    parameter_count, prepare_inputs, resize_images, save_encoder, scale_boxes,
)

__all__ = [
    "TRAJECTORY_FORMAT", "MIN_BOX_FRACTION", "Detection", "Frame", "Trajectory",
    "save_trajectory", "load_trajectory", "save_dataset", "load_dataset", "resize_trajectories",
    "Observation", "PairSample", "PairSampler", "color_augment", "rgb_to_hsv", "hsv_to_rgb",
    "moco_logits", "momentum_update", "MoCo", "CSRTrainConfig", "train_moco", "train_csr",
    "retrieval_hits", "retrieval_top1", "evaluate_retrieval", "batch_inputs",
]

TRAJECTORY_FORMAT = "embodied.csr_trajectory/1"
MIN_BOX_FRACTION = 0.008            # release: DATALOADER_BOX_FRAC_THRESHOLD
COLOR_JITTER = (0.4, 0.4, 0.4, 0.2)  # brightness, contrast, saturation, hue (release constants)
GRAYSCALE_P = 0.2


# ===================================================================================== dataset
@dataclass(frozen=True)
class Detection:
    """One object in one frame: ``box`` = (x0, y0, x1, y1) pixels, half-open."""

    instance_id: int
    category: str
    box: tuple[int, int, int, int]


@dataclass
class Frame:
    """One timestep: RGB, its detections (as parallel arrays, for fast sampling), optional depth/pose."""

    rgb: np.ndarray
    boxes: np.ndarray
    instance_ids: np.ndarray
    categories: list[str]
    depth: np.ndarray | None = None
    pose: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.rgb = np.asarray(self.rgb)
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        self.boxes = np.asarray(self.boxes, dtype=np.int64).reshape(-1, 4)
        self.instance_ids = np.asarray(self.instance_ids, dtype=np.int64).reshape(-1)
        self.categories = [str(c) for c in self.categories]
        if not len(self.boxes) == len(self.instance_ids) == len(self.categories):
            raise ValueError("boxes, instance_ids and categories must have one entry per detection")
        if len(set(self.instance_ids.tolist())) != len(self.instance_ids):
            raise ValueError("an instance id appears twice in one frame")

    @classmethod
    def from_detections(cls, rgb: np.ndarray, detections: Iterable[Detection | tuple],
                        depth: np.ndarray | None = None, pose: Sequence[float] | None = None) -> "Frame":
        """A frame from ``(instance_id, category, box)`` tuples (or ``Detection``s)."""
        dets = [d if isinstance(d, Detection) else Detection(int(d[0]), str(d[1]), tuple(d[2])) for d in detections]
        return cls(rgb, [d.box for d in dets], [d.instance_id for d in dets], [d.category for d in dets],
                   depth, None if pose is None else np.asarray(pose, dtype=np.float32))

    @property
    def detections(self) -> list[Detection]:
        return [Detection(int(i), c, tuple(int(v) for v in b))
                for i, c, b in zip(self.instance_ids, self.categories, self.boxes)]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


@dataclass
class Trajectory:
    """Frames of one agent trajectory in one house and phase (see the module docstring)."""

    frames: list[Frame]
    house_seed: int
    phase: str = ""
    trajectory_id: str = ""
    camera: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def save_trajectory(traj: Trajectory, path: str | Path, compress: bool = True) -> Path:
    """Write one trajectory as ``.npz`` (format in the module docstring); atomic (tmp + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cats = sorted({c for f in traj.frames for c in f.categories})
    cat_index = {c: i for i, c in enumerate(cats)}
    arrays: dict[str, np.ndarray] = {
        "rgb": np.stack([f.rgb for f in traj.frames]) if traj.frames else np.zeros((0, 1, 1, 3), np.uint8),
        "det_frame": np.concatenate([np.full(len(f.boxes), t, np.int32) for t, f in enumerate(traj.frames)]
                                    or [np.zeros(0, np.int32)]),
        "det_instance": np.concatenate([f.instance_ids for f in traj.frames] or [np.zeros(0, np.int64)]),
        "det_category": np.array([cat_index[c] for f in traj.frames for c in f.categories], dtype=np.int32),
        "det_box": np.concatenate([f.boxes for f in traj.frames] or [np.zeros((0, 4))]).astype(np.int32),
        "categories": np.array(cats, dtype=str),
    }
    if traj.frames and all(f.depth is not None for f in traj.frames):
        arrays["depth"] = np.stack([np.asarray(f.depth, dtype=np.float32).reshape(f.shape) for f in traj.frames]
                                   ).astype(np.float16)
    if traj.frames and all(f.pose is not None for f in traj.frames):
        arrays["pose"] = np.stack([np.asarray(f.pose, dtype=np.float32) for f in traj.frames])
    meta = {"format": TRAJECTORY_FORMAT, "house_seed": int(traj.house_seed), "phase": traj.phase,
            "trajectory_id": traj.trajectory_id, "camera": traj.camera, "meta": traj.meta}
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = path.with_name(path.name + ".tmp.npz")
    (np.savez_compressed if compress else np.savez)(tmp, **arrays)
    tmp.replace(path)
    return path


def load_trajectory(path: str | Path) -> Trajectory:
    """Read a trajectory written by ``save_trajectory``."""
    with np.load(Path(path), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != TRAJECTORY_FORMAT:
            raise ValueError(f"{path}: not a CSR trajectory (format {TRAJECTORY_FORMAT})")
        rgb = z["rgb"]
        det_frame, det_inst, det_cat, det_box = z["det_frame"], z["det_instance"], z["det_category"], z["det_box"]
        cats = [str(c) for c in z["categories"]]
        depth = z["depth"] if "depth" in z else None
        pose = z["pose"] if "pose" in z else None
    order = np.argsort(det_frame, kind="stable")
    det_frame, det_inst, det_cat, det_box = det_frame[order], det_inst[order], det_cat[order], det_box[order]
    starts = np.searchsorted(det_frame, np.arange(len(rgb) + 1))
    frames = []
    for t in range(len(rgb)):
        s = slice(starts[t], starts[t + 1])
        frames.append(Frame(rgb[t], det_box[s], det_inst[s], [cats[i] for i in det_cat[s]],
                            None if depth is None else depth[t].astype(np.float32),
                            None if pose is None else pose[t]))
    return Trajectory(frames, int(meta["house_seed"]), meta.get("phase", ""), meta.get("trajectory_id", ""),
                      meta.get("camera"), meta.get("meta") or {})


def save_dataset(trajectories: Sequence[Trajectory], directory: str | Path) -> list[Path]:
    """Write trajectories as ``<directory>/<trajectory_id or index>.npz``."""
    directory = Path(directory)
    out = []
    for i, traj in enumerate(trajectories):
        name = traj.trajectory_id or f"traj_{i:05d}"
        out.append(save_trajectory(traj, directory / f"{name}.npz"))
    return out


def load_dataset(sources: str | Path | Sequence[str | Path]) -> list[Trajectory]:
    """Trajectories from directories (every ``*.npz``, sorted) and/or single files."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    trajs = []
    for src in sources:
        src = Path(src)
        files = sorted(src.glob("*.npz")) if src.is_dir() else [src]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"no CSR trajectories at {src}")
        trajs.extend(load_trajectory(f) for f in files)
    return trajs


def resize_trajectories(trajectories: Sequence[Trajectory], size: int) -> list[Trajectory]:
    """Copies whose frames are size x size (RGB resized as the encoder does, boxes scaled), so
    training batches need no per-sample resizing. Frames already at that size are shared, not copied."""
    out = []
    for traj in trajectories:
        frames = []
        for f in traj.frames:
            if f.shape == (size, size):
                frames.append(f)
                continue
            img = torch.from_numpy(np.ascontiguousarray(f.rgb)).permute(2, 0, 1)[None].float() / 255.0
            rgb = (resize_images(img, size)[0].permute(1, 2, 0) * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
            frames.append(Frame(rgb, scale_boxes(f.boxes, f.shape, (size, size)), f.instance_ids,
                                f.categories, None, f.pose))
        out.append(dataclasses.replace(traj, frames=frames))
    return out


# ===================================================================================== sampler
@dataclass(frozen=True)
class Observation:
    """One view of a node (``first == second``) or an edge: detection indices in one frame."""

    traj: int
    frame: int
    first: int
    second: int

    @property
    def is_node(self) -> bool:
        return self.first == self.second


@dataclass(frozen=True)
class PairSample:
    """A positive pair: the query and key views of one node or edge, and which node/edge it is
    (``identity``: equal for pairs of the same thing, so they are never each other's negatives)."""

    query: Observation
    key: Observation
    identity: tuple = ()

    @property
    def is_node(self) -> bool:
        return self.query.is_node


class PairSampler:
    """Draws MoCo positive pairs from trajectories, balanced as the release balances them.

    ``mode="scene"``: nodes keyed by (trajectory, instance), edges by (trajectory, instance i,
    instance j); a positive is two timesteps of one trajectory. ``mode="object"``: nodes keyed by
    (house, instance); a positive is two observations in different trajectories (``object_pairs=
    "cross"``) or any two (``"any"``, the release). Boxes under ``min_box_frac`` of the image are
    dropped before anything else; instances with no valid pair are dropped.

    Draw order: node or edge (a fair coin for ``sample``, an exact half split for ``sample_batch``),
    a class uniformly (category, or ordered category pair), an instance of it uniformly, an ordered
    pair of its observations uniformly. With ``group > 1``, ``sample_batch`` adds to each such pair
    up to ``group - 1`` other nodes (edges) seen in the same two frames: hard negatives for each
    other when the loss uses in-batch negatives (see ``MoCo``).
    """

    def __init__(self, trajectories: Sequence[Trajectory], mode: str = "scene",
                 min_box_frac: float = MIN_BOX_FRACTION, object_pairs: str = "cross",
                 seed: int | None = 0, group: int = 1) -> None:
        if mode not in ("scene", "object"):
            raise ValueError(f"mode={mode!r}: expected 'scene' or 'object'")
        if object_pairs not in ("cross", "any"):
            raise ValueError(f"object_pairs={object_pairs!r}: expected 'cross' or 'any'")
        self.trajectories = trajectories
        self.mode = mode
        self.min_box_frac = float(min_box_frac)
        self.object_pairs = object_pairs
        self.group = max(1, int(group))
        self.rng = np.random.default_rng(seed)
        # per trajectory, per frame: instance id -> detection index, for kept detections only
        self.frame_dets: list[list[dict[int, int]]] = []
        nodes: dict[Hashable, dict[Hashable, list]] = {}
        edges: dict[Hashable, dict[Hashable, list]] = {}
        for t, traj in enumerate(trajectories):
            per_frame = []
            for f, frame in enumerate(traj.frames):
                keep = np.flatnonzero(box_area_fraction(frame.boxes, *frame.shape) >= self.min_box_frac)
                ids, cats = frame.instance_ids, frame.categories
                per_frame.append({int(ids[d]): int(d) for d in keep})
                for d in keep:
                    nodes.setdefault(cats[d], {}).setdefault(self._identity(t, ids[d], ids[d]), []).append((t, f, d, d))
                if mode == "scene":
                    for i, j in itertools_permutations(keep):
                        edges.setdefault((cats[i], cats[j]), {}).setdefault(
                            self._identity(t, ids[i], ids[j]), []).append((t, f, i, j))
            self.frame_dets.append(per_frame)
        self.banks = {"node": self._finalise(nodes), "edge": self._finalise(edges)}
        if not self.banks["node"] and not self.banks["edge"]:
            raise ValueError(f"no {mode} positives: no instance has two valid observations "
                             f"(boxes >= {self.min_box_frac:.2%} of the image"
                             + (", in two trajectories)" if mode == "object" and object_pairs == "cross" else ")"))

    def _identity(self, traj: int, first_id: Any, second_id: Any) -> tuple:
        """What a positive pair is the same of: (trajectory, i, j) for the scene model (so the
        same object in another trajectory is another node), (house, i, j) for the object model."""
        where = traj if self.mode == "scene" else int(self.trajectories[traj].house_seed)
        return (where, int(first_id), int(second_id))

    def _finalise(self, bank: dict[Hashable, dict[Hashable, list]]) -> list[list[tuple[tuple, np.ndarray]]]:
        """Classes -> instances -> (identity, (K, 4) int array of observations), keeping instances
        with a valid pair."""
        out = []
        for cls in sorted(bank, key=str):
            instances = []
            for inst in sorted(bank[cls], key=str):
                entries = np.asarray(bank[cls][inst], dtype=np.int64)
                if len(entries) < 2:
                    continue
                if self.mode == "object" and self.object_pairs == "cross" and len(np.unique(entries[:, 0])) < 2:
                    continue
                instances.append((inst, entries))
            if instances:
                out.append(instances)
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """Classes, instances and observations per bank (for logs)."""
        return {k: {"classes": len(b), "instances": sum(len(c) for c in b),
                    "observations": int(sum(len(e) for c in b for _, e in c))} for k, b in self.banks.items()}

    def _pair(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        k = len(entries)
        if self.mode == "object" and self.object_pairs == "cross":
            for _ in range(64):  # rejection: uniform over cross-trajectory ordered pairs
                i, j = rng.integers(k), rng.integers(k)
                if entries[i, 0] != entries[j, 0]:
                    return entries[i], entries[j]
            ii, jj = np.nonzero(entries[:, 0][:, None] != entries[:, 0][None, :])
            c = rng.integers(len(ii))
            return entries[ii[c]], entries[jj[c]]
        i = rng.integers(k)
        j = rng.integers(k - 1)
        j += j >= i
        return entries[i], entries[j]

    def sample_kind(self, kind: str) -> PairSample:
        """One positive pair of a node (``kind="node"``) or an edge."""
        bank = self.banks[kind]
        if not bank:
            raise ValueError(f"no {kind} positives in this dataset")
        classes = bank[self.rng.integers(len(bank))]
        identity, entries = classes[self.rng.integers(len(classes))]
        a, b = self._pair(entries)
        return PairSample(Observation(*(int(v) for v in a)), Observation(*(int(v) for v in b)), identity)

    def companions(self, sample: PairSample, count: int) -> list[PairSample]:
        """Up to ``count`` other positives of the same kind in the same two frames (random, distinct)."""
        q, k = sample.query, sample.key
        dq = self.frame_dets[q.traj][q.frame]
        dk = self.frame_dets[k.traj][k.frame]
        shared = sorted(set(dq) & set(dk))
        if sample.is_node:
            cands = [(i, i) for i in shared]
        else:
            cands = [(i, j) for i in shared for j in shared if i != j]
        cands = [c for c in cands if self._identity(q.traj, *c) != sample.identity]
        if not cands or count <= 0:
            return []
        pick = self.rng.choice(len(cands), size=min(count, len(cands)), replace=False)
        out = []
        for c in pick:
            i, j = cands[int(c)]
            out.append(PairSample(Observation(q.traj, q.frame, dq[i], dq[j]),
                                  Observation(k.traj, k.frame, dk[i], dk[j]), self._identity(q.traj, i, j)))
        return out

    def kinds(self) -> list[str]:
        return [k for k in ("node", "edge") if self.banks[k]]

    def sample(self) -> PairSample:
        """One pair: node or edge by a fair coin (when both exist)."""
        kinds = self.kinds()
        return self.sample_kind(kinds[int(self.rng.integers(len(kinds)))])

    def _draw(self, kind: str, n: int) -> list[list[PairSample]]:
        """Groups (an anchor and its companions) holding n pairs in all."""
        groups: list[list[PairSample]] = []
        total = 0
        while total < n:
            anchor = self.sample_kind(kind)
            group = [anchor]
            if self.group > 1:
                group += self.companions(anchor, min(self.group - 1, n - total - 1))
            groups.append(group)
            total += len(group)
        return groups

    def sample_batch(self, n: int) -> list[PairSample]:
        """n pairs: n // 2 nodes and the rest edges when both exist, in random order."""
        kinds = self.kinds()
        if len(kinds) == 1:
            groups = self._draw(kinds[0], n)
        else:
            groups = self._draw("node", n // 2) + self._draw("edge", n - n // 2)
        out = [s for g in groups for s in g]
        return [out[i] for i in self.rng.permutation(len(out))]


def itertools_permutations(keep: np.ndarray) -> list[tuple[int, int]]:
    """Ordered pairs of distinct kept detection indices."""
    keep = [int(k) for k in keep]
    return [(keep[a], keep[b]) for a, b in all_pairs(len(keep))]


# ================================================================================ augmentation
def rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of a turn)."""
    r, g, b = img.unbind(1)
    maxc = img.amax(1)
    minc = img.amin(1)
    delta = maxc - minc
    gray = delta == 0
    safe = torch.where(gray, torch.ones_like(delta), delta)
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(gray, torch.zeros_like(h), (h / 6.0) % 1.0)
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv``."""
    h, s, v = hsv.unbind(1)
    h6 = (h % 1.0) * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = torch.stack([torch.stack(c, 1) for c in
                         ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 0)
    return table.gather(0, i[None, :, None].expand(1, -1, 3, *i.shape[1:]))[0]


def _grayscale(img: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma (torchvision's weights), (B, 1, H, W)."""
    w = img.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def color_augment(images: torch.Tensor, rng: np.random.Generator,
                  jitter: Sequence[float] = COLOR_JITTER, grayscale_p: float = GRAYSCALE_P) -> torch.Tensor:
    """The release's photometric augmentation, drawn independently per image, vectorised.

    ColorJitter(brightness, contrast, saturation, hue): factors b, c, s uniform in [1 - x, 1 + x],
    hue shift uniform in [-h, h] turns, applied in a random order per image (as torchvision does
    per call), then grayscale with probability ``grayscale_p``. Input and output (B, 3, H, W) in [0, 1].
    Why vectorised: one torchvision call per image costs more than the encoder's step on 64 px.
    """
    x = images.clone()
    n = x.shape[0]
    if n == 0:
        return x
    bj, cj, sj, hj = (float(v) for v in jitter)
    factors = {
        0: torch.as_tensor(rng.uniform(1 - bj, 1 + bj, n), dtype=x.dtype),
        1: torch.as_tensor(rng.uniform(1 - cj, 1 + cj, n), dtype=x.dtype),
        2: torch.as_tensor(rng.uniform(1 - sj, 1 + sj, n), dtype=x.dtype),
        3: torch.as_tensor(rng.uniform(-hj, hj, n), dtype=x.dtype),
    }
    orders = np.stack([rng.permutation(4) for _ in range(n)])
    for position in range(4):
        for op in range(4):
            sel = torch.as_tensor(np.flatnonzero(orders[:, position] == op))
            if len(sel) == 0:
                continue
            f = factors[op][sel].view(-1, 1, 1, 1)
            sub = x[sel]
            if op == 0:
                sub = (sub * f).clamp(0, 1)
            elif op == 1:
                mean = _grayscale(sub).mean(dim=(1, 2, 3), keepdim=True)
                sub = (f * sub + (1 - f) * mean).clamp(0, 1)
            elif op == 2:
                sub = (f * sub + (1 - f) * _grayscale(sub)).clamp(0, 1)
            else:
                hsv = rgb_to_hsv(sub)
                hsv[:, 0] = (hsv[:, 0] + f.view(-1, 1, 1)) % 1.0
                sub = hsv_to_rgb(hsv)
            x[sel] = sub
    gray = torch.as_tensor(np.flatnonzero(rng.random(n) < grayscale_p))
    if len(gray):
        x[gray] = _grayscale(x[gray]).expand(-1, 3, -1, -1)
    return x


def batch_inputs(trajectories: Sequence[Trajectory], observations: Sequence[Observation], size: int,
                 rng: np.random.Generator | None = None, augment: bool = True,
                 jitter: Sequence[float] = COLOR_JITTER, grayscale_p: float = GRAYSCALE_P,
                 encoder: EncoderConfig | None = None) -> torch.Tensor:
    """(B, 5, input, input) encoder inputs of observations, colour-augmented per image when
    ``augment``. Frames must already be at the encoder's frame size (``resize_trajectories``):
    ``size`` = the input size for whole-frame encoders; with ``encoder`` (a cropping config) its
    ``frame_size``, and the crops come out at its ``input_size``."""
    frames = [trajectories[o.traj].frames[o.frame] for o in observations]
    if any(f.shape != (size, size) for f in frames):
        raise ValueError(f"frames must be {size} x {size}: call resize_trajectories first")
    rgb = torch.from_numpy(np.stack([f.rgb for f in frames])).permute(0, 3, 1, 2).float() / 255.0
    if augment:
        rgb = color_augment(rgb, rng if rng is not None else np.random.default_rng(), jitter, grayscale_p)
    first = np.stack([f.boxes[o.first] for f, o in zip(frames, observations)])
    second = np.stack([f.boxes[o.second] for f, o in zip(frames, observations)])
    if encoder is None or encoder.crop_context <= 0:
        out = encoder.input_size if encoder is not None else size
        return assemble_inputs(normalize_rgb(rgb), first, second, range(len(frames)), out)
    return assemble_inputs(normalize_rgb(rgb), first, second, range(len(frames)), encoder.input_size,
                           encoder.crop_context, encoder.crop_min)


# ========================================================================================= MoCo
def moco_logits(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float,
                batch_negatives: bool = False, same: torch.Tensor | None = None,
                same_queue: torch.Tensor | None = None) -> torch.Tensor:
    """Logits whose target class is always 0: column 0 the positive q.k, then (with
    ``batch_negatives``) q against the batch's other keys, then q against each queued key; over T.

    ``q``, ``k`` (B, D) unit norm, ``queue`` (Q, D) unit norm. ``same`` (B, B) bool marks pairs of
    the batch that are the same node/edge: their in-batch logits are -inf (not negatives). Without
    ``batch_negatives`` this is the release's MoCo-v2 logit matrix, (B, 1 + Q). ``same_queue``
    (B, Q) bool marks queued keys of the query's own node/edge: -inf too (see ``MoCo``).
    """
    pos = (q * k).sum(1, keepdim=True)
    parts = [pos]
    if batch_negatives:
        inb = q @ k.T
        block = torch.eye(len(q), dtype=torch.bool)
        if same is not None:
            block = block | same
        parts.append(inb.masked_fill(block, float("-inf")))
    queued = q @ queue.T
    if same_queue is not None:
        queued = queued.masked_fill(same_queue, float("-inf"))
    parts.append(queued)
    return torch.cat(parts, 1) / temperature


@torch.no_grad()
def momentum_update(query: nn.Module, key: nn.Module, momentum: float, buffers: str | None = None) -> None:
    """key <- momentum * key + (1 - momentum) * query, parameter by parameter.

    Buffers (BatchNorm running statistics) are left alone, as in the release, unless ``buffers``
    is "ema" (averaged like the parameters, so a key encoder running on running statistics has
    statistics that fit its averaged weights) or "copy" (taken from the query encoder). Integer
    buffers (batch counters) are copied in both cases.
    """
    for pq, pk in zip(query.parameters(), key.parameters()):
        pk.mul_(momentum).add_(pq.detach(), alpha=1.0 - momentum)
    if buffers is None:
        return
    if buffers not in ("ema", "copy"):
        raise ValueError(f"buffers={buffers!r}: expected None, 'ema' or 'copy'")
    for bq, bk in zip(query.buffers(), key.buffers()):
        if buffers == "ema" and bk.is_floating_point():
            bk.mul_(momentum).add_(bq, alpha=1.0 - momentum)
        else:
            bk.copy_(bq)


class MoCo(nn.Module):
    """Query and key encoders plus one queue of negatives per head ("node", "edge").

    ``key_bn``: how the key encoder's BatchNorm layers normalise. "running" (default): with running
    statistics (the key encoder in eval mode; its statistics are the momentum average of the query
    encoder's, as its weights are). "batch": with the key batch's own statistics, as the release's key encoder
    does (in train mode); without the release's cross-GPU batch shuffle this lets a model lower the
    loss through batch statistics instead of object features (on synthetic data its retrieval stays
    at chance while the loss falls; with "running" it learns), so it is kept for comparison only.
    ``batch_negatives``: the batch's other keys are negatives too (see ``moco_logits``).

    Queued keys remember whose they are, and a query's own node/edge is never its negative (in the
    batch or in the queue). Why, beyond the release: its dataset had so many objects that a key of
    the query's own object was rarely in the queue; this project's CPU-sized dataset has a few
    thousand, so the queue holds several keys of most objects, and treating them as negatives
    pushed an object's views apart -- training made retrieval worse than an untrained encoder
    (300-step runs: node top-1 0.64 trained vs 0.71 untrained, loss rising).
    """

    def __init__(self, config: EncoderConfig, heads: Sequence[str] = ("node", "edge"),
                 queue_size: int = 1024, momentum: float = 0.999, temperature: float = 0.07,
                 key_bn: str = "running", batch_negatives: bool = False) -> None:
        super().__init__()
        self.encoder_q = CSREncoder(config)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)
        self.heads = tuple(heads)
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        if key_bn not in ("running", "batch"):
            raise ValueError(f"key_bn={key_bn!r}: expected 'running' or 'batch'")
        self.key_bn = key_bn
        self.batch_negatives = bool(batch_negatives)
        self.queue_size = int(queue_size)
        for h in self.heads:
            self.register_buffer(f"queue_{h}", F.normalize(torch.randn(self.queue_size, config.emb_dim), dim=1))
            self.register_buffer(f"ptr_{h}", torch.zeros((), dtype=torch.long))
            self.register_buffer(f"qid_{h}", torch.full((self.queue_size,), -1, dtype=torch.long))
        self._ids: dict[Hashable, int] = {}

    def identity_codes(self, identities: Sequence[Hashable]) -> torch.Tensor:
        """Integer codes of node/edge identities (stable for the model's lifetime)."""
        return torch.tensor([self._ids.setdefault(i, len(self._ids)) for i in identities], dtype=torch.long)

    def queue(self, head: str) -> torch.Tensor:
        return getattr(self, f"queue_{head}")

    @torch.no_grad()
    def enqueue(self, head: str, keys: torch.Tensor, codes: torch.Tensor | None = None) -> None:
        """Replace the oldest entries of the head's queue with ``keys`` (wrapping around), and
        remember whose keys they are (``codes``; -1: unknown)."""
        queue, ptr = self.queue(head), getattr(self, f"ptr_{head}")
        n = keys.shape[0]
        if n == 0:
            return
        if codes is None:
            codes = torch.full((n,), -1, dtype=torch.long)
        if n >= self.queue_size:
            keys, codes, n = keys[-self.queue_size:], codes[-self.queue_size:], self.queue_size
        idx = (int(ptr) + torch.arange(n)) % self.queue_size
        queue[idx] = keys.to(queue.dtype)
        getattr(self, f"qid_{head}")[idx] = codes
        ptr.fill_((int(ptr) + n) % self.queue_size)

    def train(self, mode: bool = True) -> "MoCo":
        super().train(mode)
        if self.key_bn == "running":
            self.encoder_k.eval()
        return self

    def forward(self, x_q: torch.Tensor, x_k: torch.Tensor, is_node: torch.Tensor,
                identities: Sequence[Hashable] | None = None, update: bool = True) -> dict[str, torch.Tensor]:
        """Loss terms of one batch (and, if ``update``, the key-encoder and queue updates).

        ``identities`` (one hashable per sample) keep two samples of the same node/edge from being
        in-batch negatives of each other (only used with ``batch_negatives``).

        Returns ``loss`` (sum over heads present), ``loss_<head>``, ``acc_<head>`` (positive ranked
        first) and ``n_<head>``.
        """
        is_node = torch.as_tensor(is_node, dtype=torch.bool)
        q = F.normalize(self.encoder_q.features(x_q), dim=1)
        with torch.no_grad():
            if update:
                momentum_update(self.encoder_q, self.encoder_k, self.momentum,
                                buffers="ema" if self.key_bn == "running" else None)
            if self.key_bn == "running":
                self.encoder_k.eval()
            k = F.normalize(self.encoder_k.features(x_k), dim=1)
        out: dict[str, torch.Tensor] = {}
        total = q.new_zeros(())
        for head, sel in (("node", is_node), ("edge", ~is_node)):
            if head not in self.heads:
                if bool(sel.any()):
                    raise ValueError(f"batch holds {head}s but the model has no {head} head")
                continue
            qh, kh = q[sel], k[sel]
            out[f"n_{head}"] = torch.tensor(int(sel.sum()))
            if qh.shape[0] == 0:
                continue
            same = same_queue = codes = None
            if identities is not None:
                ids = [identities[i] for i in torch.nonzero(sel).flatten().tolist()]
                codes = self.identity_codes(ids)
                same_queue = codes[:, None] == getattr(self, f"qid_{head}")[None, :]
                if self.batch_negatives:
                    same = codes[:, None] == codes[None, :]
            logits = moco_logits(qh, kh, self.queue(head).clone(), self.temperature, self.batch_negatives,
                                 same, same_queue)
            target = torch.zeros(logits.shape[0], dtype=torch.long)
            loss = F.cross_entropy(logits, target)
            out[f"loss_{head}"] = loss.detach()
            out[f"acc_{head}"] = (logits.argmax(1) == 0).float().mean().detach()
            total = total + loss
            if update:
                self.enqueue(head, kh, codes)
        out["loss"] = total
        return out


# ====================================================================================== config
@dataclass
class CSRTrainConfig:
    """Settings of ``train_csr`` (both models share them; seeds: scene = seed, object = seed + 1).

    Defaults are the release's except ``input_size`` (224 there) and ``steps``; see the module
    docstring. ``data``/``val_data``: directories or files of trajectories (``save_dataset``).
    """

    data: list[str] = field(default_factory=list)
    val_data: list[str] = field(default_factory=list)
    output: str = "runs/csr"
    models: list[str] = field(default_factory=lambda: ["scene", "object"])
    input_size: int = 96
    #: crops around the boxes (see EncoderConfig): 0 = the release's whole frame
    crop_context: float = 0.0
    crop_min: int = 24
    frame_size: int = 0
    width: int = 64
    emb_dim: int = 512
    steps: int = 2000
    batch_size: int = 32
    scene_queue_size: int = 1024
    object_queue_size: int = 65536
    lr: float = 0.03
    warmup_steps: int = 0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    temperature: float = 0.07
    key_momentum: float = 0.999
    min_box_frac: float = MIN_BOX_FRACTION
    object_pairs: str = "cross"
    pair_group: int = 4
    batch_negatives: bool = True
    color_jitter: list[float] = field(default_factory=lambda: list(COLOR_JITTER))
    grayscale_p: float = GRAYSCALE_P
    key_bn: str = "running"
    seed: int = 0
    threads: int | None = None
    time_limit_s: float | None = None
    log_every: int = 50
    eval_pairs: int = 200
    half_checkpoint: bool = True

    def __post_init__(self) -> None:
        from embodied.config import ConfigError

        if isinstance(self.data, (str, Path)):
            self.data = [str(self.data)]
        if isinstance(self.val_data, (str, Path)):
            self.val_data = [str(self.val_data)]
        bad = [m for m in self.models if m not in ("scene", "object")]
        if bad or not self.models:
            raise ConfigError(f"got {self.models}, expected a non-empty subset of [scene, object]", key="models")
        for name in ("input_size", "width", "emb_dim", "steps", "batch_size", "scene_queue_size",
                     "object_queue_size", "log_every", "pair_group"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected a positive integer", key=name)
        if self.warmup_steps < 0:
            raise ConfigError(f"got {self.warmup_steps}, expected >= 0", key="warmup_steps")
        if self.input_size < 16:
            raise ConfigError(f"got {self.input_size}, expected >= 16 px", key="input_size")
        if self.batch_size < 2:
            raise ConfigError(f"got {self.batch_size}, expected >= 2 (a node and an edge)", key="batch_size")
        if not 0.0 <= self.key_momentum < 1.0:
            raise ConfigError(f"got {self.key_momentum}, expected [0, 1)", key="key_momentum")
        if not self.temperature > 0.0:
            raise ConfigError(f"got {self.temperature}, expected > 0", key="temperature")
        if not 0.0 <= self.min_box_frac < 1.0:
            raise ConfigError(f"got {self.min_box_frac}, expected [0, 1)", key="min_box_frac")
        if self.object_pairs not in ("cross", "any"):
            raise ConfigError(f"got {self.object_pairs!r}, expected cross or any", key="object_pairs")
        if len(self.color_jitter) != 4 or any(v < 0 for v in self.color_jitter) or self.color_jitter[3] > 0.5:
            raise ConfigError(f"got {self.color_jitter}, expected [brightness, contrast, saturation, hue] "
                              ">= 0, hue <= 0.5", key="color_jitter")
        if self.key_bn not in ("running", "batch"):
            raise ConfigError(f"got {self.key_bn!r}, expected running or batch", key="key_bn")
        if not 0.0 <= self.grayscale_p <= 1.0:
            raise ConfigError(f"got {self.grayscale_p}, expected [0, 1]", key="grayscale_p")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "CSRTrainConfig":
        """Validate a parsed YAML mapping (unknown keys and wrong types fail with the key's name)."""
        from embodied.config import validate_section

        return validate_section(cls, raw, "")


# ===================================================================================== training
def _encoder_config(config: CSRTrainConfig, kind: str) -> EncoderConfig:
    return EncoderConfig(input_size=config.input_size, width=config.width, emb_dim=config.emb_dim, kind=kind,
                         crop_context=config.crop_context, crop_min=config.crop_min,
                         frame_size=config.frame_size)


def frame_size_of(config: EncoderConfig) -> int:
    """The frame grid an encoder's inputs are cut from (its input size unless it crops)."""
    return int(config.frame_size) or int(config.input_size)


def train_moco(kind: str, trajectories: Sequence[Trajectory], config: CSRTrainConfig,
               log: Callable[[dict[str, Any]], None] | None = None) -> tuple[CSREncoder, dict[str, Any]]:
    """Train one model (``kind`` = "scene" or "object") on trajectories; returns the query encoder
    (train mode) and a history (per-step losses, timings, sampler counts).

    Trajectories are resized to ``config.input_size`` first. Deterministic for a given seed and
    thread count (the sampler, augmentation and initialisation all draw from the seed).
    """
    if config.threads:
        torch.set_num_threads(int(config.threads))
    seed = config.seed + (0 if kind == "scene" else 1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    enc_cfg = _encoder_config(config, kind)
    fs = frame_size_of(enc_cfg)
    trajs = resize_trajectories(trajectories, fs)
    sampler = PairSampler(trajs, kind, config.min_box_frac, config.object_pairs, seed=seed,
                          group=config.pair_group)
    heads = ("node", "edge") if kind == "scene" else ("node",)
    queue = config.scene_queue_size if kind == "scene" else config.object_queue_size
    model = MoCo(_encoder_config(config, kind), heads, queue, config.key_momentum, config.temperature,
                 config.key_bn, config.batch_negatives)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, config.steps, config.warmup_steps))
    history: dict[str, Any] = {"kind": kind, "seed": seed, "sampler": sampler.counts(), "steps": [],
                               "parameters": parameter_count(model.encoder_q)}
    start = time.perf_counter()
    data_time = 0.0
    step = 0
    for step in range(1, config.steps + 1):
        t0 = time.perf_counter()
        batch = sampler.sample_batch(config.batch_size)
        aug = dict(rng=rng, jitter=config.color_jitter, grayscale_p=config.grayscale_p)
        x_q = batch_inputs(trajs, [s.query for s in batch], fs, encoder=enc_cfg, **aug)
        x_k = batch_inputs(trajs, [s.key for s in batch], fs, encoder=enc_cfg, **aug)
        is_node = torch.tensor([s.is_node for s in batch])
        data_time += time.perf_counter() - t0
        out = model(x_q, x_k, is_node, [s.identity for s in batch])
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        sched.step()
        rec = {"step": step, "loss": float(out["loss"].detach()), "lr": float(opt.param_groups[0]["lr"]),
               "seconds": time.perf_counter() - start}
        for key in ("loss_node", "loss_edge", "acc_node", "acc_edge"):
            if key in out:
                rec[key] = float(out[key])
        history["steps"].append(rec)
        if log is not None and (step % config.log_every == 0 or step == config.steps):
            log(rec)
        if config.time_limit_s is not None and time.perf_counter() - start > config.time_limit_s:
            history["stopped_early"] = True
            break
    elapsed = time.perf_counter() - start
    history.update(steps_done=step, seconds=elapsed, data_seconds=data_time,
                   steps_per_minute=60.0 * step / max(elapsed, 1e-9))
    return model.encoder_q, history


def lr_factor(step: int, steps: int, warmup: int = 0) -> float:
    """Learning-rate multiplier after ``step`` optimiser steps: cosine annealing from 1 to 0 over
    ``steps`` (the release's CosineAnnealingLR), times a linear warmup over the first ``warmup``."""
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / max(steps, 1)))
    return cosine * (min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0)


def _summary(history: dict[str, Any], window: int = 50) -> dict[str, Any]:
    """Means of the first and last ``window`` steps (what a log reader wants, not every step)."""
    steps = history["steps"]
    out = {k: v for k, v in history.items() if k != "steps"}
    for name, part in (("first", steps[:window]), ("last", steps[-window:])):
        for key in ("loss", "loss_node", "loss_edge", "acc_node", "acc_edge"):
            vals = [s[key] for s in part if key in s]
            if vals:
                out[f"{name}_{key}"] = float(np.mean(vals))
    return out


def train_csr(config: CSRTrainConfig, log: Callable[[str], None] | None = print) -> dict[str, Path]:
    """Train the configured models, save each as ``<output>/csr_<kind>.pt`` (fp16 encoder) and
    ``<output>/csr_train.json`` (config, per-model summary and per-step losses, retrieval on
    ``val_data`` before and after training); returns ``{kind: checkpoint path}``.

    The entry point of ``embodied train csr CONFIG``.
    """
    if not config.data:
        from embodied.config import ConfigError
        raise ConfigError("no training data: set data to directories of CSR trajectories", key="data")
    say = log or (lambda _msg: None)
    out_dir = Path(config.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    trajs = load_dataset(config.data)
    val = load_dataset(config.val_data) if config.val_data else []
    say(f"csr: {len(trajs)} training trajectories, {sum(len(t.frames) for t in trajs)} frames; "
        f"{len(val)} validation trajectories")
    report: dict[str, Any] = {"config": dataclasses.asdict(config), "models": {}}
    paths: dict[str, Path] = {}
    for kind in config.models:
        torch.manual_seed(config.seed + (0 if kind == "scene" else 1))
        untrained = CSREncoder(_encoder_config(config, kind))
        before = evaluate_retrieval(untrained, val, kind, config.eval_pairs, config.seed,
                                    config.min_box_frac) if val else None

        def log_step(rec: dict[str, Any], kind: str = kind) -> None:
            say(f"csr {kind} step {rec['step']}: loss {rec['loss']:.3f} lr {rec['lr']:.4f} "
                f"({rec['seconds']:.0f} s)")

        encoder, history = train_moco(kind, trajs, config, log_step)
        after = evaluate_retrieval(encoder, val, kind, config.eval_pairs, config.seed,
                                   config.min_box_frac) if val else None
        summary = _summary(history)
        meta = {"trained_steps": history["steps_done"], "seconds": history["seconds"],
                "final_loss": summary.get("last_loss"), "retrieval": after,
                "train_trajectories": len(trajs), "release_deviations": "see embodied/training/csr.py"}
        path = save_encoder(encoder, out_dir / f"csr_{kind}.pt", half=config.half_checkpoint,
                            meta=json.loads(json.dumps(meta)))
        paths[kind] = path
        report["models"][kind] = {"checkpoint": str(path), "bytes": path.stat().st_size,
                                  "summary": summary, "retrieval_untrained": before,
                                  "retrieval": after, "steps": history["steps"]}
        say(f"csr {kind}: {history['steps_done']} steps in {history['seconds']:.0f} s, "
            f"checkpoint {path} ({path.stat().st_size / 1e6:.1f} MB); retrieval {after} (untrained {before})")
    (out_dir / "csr_train.json").write_text(json.dumps(report, indent=1))
    return paths


# =================================================================================== evaluation
def retrieval_hits(query_emb: torch.Tensor, query_ids: Sequence[Hashable],
                   gallery_emb: torch.Tensor, gallery_ids: Sequence[Hashable]) -> tuple[int, int]:
    """(correct, total) top-1 retrievals: each query whose id is in the gallery is correct when its
    most similar gallery item (cosine; embeddings unit norm) has its id. Queries absent from the
    gallery are not counted (there is nothing right to retrieve)."""
    gallery = list(gallery_ids)
    present = [i for i, qid in enumerate(query_ids) if qid in set(gallery)]
    if not present or len(gallery) == 0:
        return 0, 0
    sim = torch.as_tensor(query_emb)[present] @ torch.as_tensor(gallery_emb).T
    best = sim.argmax(1).tolist()
    correct = sum(gallery[b] == query_ids[i] for i, b in zip(present, best))
    return int(correct), len(present)


def retrieval_top1(query_emb: torch.Tensor, query_ids: Sequence[Hashable],
                   gallery_emb: torch.Tensor, gallery_ids: Sequence[Hashable]) -> float:
    """Top-1 retrieval accuracy (``retrieval_hits`` as a fraction; NaN when nothing to retrieve)."""
    c, n = retrieval_hits(query_emb, query_ids, gallery_emb, gallery_ids)
    return c / n if n else float("nan")


def _frame_pairs(trajs: Sequence[Trajectory], valid: list[list[set[int]]], kind: str) -> list[tuple]:
    """Frame pairs ((t1, f1), (t2, f2)) that share an object and whose second frame holds >= 2:
    same trajectory (scene) or two trajectories of one episode (object; of one house when the
    trajectories carry no ``meta["episode_id"]``). Why by episode: two episodes of one room shuffle
    it differently, so pairing one's walkthrough with the other's unshuffle phase would score a
    comparison that no episode makes."""
    pairs = []
    if kind == "scene":
        for t, traj in enumerate(trajs):
            for f1 in range(len(traj.frames)):
                for f2 in range(f1 + 1, len(traj.frames)):
                    if len(valid[t][f2]) >= 2 and valid[t][f1] & valid[t][f2]:
                        pairs.append(((t, f1), (t, f2)))
    else:
        by_scene: dict[Hashable, list[int]] = {}
        for t, traj in enumerate(trajs):
            episode = traj.meta.get("episode_id")
            key = ("episode", str(episode)) if episode is not None else ("house", int(traj.house_seed))
            by_scene.setdefault(key, []).append(t)
        for ts in by_scene.values():
            for a in ts:
                for b in ts:
                    if a == b:
                        continue
                    for f1 in range(len(trajs[a].frames)):
                        for f2 in range(len(trajs[b].frames)):
                            if len(valid[b][f2]) >= 2 and valid[a][f1] & valid[b][f2]:
                                pairs.append(((a, f1), (b, f2)))
    return pairs


def evaluate_retrieval(encoder: CSREncoder, trajectories: Sequence[Trajectory], kind: str = "scene",
                       max_pairs: int = 200, seed: int = 0, min_box_frac: float = MIN_BOX_FRACTION,
                       batch_size: int = 100) -> dict[str, float]:
    """Node (and, for the scene model, edge) top-1 retrieval across timesteps on held-out trajectories.

    For up to ``max_pairs`` random frame pairs (two timesteps of one trajectory for ``kind="scene"``,
    frames of two trajectories of one house for ``"object"``), every object of the first frame that
    is also in the second is embedded in both, and counts as retrieved when its nearest neighbour
    among all objects of the second frame is itself; edges likewise with ordered pairs. Boxes under
    ``min_box_frac`` are ignored as in training. Returns ``node_top1``, ``node_queries`` and (scene)
    ``edge_top1``, ``edge_queries``; top-1 is micro-averaged over queries.
    """
    trajs = resize_trajectories(trajectories, frame_size_of(encoder.config))
    valid_idx = [[np.flatnonzero(box_area_fraction(f.boxes, *f.shape) >= min_box_frac) for f in t.frames]
                 for t in trajs]
    valid = [[{int(t.frames[f].instance_ids[d]) for d in idx} for f, idx in enumerate(per)]
             for t, per in zip(trajs, valid_idx)]
    pairs = _frame_pairs(trajs, valid, kind)
    rng = np.random.default_rng(seed)
    if len(pairs) > max_pairs:
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_pairs, replace=False))]
    with_edges = kind == "scene"
    cache: dict[tuple[int, int], tuple] = {}

    def embed(t: int, f: int) -> tuple:
        if (t, f) not in cache:
            frame = trajs[t].frames[f]
            idx = valid_idx[t][f]
            ids = [int(frame.instance_ids[d]) for d in idx]
            b = frame.boxes[idx]
            pairs_ij = all_pairs(len(idx)) if with_edges else []
            first = np.concatenate([b, b[[p[0] for p in pairs_ij]].reshape(-1, 4)])
            second = np.concatenate([b, b[[p[1] for p in pairs_ij]].reshape(-1, 4)])
            feats = encode_inputs(encoder, inputs_for(encoder.config, frame.rgb, first, second),
                         batch_size) if len(first) else torch.zeros(0, encoder.config.emb_dim)
            n = len(idx)
            cache[(t, f)] = (ids, feats[:n], [(ids[i], ids[j]) for i, j in pairs_ij], feats[n:])
        return cache[(t, f)]

    hits = {"node": [0, 0], "edge": [0, 0]}
    for (t1, f1), (t2, f2) in pairs:
        ids1, n1, eid1, e1 = embed(t1, f1)
        ids2, n2, eid2, e2 = embed(t2, f2)
        c, n = retrieval_hits(n1, ids1, n2, ids2)
        hits["node"][0] += c
        hits["node"][1] += n
        if with_edges and len(eid2) >= 2:
            c, n = retrieval_hits(e1, eid1, e2, eid2)
            hits["edge"][0] += c
            hits["edge"][1] += n
    out = {"node_top1": hits["node"][0] / hits["node"][1] if hits["node"][1] else float("nan"),
           "node_queries": hits["node"][1], "frame_pairs": len(pairs)}
    if with_edges:
        out["edge_top1"] = hits["edge"][0] / hits["edge"][1] if hits["edge"][1] else float("nan")
        out["edge_queries"] = hits["edge"][1]
    return out


# ---- job helpers (csr_job)
# Evaluation that `embodied eval csr` (embodied.training.csr_job) needs beyond evaluate_retrieval.
__all__ += ["evaluate_edge_retrieval_across_phases"]


def evaluate_edge_retrieval_across_phases(encoder: CSREncoder, trajectories: Sequence[Trajectory],
                                          max_pairs: int = 200, seed: int = 0,
                                          min_box_frac: float = MIN_BOX_FRACTION,
                                          batch_size: int = 100) -> dict[str, float]:
    """Edge (ordered object pair) top-1 retrieval between two trajectories of one episode.

    Why: ``evaluate_retrieval`` scores edges only across timesteps of one trajectory, but the
    rearrangement graphs of the walkthrough and the unshuffle phase are compared edge by edge too,
    so whether the scene model's relation features survive a change of phase is worth its own
    number. The frame pairs are those ``evaluate_retrieval(kind="object")`` draws with the same
    ``max_pairs``, ``seed`` and ``min_box_frac``, so node (object model) and edge (this) numbers
    across phases come from the same frames. Returns ``edge_top1`` (NaN when nothing to
    retrieve), ``edge_queries`` and ``frame_pairs``.
    """
    from embodied.perception.csr_encoder import embed_edges

    trajs = resize_trajectories(trajectories, frame_size_of(encoder.config))
    keep = [[np.flatnonzero(box_area_fraction(f.boxes, *f.shape) >= min_box_frac) for f in t.frames]
            for t in trajs]
    valid = [[{int(f.instance_ids[d]) for d in idx} for f, idx in zip(t.frames, per)]
             for t, per in zip(trajs, keep)]
    pairs = _frame_pairs(trajs, valid, "object")
    rng = np.random.default_rng(seed)
    if len(pairs) > max_pairs:
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_pairs, replace=False))]
    cache: dict[tuple[int, int], tuple[list[tuple[int, int]], torch.Tensor]] = {}

    def edges(t: int, f: int) -> tuple[list[tuple[int, int]], torch.Tensor]:
        if (t, f) not in cache:
            frame = trajs[t].frames[f]
            ids = frame.instance_ids[keep[t][f]]
            pairs_ij, feats = embed_edges(encoder, frame.rgb, frame.boxes[keep[t][f]], batch_size=batch_size)
            cache[(t, f)] = ([(int(ids[i]), int(ids[j])) for i, j in pairs_ij], feats)
        return cache[(t, f)]

    correct = total = 0
    for (t1, f1), (t2, f2) in pairs:
        ids1, e1 = edges(t1, f1)
        ids2, e2 = edges(t2, f2)
        if len(ids1) and len(ids2) >= 2:
            c, n = retrieval_hits(e1, ids1, e2, ids2)
            correct, total = correct + c, total + n
    return {"edge_top1": correct / total if total else float("nan"), "edge_queries": total,
            "frame_pairs": len(pairs)}
