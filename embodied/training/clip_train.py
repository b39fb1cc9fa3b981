"""`embodied train clip` and `embodied eval clip`: train a small open_clip CLIP contrastively on CPU
on image-text pairs rendered in the embedded ObjectNav houses, and score it against the same
architecture untrained.

The checkpoint is a plain open_clip state dict (fp16 by default: ``load_state_dict`` copies it into
the fp32 model) at ``<output>/<model>.pt``, so a CLIP localizer uses it with
``model: embodied-vit-s, pretrained: <output>/embodied-vit-s.pt`` (``clip_model.load_clip``).
``embodied-vit-s`` is shipped in ``perception/localization/model_configs`` (ViT 112 px, patch 16,
width 192, 6 layers, CLS pooling; text width 96, 4 layers, 32 tokens; embed 256; 8.1 M parameters).

Config (YAML; one file for both commands; dotted ``key=value`` overrides)::

    name: clip_train
    data_dir: runs/clip_data         # pairs cached in <data_dir>/train and <data_dir>/val
    render:     {split: train, houses: "0:40", views_per_house: 8, size: 112, seed: 0}
    val_render: {split: val,   houses: "0:10", views_per_house: 6, size: 112, seed: 1}
    model: embodied-vit-s            # an open_clip architecture name (package configs registered)
    steps: 2000
    batch_size: 128
    lr: 5.0e-4                       # AdamW, linear warmup (warmup_steps) then cosine to 0
    weight_decay: 0.1                # not on gains, biases, embeddings' positional parts, logit_scale
    threads: 2                       # torch.set_num_threads; results repeat for (seed, threads)
    seed: 0
    output: embodied/models/clip     # <output>/<model>.pt and <output>/clip_train.json
    time_limit_s: null               # stop training early (the checkpoint is still written)
    prompt_captions: 0.0             # chance a goal crop is captioned "a photo of a {name}." this step
    crop_scale: 1.0                  # random resized crops down to this side fraction (1 = off)
    filter: {checkpoint: null, model: null, keep: 1.0}   # DataComp-style: top `keep` by a bootstrap CLIP
    eval: {checkpoint: null, output: runs/clip_eval, pairs: 1000, seed: 0}

Training: symmetric InfoNCE over the batch with the model's learnable temperature
(``logit_scale``, its exp clamped at 100 as open_clip does), identical captions of one batch
being positives of each other (UniCL); optionally class prompts for crops (``prompt_captions``)
and random resized crops (``crop_scale``); images preprocessed exactly as
``ClipModel.pixels`` does (resize of the whole image to the model's input, the model's mean/std);
random horizontal flip (the captions' "left of"/"right of" are
swapped in a flipped image's caption so they stay true). Each epoch visits the pairs in a seeded
random order.

Caching: ``<data_dir>/<train|val>/render.json`` records the render spec; a folder whose marker
matches and whose ``index.json`` exists is loaded, anything else is rendered again.

Evaluation (``eval_job`` and the end of ``train_job``), on the val pairs: zero-shot category
top-1 on the crops (each goal category's text embedding is the prompt ensemble of
``DEFAULT_TEMPLATES`` filled with its words, as the localizers build it), and image->text and
text->image retrieval R@1 over ``eval.pairs`` pairs (a hit is the own pair or any pair with the
identical caption, as identical captions cannot be told apart).
"""
from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from embodied.config import refuse_sexagesimal, ConfigError, _read_yaml, apply_overrides, atomic_write, to_dict, validate_section

__all__ = [
    "PairRenderSpec", "ClipEvalConfig", "ClipJobConfig", "load_job_config", "parse_houses", "ensure_pairs",
    "to_pixels", "flip_caption", "clip_loss", "train_clip", "evaluate_clip", "train_job", "eval_job",
    "checkpoint_path", "save_checkpoint",
]

MARKER = "render.json"
RENDER_FORMAT = "embodied.clip_render/1"
GENERATOR = "embodied.training.clip_data.render_pairs"
MAX_LOGIT_SCALE = 100.0
Log = Callable[[str], None]


# ======================================================================================= config
def _split_houses(split: str) -> int:
    from embodied.envs.objectnav_episodes import SPLITS

    if split not in SPLITS:
        raise ConfigError(f"got {split!r}, expected one of {', '.join(SPLITS)}", key="split")
    return SPLITS[split].houses


