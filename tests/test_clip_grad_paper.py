"""`clip_grad` with `variant: paper` against an independent, straightforward port of the original
CoW code (real-stanford/cow `interpret_vit`: the ViT run by hand block by block, 100 * cos
differentiated, blocks with index <= 10 skipped, 10 * R thresholded) on a fixed random 12-block ViT."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from embodied.config import ConfigError
from embodied.perception.localization.clip_grad import (PAPER_THRESHOLDS, ClipGradConfig,
                                                        ClipGradLocalizer, paper_threshold)

TWELVE = {"embed_dim": 32,
          "vision_cfg": {"image_size": 64, "layers": 12, "width": 32, "head_width": 16, "patch_size": 16},
          "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def twelve_block_model(tmp_path_factory) -> str:
    import open_clip

    folder = tmp_path_factory.mktemp("clip_cfg")
    (folder / "test-vit-12.json").write_text(json.dumps(TWELVE))
    open_clip.add_model_config(folder)
    return "test-vit-12"


def original_interpret_vit(model, pixels: torch.Tensor, text: torch.Tensor, size: tuple[int, int],
                           num_layers: int = 10) -> torch.Tensor:
    """The original's relevance, written from its description: 10 * R[CLS, patches], bilinear."""
    v = model.visual
    probs_of_blocks = []
    with torch.inference_mode(False), torch.enable_grad():
        pixels = pixels.detach().clone().requires_grad_(True)   # frozen weights: grads flow from it
        text = text.detach().clone()
        x = v.conv1(pixels)
        x = x.reshape(1, x.shape[1], -1).permute(0, 2, 1)
        x = torch.cat([v.class_embedding.view(1, 1, -1), x], dim=1) + v.positional_embedding
        x = v.ln_pre(x)
        for block in v.transformer.resblocks:
            y = block.ln_1(x)
            mha = block.attn
            heads, dim = mha.num_heads, y.shape[-1]
            q, k, val = F.linear(y, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
            split = lambda t: t.reshape(1, -1, heads, dim // heads).transpose(1, 2)  # noqa: E731
            q, k, val = split(q), split(k), split(val)
            probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dim // heads), dim=-1)
            probs_of_blocks.append(probs)
            out = mha.out_proj((probs @ val).transpose(1, 2).reshape(1, -1, dim))
            x = x + block.ls_1(out)
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        image = v.ln_post(x[:, 0]) @ v.proj
        image = image / image.norm(dim=-1, keepdim=True)
        logit = 100.0 * (image @ text.view(-1, 1)).sum()
        tokens = probs_of_blocks[0].shape[-1]
        r = torch.eye(tokens).unsqueeze(0)
        for i, probs in enumerate(probs_of_blocks):
            if i <= num_layers:
                continue
            grad = torch.autograd.grad(logit, [probs], retain_graph=True)[0]
            cam = (grad * probs).clamp(min=0).mean(dim=1)
            r = r + torch.bmm(cam, r)
    rel = r[:, 0, 1:]
    side = int(math.sqrt(rel.shape[-1]))
    rel = F.interpolate(rel.reshape(1, 1, side, side), size=size, mode="bilinear", align_corners=False)
    return 10.0 * rel[0, 0].detach()


@pytest.mark.parametrize("seed", [0, 1])
def test_paper_variant_matches_the_original(twelve_block_model, seed) -> None:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    loc = ClipGradLocalizer(ClipGradConfig(model=twelve_block_model, pretrained=None, init_seed=seed,
                                           variant="paper", threshold=0.05))
    rel, mask = loc.detect({"rgb": rgb}, "mug")
    text = loc.clip.text_embedding(loc.prompts("mug"))
    ref = original_interpret_vit(loc.clip.model, loc.clip.pixels(rgb), text, rgb.shape[:2]).numpy()
    assert rel.shape == ref.shape == (64, 64)
    assert np.abs(rel - ref).max() < 1e-5 * max(1.0, np.abs(ref).max())
    assert np.corrcoef(rel.ravel(), ref.ravel())[0, 1] > 0.999999
    assert np.array_equal(mask, ref > 0.05)          # strict >, the config's threshold off the table
    # ours (all blocks, min-max) is a different map on the same model
    ours = ClipGradLocalizer(ClipGradConfig(model=twelve_block_model, pretrained=None, init_seed=seed))
    assert not np.allclose(ours.relevance({"rgb": rgb}, "mug"), rel)


def test_paper_thresholds_and_variant_check() -> None:
    assert paper_threshold("ViT-B-32", 0.5) == 0.625 == PAPER_THRESHOLDS["ViT-B-32"]
    assert paper_threshold("ViT-B-16", 0.5) == 0.375
    assert paper_threshold("tiny-vit", 0.3) == 0.3
    with pytest.raises(ConfigError, match="variant"):
        ClipGradConfig(pretrained=None, variant="original")


def test_clip_patch_paper_variant_matches_the_original() -> None:
    """3 x 3 tiles of int(S / 3) cut from the model input by plain slicing, bicubic back to S,
    softmax over tiles of 100 * cos; the mask is probability > threshold."""
    from embodied.perception.localization.clip_patch import (PAPER_THRESHOLDS, ClipPatchConfig,
                                                             ClipPatchLocalizer)

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    loc = ClipPatchLocalizer(ClipPatchConfig(model="tiny-vit", pretrained=None, variant="paper",
                                             threshold=0.11))
    rel, mask = loc.detect({"rgb": rgb}, "mug")
    x = loc.clip.pixels(rgb)
    s = x.shape[-1]
    t = int(s / 3)
    tiles = torch.cat([x[:, :, i * t:(i + 1) * t, j * t:(j + 1) * t] for i in range(3) for j in range(3)])
    tiles = F.interpolate(tiles, size=(s, s), mode="bicubic", align_corners=False)
    with torch.no_grad():
        emb = loc.clip.model.encode_image(tiles)
    emb = emb / emb.norm(dim=-1, keepdim=True)
    probs = torch.softmax(100.0 * (emb @ loc.clip.text_embedding(loc.prompts("mug"))), dim=0).numpy()
    assert np.allclose(loc.last_scores, probs, atol=1e-6)
    # tile (1, 2) covers rows 30..60 and columns 80..120 of the 90 x 120 frame (t = 32 of S = 96)
    assert np.allclose(rel[30:60, 80:120], probs[5]) and np.allclose(rel[0:30, 0:40], probs[0])
    assert np.array_equal(mask, rel > 0.11)
    assert "tiny-vit" not in PAPER_THRESHOLDS and PAPER_THRESHOLDS["ViT-B-32"] == 0.875


def test_clip_ref_paper_variant_matches_the_original_clip_lang() -> None:
    """9 region phrases in the templates, ensembled per region, softmax of 100 * cos, torch's
    nearest upsampling of the 3 x 3 grid, probability > threshold."""
    from embodied.perception.localization.clip_ref import ClipRefConfig, ClipRefLocalizer

    templates = ["a photo of a {}.", "a drawing of the {}."]
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, size=(100, 130, 3), dtype=np.uint8)
    loc = ClipRefLocalizer(ClipRefConfig(model="tiny-vit", pretrained=None, variant="paper",
                                         paper_templates=templates, threshold=0.112))
    rel, mask = loc.detect({"rgb": rgb}, "alarm clock")
    phrases = ["top left", "top center", "top right", "center left", "center", "center right",
               "bottom left", "bottom center", "bottom right"]
    model = loc.clip.model
    with torch.no_grad():
        weights = []
        for phrase in phrases:
            tokens = loc.clip.tokenizer([t.format(f"alarm clock in the {phrase}") for t in templates])
            e = model.encode_text(tokens)
            e = e / e.norm(dim=-1, keepdim=True)
            e = e.mean(dim=0)
            weights.append(e / e.norm())
        image = model.encode_image(loc.clip.pixels(rgb))
        image = image / image.norm(dim=-1, keepdim=True)
        probs = (100.0 * image @ torch.stack(weights, dim=1)).squeeze().softmax(dim=-1)
        ref = F.interpolate(probs.reshape(1, 1, 3, 3), size=(100, 130), mode="nearest")[0, 0].numpy()
    assert np.allclose(rel, ref, atol=1e-6)
    assert np.array_equal(mask, ref > 0.112)
    with pytest.raises(ConfigError, match="grid"):
        ClipRefConfig(pretrained=None, variant="paper", grid=2)


def test_paper_prompts_are_the_originals_80_templates_and_class_names() -> None:
    from embodied.perception.localization.base import DEFAULT_TEMPLATES
    from embodied.perception.localization.clip_patch import ClipPatchConfig, ClipPatchLocalizer
    from embodied.perception.localization.clip_ref import ClipRefConfig, ClipRefLocalizer
    from embodied.perception.localization.paper_prompts import IMAGENET_TEMPLATES

    assert len(IMAGENET_TEMPLATES) == len(set(IMAGENET_TEMPLATES)) == 80
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}." and "itap of a {}." in IMAGENET_TEMPLATES
    common = dict(model="tiny-vit", pretrained=None)
    paper = ClipGradLocalizer(ClipGradConfig(variant="paper", **common))
    assert paper.prompts("HousePlant") == [t.format("plant") for t in IMAGENET_TEMPLATES]
    assert paper.prompts("Television")[1] == "a photo of many TV."
    ours = ClipGradLocalizer(ClipGradConfig(**common))
    assert ours.prompts("HousePlant") == [t.format("house plant") for t in DEFAULT_TEMPLATES]
    # explicit templates win over the variant's default
    mine = ClipGradLocalizer(ClipGradConfig(variant="paper", templates=["{} here"], **common))
    assert mine.prompts("Television") == ["TV here"]
    patch = ClipPatchLocalizer(ClipPatchConfig(variant="paper", **common))
    assert patch.prompts("GarbageCan")[-1] == IMAGENET_TEMPLATES[-1].format("garbage can")
    ref = ClipRefLocalizer(ClipRefConfig(variant="paper", **common))
    groups = ref.prompts("Television")
    assert len(groups) == 9 and groups[0] == [t.format("TV in the top left") for t in IMAGENET_TEMPLATES]
    assert groups[8][0] == "a bad photo of a TV in the bottom right."


