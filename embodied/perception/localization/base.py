"""The one contract every object localizer follows, and what the CLIP localizers share.

CoW separates *where to look* (exploration) from *is the goal in view, and where* (localization),
so that localizers can be swapped by config alone (`agent.localizer.id=clip_grad`). A localizer
answers two questions about one frame:

- `relevance(obs, text)`: an (H, W) float32 map in [0, 1] over the pixels of `obs["rgb"]`; the
  agent back-projects it with depth to put the goal on its map;
- `detect(obs, text)`: that map and a bool mask of the pixels it trusts (relevance >= threshold).

This module imports neither torch nor open_clip: `embodied list` and config validation import every
localizer module, and should not pay seconds for a model library they do not run. The CLIP code
(`clip_model.py` and the localizers) imports torch on first use.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embodied.config import ConfigError, LocalizerConfig

__all__ = [
    "Localizer", "ClipConfig", "DEFAULT_TEMPLATES", "category_words", "check_rgb", "check_threshold",
    "grid_edges", "looks_like_path", "find_centroid",
]

#: A few of CLIP's ImageNet prompt templates (Radford et al. 2021, the 80-template list); averaging
#: the text embeddings of several phrasings ("prompt ensembling") is what CLIP's zero-shot recipe does.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
    "a cropped photo of a {}.",
    "a bright photo of a {}.",
    "a dark photo of a {}.",
    "a close-up photo of a {}.",
)

#: Category names whose CamelCase split is not the everyday word CLIP was trained on.
_WORD_OVERRIDES = {"BasketBall": "basketball"}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


def category_words(text: str) -> str:
    """"AlarmClock" -> "alarm clock", "TVStand" -> "tv stand"; free text ("red mug") is kept.

    Why: tasks name goals by dataset category ids (RoboTHOR's CamelCase), but CLIP was trained on
    natural captions, where "alarm clock" is two lower-case words.
    """
    text = text.strip()
    if text in _WORD_OVERRIDES:
        return _WORD_OVERRIDES[text]
    if " " in text:
        return text
    return _CAMEL.sub(" ", text).replace("_", " ").lower()


def looks_like_path(value: str) -> bool:
    """Whether a `pretrained` value names a file (rather than a tag such as `openai`)."""
    return os.sep in value or "/" in value or value.endswith(_CHECKPOINT_SUFFIXES) or value.startswith("~")


def check_threshold(value: float, key: str = "threshold") -> None:
    """Thresholds compare against relevance in [0, 1]; outside it the mask is always empty/full."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"expected a number in [0, 1], got {value}", key=key)


def one_slot_problem(template: str) -> str | None:
    """The usual template rule: exactly one `{}`, where the object's words go."""
    if template.count("{}") != 1:
        return "expected exactly one '{}' (the object's words)"
    return None


def check_templates(templates: list[str], problem: Any = one_slot_problem) -> None:
    """At least one template, each passing `problem` (None = fine); else a ConfigError naming it."""
    if not templates:
        raise ConfigError("expected at least one prompt template", key="templates")
    for i, template in enumerate(templates):
        message = problem(template)
        if message:
            raise ConfigError(f"{message}, got {template!r}", key=f"templates.{i}")


def check_rgb(obs: dict[str, Any]) -> np.ndarray:
    """obs["rgb"] as an (H, W, 3) uint8 array, or a ValueError saying what arrived instead."""
    rgb = obs.get("rgb") if isinstance(obs, dict) else None
    if rgb is None:
        raise ValueError("localizer: the observation has no 'rgb'")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"localizer: obs['rgb'] must be an (H, W, 3) uint8 image, got shape "
                         f"{rgb.shape} dtype {rgb.dtype}")
    return rgb