def parse_houses(text: str, split_houses: int) -> range:
    """House indices of ``"a:b"`` or ``"a:b:step"``, checked against the split's house count."""
    parts = str(text).split(":")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (2, 3):
        raise ConfigError(f'expected "a:b" or "a:b:step" (house indices, e.g. "0:40"), got {text!r}')
    start, stop, step = nums[0], nums[1], nums[2] if len(nums) == 3 else 1
    if not 0 <= start < stop or step < 1:
        raise ConfigError(f"{text!r}: expected 0 <= a < b and step >= 1")
    if stop > split_houses:
        raise ConfigError(f"{text!r} reaches house {stop - 1}, but the split has {split_houses} houses")
    return range(start, stop, step)


@dataclass
class PairRenderSpec:
    """Arguments of ``clip_data.render_pairs`` for one data folder."""

    split: str = "train"
    houses: str = "0:40"
    views_per_house: int = 8
    size: int = 112
    seed: int = 0

    def __post_init__(self) -> None:
        n = _split_houses(self.split)
        try:
            parse_houses(self.houses, n)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="houses") from None
        if self.views_per_house < 1:
            raise ConfigError(f"got {self.views_per_house}, expected an integer >= 1", key="views_per_house")
        if self.size < 16:
            raise ConfigError(f"got {self.size}, expected >= 16 px", key="size")

    def indices(self) -> range:
        return parse_houses(self.houses, _split_houses(self.split))


@dataclass
class ClipEvalConfig:
    """``embodied eval clip``: ``checkpoint`` (default ``<output>/<model>.pt``), where the JSON goes,
    how many val pairs the retrieval numbers use (a seeded sample), and the seed of the sample and of
    the untrained baseline's weights."""

    checkpoint: str | None = None
    output: str = "runs/clip_eval"
    pairs: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pairs < 2:
            raise ConfigError(f"got {self.pairs}, expected an integer >= 2", key="pairs")


@dataclass
class PairFilterConfig:
    """DataComp-style filtering of the train pairs by a bootstrap CLIP's image-text cosine:
    ``checkpoint`` (an open_clip state dict of ``model``, default the job's model; null: no
    filtering) scores every pair and the top ``keep`` fraction is trained on."""

    checkpoint: str | None = None
    model: str | None = None
    keep: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.keep <= 1.0:
            raise ConfigError(f"got {self.keep}, expected a fraction in (0, 1]", key="keep")
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise ConfigError(f"no file {self.checkpoint!r}; expected an open_clip state dict (a bootstrap "
                              "model, e.g. one `embodied train clip` wrote) or null", key="checkpoint")


def check_training(cfg: Any) -> None:
    """The checks every contrastive training config shares (`ClipJobConfig`, `paint_job.TrainSpec`):
    steps, batch_size, lr, warmup_steps, weight_decay, prompt_captions, crop_scale."""
    if cfg.steps < 1:
        raise ConfigError(f"got {cfg.steps}, expected an integer >= 1", key="steps")
    if cfg.batch_size < 2:
        raise ConfigError(f"got {cfg.batch_size}, expected >= 2 (contrastive loss needs negatives)",
                          key="batch_size")
    if cfg.warmup_steps < 0:
        raise ConfigError(f"got {cfg.warmup_steps}, expected >= 0", key="warmup_steps")
    if not cfg.lr > 0:
        raise ConfigError(f"got {cfg.lr}, expected > 0", key="lr")
    if cfg.weight_decay < 0:
        raise ConfigError(f"got {cfg.weight_decay}, expected >= 0", key="weight_decay")
    if not 0.0 <= cfg.prompt_captions <= 1.0:
        raise ConfigError(f"got {cfg.prompt_captions}, expected a probability in [0, 1]", key="prompt_captions")
    if not 0.1 <= cfg.crop_scale <= 1.0:
        raise ConfigError(f"got {cfg.crop_scale}, expected a side fraction in [0.1, 1] (1 = no crops)",
                          key="crop_scale")


