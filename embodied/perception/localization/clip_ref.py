"""CLIP-Ref: ask CLIP *where* with referring prompts, one per region of a k x k grid.

CoW's language-only localizer: instead of cropping the frame (clip_patch) or explaining CLIP
(clip_grad), it lets the text say where — "a photo of a mug in the top left of the image", one
prompt per region — and compares the whole frame with all of them at once. A softmax over the
regions (plus a negative, "a photo with no mug.") turns CLIP's logits into a probability per
region; that probability is the relevance of every pixel of the region. One image embedding per
frame makes it the cheapest CLIP localizer; how well CLIP grounds "top left" bounds how well it works.

Templates have two slots, `{object}` and `{region}`; several templates are averaged per region
(prompt ensembling).

`variant: paper` is the original CoW's `clip_lang` exactly (real-stanford/cow
`src/models/localization/clip_lang.py`, thresholds from `hparams/robo.json`): 9 region phrases
"{object} in the top left" ... "{object} in the bottom right" (its wording: "top center",
"center left", "center", ...) each put into the one-slot `paper_templates` and averaged, a 9-way
softmax of 100 * cos (no negative group, not the model's logit scale), spread back to the frame
by nearest-neighbour upsampling (row floor(3 y / H), column floor(3 x / W)), and the mask is
probability > threshold (strict) with its threshold per backbone (ViT-B-32 0.25, ViT-B-16 0.125;
`threshold` for any other model). Region names: k=2 "top left" ... "bottom right"; k=3 adds "top", "left",
"center", ...; k=4 "upper middle", "center left", ...
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied.config import ConfigError
from embodied.perception.localization.base import (ClipConfig, Localizer, category_words,
                                                   check_rgb, check_templates, grid_edges)
from embodied.perception.localization.paper_prompts import IMAGENET_TEMPLATES, paper_words

__all__ = ["ClipRefConfig", "ClipRefLocalizer", "region_names", "DEFAULT_REF_TEMPLATES",
           "DEFAULT_NEGATIVE_TEMPLATES", "PAPER_REGIONS", "PAPER_THRESHOLDS"]

#: the original clip_lang's region phrases, row-major from the top left
PAPER_REGIONS: tuple[str, ...] = ("top left", "top center", "top right", "center left", "center",
                                  "center right", "bottom left", "bottom center", "bottom right")
#: the original CoW's clip_lang thresholds (hparams/robo.json: lang-b32-openai, lang-b16-openai)
PAPER_THRESHOLDS = {"ViT-B-32": 0.25, "ViT-B-32-quickgelu": 0.25, "ViT-B-16": 0.125,
                    "ViT-B-16-quickgelu": 0.125}

DEFAULT_REF_TEMPLATES: tuple[str, ...] = (
    "a photo of a {object} in the {region} of the image.",
    "a {object} in the {region} of the picture.",
    "there is a {object} in the {region} of the image.",
)
DEFAULT_NEGATIVE_TEMPLATES: tuple[str, ...] = (
    "a photo with no {object}.",
    "there is no {object} in the image.",
)

_ROWS = {2: ("top", "bottom"), 3: ("top", "middle", "bottom"),
         4: ("top", "upper middle", "lower middle", "bottom")}
_COLS = {2: ("left", "right"), 3: ("left", "center", "right"),
         4: ("left", "center left", "center right", "right")}


def region_names(grid: int) -> list[str]:
    """Names of the grid x grid regions, row-major from the top left, as a caption would say them."""
    if grid not in _ROWS:
        raise ValueError(f"clip_ref names regions of 2x2, 3x3 or 4x4 grids, not {grid}x{grid}")
    names = []
    for row in _ROWS[grid]:
        for col in _COLS[grid]:
            if grid == 3 and row == "middle":
                names.append("center" if col == "center" else col)
            elif grid == 3 and col == "center":
                names.append(row)
            else:
                names.append(f"{row} {col}")
    return names


@dataclass
class ClipRefConfig(ClipConfig):
    """Spatially referring prompts, softmax over the regions of a k x k grid (CoW's CLIP-Ref).

    `templates` take `{object}` and `{region}`; `negative_templates` (`{object}` only) give the
    "no such object here" alternative, used when `negative` is true.
    """

    id: str = "clip_ref"
    grid: int = 3
    templates: list[str] = field(default_factory=lambda: list(DEFAULT_REF_TEMPLATES))
    negative: bool = True
    negative_templates: list[str] = field(default_factory=lambda: list(DEFAULT_NEGATIVE_TEMPLATES))
    threshold: float = 0.5
    #: "ours" (the settings above) or "paper" (the original clip_lang exactly; module docstring)
    variant: str = "ours"
    #: the paper variant's one-slot templates ({} = "mug in the top left"); null: as its code, CLIP's
    #: 80 ImageNet templates
    paper_templates: list[str] | None = None

    def __post_init__(self) -> None:
        if self.paper_templates is None:
            self.paper_templates = list(IMAGENET_TEMPLATES)
        super().__post_init__()
        if self.variant not in ("ours", "paper"):
            raise ConfigError(f"got {self.variant!r}, expected ours or paper (the original CoW code)",
                              key="variant")
        if self.variant == "paper" and self.grid != 3:
            raise ConfigError(f"got {self.grid}, the paper variant is 3 x 3", key="grid")
        check_templates(self.paper_templates)
        if self.grid not in _ROWS:
            raise ConfigError(f"expected 2, 3 or 4 (regions per side), got {self.grid}", key="grid")
        if self.negative and not self.negative_templates:
            raise ConfigError("expected at least one template when negative is true", key="negative_templates")
        for i, template in enumerate(self.negative_templates):
            if "{object}" not in template or "{region}" in template or "{}" in template:
                raise ConfigError(f"expected '{{object}}' and no other slot, got {template!r}",
                                  key=f"negative_templates.{i}")

    def template_problem(self, template: str) -> str | None:
        if "{object}" not in template or "{region}" not in template:
            return "expected both '{object}' and '{region}'"
        try:
            template.format(object="x", region="y")
        except (KeyError, IndexError, ValueError):
            return "expected only the slots '{object}' and '{region}'"
        return None


class ClipRefLocalizer(Localizer):
    """Relevance per region: CLIP's probability that the goal is in that region of the frame."""

    def __init__(self, config: ClipRefConfig | None = None, device: str = "cpu") -> None:
        from embodied.perception.localization.clip_model import load_clip

        config = config or ClipRefConfig()
        super().__init__(config, device)
        self.clip = load_clip(config.model, config.pretrained, device, config.init_seed)
        self.regions = region_names(config.grid)
        self.last_probabilities: np.ndarray | None = None  # per region (+ negative last)
        self._embeddings: dict[str, Any] = {}

    def prompts(self, text: str) -> list[list[str]]:
        """One prompt group per region (row-major), then the negative group when enabled."""
        words = category_words(text)
        if self.config.variant == "paper":
            words = paper_words(text)
            return [[t.format(f"{words} in the {r}") for t in self.config.paper_templates]
                    for r in PAPER_REGIONS]
        groups = [[t.format(object=words, region=r) for t in self.config.templates] for r in self.regions]
        if self.config.negative:
            groups.append([t.format(object=words) for t in self.config.negative_templates])
        return groups

    def _class_embeddings(self, text: str) -> Any:
        """(groups, D) ensembled embeddings of the goal's prompt groups, cached per goal."""
        import torch

        cached = self._embeddings.get(text)
        if cached is None:
            cached = torch.stack([self.clip.text_embedding(group) for group in self.prompts(text)])
            self._embeddings[text] = cached
        return cached

    def probabilities(self, rgb: np.ndarray, text: str) -> np.ndarray:
        """Softmax over the prompt groups (regions, then the negative) of CLIP's logits for the frame."""
        import torch

        image = self.clip.encode_image(self.clip.pixels(rgb))[0]
        scale = 100.0 if self.config.variant == "paper" else self.clip.logit_scale
        logits = scale * (self._class_embeddings(text) @ image)
        return torch.softmax(logits, dim=0).cpu().numpy().astype(np.float64)

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        rgb = check_rgb(obs)
        probs = self.probabilities(rgb, text)
        self.last_probabilities = probs
        if self.config.variant == "paper":        # nearest-neighbour upsampling of the 3 x 3 grid
            h, w = rgb.shape[:2]
            rows = np.minimum(np.arange(h) * 3 // h, 2)
            cols = np.minimum(np.arange(w) * 3 // w, 2)
            return probs.reshape(3, 3)[rows][:, cols].astype(np.float32)
        k = self.config.grid
        ys, xs = grid_edges(rgb.shape[0], k), grid_edges(rgb.shape[1], k)
        out = np.zeros(rgb.shape[:2], np.float32)
        for i in range(k):
            for j in range(k):
                out[ys[i]:ys[i + 1], xs[j]:xs[j + 1]] = probs[i * k + j]
        return np.clip(out, 0.0, 1.0)

    def detect(self, obs: dict[str, Any], text: str) -> tuple[np.ndarray, np.ndarray]:
        if self.config.variant != "paper":
            return super().detect(obs, text)
        rel = self.relevance(obs, text)
        return self.finish(rel, rel > PAPER_THRESHOLDS.get(self.config.model, float(self.config.threshold)))
