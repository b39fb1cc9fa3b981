"""`embodied eval localization CONFIG [key=value ...]`: score CoW's object localizers on rendered frames.

Why: CoW's success hinges on the localizer, but an ObjectNav run mixes its errors with the
explorer's. Here each localizer sees the same frames of the embedded ObjectNav val split, rendered
with ground-truth instance/semantic masks, and is scored on three questions:

1. **detection** (per frame, at the localizer's own threshold): a frame is a predicted positive when
   `detect`'s mask has >= `min_pixels` pixels, an actual positive when the goal mask has >=
   `min_pixels` pixels; precision = TP / predicted positives, recall = TP / actual positives, and
   the false-positive rate FPR = FP / frames without the goal (NaN when a denominator is 0).
   Frames without the goal in view are kept on purpose: they are where false positives come
   from, and an agent sees many more of them than of the goal -- at ~80 frames an episode, a
   FPR of a few percent already sends CoW to a wrong object once per episode;
2. **pixel AUROC** of the relevance map against the goal mask, averaged over frames where the goal
   is visible (rank-based, ties averaged: `auroc`);
3. **category top-1** on object crops (CLIP localizers only, NaN otherwise): for each visible object
   instance of a goal category, which category's prompt the localizer's CLIP model scores highest.

The relevance scored in 2 is the map `detect` returns (its first element: `Localizer.detect`'s
contract is "(relevance, mask)"), so each frame costs one forward pass per localizer.

Writes `<output>/localization_eval.json` (config, frame counts, per localizer metrics and counts)
and prints a table. Frames are deterministic in `seed`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from embodied.config import (ConfigError, LocalizerConfig, _read_yaml, apply_overrides, atomic_write,
                             to_dict, validate_section)

__all__ = ["LocalizationEvalConfig", "load_job_config", "train_job", "eval_job", "auroc",
           "render_frames", "evaluate_localizer", "Frame"]

Log = Callable[[str], None]


@dataclass
class LocalizationEvalConfig:
    """A localization evaluation: which frames, which localizers, where the report goes.

    `per_episode` frames are taken in each val episode (a random walk of `stride` actions between
    frames; every other frame the agent first turns toward the goal, so that frames with the goal
    in view are common: the camera is placed at a free cell within `near_goal` metres (geodesic) of
    the episode's success region, facing the nearest goal instance with a little yaw noise), episodes
    in split order until `frames` frames are rendered. `context` grows each object crop's box.
    """

    name: str = "localization_eval"
    frames: int = 60
    split: str = "val"
    width: int = 224
    height: int = 224
    min_pixels: int = 10
    seed: int = 0
    per_episode: int = 6
    stride: int = 3
    context: float = 0.15
    near_goal: float = 0.0
    device: str = "cpu"
    output: str = "runs/localization_eval"
    localizers: list[LocalizerConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        from embodied.envs import objectnav_episodes as episodes_lib

        if self.split not in episodes_lib.SPLITS:
            raise ConfigError(f"got {self.split!r}, expected one of {', '.join(episodes_lib.SPLITS)}",
                              key="split")
        for key in ("frames", "width", "height", "min_pixels", "per_episode", "stride"):
            if getattr(self, key) < 1:
                raise ConfigError(f"got {getattr(self, key)}, expected an integer >= 1", key=key)
        if self.min_pixels > self.width * self.height:
            raise ConfigError(f"got {self.min_pixels}, expected at most width x height "
                              f"({self.width * self.height})", key="min_pixels")
        if not 0.0 <= self.context <= 1.0:
            raise ConfigError(f"got {self.context}, expected a fraction in [0, 1]", key="context")
        if not self.localizers:
            raise ConfigError("expected at least one localizer config (a mapping with an id)",
                              key="localizers")


def load_job_config(path: str | Path, overrides: Iterable[str] = ()) -> LocalizationEvalConfig:
    """Read the job YAML, apply dotted overrides, validate (ConfigError naming the key)."""
    from embodied import registry

    registry.load_builtin()
    raw = _read_yaml(path)
    apply_overrides(raw, list(overrides))
    raw.setdefault("name", Path(path).stem)
    return validate_section(LocalizationEvalConfig, raw, "")


def train_job(cfg: LocalizationEvalConfig) -> None:
    raise ConfigError("SYSTEM: localization has nothing to train; use embodied eval localization")


# ========================================================================================= AUROC
def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for binary `labels` (Mann-Whitney U, ties averaged).

    NaN when the labels are all one class (the area is undefined).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"auroc: {scores.shape[0]} scores for {labels.shape[0]} labels")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average rank (1-based) over each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    avg = (starts + ends + 1) / 2.0  # mean of (start+1 .. end)
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


# ======================================================================================== frames
@dataclass
class Frame:
    obs: dict[str, Any]          # rgb, depth, semantic, instance (what a localizer may read)
    info: dict[str, Any]         # the episode's reset info (for `localizer.reset`)
    goal: str                    # goal category
    goal_mask: np.ndarray        # (H, W) bool: pixels of any instance of the goal category
    objects: list[tuple[str, tuple[int, int, int, int]]]  # visible goal-category instances: (category, box)
    episode_id: str = ""


def _box(mask: np.ndarray, context: float) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) around a mask's pixels, grown by `context` of its size on each side."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    dy, dx = int(round((y1 - y0) * context)), int(round((x1 - x0) * context))
    h, w = mask.shape
    return max(0, y0 - dy), min(h, y1 + dy), max(0, x0 - dx), min(w, x1 + dx)


def render_frames(cfg: LocalizationEvalConfig) -> list[Frame]:
    """`cfg.frames` privileged frames of split `cfg.split` (deterministic in `cfg.seed`)."""
    from embodied.envs import objectnav_episodes as episodes_lib
    from embodied.envs.objectnav import MOVE_AHEAD, ROTATE_LEFT, ROTATE_RIGHT, ObjectNavEnv, wrap_angle
    from embodied.envs.pybullet.house import GOAL_CATEGORIES

    env = ObjectNavEnv(privileged=True, width=cfg.width, height=cfg.height, max_steps=10 ** 9)
    rng = np.random.default_rng(cfg.seed)
    size = episodes_lib.SPLITS[cfg.split].size
    frames: list[Frame] = []
    try:
        index = 0
        while len(frames) < cfg.frames:
            if index >= size:
                raise ConfigError(f"split {cfg.split!r} gave only {len(frames)} frames; lower frames "
                                  "or raise per_episode", key="frames")
            episode = episodes_lib.split_episode(cfg.split, index)
            index += 1
            obs, info = env.reset(seed=int(cfg.seed), options={"episode": episode})
            goal = str(info["goal"])
            category_of = {o.instance_id: o.category for o in env.house.objects}
            goal_ids = [i for i, c in category_of.items() if c == goal]
            grid, field = info["privileged"]["navgrid"], np.asarray(info["privileged"]["goal_field"])
            centres = [0.5 * (np.asarray(lo[:2]) + np.asarray(hi[:2])) for lo, hi, _ in env.goal_boxes]
            for k in range(cfg.per_episode):
                if len(frames) >= cfg.frames:
                    break
                if k > 0:
                    for _ in range(cfg.stride):
                        u = rng.random()
                        action = MOVE_AHEAD if u < 0.7 else (ROTATE_LEFT if rng.random() < 0.5 else ROTATE_RIGHT)
                        obs, _, _, _, step = env.step(int(action))
                        if action == MOVE_AHEAD and not step["last_action_success"]:
                            turn = ROTATE_LEFT if rng.random() < 0.5 else ROTATE_RIGHT
                            for _ in range(int(rng.integers(1, 6))):
                                obs, *_ = env.step(int(turn))
                if k % 2 == 1 and centres:
                    # a view of the goal: put the camera at a free cell near the success region, facing
                    # the nearest goal instance (an evaluation renderer, not an agent: the pose is set)
                    near = np.argwhere(grid.free & np.isfinite(field) & (field <= cfg.near_goal))
                    if len(near):
                        cell = near[int(rng.integers(len(near)))]
                        env.position = np.asarray(grid.cell_to_world(cell), dtype=np.float64)
                        c = min(centres, key=lambda p: float(np.linalg.norm(p - env.position)))
                        env.yaw = wrap_angle(math.atan2(c[1] - env.position[1], c[0] - env.position[0])
                                             + float(rng.normal(0.0, 0.2)))
                        obs = env._observe()
                instance = np.asarray(obs["instance"])
                goal_mask = np.isin(instance, goal_ids)
                objects = []
                for iid in np.unique(instance):
                    cat = category_of.get(int(iid))
                    if cat in GOAL_CATEGORIES:
                        m = instance == iid
                        if int(m.sum()) >= cfg.min_pixels:
                            objects.append((cat, _box(m, cfg.context)))
                frames.append(Frame({k2: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                                     for k2, v in obs.items()}, info, goal, goal_mask, objects,
                                    str(episode["episode_id"])))
    finally:
        env.close()
    return frames


# ======================================================================================= metrics
def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def _category_top1(localizer: Any, frames: list[Frame]) -> tuple[float, int]:
    """Top-1 accuracy of the localizer's CLIP model over goal-category crops (NaN: not a CLIP one)."""
    clip = getattr(localizer, "clip", None)
    if clip is None or not all(hasattr(clip, a) for a in ("encode_image", "pixels", "text_embedding")):
        return float("nan"), 0
    import torch

    from embodied.envs.pybullet.house import GOAL_CATEGORIES
    from embodied.perception.localization.base import DEFAULT_TEMPLATES, category_words

    def prompts(category: str) -> list[str]:
        own = getattr(localizer, "prompts", None)
        if own is not None:
            out = own(category)
            if out and all(isinstance(p, str) for p in out):
                return list(out)
        words = category_words(category)
        return [t.format(words) for t in DEFAULT_TEMPLATES]  # clip_ref's prompts take a region too

    texts = torch.stack([clip.text_embedding(prompts(c)) for c in GOAL_CATEGORIES])  # (C, D)
    correct = total = 0
    for frame in frames:
        if not frame.objects:
            continue
        images = clip.encode_image(clip.pixels(frame.obs["rgb"], [b for _, b in frame.objects]))
        best = (images @ texts.T).argmax(dim=1).cpu().numpy()
        for (cat, _), j in zip(frame.objects, best):
            correct += int(GOAL_CATEGORIES[int(j)] == cat)
            total += 1
    return _ratio(correct, total), total


def evaluate_localizer(localizer: Any, frames: list[Frame], min_pixels: int) -> dict[str, Any]:
    """Detection precision/recall, mean pixel AUROC and category top-1 of one localizer."""
    tp = fp = fn = tn = 0
    aurocs: list[float] = []
    last_info = None
    for frame in frames:
        if frame.info is not last_info:
            localizer.reset(frame.info)
            last_info = frame.info
        rel, mask = localizer.detect(frame.obs, frame.goal)
        rel = np.asarray(rel, dtype=np.float32)
        predicted = int(np.count_nonzero(mask)) >= min_pixels
        actual = int(frame.goal_mask.sum()) >= min_pixels
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
        tn += not predicted and not actual
        if actual:
            value = auroc(rel, frame.goal_mask)
            if math.isfinite(value):
                aurocs.append(value)
    top1, crops = _category_top1(localizer, frames)
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "fpr": _ratio(fp, fp + tn),
        "auroc": float(np.mean(aurocs)) if aurocs else float("nan"),
        "category_top1": top1,
        "counts": {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "auroc_frames": len(aurocs), "crops": crops},
    }


