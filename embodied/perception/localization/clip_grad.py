"""CLIP-Grad: where in the frame CLIP's image–text match comes from, by gradient-weighted attention.

CoW's best CLIP localizer explains CLIP's similarity between the frame and the goal's prompt with
Chefer et al.'s "Generic Attention-model Explainability" (ICCV 2021) relevance, computed through
the vision transformer's self-attention:

    R = I                                              (tokens x tokens, CLS first)
    for each block b (from `start_layer` on):
        A_b = attention probabilities (heads x tokens x tokens),  G_b = d sim / d A_b
        R  += mean_heads( clamp(G_b * A_b, min=0) ) @ R
    relevance = R[CLS, patches] -> patch grid -> bilinear to the frame -> min-max to [0, 1]

Why gradients times attention: attention alone shows what the network mixes, not what matters
for *this* text; the gradient of the similarity weights each attention edge by its effect on the
match, and the clamp keeps edges that raise it. Why accumulate R over blocks: a token's content
after block b is itself a mixture, so relevance must follow the mixing back to the input patches.

Getting A_b with gradients: open_clip's blocks call `nn.MultiheadAttention(need_weights=False)`,
which returns no probabilities (and with need_weights=True returns a copy made after use, whose
gradient never arrives). So while recording, each block's `attention` is replaced by an explicit
one computed from the same `in_proj_weight`/`out_proj` (identical output, checked in the tests)
that keeps the softmax probabilities in the autograd graph.

A min-max normalised map always peaks at 1, even when the object is absent; CoW therefore also
checks the image-level match. `min_similarity` (cosine, off by default) empties the mask of frames
whose similarity to the prompt is below it.

`variant: paper` is the original CoW code exactly (real-stanford/cow
`src/models/localization/clip_grad.py`, `interpret_vit`, thresholds from `hparams/robo.json`): the
gradient is of the logit 100 * cos; only blocks after index 10 enter R (its `if i <= num_layers:
continue` with num_layers = 10: for the 12-block ViT-B/32 and B/16 it was written for, the last
block; this preset keeps "the last block" for other depths); no min-max scaling -- the mask is
10 * R > threshold (strict), with its threshold per backbone (ViT-B-32 0.625, ViT-B-16 0.375;
`threshold` for any other model). `variant: ours` (default) keeps this project's choices above.
"""
from __future__ import annotations

import contextlib
import math
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from embodied.config import ConfigError
from embodied.perception.localization.base import (ClipConfig, Localizer, category_words, check_rgb,
                                                   check_threshold)
from embodied.perception.localization.paper_prompts import paper_words
from embodied.perception.localization.vocabulary import DEFAULT_VOCABULARY, Vocabulary

if TYPE_CHECKING:
    import torch

__all__ = ["ClipGradConfig", "ClipGradLocalizer", "gradient_rollout", "record_attention",
           "normalize_map", "PAPER_THRESHOLDS", "paper_threshold"]

#: the original CoW's clip_grad thresholds (hparams/robo.json: grad-b32-openai, grad-b16-openai)
PAPER_THRESHOLDS = {"ViT-B-32": 0.625, "ViT-B-32-quickgelu": 0.625, "ViT-B-16": 0.375,
                    "ViT-B-16-quickgelu": 0.375}
PAPER_LOGIT_SCALE = 100.0      # it differentiates logits_per_image = 100 * cos
PAPER_GRADIENT_SCALAR = 10.0   # and thresholds 10 * R


def paper_threshold(model: str, fallback: float) -> float:
    """The original's threshold for a backbone, else ``fallback`` (the config's threshold)."""
    return PAPER_THRESHOLDS.get(model, fallback)


