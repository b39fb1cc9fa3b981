"""CLIP-Patch: cut the frame into k x k tiles, score each tile against the goal's prompt.

CoW's simplest CLIP localizer: CLIP judges whole images, so to ask *where* an object is, ask CLIP
about each piece of the frame. Each tile is cropped, resized to CLIP's input size and embedded
(all tiles in one batch); its score against the prompt ensemble becomes the relevance of every
pixel in it. The map is therefore constant per tile (with `overlap` 0): coarse, but free of any
explanation method's assumptions.

Scores (`score`):
- `softmax` (default): the probability that the object is in this tile rather than another —
  softmax over tiles of CLIP's logits (logit_scale x cosine). Peaked when one tile matches much
  better than the rest, flat when none (or all) do.
- `similarity`: the tile's cosine similarity mapped to [0, 1] as (cos + 1) / 2, comparable across
  frames (the softmax is relative to the frame's other tiles).
- `vocabulary`: the probability that the tile shows the goal rather than any other entry of
  `vocabulary` -- CLIP's zero-shot classification of each tile (softmax over the classes of
  logit_scale x cosine; the goal joins the list if it is not in it). Comparable across frames, and
  a frame with no goal in it has no tile that the goal wins: the score for frame-level decisions
  (stop or not) with a weak or in-domain model. The default list is the ObjectNav goal categories
  plus common furniture and room surfaces (`DEFAULT_VOCABULARY`); on a robot, list what the
  scene may hold.

`overlap` in [0, 1) lets neighbouring tiles share that fraction of a tile (k tiles per axis still
span the frame, each larger); a pixel's relevance is then the mean over the tiles covering it, so
objects cut by a tile border still appear whole in some tile.

`variant: paper` is the original CoW code exactly (real-stanford/cow
`src/models/localization/clip_patch.py`, thresholds from `hparams/robo.json`): the frame is first
made the model's input (resized, normalised), cut with `unfold` into 3 x 3 tiles of int(S / 3)
pixels (the leftover rows and columns belong to no tile: relevance 0 there), each tile resized
bicubic (no antialiasing) back to S, scored as softmax over the tiles of 100 * cos (not the model's
logit scale), and the mask is probability > threshold (strict) with its threshold per backbone
(ViT-B-32 0.875, ViT-B-16 0.75; `threshold` for any other model).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from embodied.config import ConfigError
from embodied.perception.localization.base import ClipConfig, Localizer, category_words, check_rgb
from embodied.perception.localization.paper_prompts import paper_words
from embodied.perception.localization.vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["ClipPatchConfig", "ClipPatchLocalizer", "tile_boxes", "PAPER_THRESHOLDS"]


#: the original CoW's clip_patch thresholds (hparams/robo.json: patch-b32-openai, patch-b16-openai)
PAPER_THRESHOLDS = {"ViT-B-32": 0.875, "ViT-B-32-quickgelu": 0.875, "ViT-B-16": 0.75,
                    "ViT-B-16-quickgelu": 0.75}


@dataclass
class ClipPatchConfig(ClipConfig):
    """k x k tiles of the frame scored by CLIP (CoW's CLIP-Patch); `grid` = k, `overlap` in [0, 1)."""

    id: str = "clip_patch"
    grid: int = 3
    overlap: float = 0.0
    score: Literal["softmax", "similarity", "vocabulary"] = "softmax"
    vocabulary: list[str] = field(default_factory=lambda: list(DEFAULT_VOCABULARY))
    threshold: float = 0.5
    #: "ours" (the settings above) or "paper" (the original CoW code exactly; module docstring)
    variant: str = "ours"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in ("ours", "paper"):
            raise ConfigError(f"got {self.variant!r}, expected ours or paper (the original CoW code)",
                              key="variant")
        if self.score == "vocabulary" and not [v for v in self.vocabulary if str(v).strip()]:
            raise ConfigError("expected at least one class name (the goal's alternatives) for score: "
                              "vocabulary", key="vocabulary")
        if self.grid < 1:
            raise ConfigError(f"expected an integer >= 1 (tiles per side), got {self.grid}", key="grid")
        if not 0.0 <= self.overlap < 1.0:
            raise ConfigError(f"expected a fraction in [0, 1), got {self.overlap}", key="overlap")


def tile_boxes(height: int, width: int, grid: int, overlap: float = 0.0) -> list[tuple[int, int, int, int]]:
    """grid x grid (y0, y1, x0, x1) pixel boxes, row-major from the top left, spanning the frame.

    Tile side t and stride t (1 - overlap) are chosen so that `grid` tiles exactly span each axis:
    t = size / (grid - (grid - 1) overlap). With overlap 0 the tiles partition the frame.
    """
    def spans(size: int) -> list[tuple[int, int]]:
        side = size / (grid - (grid - 1) * overlap)
        stride = side * (1.0 - overlap)
        out = []
        for i in range(grid):
            lo = int(round(i * stride))
            hi = size if i == grid - 1 else int(round(i * stride + side))
            out.append((lo, max(hi, lo + 1)))
        return out

    return [(y0, y1, x0, x1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


class ClipPatchLocalizer(Localizer):
    """Relevance per tile: how well each crop of the frame matches the goal's prompt."""

    def __init__(self, config: ClipPatchConfig | None = None, device: str = "cpu") -> None:
        from embodied.perception.localization.clip_model import load_clip

        config = config or ClipPatchConfig()
        super().__init__(config, device)
        self.clip = load_clip(config.model, config.pretrained, device, config.init_seed)
        self.last_scores: np.ndarray | None = None  # per tile, row-major (for inspection and plots)
        self.vocabulary = Vocabulary(self.clip, config.vocabulary, config.templates)

    def prompts(self, text: str) -> list[str]:
        """The goal's prompt ensemble."""
        words = paper_words(text) if self.config.variant == "paper" else category_words(text)
        return [t.format(words) for t in self.config.templates]

    def tile_scores(self, rgb: np.ndarray, text: str) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
        """(tile boxes, score in [0, 1] per tile)."""
        import torch

        h, w = rgb.shape[:2]
        boxes = tile_boxes(h, w, self.config.grid, self.config.overlap)
        text_embedding = self.clip.text_embedding(self.prompts(text))
        images = self.clip.encode_image(self.clip.pixels(rgb, boxes))
        cosine = images @ text_embedding
        if self.config.score == "softmax":
            scores = torch.softmax(self.clip.logit_scale * cosine, dim=0)
        elif self.config.score == "vocabulary":
            scores = self.vocabulary.goal_probability(images, text_embedding, text)
        else:
            scores = (cosine + 1.0) / 2.0
        return boxes, scores.clamp(0.0, 1.0).cpu().numpy().astype(np.float64)

    def paper_scores(self, rgb: np.ndarray, text: str) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
        """The original's 3 x 3 tile probabilities, and each tile's box in the frame's pixels."""
        import torch
        import torch.nn.functional as F

        x = self.clip.pixels(rgb)                               # (1, 3, S, S), normalised
        _, c, sh, sw = x.shape
        th, tw = int(sh / 3), int(sw / 3)
        tiles = x.unfold(1, 3, 3).unfold(2, th, th).unfold(3, tw, tw).contiguous().view(-1, c, th, tw)
        tiles = F.interpolate(tiles, size=(sh, sw), mode="bicubic", align_corners=False)
        cosine = self.clip.encode_image(tiles) @ self.clip.text_embedding(self.prompts(text))
        probs = torch.softmax(100.0 * cosine, dim=0)
        h, w = rgb.shape[:2]
        ys = [int(round(i * th * h / sh)) for i in range(4)]
        xs = [int(round(j * tw * w / sw)) for j in range(4)]
        boxes = [(ys[i], ys[i + 1], xs[j], xs[j + 1]) for i in range(3) for j in range(3)]
        return boxes, probs.cpu().numpy().astype(np.float64)

    def detect(self, obs: dict[str, Any], text: str) -> tuple[np.ndarray, np.ndarray]:
        if self.config.variant != "paper":
            return super().detect(obs, text)
        rel = self.relevance(obs, text)
        return self.finish(rel, rel > PAPER_THRESHOLDS.get(self.config.model, float(self.config.threshold)))

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        rgb = check_rgb(obs)
        if self.config.variant == "paper":
            boxes, scores = self.paper_scores(rgb, text)
            self.last_scores = scores
            out = np.zeros(rgb.shape[:2], np.float32)
            for (y0, y1, x0, x1), score in zip(boxes, scores):
                out[y0:y1, x0:x1] = score
            return out
        boxes, scores = self.tile_scores(rgb, text)
        self.last_scores = scores
        total = np.zeros(rgb.shape[:2], np.float64)
        count = np.zeros(rgb.shape[:2], np.float64)
        for (y0, y1, x0, x1), score in zip(boxes, scores):
            total[y0:y1, x0:x1] += score
            count[y0:y1, x0:x1] += 1.0
        return np.clip(total / np.maximum(count, 1.0), 0.0, 1.0).astype(np.float32)