def _label(config: Any) -> str:
    variant = getattr(config, "variant", None)
    return f"{config.id} ({variant})" if variant else str(config.id)


#: settings left out of the table's "settings" column (shown elsewhere, or lists too long to read)
_UNSHOWN = {"id", "variant", "model", "pretrained", "templates", "paper_templates", "negative_templates",
            "vocabulary", "init_seed"}


def settings(config: Any) -> str:
    """The scalar settings of a localizer config that differ from its class's defaults
    ("score=vocabulary grid=4"), so two rows of one localizer and variant can be told apart."""
    try:
        default = to_dict(type(config)(id=config.id))
    except Exception:  # noqa: BLE001 - a config class with required fields: show nothing
        return ""
    mine = to_dict(config)
    return " ".join(f"{k}={v}" for k, v in mine.items()
                    if k not in _UNSHOWN and not isinstance(v, (list, dict)) and default.get(k) != v)


def model_label(config: Any) -> str:
    """"embodied-vit-s", or "tiny-vit (random)" for a CLIP config without weights; "" otherwise."""
    model = getattr(config, "model", None)
    if model is None:
        return ""
    return f"{model} (random)" if getattr(config, "pretrained", "x") is None else str(model)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


METRICS = {"precision": "precision", "recall": "recall", "fpr": "FPR", "auroc": "pixel AUROC",
           "category_top1": "category top-1"}