def find_centroid(mask: np.ndarray) -> np.ndarray:
    """A mask of the one pixel of `mask` nearest its pixels' centroid (the first such pixel in
    row-major order on ties); an empty mask is returned as is. The original CoW's `center_only`:
    one map cell per detection instead of a smeared blob."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return mask
    k = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    out = np.zeros_like(mask)
    out[rows[k], cols[k]] = True
    return out


def grid_edges(size: int, k: int) -> np.ndarray:
    """k + 1 integer pixel edges splitting `size` pixels into k nearly equal cells (0 ... size).

    The one place tile/region geometry is defined, so clip_patch's tiles and clip_ref's regions
    cover the same pixels for the same k.
    """
    return np.round(np.linspace(0, size, k + 1)).astype(int)


@dataclass(kw_only=True)
class ClipConfig(LocalizerConfig):
    """Settings every CLIP localizer shares: which open_clip model, which weights, which prompts.

    `model` is an open_clip architecture name (`ViT-B-32`, or `tiny-vit`, the 2-layer model shipped
    in this package for tests). `pretrained` is an open_clip tag (`openai`), a local checkpoint file,
    or null for random weights (seeded by `init_seed`, so they repeat): speed and plumbing tests
    need the architecture, not the weights. A checkpoint file must be an open_clip state dict of
    `model`; OpenAI's weights were trained with QuickGELU, so a file of them needs `ViT-B-32-quickgelu`
    (the `openai` tag sets QuickGELU itself). Weights never download unless `HF_HUB_OFFLINE=0` is set
    (see clip_model.py). `templates` are prompt templates with one `{}` for the object's words;
    null (the default) means the variant's own: `DEFAULT_TEMPLATES` (8) for `ours`, CLIP's 80
    ImageNet templates for `paper` (`paper_prompts.IMAGENET_TEMPLATES`). `center_only` (the
    original's option) keeps of a detection mask only its pixel nearest the mask's centroid.
    """

    id: str
    model: str = "ViT-B-32"
    pretrained: str | None = "openai"
    threshold: float = 0.5
    templates: list[str] | None = None
    init_seed: int = 0
    center_only: bool = False

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        if self.templates is None:
            from embodied.perception.localization.paper_prompts import IMAGENET_TEMPLATES

            paper = getattr(self, "variant", "ours") == "paper"
            self.templates = list(IMAGENET_TEMPLATES if paper else DEFAULT_TEMPLATES)
        check_templates(self.templates, self.template_problem)
        if self.pretrained == "":
            self.pretrained = None
        if self.pretrained is not None and looks_like_path(self.pretrained):
            path = Path(self.pretrained).expanduser()
            shipped = Path(__file__).resolve().parents[3] / self.pretrained
            if not path.is_file() and self.pretrained.startswith("embodied/models/") and shipped.is_file():
                # a checkpoint shipped in the package, named as in the repo, from any working dir
                self.pretrained = str(shipped)
            elif not path.is_file():
                raise ConfigError(
                    f"checkpoint file {self.pretrained!r} does not exist; give an existing open_clip "
                    f"checkpoint for model {self.model!r}, an open_clip tag such as 'openai' (cached "
                    "once with HF_HUB_OFFLINE=0 on a machine with internet), or null for random weights",
                    key="pretrained")

    def template_problem(self, template: str) -> str | None:
        """What is wrong with one prompt template (None: fine); localizers with other slots override."""
        return one_slot_problem(template)


class Localizer:
    """Base class: `reset(info)` per episode, then `relevance` / `detect` per frame.

    `privileged = True` marks localizers that read ground truth (`obs["semantic"]`, `obs["instance"]`,
    `info["privileged"]`): an agent using one must ask the runner for a privileged env, and its
    results are an upper bound, not a zero-shot number.
    """

    privileged: ClassVar[bool] = False

    def __init__(self, config: Any, device: str = "cpu") -> None:
        self.config = config
        self.device = device

    def reset(self, info: dict[str, Any]) -> None:
        """Per-episode state (most localizers have none: text embeddings stay cached across episodes)."""

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        """(H, W) float32 in [0, 1] over obs["rgb"]'s pixels: how much each pixel shows `text`."""
        raise NotImplementedError

    def detect(self, obs: dict[str, Any], text: str) -> tuple[np.ndarray, np.ndarray]:
        """(relevance, mask): the mask is where relevance reaches `config.threshold`."""
        rel = self.relevance(obs, text)
        return self.finish(rel, rel >= float(self.config.threshold))

    def finish(self, rel: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The last step of every `detect`: `center_only` (when the config has it on)."""
        if getattr(self.config, "center_only", False):
            mask = find_centroid(mask)
        return rel, mask