@dataclass
class ClipJobConfig:
    """One CLIP job: data, model, optimisation, output, evaluation."""

    name: str = "clip_train"
    data_dir: str = "runs/clip_data"
    render: PairRenderSpec = field(default_factory=PairRenderSpec)
    val_render: PairRenderSpec = field(
        default_factory=lambda: PairRenderSpec(split="val", houses="0:10", views_per_house=6, seed=1))
    model: str = "embodied-vit-s"
    steps: int = 2000
    batch_size: int = 128
    lr: float = 5e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0
    threads: int = 2
    seed: int = 0
    output: str = "embodied/models/clip"
    fp16: bool = True
    time_limit_s: float | None = None
    log_every: int = 50
    prompt_captions: float = 0.0
    crop_scale: float = 1.0
    filter: PairFilterConfig = field(default_factory=PairFilterConfig)
    eval: ClipEvalConfig = field(default_factory=ClipEvalConfig)

    def __post_init__(self) -> None:
        for key in ("threads", "log_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"got {getattr(self, key)}, expected an integer >= 1", key=key)
        check_training(self)
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"got {self.grad_clip}, expected null or > 0", key="grad_clip")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise ConfigError(f"got {self.time_limit_s}, expected null or > 0", key="time_limit_s")
        tr, va = self.render, self.val_render
        if tr.split == va.split and set(tr.indices()) & set(va.indices()):
            raise ConfigError(f"{va.houses!r} shares houses of split {va.split!r} with render.houses "
                              f"{tr.houses!r}; validation houses must be held out", key="val_render.houses")


def checkpoint_path(cfg: ClipJobConfig) -> Path:
    """Where train_job writes (and eval_job reads, unless eval.checkpoint says otherwise) the weights."""
    if cfg.eval.checkpoint:
        return Path(cfg.eval.checkpoint)
    return Path(cfg.output) / f"{cfg.model}.pt"


def _check_model(name: str) -> None:
    import open_clip

    from embodied.perception.localization.clip_model import register_model_configs

    register_model_configs()
    if name not in open_clip.list_models():
        raise ConfigError(f"unknown open_clip model {name!r}; e.g. embodied-vit-s, tiny-vit, ViT-B-32 "
                          "(a model config JSON must be registered with open_clip.add_model_config)",
                          key="model")


def _refuse_sexagesimal(raw: dict[str, Any]) -> None:
    for key in ("render", "val_render"):
        section = raw.get(key)
        value = section.get("houses") if isinstance(section, dict) else None
        refuse_sexagesimal(value, f"{key}.houses", "0:40")


def load_job_config(path: str | Path, overrides: Iterable[str] = ()) -> ClipJobConfig:
    """Read a CLIP job YAML, apply dotted overrides, validate (ConfigError naming the key)."""
    raw = _read_yaml(path)
    apply_overrides(raw, list(overrides))
    raw.setdefault("name", Path(path).stem)
    _refuse_sexagesimal(raw)
    cfg = validate_section(ClipJobConfig, raw, "")
    _check_model(cfg.model)
    return cfg


# ==================================================================================== rendering
def render_key(spec: PairRenderSpec) -> dict[str, Any]:
    return {"format": RENDER_FORMAT, "generator": GENERATOR, "spec": to_dict(spec)}