def test_center_only_keeps_the_pixel_nearest_the_centroid() -> None:
    from embodied.perception.localization.base import find_centroid

    mask = np.zeros((5, 6), bool)
    mask[1, 1] = mask[1, 4] = mask[3, 1] = mask[3, 4] = mask[2, 3] = True   # centroid (2, 2.6)
    out = find_centroid(mask)
    assert out.sum() == 1 and out[2, 3]
    ring = np.zeros((5, 5), bool)
    ring[0, 2] = ring[4, 2] = ring[2, 0] = ring[2, 4] = True                 # all 2 from (2, 2): first wins
    assert find_centroid(ring)[0, 2] and find_centroid(ring).sum() == 1
    assert not find_centroid(np.zeros((3, 3), bool)).any()
    rng = np.random.default_rng(0)
    obs = {"rgb": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)}
    cfg = dict(model="tiny-vit", pretrained=None, threshold=0.3)
    rel, full = ClipGradLocalizer(ClipGradConfig(**cfg)).detect(obs, "Mug")
    rel2, one = ClipGradLocalizer(ClipGradConfig(center_only=True, **cfg)).detect(obs, "Mug")
    assert np.array_equal(rel, rel2) and full.sum() > 1
    assert one.sum() == 1 and full[one].all() and np.array_equal(one, find_centroid(full))