def print_table(report: Mapping[str, Any], console: Any = None) -> None:
    from rich.table import Table

    from embodied.results import wide_console

    console = wide_console(console)
    table = Table(title=report["title"], title_justify="left")
    table.add_column("localizer", style="bold")
    table.add_column("variant")
    table.add_column("model")
    table.add_column("settings")
    for header in METRICS.values():
        table.add_column(header, justify="right")
    for row in report["localizers"]:
        cells = [("n/a" if v is None or not math.isfinite(v) else f"{v:.3f}")
                 for v in (row["metrics"][k] for k in METRICS)]
        table.add_row(row["id"], row.get("variant") or "", row.get("model") or "", row.get("settings") or "",
                      *cells)
    console.print(table)


def eval_job(cfg: LocalizationEvalConfig, log: Log = print, console: Any = None) -> dict[str, Any]:
    """Render the frames, score every localizer, write `<output>/localization_eval.json`, print a table."""
    from embodied.perception.localization import make_localizer

    frames = render_frames(cfg)
    visible = sum(int(f.goal_mask.sum()) >= cfg.min_pixels for f in frames)
    log(f"{len(frames)} frames of split {cfg.split!r} ({visible} with the goal visible)")
    rows = []
    for config in cfg.localizers:
        log(f"scoring {_label(config)}")
        localizer = make_localizer(config, device=cfg.device)
        rows.append({"id": config.id, "variant": getattr(config, "variant", None),
                     "model": model_label(config), "settings": settings(config), "config": to_dict(config),
                     "metrics": evaluate_localizer(localizer, frames, cfg.min_pixels)})
    report = {
        "title": f"{cfg.name}: {len(frames)} frames, {visible} with the goal visible",
        "config": to_dict(cfg),
        "frames": {"total": len(frames), "goal_visible": visible,
                   "episodes": sorted({f.episode_id for f in frames})},
        "localizers": rows,
    }
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "localization_eval.json", json.dumps(_json_safe(report), indent=1) + "\n")
    print_table(report, console)
    log(f"wrote {out / 'localization_eval.json'}")
    return report