def ensure_pairs(spec: PairRenderSpec, directory: str | Path, log: Log = print) -> tuple[list, bool]:
    """The pairs of ``spec`` (loaded from ``directory`` when its marker matches, else rendered and
    saved); and whether they were rendered now."""
    from embodied.training.clip_data import load_pairs, render_pairs, save_pairs

    directory = Path(directory)
    key = json.loads(json.dumps(render_key(spec)))
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        marker = None
    if isinstance(marker, dict) and marker.get("key") == key and (directory / "index.json").is_file():
        return load_pairs(directory), False
    log(f"rendering {spec.split} pairs: houses {spec.houses}, {spec.views_per_house} views each, "
        f"{spec.size} px -> {directory}")
    (directory / MARKER).unlink(missing_ok=True)
    for old in directory.glob("shard_*.npz"):
        old.unlink()
    t0 = time.perf_counter()
    pairs = render_pairs(spec.split, spec.indices(), spec.views_per_house, spec.size, spec.seed)
    if not pairs:
        raise ConfigError(f"houses {spec.houses} of split {spec.split!r} gave no pairs; render more "
                          "houses or views")
    save_pairs(pairs, directory)
    atomic_write(directory / MARKER, json.dumps({"key": key, "count": len(pairs),
                                                 "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    log(f"  {len(pairs)} pairs in {time.perf_counter() - t0:.0f} s")
    return pairs, True


# ==================================================================================== model parts
def _create(model_name: str, seed: int) -> Any:
    """A randomly initialised open_clip model (seeded), its tokenizer and its preprocessing."""
    import open_clip
    import torch

    from embodied.perception.localization.clip_model import _quiet_random_init, register_model_configs

    register_model_configs()
    with torch.random.fork_rng(devices=[]), _quiet_random_init(True):
        torch.manual_seed(seed)
        model = open_clip.create_model(model_name, pretrained=None)
    return model, open_clip.get_tokenizer(model_name)


def _preprocess(model: Any) -> dict[str, Any]:
    """Input size, mean, std and interpolation, as ``ClipModel`` reads them."""
    import open_clip

    cfg = open_clip.get_model_preprocess_cfg(model)
    size = model.visual.image_size
    size = (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))
    return {"size": size, "mean": tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
            "std": tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
            "interpolation": "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"}


def to_pixels(images: np.ndarray, prep: dict[str, Any]) -> Any:
    """(N, 3, h, w) normalised model input of uint8 (N, S, S, 3) images: what ``ClipModel.pixels``
    makes of each whole image."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if tuple(x.shape[-2:]) != tuple(prep["size"]):
        x = F.interpolate(x, size=prep["size"], mode=prep["interpolation"], antialias=True,
                          align_corners=False).clamp_(0.0, 1.0)
    mean = torch.tensor(prep["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(prep["std"]).view(1, 3, 1, 1)
    return (x - mean) / std


def flip_caption(caption: str) -> str:
    """The caption of the mirrored image: "left of" and "right of" swap."""
    return caption.replace("left of", "\0").replace("right of", "left of").replace("\0", "right of")


def clip_loss(model: Any, pixels: Any, tokens: Any) -> Any:
    """Symmetric InfoNCE with the model's temperature (exp(logit_scale) clamped at 100).

    Pairs of one batch with identical token sequences are positives of each other (the target of a
    row is spread evenly over them), as UniCL (Yang et al. 2022) does for image-label data: two crops
    both captioned "a photo of a mug." are not negatives of each other. With all captions distinct
    this is plain CLIP InfoNCE.
    """
    import torch.nn.functional as F

    img = F.normalize(model.encode_image(pixels), dim=-1)
    txt = F.normalize(model.encode_text(tokens), dim=-1)
    scale = model.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
    logits = scale * img @ txt.t()
    same = (tokens.unsqueeze(1) == tokens.unsqueeze(0)).all(-1).float()
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def random_resized_crop(pixels: Any, min_scale: float, gen: Any) -> Any:
    """Per image, a random window (side ``min_scale``..1 of the image's, aspect 3:4..4:3) resized
    back to the input size: CLIP's usual geometric augmentation, mild because a caption's spatial
    words ("left of a laptop") should stay true. ``min_scale >= 1`` returns the input."""
    import torch
    import torch.nn.functional as F

    if min_scale >= 1.0:
        return pixels
    n, _, h, w = pixels.shape
    out = torch.empty_like(pixels)
    u = torch.rand(n, 4, generator=gen)
    for i in range(n):
        side = min_scale + (1.0 - min_scale) * float(u[i, 0])
        aspect = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * float(u[i, 1]))
        ch = max(2, min(h, int(round(h * side / math.sqrt(aspect)))))
        cw = max(2, min(w, int(round(w * side * math.sqrt(aspect)))))
        y0 = int(float(u[i, 2]) * (h - ch + 1)) if ch < h else 0
        x0 = int(float(u[i, 3]) * (w - cw + 1)) if cw < w else 0
        out[i] = F.interpolate(pixels[i:i + 1, :, y0:y0 + ch, x0:x0 + cw], size=(h, w), mode="bilinear",
                               align_corners=False)[0]
    return out


def prompt_tokens(tokenizer: Any, templates: Sequence[str]) -> dict[str, Any]:
    """Per goal category, the tokens of every (template, name) prompt: "a photo of a coffee mug." for
    each name of ``clip_data.SYNONYMS`` (the plain name first) and each one-slot template."""
    from embodied.training.clip_data import SYNONYMS

    return {cat: tokenizer([t.format(name) for t in templates for name in names])
            for cat, names in SYNONYMS.items()}


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """open_clip's convention: no decay on gains, biases, logit_scale and other 1-D parameters."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name \
            or "positional_embedding" in name or "class_embedding" in name
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_clip(model: Any, tokenizer: Any, pairs: Sequence[Any], steps: int, batch_size: int, lr: float,
               weight_decay: float = 0.1, warmup_steps: int = 0, grad_clip: float | None = 1.0,
               seed: int = 0, time_limit_s: float | None = None, log_every: int = 50,
               log: Log = print, prompt_captions: float = 0.0, crop_scale: float = 1.0,
               templates: Sequence[str] | None = None) -> dict[str, Any]:
    """Train ``model`` in place on ``pairs``; returns {losses (per step), steps, seconds, stopped_early}.

    Deterministic for a seed (and torch's thread count): batch order, flips, crops and prompt
    swaps come from one seeded generator. With ``batch_size >= len(pairs)`` every step sees all
    pairs (an overfit check). ``prompt_captions``: the chance that a crop of a goal category is
    captioned, this step, by a class prompt (a random template of ``templates``, default
    ``DEFAULT_TEMPLATES``, with a random name of the category) instead of its descriptive caption --
    UniCL's image-label prompts, which is how the localizers query the model. ``crop_scale``: the
    smallest side fraction of ``random_resized_crop`` (1 = off).
    """
    from embodied.perception.localization.base import DEFAULT_TEMPLATES

    import torch

    prep = _preprocess(model)
    images = np.stack([p.image for p in pairs])
    captions = [p.caption for p in pairs]
    tokens = tokenizer(captions)
    flipped_tokens = tokenizer([flip_caption(c) for c in captions])
    prompts = prompt_tokens(tokenizer, list(templates or DEFAULT_TEMPLATES)) if prompt_captions > 0 else {}
    swappable = torch.tensor([p.kind == "crop" and p.category in prompts for p in pairs])
    categories = [p.category for p in pairs]
    gen = torch.Generator().manual_seed(int(seed))
    bs = min(batch_size, len(pairs))
    opt = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    model.train()
    losses: list[float] = []
    order = torch.empty(0, dtype=torch.long)
    t0 = time.perf_counter()
    stopped_early = False
    for step in range(steps):
        if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
            stopped_early = True
            log(f"time limit {time_limit_s:.0f} s reached after {step} steps")
            break
        if len(order) < bs:
            order = torch.cat([order, torch.randperm(len(pairs), generator=gen)])
        idx, order = order[:bs], order[bs:]
        flip = torch.rand(bs, generator=gen) < 0.5
        pix = to_pixels(images[idx.numpy()], prep)
        pix = torch.where(flip.view(-1, 1, 1, 1), pix.flip(-1), pix)
        tok = torch.where(flip.view(-1, 1), flipped_tokens[idx], tokens[idx])
        pix = random_resized_crop(pix, crop_scale, gen)
        if prompts:
            swap = (torch.rand(bs, generator=gen) < prompt_captions) & swappable[idx]
            pick = torch.rand(bs, generator=gen)
            tok = tok.clone()
            for k in torch.nonzero(swap).flatten().tolist():
                options = prompts[categories[int(idx[k])]]
                tok[k] = options[min(len(options) - 1, int(float(pick[k]) * len(options)))]
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, lr, warmup_steps)
        loss = clip_loss(model, pix, tok)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(MAX_LOGIT_SCALE))
        losses.append(float(loss.detach()))
        if (step + 1) % log_every == 0 or step == 0:
            log(f"step {step + 1}/{steps} loss {losses[-1]:.4f} "
                f"scale {float(model.logit_scale.detach().exp()):.1f} {time.perf_counter() - t0:.0f} s")
    model.eval()
    return {"losses": losses, "steps": len(losses), "seconds": time.perf_counter() - t0,
            "stopped_early": stopped_early}


# ==================================================================================== evaluation
def _embed(model: Any, tokenizer: Any, pairs: Sequence[Any], prep: dict[str, Any],
           batch: int = 256) -> tuple[Any, Any]:
    import torch
    import torch.nn.functional as F

    img, txt = [], []
    with torch.no_grad():
        for s in range(0, len(pairs), batch):
            chunk = pairs[s:s + batch]
            img.append(F.normalize(model.encode_image(to_pixels(np.stack([p.image for p in chunk]), prep)), dim=-1))
            txt.append(F.normalize(model.encode_text(tokenizer([p.caption for p in chunk])), dim=-1))
    return torch.cat(img), torch.cat(txt)


def zero_shot_head(model: Any, tokenizer: Any, classes: Sequence[str],
                   templates: Sequence[str] | None = None) -> Any:
    """(C, D) unit-norm prompt-ensemble text embeddings of ``classes`` (default templates
    ``DEFAULT_TEMPLATES``): CLIP's zero-shot classifier, as the localizers build it."""
    import torch
    import torch.nn.functional as F

    from embodied.perception.localization.base import DEFAULT_TEMPLATES, category_words

    rows = []
    with torch.no_grad():
        for c in classes:
            e = F.normalize(model.encode_text(tokenizer([t.format(category_words(c))
                                                         for t in (templates or DEFAULT_TEMPLATES)])), dim=-1)
            rows.append(F.normalize(e.mean(0), dim=-1))
    return torch.stack(rows)


def evaluate_clip(model: Any, tokenizer: Any, pairs: Sequence[Any], max_pairs: int = 1000,
                  seed: int = 0, templates: Sequence[str] | None = None) -> dict[str, Any]:
    """Zero-shot category top-1 on the crop pairs, retrieval R@1 (both ways) on a seeded sample of
    at most ``max_pairs`` pairs, and the mean contrastive loss of that sample."""
    import torch
    import torch.nn.functional as F

    from embodied.envs.pybullet.house import GOAL_CATEGORIES
    from embodied.perception.localization.base import DEFAULT_TEMPLATES

    model.eval()
    prep = _preprocess(model)
    templates = list(templates or DEFAULT_TEMPLATES)
    out: dict[str, Any] = {}
    crops = [p for p in pairs if p.kind == "crop" and p.category in GOAL_CATEGORIES]
    with torch.no_grad():
        if crops:
            classes = sorted(GOAL_CATEGORIES)
            cls = zero_shot_head(model, tokenizer, classes, templates)
            img, _ = _embed(model, tokenizer, crops, prep)
            pred = (img @ cls.t()).argmax(1).tolist()
            out["zero_shot_top1"] = float(np.mean([classes[k] == p.category for k, p in zip(pred, crops)]))
            out["zero_shot_n"] = len(crops)
        rng = np.random.default_rng(seed)
        sample = [pairs[i] for i in sorted(rng.permutation(len(pairs))[:max_pairs].tolist())]
        img, txt = _embed(model, tokenizer, sample, prep)
        sim = img @ txt.t()
        caps = np.array([p.caption for p in sample], dtype=object)
        i2t = sim.argmax(1).numpy()
        t2i = sim.argmax(0).numpy()
        out["i2t_r1"] = float(np.mean(caps[i2t] == caps))
        out["t2i_r1"] = float(np.mean(caps[t2i] == caps))
        out["retrieval_n"] = len(sample)
        scale = float(model.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE))
        logits = scale * sim
        target = torch.arange(len(sample))
        out["loss"] = float(0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)))
    return out


