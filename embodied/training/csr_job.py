"""`embodied train csr` and `embodied eval csr`: render rearrangement walks (cached), train CSR's two
encoders on them, and score the trained encoders against an untrained copy on held-out rooms.

Why a job module apart from ``embodied.training.csr``: that module trains on any directory of
trajectories; this one decides which trajectories (walks through both phases of
``embodied/Rearrange-PyBullet-v0`` episodes), where they are cached, and which evaluation answers
"did training help": retrieval across timesteps and phases, and moved-object detection, each for
the checkpoints and for the same architecture untrained (the chance level of each number).

Config (YAML; one file for both commands; dotted ``key=value`` overrides as for ``embodied run``)::

    name: csr_train                  # default: the file's stem
    data_dir: runs/csr_data          # trajectories are cached in <data_dir>/train and <data_dir>/val
    render:                          # RenderSpec per folder
      train: {split: train, episodes: "0:800:2", steps: 50, size: 224, keep_size: 96, seed: 0}
      val:   {split: val,   episodes: "0:60:2",  steps: 50, size: 224, keep_size: 96, seed: 1}
    train:                           # CSRTrainConfig fields, except data and val_data
      output: models/csr
      steps: 1500
    eval:                            # EvalConfig
      checkpoints: null              # default: train.output
      output: runs/csr_eval
      pairs: 300

``train.data`` and ``train.val_data`` are refused (a ConfigError): the job fills them with
``<data_dir>/train`` and ``<data_dir>/val``, and a second source of truth for the data would let
``eval`` score other rooms than ``train`` held out. To train on other data, change ``data_dir``.

``episodes`` is ``"a:b"`` or ``"a:b:step"`` (indices into the split's episode list; quote it: YAML
reads an unquoted ``1:20`` as a base-60 number). A split has two episodes per room, so ``"0:800:2"``
takes one episode of each of 400 rooms. Validation rooms must not be training rooms (checked when
both specs name the same split).

Caching: ``<data_dir>/<train|val>/render.json`` records the spec, the formats of the generator and
the episodes finished so far; a folder whose marker matches the spec and whose files exist is not
rendered again, an interrupted render resumes with the missing episodes, and a changed spec
replaces the folder's trajectories (the job owns the ``*.npz`` files of these folders).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from embodied.config import refuse_sexagesimal, ConfigError, _read_yaml, apply_overrides, atomic_write, to_dict, validate_section
from embodied.perception.csr_encoder import CSREncoder, box_area_fraction, load_encoder
from embodied.training.csr import (
    MIN_BOX_FRACTION, TRAJECTORY_FORMAT, CSRTrainConfig, Trajectory, evaluate_edge_retrieval_across_phases,
    evaluate_retrieval, load_dataset, resize_trajectories, save_dataset, train_csr,
)

__all__ = [
    "RenderSpec", "RenderConfig", "EvalConfig", "CSRJobConfig", "load_job_config", "parse_episodes",
    "render_key", "ensure_rendered", "shrink_trajectory", "train_job", "eval_job", "checkpoint_paths",
    "untrained_like", "node_instances", "predicted_instances", "moved_object_detection", "METRICS",
]

MARKER = "render.json"
RENDER_FORMAT = "embodied.csr_render/1"
GENERATOR = "embodied.training.csr_data.render_rearrange_trajectories"
CHECKPOINTS = {"scene": "csr_scene.pt", "object": "csr_object.pt"}
RULES = ("csr", "paper")
Log = Callable[[str], None]


# ======================================================================================= config
def parse_episodes(text: str, split_size: int) -> range:
    """Episode indices of ``"a:b"`` or ``"a:b:step"``, checked against the split's size.

    Why not a count: training and validation take every other episode (one per room), and a
    range states that where a count could not.
    """
    parts = str(text).split(":")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (2, 3) or len(nums) != len(parts):
        raise ConfigError(f'expected "a:b" or "a:b:step" (episode indices, e.g. "0:800:2"), got {text!r}')
    start, stop, step = nums[0], nums[1], nums[2] if len(nums) == 3 else 1
    if not 0 <= start < stop or step < 1:
        raise ConfigError(f"{text!r}: expected 0 <= a < b and step >= 1")
    if stop > split_size:
        raise ConfigError(f"{text!r} reaches episode {stop - 1}, but the split has {split_size} "
                          f"episodes (0..{split_size - 1})")
    return range(start, stop, step)


def _split_info(split: str) -> Any:
    from embodied.envs.rearrange_episodes import SPLITS

    if split not in SPLITS:
        raise ConfigError(f"got {split!r}, expected one of {', '.join(SPLITS)}", key="split")
    return SPLITS[split]


@dataclass
class RenderSpec:
    """What one data folder holds: random walks through both phases of ``episodes`` of ``split``
    (arguments of ``csr_data.render_rearrange_trajectories``).

    Frames are rendered at ``size`` (the agent's 224 px, so downsampling matches what agents see)
    and stored at ``keep_size`` (null: as rendered) with depth resampled and the intrinsics rescaled
    alongside, so the scene graphs built in evaluation can place objects in 3-D. Episode ``i``'s
    walks are drawn from the seed (``seed``, ``i``), so they do not depend on the other episodes.
    """

    split: str = "train"
    episodes: str = "0:2"
    steps: int = 50
    size: int = 224
    keep_size: int | None = 96
    seed: int = 0
    stride: int = 1
    min_pixels: int = 20
    look_p: float = 0.15
    with_depth: bool = True

    def __post_init__(self) -> None:
        info = _split_info(self.split)
        try:
            parse_episodes(self.episodes, info.size)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="episodes") from None
        for name in ("steps", "stride", "min_pixels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected an integer >= 1", key=name)
        if self.size < 16:
            raise ConfigError(f"got {self.size}, expected >= 16 px", key="size")
        if self.keep_size is not None and not 16 <= self.keep_size <= self.size:
            raise ConfigError(f"got {self.keep_size}, expected null or 16..size ({self.size})", key="keep_size")
        if not 0.0 <= self.look_p <= 1.0:
            raise ConfigError(f"got {self.look_p}, expected [0, 1]", key="look_p")

    def indices(self) -> range:
        return parse_episodes(self.episodes, _split_info(self.split).size)

    def rooms(self) -> set[int]:
        """Room slots of the selected episodes (a split has ``episodes_per_room`` per room)."""
        per_room = _split_info(self.split).episodes_per_room
        return {i // per_room for i in self.indices()}


@dataclass
class RenderConfig:
    """The two data folders: training walks and held-out validation walks."""

    train: RenderSpec = field(default_factory=lambda: RenderSpec(split="train", episodes="0:800:2"))
    val: RenderSpec = field(default_factory=lambda: RenderSpec(split="val", episodes="0:60:2", seed=1))


@dataclass
class EvalConfig:
    """Settings of ``embodied eval csr``.

    ``checkpoints``: folder with csr_scene.pt and csr_object.pt (default: ``train.output``).
    ``pairs``: frame pairs drawn for each retrieval number; ``seed`` draws them and initialises
    the untrained baseline (scene model ``seed``, object model ``seed + 1``, as training seeds
    them). ``max_edges`` and ``rules`` go to the graph builder and the change detector.
    """

    checkpoints: str | None = None
    output: str = "runs/csr_eval"
    pairs: int = 300
    seed: int = 0
    max_edges: int = 16
    rules: list[str] = field(default_factory=lambda: list(RULES))

    def __post_init__(self) -> None:
        if self.pairs < 1:
            raise ConfigError(f"got {self.pairs}, expected an integer >= 1", key="pairs")
        if self.max_edges < 0:
            raise ConfigError(f"got {self.max_edges}, expected an integer >= 0", key="max_edges")
        bad = [r for r in self.rules if r not in RULES]
        if bad or not self.rules:
            raise ConfigError(f"got {self.rules}, expected a non-empty subset of [{', '.join(RULES)}]",
                              key="rules")


@dataclass
class CSRJobConfig:
    """One CSR job: where the data goes, what to render, how to train, how to evaluate."""

    name: str = "csr_train"
    data_dir: str = "runs/csr_data"
    render: RenderConfig = field(default_factory=RenderConfig)
    train: CSRTrainConfig = field(default_factory=CSRTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        tr, va = self.render.train, self.render.val
        if tr.split == va.split and tr.rooms() & va.rooms():
            shared = sorted(tr.rooms() & va.rooms())
            raise ConfigError(f"{va.episodes!r} shares {len(shared)} room(s) of split {va.split!r} with "
                              f"render.train.episodes {tr.episodes!r} (e.g. room {shared[0]}); "
                              "validation rooms must be held out", key="render.val.episodes")

    def data_path(self, role: str) -> Path:
        """The folder of ``role`` ("train" or "val") trajectories."""
        return Path(self.data_dir) / role

    def train_config(self) -> CSRTrainConfig:
        """``train`` with its data filled from ``data_dir`` (what ``train_csr`` gets)."""
        return dataclasses.replace(self.train, data=[str(self.data_path("train"))],
                                   val_data=[str(self.data_path("val"))])

    def checkpoint_dir(self) -> tuple[Path, str]:
        """Where the checkpoints are, and the key that says so (for error messages)."""
        if self.eval.checkpoints is not None:
            return Path(self.eval.checkpoints), "eval.checkpoints"
        return Path(self.train.output), "train.output"


def _refuse_job_owned_keys(raw: Mapping[str, Any]) -> None:
    """train.data / train.val_data are the job's (see the module docstring)."""
    section = raw.get("train")
    if not isinstance(section, Mapping):
        return
    for key, role in (("data", "train"), ("val_data", "val")):
        if key in section:
            raise ConfigError(f"train.{key}: set by the job to <data_dir>/{role}; remove it (to train on "
                              "other trajectories, set data_dir)")


def _refuse_sexagesimal(raw: Mapping[str, Any]) -> None:
    """An unquoted ``episodes: 1:20`` reaches us as the int 80 (YAML 1.1 base 60): say so."""
    render = raw.get("render")
    if not isinstance(render, Mapping):
        return
    for role, spec in render.items():
        value = spec.get("episodes") if isinstance(spec, Mapping) else None
        refuse_sexagesimal(value, f"render.{role}.episodes", "0:800:2")


def load_job_config(path: str | Path, overrides: Iterable[str] = ()) -> CSRJobConfig:
    """Read a CSR job YAML, apply dotted overrides, validate (ConfigError naming the key)."""
    raw = _read_yaml(path)
    apply_overrides(raw, list(overrides))
    raw.setdefault("name", Path(path).stem)
    _refuse_job_owned_keys(raw)
    _refuse_sexagesimal(raw)
    return validate_section(CSRJobConfig, raw, "")


# ==================================================================================== rendering
def render_key(spec: RenderSpec) -> dict[str, Any]:
    """What a data folder's contents depend on: the spec and the formats of what writes them.
    A marker with another key means the folder holds other trajectories."""
    from embodied.envs.rearrange_episodes import DATASET_VERSION

    return {"format": RENDER_FORMAT, "generator": GENERATOR, "trajectory_format": TRAJECTORY_FORMAT,
            "episodes_version": DATASET_VERSION, "spec": to_dict(spec)}


def _finished(directory: Path, key: Mapping[str, Any]) -> dict[int, list[str]]:
    """Episodes the marker records for this key whose files are all there ({} for another key)."""
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(marker, dict) or marker.get("key") != json.loads(json.dumps(key)):
        return {}
    episodes = marker.get("episodes") or {}
    return {int(i): list(files) for i, files in episodes.items()
            if files and all((directory / f).is_file() for f in files)}


def _write_marker(directory: Path, key: Mapping[str, Any], done: Mapping[int, list[str]]) -> None:
    body = {"key": key, "episodes": {str(i): files for i, files in sorted(done.items())}}
    atomic_write(directory / MARKER, json.dumps(body, indent=1) + "\n")


def _remove_other_trajectories(directory: Path, keep: Iterable[str]) -> None:
    """Delete the folder's trajectories that are not ``keep``: ``load_dataset`` reads every .npz."""
    names = set(keep)
    for path in directory.glob("*.npz"):
        if path.name not in names:
            path.unlink()


def _episode_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _scale_camera(camera: Mapping[str, Any] | None, src_hw: tuple[int, int],
                  dst_hw: tuple[int, int]) -> dict[str, Any] | None:
    """Pinhole intrinsics of a resized image (pixel centres at integer coordinates)."""
    if camera is None:
        return None
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    out = dict(camera)
    out.update(fx=float(camera["fx"]) * sx, fy=float(camera["fy"]) * sy,
               cx=(float(camera["cx"]) + 0.5) * sx - 0.5, cy=(float(camera["cy"]) + 0.5) * sy - 0.5,
               width=int(dst_hw[1]), height=int(dst_hw[0]))
    return out


def _resize_depth(depth: np.ndarray | None, size: int) -> np.ndarray | None:
    """Nearest-neighbour resampling: averaging depths across an object's edge invents surfaces."""
    if depth is None:
        return None
    d = torch.from_numpy(np.asarray(depth, dtype=np.float32))[None, None]
    return F.interpolate(d, size=(size, size), mode="nearest-exact")[0, 0].numpy()


def shrink_trajectory(traj: Trajectory, size: int) -> Trajectory:
    """The trajectory at size x size: RGB and boxes as ``resize_trajectories`` makes them, plus depth
    (which that drops, as training never reads it) and the intrinsics rescaled to match."""
    if not traj.frames or traj.frames[0].shape == (size, size):
        return traj
    small = resize_trajectories([traj], size)[0]
    frames = [dataclasses.replace(s, depth=_resize_depth(f.depth, size))
              for s, f in zip(small.frames, traj.frames)]
    return dataclasses.replace(small, frames=frames,
                               camera=_scale_camera(traj.camera, traj.frames[0].shape, (size, size)))


def _render_episode(spec: RenderSpec, index: int) -> list[Trajectory]:
    from embodied.training.csr_data import render_rearrange_trajectories

    trajs = render_rearrange_trajectories(spec.split, [index], steps=spec.steps, size=spec.size,
                                          seed=_episode_seed(spec.seed, index), stride=spec.stride,
                                          min_pixels=spec.min_pixels, look_p=spec.look_p,
                                          keep_size=None, with_depth=spec.with_depth)
    return [shrink_trajectory(t, spec.keep_size) for t in trajs] if spec.keep_size else trajs


def ensure_rendered(spec: RenderSpec, directory: str | Path, log: Log = print) -> Path:
    """Render ``spec`` into ``directory`` unless its marker says it is already there (see the module
    docstring); resumes an interrupted render. Returns the directory."""
    directory = Path(directory)
    key = render_key(spec)
    done = _finished(directory, key)
    indices = list(spec.indices())
    todo = [i for i in indices if i not in done]
    if not todo:
        log(f"data: {directory} is up to date ({len(indices)} {spec.split} episodes)")
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    _remove_other_trajectories(directory, [f for files in done.values() for f in files])
    log(f"data: rendering {len(todo)} {spec.split} episodes ({spec.episodes}) into {directory}"
        + (f", {len(done)} already there" if done else ""))
    every = max(1, len(todo) // 20)
    start = time.perf_counter()
    for n, index in enumerate(todo, 1):
        done[index] = [p.name for p in save_dataset(_render_episode(spec, index), directory)]
        _write_marker(directory, key, done)
        if n % every == 0 or n == len(todo):
            elapsed = time.perf_counter() - start
            log(f"data: {spec.split} {n}/{len(todo)} episodes, {elapsed:.0f} s, "
                f"eta {elapsed / n * (len(todo) - n):.0f} s")
    return directory


# ===================================================================================== training
def train_job(cfg: CSRJobConfig, log: Log = print) -> dict[str, Path]:
    """``embodied train csr``: render (cached) both folders, train both models; returns the
    checkpoint path of each model."""
    ensure_rendered(cfg.render.train, cfg.data_path("train"), log)
    ensure_rendered(cfg.render.val, cfg.data_path("val"), log)
    paths = train_csr(cfg.train_config(), log)
    log(f"checkpoints: {', '.join(str(p) for p in paths.values())} "
        f"(log: {Path(cfg.train.output) / 'csr_train.json'})")
    return paths


# =================================================================================== evaluation
#: Metric key -> table header, in table order (moved-object metrics follow, one pair per rule).
METRICS = {
    "timestep_node_top1": "node top-1\nacross timesteps",
    "timestep_edge_top1": "edge top-1\nacross timesteps",
    "phase_node_top1": "node top-1\nacross phases",
    "phase_edge_top1": "edge top-1\nacross phases",
}


def _moved_metric_names(rules: Sequence[str]) -> dict[str, str]:
    return {k: v for r in rules for k, v in ((f"moved_precision_{r}", f"moved precision\n({r})"),
                                              (f"moved_recall_{r}", f"moved recall\n({r})"))}


def checkpoint_paths(cfg: CSRJobConfig) -> dict[str, Path]:
    """The two checkpoints ``eval`` scores; a ConfigError naming the missing one."""
    folder, key = cfg.checkpoint_dir()
    paths = {kind: folder / name for kind, name in CHECKPOINTS.items()}
    for path in paths.values():
        if not path.is_file():
            raise ConfigError(f"{key}: no checkpoint {str(path)!r}; run `embodied train csr CONFIG` first "
                              f"(it writes {' and '.join(CHECKPOINTS.values())} to train.output)")
    return paths


def _load(path: Path, key: str) -> CSREncoder:
    try:
        return load_encoder(path)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ConfigError(f"{key}: cannot load {str(path)!r} ({exc}); run `embodied train csr CONFIG` "
                          "again to rewrite it") from None


def untrained_like(encoder: CSREncoder, seed: int) -> CSREncoder:
    """The same architecture with seeded random weights: the baseline a trained encoder is read
    against. A random network's features still carry the box's place and colours, so this, not
    1 / gallery size, is the level that training must beat."""
    torch.manual_seed(seed)
    return CSREncoder(encoder.config).eval()


def node_instances(observations: Iterable[tuple[Sequence[int], Sequence[int]]]) -> dict[int, int]:
    """Ground-truth instance of each graph node: the instance most of its detections had.

    ``observations``: per frame, (node of each detection, instance id of each detection); a
    negative node is a detection the graph builder skipped. Ties go to the smaller instance id, so
    the mapping does not depend on frame order.
    """
    votes: dict[int, Counter] = {}
    for nodes, instances in observations:
        for node, inst in zip(nodes, instances):
            if int(node) >= 0:
                votes.setdefault(int(node), Counter())[int(inst)] += 1
    return {node: min(c, key=lambda i: (-c[i], i)) for node, c in votes.items()}


def predicted_instances(changes: Iterable[Any], walk_gt: Mapping[int, int],
                        unshuffle_gt: Mapping[int, int]) -> set[int]:
    """Instances a change detector says changed: each change's walkthrough node's instance, or
    its unshuffle node's when it has no walkthrough node (an object only seen after the change)."""
    out = set()
    for change in changes:
        if change.walk_node is not None and int(change.walk_node) in walk_gt:
            out.add(walk_gt[int(change.walk_node)])
        elif change.unshuffle_node is not None and int(change.unshuffle_node) in unshuffle_gt:
            out.add(unshuffle_gt[int(change.unshuffle_node)])
    return out


def _episodes(trajectories: Sequence[Trajectory]) -> dict[str, tuple[Trajectory, Trajectory]]:
    """(walkthrough, unshuffle) trajectories of each episode that has both."""
    phases: dict[str, dict[str, Trajectory]] = {}
    for traj in trajectories:
        phases.setdefault(str(traj.meta.get("episode_id", traj.house_seed)), {})[traj.phase] = traj
    return {ep: (p["walkthrough"], p["unshuffle"]) for ep, p in sorted(phases.items())
            if "walkthrough" in p and "unshuffle" in p}


def _build_graph(builder_cls: Any, scene: CSREncoder, obj: CSREncoder, traj: Trajectory,
                 max_edges: int, min_box_frac: float) -> tuple[Any, dict[int, int]]:
    """One phase's scene graph, and the ground-truth instance of each of its nodes.

    Boxes under ``min_box_frac`` of the image are left out, as in training and retrieval: the
    encoders never learnt them."""
    builder = builder_cls(scene, obj, traj.camera, max_edges=max_edges)
    observations = []
    for frame in traj.frames:
        keep = np.flatnonzero(box_area_fraction(frame.boxes, *frame.shape) >= min_box_frac)
        nodes = builder.add_frame(frame.rgb, frame.boxes[keep], [frame.categories[k] for k in keep],
                                  frame.depth, frame.pose)
        observations.append((nodes, frame.instance_ids[keep].tolist()))
    return builder.graph, node_instances(observations)


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def moved_object_detection(scene: CSREncoder, obj: CSREncoder, trajectories: Sequence[Trajectory],
                           rules: Sequence[str] = RULES, max_edges: int = 16,
                           min_box_frac: float = MIN_BOX_FRACTION) -> dict[str, dict[str, Any]]:
    """Per rule, precision and recall of the instances a change detector says changed between the
    two phases of each episode, against ``meta["changed_instances"]``, micro-averaged over episodes
    (precision NaN when nothing was predicted, recall NaN when nothing changed)."""
    from embodied.perception.csr_tracking import GraphBuilder
    from embodied.perception.rearrange_changes import detect_changes

    tally = {rule: {"true_positives": 0, "predicted": 0, "changed": 0} for rule in rules}
    episodes = _episodes(trajectories)
    for walk, unshuffle in episodes.values():
        walk_graph, walk_gt = _build_graph(GraphBuilder, scene, obj, walk, max_edges, min_box_frac)
        unsh_graph, unsh_gt = _build_graph(GraphBuilder, scene, obj, unshuffle, max_edges, min_box_frac)
        changed = {int(i) for i in walk.meta.get("changed_instances", [])}
        for rule in rules:
            predicted = predicted_instances(detect_changes(walk_graph, unsh_graph, rule=rule), walk_gt, unsh_gt)
            t = tally[rule]
            t["true_positives"] += len(predicted & changed)
            t["predicted"] += len(predicted)
            t["changed"] += len(changed)
    return {rule: {**t, "episodes": len(episodes), "precision": _ratio(t["true_positives"], t["predicted"]),
                   "recall": _ratio(t["true_positives"], t["changed"])} for rule, t in tally.items()}


def score_encoders(scene: CSREncoder, obj: CSREncoder, val: Sequence[Trajectory], cfg: CSRJobConfig,
                   ) -> tuple[dict[str, float], dict[str, Any]]:
    """The metrics of one (scene, object) encoder pair, and the counts behind them."""
    e = cfg.eval
    frac = cfg.train.min_box_frac
    steps = evaluate_retrieval(scene, val, "scene", e.pairs, e.seed, frac)
    phases = evaluate_retrieval(obj, val, "object", e.pairs, e.seed, frac)
    phase_edges = evaluate_edge_retrieval_across_phases(scene, val, e.pairs, e.seed, frac)
    moved = moved_object_detection(scene, obj, val, e.rules, e.max_edges, frac)
    metrics = {"timestep_node_top1": steps["node_top1"], "timestep_edge_top1": steps["edge_top1"],
               "phase_node_top1": phases["node_top1"], "phase_edge_top1": phase_edges["edge_top1"]}
    for rule, m in moved.items():
        metrics[f"moved_precision_{rule}"] = m["precision"]
        metrics[f"moved_recall_{rule}"] = m["recall"]
    counts = {"timesteps": steps, "phases": phases, "phase_edges": phase_edges, "moved": moved}
    return metrics, counts


def _cell(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def print_eval_table(report: Mapping[str, Any], console: Any = None) -> None:
    """Rows trained / untrained, a column per metric (rich, as ``embodied show`` prints runs)."""
    from rich.table import Table

    from embodied.results import wide_console

    console = wide_console(console)
    headers = {**METRICS, **_moved_metric_names(report["rules"])}
    table = Table(title=report["title"], title_justify="left")
    table.add_column("model", style="bold")
    for header in headers.values():
        table.add_column(header, justify="right")
    for model, metrics in report["models"].items():
        table.add_row(model, *(_cell(metrics.get(k)) for k in headers))
    console.print(table)


def eval_job(cfg: CSRJobConfig, log: Log = print, console: Any = None) -> dict[str, Any]:
    """``embodied eval csr``: score the checkpoints and an untrained copy on the validation walks;
    writes ``<eval.output>/csr_eval.json``, prints a table, returns the report.

    The report's ``models`` hold the metrics (``METRICS``, then moved-object precision and recall
    per rule), NaN where there was nothing to count (written as JSON ``NaN``, as ``csr_train.json``
    does); ``counts`` hold the numbers behind them (queries, frame pairs, true positives).
    """
    paths = checkpoint_paths(cfg)
    key = cfg.checkpoint_dir()[1]
    if cfg.train.threads:
        torch.set_num_threads(int(cfg.train.threads))
    val_dir = ensure_rendered(cfg.render.val, cfg.data_path("val"), log)
    val = load_dataset(val_dir)
    trained = {kind: _load(path, key) for kind, path in paths.items()}
    encoders = {"trained": (trained["scene"], trained["object"]),
                "untrained": (untrained_like(trained["scene"], cfg.eval.seed),
                              untrained_like(trained["object"], cfg.eval.seed + 1))}
    episodes = len(_episodes(val))
    report: dict[str, Any] = {
        "title": f"CSR on {episodes} held-out {cfg.render.val.split} episodes ({len(val)} trajectories)",
        "checkpoints": {k: str(p) for k, p in paths.items()}, "data": str(val_dir),
        "trajectories": len(val), "episodes": episodes, "rules": list(cfg.eval.rules),
        "models": {}, "counts": {}, "config": to_dict(dataclasses.replace(cfg, train=cfg.train_config())),
    }
    for name, (scene, obj) in encoders.items():
        start = time.perf_counter()
        report["models"][name], report["counts"][name] = score_encoders(scene, obj, val, cfg)
        log(f"eval: {name} encoders scored in {time.perf_counter() - start:.0f} s")
    out = Path(cfg.eval.output) / "csr_eval.json"
    atomic_write(out, json.dumps(report, indent=1) + "\n")
    print_eval_table(report, console)
    log(f"results: {out}")
    return report