@dataclass
class ClipGradConfig(ClipConfig):
    """Chefer-style gradient x attention relevance of CLIP's ViT (CoW's CLIP-Grad).

    `start_layer`: first block entering the relevance (0 = all, negative counts from the end:
    -1 = the last block only, the setting of Chefer's CLIP notebook). `min_similarity`: cosine
    image–text similarity below which `detect` reports nothing (null: off).

    `verify` (variant ours): each connected blob of the mask (the `max_candidates` with the highest
    relevance peaks) is cropped -- a square `verify_context` times the blob's larger side, as an
    object-centred photo -- and classified zero-shot against `vocabulary`
    (`vocabulary.Vocabulary`); only blobs whose goal probability reaches `verify_threshold` stay
    in the mask. Relevance proposes *where*, classification decides *whether*: a two-stage
    detector from one CLIP model.
    """

    id: str = "clip_grad"
    threshold: float = 0.75
    start_layer: int = 0
    min_similarity: float | None = None
    #: "ours" (the settings above) or "paper" (the original CoW code exactly; module docstring)
    variant: str = "ours"
    verify: bool = False
    vocabulary: list[str] = field(default_factory=lambda: list(DEFAULT_VOCABULARY))
    verify_threshold: float = 0.5
    verify_context: float = 3.0
    max_candidates: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in ("ours", "paper"):
            raise ConfigError(f"got {self.variant!r}, expected ours or paper (the original CoW code)",
                              key="variant")
        check_threshold(self.verify_threshold, "verify_threshold")
        if not self.verify_context >= 1.0:
            raise ConfigError(f"got {self.verify_context}, expected >= 1 (crop side / blob side)",
                              key="verify_context")
        if self.max_candidates < 1:
            raise ConfigError(f"got {self.max_candidates}, expected an integer >= 1", key="max_candidates")
        if self.verify and not [v for v in self.vocabulary if str(v).strip()]:
            raise ConfigError("expected at least one class name for verify", key="vocabulary")
        if self.min_similarity is not None and not -1.0 <= self.min_similarity <= 1.0:
            raise ConfigError(f"expected a cosine similarity in [-1, 1] or null, got {self.min_similarity}",
                              key="min_similarity")