# ==================================================================================== jobs
def save_checkpoint(model: Any, path: str | Path, fp16: bool = True) -> Path:
    """A plain open_clip state dict (what ``open_clip.create_model(pretrained=path)`` loads)."""
    return save_state(model.state_dict(), path, fp16)


def save_state(state_dict: Any, path: str | Path, fp16: bool = True) -> Path:
    """``save_checkpoint`` of a state dict: floating tensors in fp16, written atomically."""
    import torch

    state = {k: (v.detach().half() if fp16 and v.is_floating_point() else v.detach()).clone()
             for k, v in state_dict.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())
    return Path(path)


def _data(cfg: ClipJobConfig, log: Log) -> tuple[list, list, dict[str, bool]]:
    train, r1 = ensure_pairs(cfg.render, Path(cfg.data_dir) / "train", log)
    val, r2 = ensure_pairs(cfg.val_render, Path(cfg.data_dir) / "val", log)
    return train, val, {"train": r1, "val": r2}


def filter_train_pairs(cfg: ClipJobConfig, pairs: list, log: Log) -> list:
    """The train pairs ``cfg.filter`` keeps (all of them when it names no checkpoint)."""
    if cfg.filter.checkpoint is None:
        return pairs
    from embodied.perception.localization.clip_model import ClipModel
    from embodied.training.clip_data import keep_top

    cm = ClipModel(cfg.filter.model or cfg.model, cfg.filter.checkpoint)
    img, txt = _embed(cm.model, cm.tokenizer, pairs, _preprocess(cm.model))
    scores = (img * txt).sum(1).tolist()
    kept = keep_top(pairs, scores, cfg.filter.keep)
    log(f"filter: kept {len(kept)} of {len(pairs)} pairs by {cfg.filter.checkpoint}'s image-text cosine")
    return kept


