"""OWL-ViT: an open-vocabulary *detector* as the localizer (CoW's strongest localizer family).

OWL-ViT (Minderer et al., 2022) fine-tunes CLIP to predict a box and a text-conditioned score for
every image patch. Boxes whose score reaches `threshold` become the detection; the relevance of a
pixel is the best score among the boxes covering it (0 where none does), so the mask is exactly
the union of boxes above threshold.

`transformers` is an optional extra (`pip install embodied[owlvit]`): it is imported only when this
localizer is built. Only the model comes from it; tokenisation (OWL-ViT uses CLIP's BPE vocabulary,
16 tokens) and preprocessing (squash to the model's input size, CLIP's mean/std — what
OwlViTProcessor does to a square frame) are done here, so no tokenizer files are needed offline.
Weights load from the Hugging Face cache or a local directory; they download only with
HF_HUB_OFFLINE=0, as for the CLIP models. `model: tiny` builds a 2-layer random-weight OWL-ViT for
tests and plumbing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied.config import LocalizerConfig
from embodied.perception.localization.base import (Localizer, category_words, check_rgb,
                                                 check_templates, check_threshold)

__all__ = ["OwlVitConfig", "OwlVitLocalizer", "require_transformers", "INSTALL_HINT"]

INSTALL_HINT = "pip install embodied[owlvit]"
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class OwlVitConfig(LocalizerConfig):
    """OWL-ViT boxes above `threshold` (needs the `owlvit` extra: transformers).

    `model`: a Hugging Face id or local directory of an OWL-ViT checkpoint, or `tiny` (random
    weights, tests). `templates`: prompts with one `{}`; each is a query, a box's score is its best.
    """

    id: str = "owlvit"
    model: str = "google/owlvit-base-patch32"
    threshold: float = 0.1
    templates: list[str] = field(default_factory=lambda: ["a photo of a {}."])
    init_seed: int = 0

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        check_templates(self.templates)


def require_transformers() -> Any:
    """The transformers module, or an ImportError that says which extra to install."""
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(f"the owlvit localizer needs the optional package `transformers`, which is not "
                          f"installed: {INSTALL_HINT} (or pip install 'transformers>=4.40')") from exc
    return transformers


def _tiny_config(transformers: Any) -> Any:
    """A 2-layer, width-64, 96-px OWL-ViT: builds in milliseconds with random weights."""
    text = dict(vocab_size=49408, hidden_size=64, intermediate_size=128, num_attention_heads=2,
                num_hidden_layers=2, max_position_embeddings=16)
    vision = dict(hidden_size=64, intermediate_size=128, num_attention_heads=2, num_hidden_layers=2,
                  image_size=96, patch_size=16)
    return transformers.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=64)


class OwlVitLocalizer(Localizer):
    """Relevance = best OWL-ViT box score covering each pixel; the mask = boxes above threshold."""

    def __init__(self, config: OwlVitConfig | None = None, device: str = "cpu") -> None:
        config = config or OwlVitConfig()
        super().__init__(config, device)
        transformers = require_transformers()
        import open_clip
        import torch

        from embodied.perception.localization.clip_model import WeightsNotFoundError, downloads_allowed

        if config.model == "tiny":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.init_seed)
                net = transformers.OwlViTForObjectDetection(_tiny_config(transformers))
        else:
            try:
                net = transformers.OwlViTForObjectDetection.from_pretrained(
                    config.model, local_files_only=not downloads_allowed())
            except OSError as exc:
                raise WeightsNotFoundError(
                    f"OWL-ViT weights {config.model!r} are not on this machine ({exc}). Run once with "
                    f"HF_HUB_OFFLINE=0 on a machine with internet to fill the Hugging Face cache "
                    f"(HF_HOME), or set `model: /path/to/a/local/owlvit/directory`") from exc
        self.torch = torch
        self.device_ = torch.device(device)
        self.net = net.to(self.device_).eval()
        self.net.requires_grad_(False)
        vision = self.net.config.vision_config
        self.image_size = int(vision.image_size)
        self.context_length = int(self.net.config.text_config.max_position_embeddings)
        self.tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=self.context_length)
        self.mean = torch.tensor(_CLIP_MEAN, device=self.device_).view(1, 3, 1, 1)
        self.std = torch.tensor(_CLIP_STD, device=self.device_).view(1, 3, 1, 1)
        self._queries: dict[str, tuple[Any, Any]] = {}
        self.last_boxes: np.ndarray | None = None   # (N, 4) x0, y0, x1, y1 in pixels
        self.last_scores: np.ndarray | None = None  # (N,)

    def prompts(self, text: str) -> list[str]:
        words = category_words(text)
        return [t.format(words) for t in self.config.templates]

    def _query(self, text: str) -> tuple[Any, Any]:
        """Token ids and attention mask of the goal's queries, cached per goal."""
        cached = self._queries.get(text)
        if cached is None:
            ids = self.tokenizer(self.prompts(text)).to(self.device_)
            cached = (ids, (ids != 0).long())
            self._queries[text] = cached
        return cached

    def boxes(self, rgb: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray]:
        """((N, 4) pixel boxes x0, y0, x1, y1; (N,) scores in [0, 1]): one box per image patch."""
        torch = self.torch
        import torch.nn.functional as F

        image = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device_)
        image = image.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        image = F.interpolate(image, size=(self.image_size, self.image_size), mode="bicubic",
                              antialias=True, align_corners=False).clamp_(0.0, 1.0)
        pixels = (image - self.mean) / self.std
        ids, mask = self._query(text)
        with torch.no_grad():
            out = self.net(input_ids=ids, pixel_values=pixels, attention_mask=mask)
        scores = torch.sigmoid(out.logits[0]).max(dim=-1).values  # best query per box
        cx, cy, w, h = out.pred_boxes[0].unbind(-1)              # normalised to the (squashed) frame
        height, width = rgb.shape[:2]
        xyxy = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height,
                            (cx + w / 2) * width, (cy + h / 2) * height], dim=-1)
        return xyxy.cpu().numpy().astype(np.float64), scores.cpu().numpy().astype(np.float64)

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        rgb = check_rgb(obs)
        xyxy, scores = self.boxes(rgb, text)
        self.last_boxes, self.last_scores = xyxy, scores
        height, width = rgb.shape[:2]
        out = np.zeros((height, width), np.float32)
        for index in np.flatnonzero(scores > 1e-4):  # boxes below that cannot pass any useful threshold
            x0, y0, x1, y1 = xyxy[index]
            c0, r0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
            c1, r1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
            if c1 > c0 and r1 > r0:
                out[r0:r1, c0:c1] = np.maximum(out[r0:r1, c0:c1], np.float32(scores[index]))
        return np.clip(out, 0.0, 1.0)