# ---------------------------------------------------------------------------------- attention
def _explicit_attention(block: Any, store: list, q_x: "torch.Tensor", k_x: "torch.Tensor | None" = None,
                        v_x: "torch.Tensor | None" = None,
                        attn_mask: "torch.Tensor | None" = None) -> "torch.Tensor":
    """What `block.attn(q_x, q_x, q_x, need_weights=False)` computes, keeping the probabilities.

    Same weights and the same arithmetic as nn.MultiheadAttention (in-projection, scaled dot
    product, softmax, out-projection); the (B, heads, L, L) probabilities go to `store`.
    """
    import torch
    import torch.nn.functional as F

    if k_x is not None or v_x is not None:
        raise NotImplementedError("clip_grad records self-attention only (no cross-attention)")
    mha = block.attn
    x = q_x if mha.batch_first else q_x.transpose(0, 1)  # -> (B, L, D)
    b, length, dim = x.shape
    heads = mha.num_heads
    head_dim = dim // heads
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(b, length, heads, head_dim).transpose(1, 2) for t in (q, k, v))
    logits = (q * head_dim ** -0.5) @ k.transpose(-2, -1)
    if attn_mask is not None:
        logits = logits.masked_fill(attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
            else logits + attn_mask
    probs = logits.softmax(dim=-1)
    store.append(probs)
    out = (probs @ v).transpose(1, 2).reshape(b, length, dim)
    out = mha.out_proj(out)
    return out if mha.batch_first else out.transpose(0, 1)


def _check_supported(visual: Any) -> None:
    """clip_grad needs an open_clip VisionTransformer whose blocks use nn.MultiheadAttention."""
    import torch.nn as nn

    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is None or not all(isinstance(getattr(b, "attn", None), nn.MultiheadAttention)
                                 and callable(getattr(b, "attention", None)) for b in blocks):
        raise NotImplementedError(
            f"clip_grad supports open_clip vision transformers with standard attention blocks "
            f"(ViT-B-32, ViT-B-16, ViT-L-14, tiny-vit, ...), not {type(visual).__name__}; "
            "use clip_patch or clip_ref with this model")
    if getattr(visual, "pool_type", "tok") != "tok" or getattr(visual, "attn_pool", None) is not None:
        raise NotImplementedError("clip_grad reads the CLS token's relevance; this model pools otherwise")


@contextlib.contextmanager
def record_attention(visual: Any) -> Iterator[list]:
    """Within the block, every vision block appends its attention probabilities to the yielded list.

    The model is changed only inside the `with` (an instance attribute shadows the block's method;
    deleting it restores open_clip's own), so a shared model is left as it was even on errors.
    """
    store: list = []
    blocks = list(visual.transformer.resblocks)
    for block in blocks:
        block.attention = types.MethodType(
            lambda self, q_x, k_x=None, v_x=None, attn_mask=None: _explicit_attention(
                self, store, q_x, k_x, v_x, attn_mask), block)
    try:
        yield store
    finally:
        for block in blocks:
            block.__dict__.pop("attention", None)


def gradient_rollout(attentions: list["torch.Tensor"], gradients: list["torch.Tensor"],
                     start_layer: int = 0) -> "torch.Tensor":
    """Chefer's relevance of every patch token for the CLS token: (B, L - 1).

    attentions[b], gradients[b]: (B, heads, L, L) probabilities of block b and d sim / d probs.
    """
    import torch

    if len(attentions) != len(gradients) or not attentions:
        raise ValueError("gradient_rollout: need one gradient per attention map (and at least one)")
    batch, _, length, _ = attentions[0].shape
    relevance = torch.eye(length, dtype=attentions[0].dtype, device=attentions[0].device)
    relevance = relevance.expand(batch, length, length).clone()
    first = start_layer if start_layer >= 0 else len(attentions) + start_layer
    for attn, grad in list(zip(attentions, gradients))[max(first, 0):]:
        cam = (grad * attn).clamp(min=0).mean(dim=1)  # (B, L, L): heads averaged
        relevance = relevance + cam @ relevance
    return relevance[:, 0, 1:]


def crop_box(span: tuple[slice, slice], shape: tuple[int, int], context: float,
             min_side: int = 16) -> tuple[int, int, int, int]:
    """A square (y0, y1, x0, x1) around a blob's bounding slices: `context` times its larger side
    (at least `min_side` px, at most the frame's smaller side), centred on it and shifted to lie
    inside the frame."""
    h, w = shape
    ys, xs = span
    side = int(round(max(ys.stop - ys.start, xs.stop - xs.start) * context))
    side = max(min(side, h, w), min(min_side, h, w))
    cy, cx = (ys.start + ys.stop) / 2.0, (xs.start + xs.stop) / 2.0
    y0 = int(round(min(max(cy - side / 2.0, 0), h - side)))
    x0 = int(round(min(max(cx - side / 2.0, 0), w - side)))
    return y0, y0 + side, x0, x0 + side


def normalize_map(values: "torch.Tensor") -> "torch.Tensor":
    """Min-max to [0, 1]; a constant map (no evidence anywhere) becomes all zeros, not NaN."""
    lo, hi = values.min(), values.max()
    span = hi - lo
    if not math.isfinite(float(span)) or float(span) <= 1e-12:
        return values.new_zeros(values.shape)
    return ((values - lo) / span).clamp_(0.0, 1.0)


# ---------------------------------------------------------------------------------- localizer
class ClipGradLocalizer(Localizer):
    """Relevance of each pixel for CLIP's frame–prompt similarity (gradient-weighted attention)."""

    def __init__(self, config: ClipGradConfig | None = None, device: str = "cpu") -> None:
        from embodied.perception.localization.clip_model import load_clip

        config = config or ClipGradConfig()
        super().__init__(config, device)
        self.clip = load_clip(config.model, config.pretrained, device, config.init_seed)
        _check_supported(self.clip.model.visual)
        self.last_similarity: float | None = None
        self.vocabulary = Vocabulary(self.clip, config.vocabulary, config.templates)
        #: the last verified blobs: ((y0, y1, x0, x1) crop, goal probability, kept)
        self.last_candidates: list[tuple[tuple[int, int, int, int], float, bool]] = []

    def prompts(self, text: str) -> list[str]:
        """The goal's prompt ensemble ("a photo of a alarm clock." ...)."""
        words = paper_words(text) if self.config.variant == "paper" else category_words(text)
        return [t.format(words) for t in self.config.templates]

    def attention_gradients(self, pixels: "torch.Tensor", text_embedding: "torch.Tensor",
                            scale: float = 1.0) -> tuple[float, list["torch.Tensor"], list["torch.Tensor"]]:
        """(cosine similarity, attention maps, d (scale * similarity) / d attention maps) for one
        frame (``scale`` 100: the original's logit)."""
        import torch

        visual = self.clip.model.visual
        with torch.inference_mode(False), torch.enable_grad():
            # Clones: the caller may run under inference_mode, whose tensors autograd cannot save.
            pixels = pixels.detach().clone().requires_grad_(True)  # weights are frozen: grad flows via input
            text_embedding = text_embedding.detach().clone()
            with record_attention(visual) as attentions:
                image = self.clip.model.encode_image(pixels)
            image = image / image.norm(dim=-1, keepdim=True)
            similarity = (image * text_embedding).sum()
            gradients = torch.autograd.grad(similarity * scale, attentions)
        return float(similarity.detach()), [a.detach() for a in attentions], [g.detach() for g in gradients]

    def relevance(self, obs: dict[str, Any], text: str) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        rgb = check_rgb(obs)
        text_embedding = self.clip.text_embedding(self.prompts(text))
        pixels = self.clip.pixels(rgb)
        paper = self.config.variant == "paper"
        similarity, attentions, gradients = self.attention_gradients(
            pixels, text_embedding, PAPER_LOGIT_SCALE if paper else 1.0)
        self.last_similarity = similarity
        patches = gradient_rollout(attentions, gradients, -1 if paper else self.config.start_layer)[0]
        grid_h, grid_w = self.clip.model.visual.grid_size
        with torch.no_grad():
            grid = patches.reshape(1, 1, grid_h, grid_w).float()
            full = F.interpolate(grid, size=rgb.shape[:2], mode="bilinear", align_corners=False)[0, 0]
            full = full * PAPER_GRADIENT_SCALAR if paper else normalize_map(full)
        return full.cpu().numpy().astype(np.float32)

    def detect(self, obs: dict[str, Any], text: str) -> tuple[np.ndarray, np.ndarray]:
        if self.config.variant == "paper":
            rel = self.relevance(obs, text)
            return self.finish(rel, rel > paper_threshold(self.config.model, float(self.config.threshold)))
        rel = self.relevance(obs, text)
        mask = rel >= float(self.config.threshold)
        floor = self.config.min_similarity
        if floor is not None and self.last_similarity is not None and self.last_similarity < floor:
            mask = np.zeros_like(mask)
        self.last_candidates = []
        if self.config.verify and mask.any():
            mask = self.verified(check_rgb(obs), text, rel, mask)
        return self.finish(rel, mask)

    def verified(self, rgb: np.ndarray, text: str, rel: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The blobs of `mask` whose object-centred crop CLIP classifies as the goal (see `verify`)."""
        from scipy import ndimage

        labels, n = ndimage.label(mask)
        if n == 0:
            return mask
        peaks = np.asarray(ndimage.maximum(rel, labels, index=np.arange(1, n + 1)), dtype=np.float64)
        order = np.argsort(-peaks, kind="stable")[: self.config.max_candidates]
        spans = ndimage.find_objects(labels)
        boxes = [crop_box(spans[k], rgb.shape[:2], self.config.verify_context) for k in order]
        images = self.clip.encode_image(self.clip.pixels(rgb, boxes))
        probs = self.vocabulary.goal_probability(images, self.clip.text_embedding(self.prompts(text)), text)
        keep = np.zeros(n + 1, bool)
        for k, box, p in zip(order, boxes, probs.tolist()):
            ok = p >= float(self.config.verify_threshold)
            keep[k + 1] = ok
            self.last_candidates.append((box, float(p), bool(ok)))
        return keep[labels]