def train_job(cfg: ClipJobConfig, log: Log = print) -> dict[str, Any]:
    """Render (cached), train, save ``<output>/<model>.pt`` and ``<output>/clip_train.json``."""
    import torch

    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    train, val, rendered = _data(cfg, log)
    rendered_pairs = len(train)
    train = filter_train_pairs(cfg, train, log)
    t_data = time.perf_counter() - t0
    model, tokenizer = _create(cfg.model, cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"training {cfg.model} ({n_params / 1e6:.1f} M parameters) on {len(train)} pairs, "
        f"{cfg.steps} steps of {cfg.batch_size}, {cfg.threads} threads")
    result = train_clip(model, tokenizer, train, cfg.steps, cfg.batch_size, cfg.lr, cfg.weight_decay,
                        cfg.warmup_steps, cfg.grad_clip, cfg.seed, cfg.time_limit_s, cfg.log_every, log,
                        prompt_captions=cfg.prompt_captions, crop_scale=cfg.crop_scale)
    path = save_checkpoint(model, Path(cfg.output) / f"{cfg.model}.pt", cfg.fp16)
    t1 = time.perf_counter()
    val_metrics = evaluate_clip(model, tokenizer, val, cfg.eval.pairs, cfg.eval.seed)
    summary = {
        "config": to_dict(cfg), "checkpoint": str(path), "parameters": n_params,
        "pairs": {"train": len(train), "rendered_train": rendered_pairs, "val": len(val)},
        "rendered": rendered,
        "steps": result["steps"], "stopped_early": result["stopped_early"],
        "seconds": {"data": round(t_data, 2), "train": round(result["seconds"], 2),
                    "per_step": round(result["seconds"] / max(1, result["steps"]), 4),
                    "val": round(time.perf_counter() - t1, 2)},
        "losses": [round(x, 5) for x in result["losses"]], "val": val_metrics,
    }
    atomic_write(Path(cfg.output) / "clip_train.json", json.dumps(summary, indent=1) + "\n")
    log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); val: "
        + ", ".join(f"{k} {v:.3f}" for k, v in val_metrics.items() if isinstance(v, float)))
    return summary


