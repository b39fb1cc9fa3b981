"""`embodied patch CONFIG`: PAINT and model soups on a CLIP, offline, with the in-sim data.

Why: a zero-shot CLIP that does not know some objects can be *patched* on them without losing
what it knew (PAINT: Ilharco, Wortsman, Gadre et al., NeurIPS 2022), and several fine-tunes of one
model can be averaged into one better model (model soups: Wortsman et al., ICML 2022). This job
runs both end to end on image-text pairs rendered in the embedded houses
(``embodied.training.clip_data``), so the recipe can be checked here and then pointed at a real
checkpoint (``base_checkpoint: PATH`` of any open_clip model, e.g. ViT-B-32 ``openai`` weights).

Tasks (zero-shot classification of object crops, prompt ensembles of ``DEFAULT_TEMPLATES``, as the
localizers query the model):

* **patching task**: the crops of ``patch_categories``, classified among those categories;
* **supported task**: the crops of every other goal category, classified among those.

Steps:

1. **base** (the zero-shot model): ``base_checkpoint``, or -- the offline demo -- a CLIP trained
   here (``base``) on the train pairs that never name a patch category: their crops and every
   frame caption naming one (any synonym, whole words) are left out, so the base model has never
   read those words;
2. **fine-tune** (``finetune``) the base on the patching task's train crops alone. As PAINT
   does, only the image encoder trains, as a classifier whose head is the base model's zero-shot
   text embeddings of the patch categories (frozen, as the whole text tower): cross-entropy of
   logit_scale x cosine (``finetune_mode: classifier``). ``contrastive`` fine-tunes both towers
   with the CLIP loss instead (more forgetting: the supported classes' text embeddings move too);
3. **PAINT**: θ(α) = (1−α)·θ_base + α·θ_fine-tuned over ``alphas``; α chosen on the *selection*
   pairs (``val_render``): by default the best patching accuracy whose supported accuracy is at
   most ``max_supported_drop`` below the base's (``null``: PAINT's average of both);
4. **soups**: more fine-tunes of the same base (``soup_lrs`` x ``soup_seeds``, plus the one of
   step 2) -> the uniform soup and the greedy soup (ingredients by selection score, the mean of
   both tasks, kept only if the soup's score does not drop), then the greedy soup patched as in 3;
5. everything is reported on the *test* pairs (``test_render``: houses no choice was made on).

Pairs are cached under ``data_dir`` (``train``, shared with ``embodied train clip`` when the
``render`` specs match; ``paint_selection``; ``paint_test``).

Writes ``<output>/paint.json`` (config, accuracies per model and split, the α curve, soup
ingredients), ``<output>/alpha_curve.png`` and the state dicts ``base.pt``, ``finetuned.pt``,
``patched.pt``, ``soup_ingredient_<k>.pt``, ``greedy_soup.pt`` (fp16 open_clip state dicts, loadable
with ``pretrained: PATH``). A killed run resumes: each trained stage is kept with a marker of the
settings that made it and reused when they match.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from embodied.config import (ConfigError, _read_yaml, apply_overrides, atomic_write, refuse_sexagesimal,
                             to_dict, validate_section)
from embodied.training.clip_train import PairRenderSpec, check_training

__all__ = ["TrainSpec", "PaintJobConfig", "load_job_config", "patch_job", "split_by_categories",
           "TaskScorer"]

Log = Callable[[str], None]
STAGE_FORMAT = "embodied.paint_stage/1"


@dataclass
class TrainSpec:
    """One contrastive training run (``clip_train.train_clip``'s arguments)."""

    steps: int = 200
    batch_size: int = 128
    lr: float = 1e-4
    warmup_steps: int = 20
    weight_decay: float = 0.1
    prompt_captions: float = 0.5
    crop_scale: float = 0.7
    seed: int = 0

    def __post_init__(self) -> None:
        check_training(self)


@dataclass
class PaintJobConfig:
    """A PAINT + soups job: data, the categories to patch, the three kinds of training, choices."""

    name: str = "paint_demo"
    data_dir: str = "runs/clip_data"
    render: PairRenderSpec = field(default_factory=PairRenderSpec)
    val_render: PairRenderSpec = field(
        default_factory=lambda: PairRenderSpec(split="val", houses="0:25", views_per_house=24, seed=3))
    test_render: PairRenderSpec = field(
        default_factory=lambda: PairRenderSpec(split="test", houses="0:25", views_per_house=24, seed=4))
    model: str = "embodied-vit-xs"
    patch_categories: list[str] = field(default_factory=lambda: ["BaseballBat", "GarbageCan", "Vase"])
    base_checkpoint: str | None = None
    base: TrainSpec = field(default_factory=lambda: TrainSpec(steps=800, lr=5e-4, warmup_steps=50))
    finetune: TrainSpec = field(default_factory=TrainSpec)
    finetune_mode: str = "classifier"
    soup_lrs: list[float] = field(default_factory=lambda: [5e-5, 2e-4])
    soup_seeds: list[int] = field(default_factory=lambda: [1, 2])
    alphas: list[float] = field(default_factory=lambda: [round(i / 10, 1) for i in range(11)])
    max_supported_drop: float | None = 0.02
    threads: int = 2
    output: str = "runs/paint"

    def __post_init__(self) -> None:
        from embodied.envs.pybullet.house import GOAL_CATEGORIES

        unknown = [c for c in self.patch_categories if c not in GOAL_CATEGORIES]
        if unknown:
            raise ConfigError(f"unknown categories {unknown}; expected goal categories among "
                              f"{', '.join(sorted(GOAL_CATEGORIES))}", key="patch_categories")
        if not self.patch_categories or len(set(self.patch_categories)) != len(self.patch_categories):
            raise ConfigError("expected a non-empty list of distinct goal categories", key="patch_categories")
        if len(GOAL_CATEGORIES) - len(self.patch_categories) < 2:
            raise ConfigError("leave at least 2 goal categories supported", key="patch_categories")
        if self.finetune_mode not in ("classifier", "contrastive"):
            raise ConfigError(f"got {self.finetune_mode!r}, expected classifier (PAINT's: image encoder, "
                              "frozen zero-shot head) or contrastive (both towers, CLIP loss)", key="finetune_mode")
        if len(self.soup_lrs) != len(self.soup_seeds):
            raise ConfigError(f"{len(self.soup_lrs)} soup_lrs for {len(self.soup_seeds)} soup_seeds; expected "
                              "one learning rate per extra fine-tune", key="soup_lrs")
        if any(not lr > 0 for lr in self.soup_lrs):
            raise ConfigError(f"got {self.soup_lrs}, expected learning rates > 0", key="soup_lrs")
        if not self.alphas or any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ConfigError(f"got {self.alphas}, expected a non-empty list of values in [0, 1]", key="alphas")
        if self.max_supported_drop is not None and not self.max_supported_drop >= 0:
            raise ConfigError(f"got {self.max_supported_drop}, expected null or >= 0", key="max_supported_drop")
        if self.threads < 1:
            raise ConfigError(f"got {self.threads}, expected an integer >= 1", key="threads")
        specs = {"render": self.render, "val_render": self.val_render, "test_render": self.test_render}
        for a, b in (("render", "val_render"), ("render", "test_render"), ("val_render", "test_render")):
            sa, sb = specs[a], specs[b]
            if sa.split == sb.split and set(sa.indices()) & set(sb.indices()):
                raise ConfigError(f"{sb.houses!r} shares houses of split {sb.split!r} with {a}.houses "
                                  f"{sa.houses!r}; expected disjoint houses", key=f"{b}.houses")


def load_job_config(path: str | Path, overrides: Iterable[str] = ()) -> PaintJobConfig:
    """Read a PAINT job YAML, apply dotted overrides, validate (ConfigError naming the key)."""
    from embodied.training.clip_train import _check_model

    raw = _read_yaml(path)
    apply_overrides(raw, list(overrides))
    raw.setdefault("name", Path(path).stem)
    for key in ("render", "val_render", "test_render"):
        section = raw.get(key)
        refuse_sexagesimal(section.get("houses") if isinstance(section, dict) else None, f"{key}.houses", "0:40")
    cfg = validate_section(PaintJobConfig, raw, "")
    _check_model(cfg.model)
    if cfg.base_checkpoint is not None and not Path(cfg.base_checkpoint).is_file():
        raise ConfigError(f"no file {cfg.base_checkpoint!r}; expected an open_clip state dict of model "
                          f"{cfg.model!r}, or null to train the base here", key="base_checkpoint")
    return cfg


# ======================================================================================== data
def mentions(categories: Sequence[str]) -> "re.Pattern[str]":
    """A whole-word, case-insensitive pattern of every name (``SYNONYMS``) of ``categories``."""
    from embodied.training.clip_data import SYNONYMS

    names = sorted({n for c in categories for n in SYNONYMS[c]}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b", re.IGNORECASE)


def split_by_categories(pairs: Sequence[Any], patch: Sequence[str]) -> tuple[list, list]:
    """(supported pairs: nothing in them names a patch category; patch pairs: crops of a patch
    category). Crops of patch categories are in the second list only; frames naming one in neither."""
    pattern = mentions(patch)
    supported = [p for p in pairs if p.category not in patch and not pattern.search(p.caption)]
    patching = [p for p in pairs if p.kind == "crop" and p.category in patch]
    return supported, patching


# ===================================================================================== scoring
class TaskScorer:
    """Zero-shot top-1 of one model's weights on the crops of a pair set, per task.

    ``scores(state_dict)`` -> {"patch": acc, "supported": acc, "all": acc over every goal category};
    the last state dict's scores are memoised (``choose_alpha`` asks for both tasks of one model).
    """

    def __init__(self, model: Any, tokenizer: Any, pairs: Sequence[Any], patch: Sequence[str],
                 templates: Sequence[str] | None = None) -> None:
        from embodied.envs.pybullet.house import GOAL_CATEGORIES
        from embodied.perception.localization.base import DEFAULT_TEMPLATES

        self.model, self.tokenizer = model, tokenizer
        self.templates = list(templates or DEFAULT_TEMPLATES)
        self.classes = sorted(GOAL_CATEGORIES)
        self.crops = [p for p in pairs if p.kind == "crop" and p.category in GOAL_CATEGORIES]
        self.labels = np.array([self.classes.index(p.category) for p in self.crops])
        self.patch = np.array([c in patch for c in self.classes])
        self._last: tuple[int, dict[str, float]] | None = None

    def counts(self) -> dict[str, int]:
        in_patch = self.patch[self.labels]
        return {"patch": int(in_patch.sum()), "supported": int((~in_patch).sum()), "all": len(self.labels)}

    def scores(self, state_dict: Mapping[str, Any]) -> dict[str, float]:
        import torch

        from embodied.training.clip_train import _embed, _preprocess, zero_shot_head

        if self._last is not None and self._last[0] == id(state_dict):
            return self._last[1]
        self.model.load_state_dict(state_dict)
        self.model.eval()
        with torch.no_grad():
            cls = zero_shot_head(self.model, self.tokenizer, self.classes, self.templates)
            img, _ = _embed(self.model, self.tokenizer, self.crops, _preprocess(self.model))
            sim = (img @ cls.t()).numpy()
        out = {"all": float(np.mean(sim.argmax(1) == self.labels))}
        for task, mask in (("patch", self.patch), ("supported", ~self.patch)):
            rows = mask[self.labels]
            cols = np.flatnonzero(mask)
            pred = cols[sim[rows][:, cols].argmax(1)]
            out[task] = float(np.mean(pred == self.labels[rows])) if rows.any() else float("nan")
        self._last = (id(state_dict), out)
        return out

    def mean(self, state_dict: Mapping[str, Any]) -> float:
        """The soups' selection score: the mean of the two tasks' accuracies."""
        s = self.scores(state_dict)
        return 0.5 * (s["patch"] + s["supported"])


# ===================================================================================== training
def _state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _stage(cfg: PaintJobConfig, name: str, key: dict[str, Any], make: Callable[[], dict[str, Any]],
           log: Log) -> dict[str, Any]:
    """A trained stage's state dict: reused from ``<output>/<name>.pt`` when its marker matches
    ``key``, else made, saved (fp16) and marked."""
    import torch

    from embodied.perception.patching import load_state_dict

    out = Path(cfg.output)
    path, marker = out / f"{name}.pt", out / f"{name}.json"
    key = json.loads(json.dumps({"format": STAGE_FORMAT, **key}))
    try:
        same = json.loads(marker.read_text()) == key and path.is_file()
    except (OSError, ValueError):
        same = False
    if same:
        log(f"{name}: reusing {path}")
        return {k: v.float() if v.is_floating_point() else v for k, v in load_state_dict(path).items()}
    marker.unlink(missing_ok=True)
    t0 = time.perf_counter()
    state = make()
    _save(state, path)
    # what a resumed run reads back: fp16-rounded, so a resumed run equals an uninterrupted one
    state = {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}
    atomic_write(marker, json.dumps(key, indent=1))
    log(f"{name}: {time.perf_counter() - t0:.0f} s -> {path}")
    return state


def _save(state: Mapping[str, Any], path: Path) -> None:
    from embodied.training.clip_train import save_state

    save_state(state, path, fp16=True)


def _train(model: Any, tokenizer: Any, start: Mapping[str, Any] | None, pairs: Sequence[Any],
           spec: TrainSpec, log: Log) -> dict[str, Any]:
    from embodied.training.clip_train import train_clip

    if start is not None:
        model.load_state_dict(start)
    train_clip(model, tokenizer, pairs, spec.steps, spec.batch_size, spec.lr, spec.weight_decay,
               spec.warmup_steps, 1.0, spec.seed, None, max(1, spec.steps // 4), log,
               prompt_captions=spec.prompt_captions, crop_scale=spec.crop_scale)
    return _state(model)


def train_image_classifier(model: Any, tokenizer: Any, start: Mapping[str, Any], pairs: Sequence[Any],
                           classes: Sequence[str], spec: TrainSpec, log: Log) -> dict[str, Any]:
    """PAINT's fine-tuning: from ``start``, train only ``model.visual`` to classify the crops of
    ``pairs`` among ``classes`` with the frozen zero-shot head (cross-entropy of logit_scale x
    cosine); the text tower and logit_scale stay as they were. Seeded (batches, flips, crops)."""
    import torch
    import torch.nn.functional as F

    from embodied.training.clip_train import (_lr_at, _param_groups, _preprocess, random_resized_crop, to_pixels,
                                              zero_shot_head)

    model.load_state_dict(start)
    model.eval()
    head = zero_shot_head(model, tokenizer, classes)
    scale = float(model.logit_scale.detach().exp().clamp(max=100.0))
    prep = _preprocess(model)
    images = np.stack([p.image for p in pairs])
    labels = torch.tensor([list(classes).index(p.category) for p in pairs])
    gen = torch.Generator().manual_seed(int(spec.seed))
    bs = min(spec.batch_size, len(pairs))
    opt = torch.optim.AdamW(_param_groups(model.visual, spec.weight_decay), lr=spec.lr, betas=(0.9, 0.98), eps=1e-6)
    model.visual.train()
    order = torch.empty(0, dtype=torch.long)
    for step in range(spec.steps):
        if len(order) < bs:
            order = torch.cat([order, torch.randperm(len(pairs), generator=gen)])
        idx, order = order[:bs], order[bs:]
        flip = torch.rand(bs, generator=gen) < 0.5
        pix = to_pixels(images[idx.numpy()], prep)
        pix = random_resized_crop(torch.where(flip.view(-1, 1, 1, 1), pix.flip(-1), pix), spec.crop_scale, gen)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, spec.steps, spec.lr, spec.warmup_steps)
        logits = scale * F.normalize(model.encode_image(pix), dim=-1) @ head.t()
        loss = F.cross_entropy(logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.visual.parameters(), 1.0)
        opt.step()
        if (step + 1) % max(1, spec.steps // 4) == 0:
            log(f"step {step + 1}/{spec.steps} loss {float(loss.detach()):.4f}")
    model.eval()
    return _state(model)


# ========================================================================================= job
def patch_job(cfg: PaintJobConfig, log: Log = print) -> dict[str, Any]:
    """Run the whole recipe (see the module doc); returns what ``paint.json`` holds."""
    import torch

    from embodied.perception import patching
    from embodied.training.clip_train import _create, ensure_pairs

    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    data = Path(cfg.data_dir)
    train, _ = ensure_pairs(cfg.render, data / "train", log)
    select, _ = ensure_pairs(cfg.val_render, data / "paint_selection", log)
    test, _ = ensure_pairs(cfg.test_render, data / "paint_test", log)
    supported_pairs, patch_pairs = split_by_categories(train, cfg.patch_categories)
    if not patch_pairs:
        raise ConfigError(f"the train pairs hold no crops of {cfg.patch_categories}; render more houses",
                          key="patch_categories")
    log(f"train pairs: {len(supported_pairs)} for the base (no patch category named), "
        f"{len(patch_pairs)} patch crops ({', '.join(cfg.patch_categories)})")
    model, tokenizer = _create(cfg.model, cfg.base.seed)
    data_key = {"model": cfg.model, "render": to_dict(cfg.render), "patch": list(cfg.patch_categories)}

    if cfg.base_checkpoint is not None:
        from embodied.perception.patching import load_state_dict

        base = {k: v.float() if v.is_floating_point() else v
                for k, v in load_state_dict(cfg.base_checkpoint).items()}
        patching.check_compatible([_state(model), base], names=(f"model {cfg.model}", cfg.base_checkpoint))
    else:
        base = _stage(cfg, "base", {**data_key, "train": to_dict(cfg.base)},
                      lambda: _train(model, tokenizer, None, supported_pairs, cfg.base, log), log)
    base_key = {**data_key, "base": cfg.base_checkpoint or to_dict(cfg.base), "mode": cfg.finetune_mode}

    def finetune(spec: TrainSpec) -> dict[str, Any]:
        if cfg.finetune_mode == "classifier":
            return train_image_classifier(model, tokenizer, base, patch_pairs, cfg.patch_categories, spec, log)
        return _train(model, tokenizer, base, patch_pairs, spec, log)

    specs = [cfg.finetune] + [TrainSpec(**{**to_dict(cfg.finetune), "lr": lr, "seed": seed})
                              for lr, seed in zip(cfg.soup_lrs, cfg.soup_seeds)]
    tuned = [_stage(cfg, "finetuned" if k == 0 else f"soup_ingredient_{k}", {**base_key, "train": to_dict(s)},
                    lambda s=s: finetune(s), log)
             for k, s in enumerate(specs)]

    sel = TaskScorer(model, tokenizer, select, cfg.patch_categories)
    tst = TaskScorer(model, tokenizer, test, cfg.patch_categories)
    paint = patching.choose_alpha(base, tuned[0], lambda sd: sel.scores(sd)["patch"],
                                  lambda sd: sel.scores(sd)["supported"], cfg.alphas, cfg.max_supported_drop)
    patching.plot_alpha_curve(paint, Path(cfg.output) / "alpha_curve.png")
    _save(paint.state_dict, Path(cfg.output) / "patched.pt")
    ingredient_scores = [sel.mean(sd) for sd in tuned]
    uniform = patching.uniform_soup(tuned)
    greedy, kept = patching.greedy_soup(tuned, sel.mean, ingredient_scores=ingredient_scores)
    _save(greedy, Path(cfg.output) / "greedy_soup.pt")
    soup_paint = patching.choose_alpha(base, greedy, lambda sd: sel.scores(sd)["patch"],
                                       lambda sd: sel.scores(sd)["supported"], cfg.alphas,
                                       cfg.max_supported_drop)

    models = {"base": base, "fine-tuned": tuned[0], f"PAINT (alpha {paint.alpha:g})": paint.state_dict,
              "uniform soup": uniform, f"greedy soup ({len(kept)} of {len(tuned)})": greedy,
              f"greedy soup + PAINT (alpha {soup_paint.alpha:g})": soup_paint.state_dict}
    results = {name: {"selection": dict(sel.scores(sd)), "test": dict(tst.scores(sd))}
               for name, sd in models.items()}
    report = {
        "config": to_dict(cfg),
        "pairs": {"train_supported": len(supported_pairs), "train_patch": len(patch_pairs),
                  "selection_crops": sel.counts(), "test_crops": tst.counts()},
        "alpha": paint.alpha,
        "alpha_curve": [{"alpha": p.alpha, "patch": p.patch_accuracy, "supported": p.supported_accuracy}
                        for p in paint.curve],
        "soup": {"ingredients": [{"lr": s.lr, "seed": s.seed, "selection_mean": sc}
                                 for s, sc in zip(specs, ingredient_scores)],
                 "greedy_kept": kept, "greedy_alpha": soup_paint.alpha},
        "results": results,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out = Path(cfg.output) / "paint.json"
    atomic_write(out, json.dumps(report, indent=1) + "\n")
    _print_table(report, cfg, log)
    log(f"wrote {out} and {Path(cfg.output) / 'alpha_curve.png'}")
    return report


def _print_table(report: dict[str, Any], cfg: PaintJobConfig, log: Log) -> None:
    n = report["pairs"]["test_crops"]
    log(f"test crops (held-out houses {cfg.test_render.houses} of {cfg.test_render.split}): "
        f"{n['patch']} patch ({', '.join(cfg.patch_categories)}), {n['supported']} supported")
    log(f"{'model':<36}{'patch':>8}{'supported':>11}{'all 12':>8}   selection: patch / supported")
    for name, r in report["results"].items():
        t, s = r["test"], r["selection"]
        log(f"{name:<36}{t['patch']:>8.3f}{t['supported']:>11.3f}{t['all']:>8.3f}   "
            f"{s['patch']:.3f} / {s['supported']:.3f}")