METRICS = ("zero_shot_top1", "i2t_r1", "t2i_r1", "loss")


def eval_job(cfg: ClipJobConfig, log: Log = print) -> dict[str, Any]:
    """Score the trained checkpoint and the same architecture untrained on the val pairs; print a
    table and write ``<eval.output>/clip_eval.json``. The checkpoint is loaded the way localizers
    load it (``ClipModel(model, pretrained=path)``)."""
    import torch

    from embodied.perception.localization.clip_model import ClipModel

    torch.set_num_threads(cfg.threads)
    path = checkpoint_path(cfg)
    if not path.is_file():
        key = "eval.checkpoint" if cfg.eval.checkpoint else "output"
        raise ConfigError(f"{key}: no checkpoint {str(path)!r}; run `embodied train clip` first")
    _, val, _ = _data(cfg, log)
    results: dict[str, Any] = {}
    for label, pretrained in (("trained", str(path)), ("untrained", None)):
        cm = ClipModel(cfg.model, pretrained, init_seed=cfg.eval.seed)
        results[label] = evaluate_clip(cm.model, cm.tokenizer, val, cfg.eval.pairs, cfg.eval.seed)
    report = {"config": to_dict(cfg), "checkpoint": str(path), "val_pairs": len(val), **results}
    out = Path(cfg.eval.output) / "clip_eval.json"
    atomic_write(out, json.dumps(report, indent=1) + "\n")
    log(f"{'metric':<16}{'trained':>10}{'untrained':>11}")
    for m in METRICS:
        log(f"{m:<16}{results['trained'].get(m, float('nan')):>10.3f}{results['untrained'].get(m, float('nan')):>11.3f}")
    log(f"wrote {out}")
    return report
