"""Object localizers (embodied.perception.localization): contract, geometry, gradients, weights errors.

The CLIP localizers run the real open_clip code on `tiny-vit` (shipped with the package, random
weights from a fixed seed): what is tested is the plumbing and the geometry, not CLIP's knowledge.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embodied import registry
from embodied.config import ConfigError, LocalizerConfig, validate_section
from embodied.envs.pybullet.house import GOAL_CATEGORIES, semantic_id
from embodied.perception import localization as loc
from embodied.perception.localization import clip_grad, clip_model
from embodied.perception.localization.base import category_words, grid_edges
from embodied.perception.localization.clip_patch import tile_boxes
from embodied.perception.localization.clip_ref import region_names

torch = pytest.importorskip("torch")

TINY = {"model": "tiny-vit", "pretrained": None}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A structured 120x160 frame (not square, not divisible by 3): a bright square on a gradient."""
    h, w = 120, 160
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    img[20:60, 90:140] = (250, 40, 40)
    return img


@pytest.fixture(scope="module")
def localizers() -> dict[str, loc.Localizer]:
    return {
        "clip_grad": loc.ClipGradLocalizer(loc.ClipGradConfig(**TINY)),
        "clip_patch": loc.ClipPatchLocalizer(loc.ClipPatchConfig(**TINY, grid=3)),
        "clip_ref": loc.ClipRefLocalizer(loc.ClipRefConfig(**TINY, grid=3)),
    }


# ------------------------------------------------------------------------------ registry/config
def test_ids_are_registered_with_their_config_classes() -> None:
    expected = {"ground_truth": loc.GroundTruthConfig, "clip_grad": loc.ClipGradConfig,
                "clip_patch": loc.ClipPatchConfig, "clip_ref": loc.ClipRefConfig, "owlvit": loc.OwlVitConfig}
    for ident, config_cls in expected.items():
        entry = registry.get("localizer", ident)
        assert entry.config_cls is config_cls and config_cls().id == ident
    assert loc.GroundTruthLocalizer.privileged and not loc.ClipGradLocalizer.privileged


def test_config_sections_validate_by_id_and_name_the_key() -> None:
    cfg = validate_section(LocalizerConfig, {"id": "clip_patch", "grid": 4, "pretrained": None,
                                             "model": "tiny-vit"}, "agent.localizer")
    assert isinstance(cfg, loc.ClipPatchConfig) and cfg.grid == 4 and cfg.templates
    assert isinstance(loc.make_localizer(cfg), loc.ClipPatchLocalizer)
    bad = [({"id": "clip_grad", "threshold": 1.5}, "agent.localizer.threshold: expected a number in [0, 1]"),
           ({"id": "clip_patch", "overlap": 1.0}, "agent.localizer.overlap: expected a fraction in [0, 1)"),
           ({"id": "clip_ref", "grid": 5}, "agent.localizer.grid: expected 2, 3 or 4"),
           ({"id": "clip_ref", "templates": ["a {} here"]}, "agent.localizer.templates.0: expected both"),
           ({"id": "clip_grad", "templates": ["no slot"]}, "agent.localizer.templates.0: expected exactly one"),
           ({"id": "clip_patch", "score": "max"}, "agent.localizer.score: expected one of"),
           ({"id": "clip_grad", "modle": "x"}, "agent.localizer.modle: unknown key")]
    for raw, message in bad:
        with pytest.raises(ConfigError) as err:
            validate_section(LocalizerConfig, raw, "agent.localizer")
        assert str(err.value).startswith(message), str(err.value)


def test_importing_the_package_does_not_import_torch() -> None:
    # What registry.load_builtin() does for this package: import it and every public submodule.
    code = ("import importlib, pkgutil, sys; import embodied.perception.localization as p; "
            "[importlib.import_module(f'{p.__name__}.{m.name}') for m in pkgutil.iter_modules(p.__path__) "
            "if not m.name.startswith('_')]; "
            "print(sorted(m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_category_names_become_words() -> None:
    assert category_words("AlarmClock") == "alarm clock"
    assert category_words("TVStand") == "tv stand"
    assert category_words("SprayBottle") == "spray bottle"
    assert category_words("BasketBall") == "basketball"
    assert category_words("red mug") == "red mug"
    assert category_words("Apple") == "apple"


# ------------------------------------------------------------------------------ the contract
@pytest.mark.parametrize("name", ["clip_grad", "clip_patch", "clip_ref"])
def test_clip_localizers_follow_the_contract(localizers, frame, name: str) -> None:
    localizer = localizers[name]
    localizer.reset({"goal": "AlarmClock"})
    rel = localizer.relevance({"rgb": frame}, "AlarmClock")
    assert rel.shape == frame.shape[:2] and rel.dtype == np.float32
    assert np.isfinite(rel).all() and rel.min() >= 0.0 and rel.max() <= 1.0
    rel2, mask = localizer.detect({"rgb": frame}, "AlarmClock")
    assert np.array_equal(rel, rel2), "same input must give identical output"
    assert mask.dtype == bool and np.array_equal(mask, rel >= localizer.config.threshold)
    # A fresh localizer on the same config (same init_seed) gives the same map.
    again = loc.make_localizer(type(localizer.config)(**{**TINY, "id": name}))
    assert np.array_equal(again.relevance({"rgb": frame}, "AlarmClock"), rel)
    with pytest.raises(ValueError, match="uint8"):
        localizer.relevance({"rgb": frame.astype(np.float32)}, "AlarmClock")


def test_threshold_sets_the_mask(frame) -> None:
    for threshold, expect_all in ((0.0, True), (1.0, False)):
        localizer = loc.ClipGradLocalizer(loc.ClipGradConfig(**TINY, threshold=threshold))
        rel, mask = localizer.detect({"rgb": frame}, "Mug")
        assert mask.all() if expect_all else np.array_equal(mask, rel >= 1.0)
        assert mask.any()  # the normalised map reaches 1 somewhere


def test_device_is_honoured() -> None:
    localizer = loc.ClipRefLocalizer(loc.ClipRefConfig(**TINY), device="cpu")
    assert next(localizer.clip.model.parameters()).device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none here)")
def test_device_is_honoured_on_cuda() -> None:
    gpu = loc.ClipGradLocalizer(loc.ClipGradConfig(**TINY), device="cuda:0")
    assert next(gpu.clip.model.parameters()).device.type == "cuda"
    rel = gpu.relevance({"rgb": np.zeros((64, 64, 3), np.uint8)}, "Mug")
    assert rel.shape == (64, 64) and isinstance(rel, np.ndarray)


# ------------------------------------------------------------------------------ clip_grad
def test_recorded_attention_reproduces_open_clip(localizers, frame) -> None:
    model = localizers["clip_grad"].clip
    pixels = model.pixels(frame)
    with torch.no_grad():
        reference = model.model.encode_image(pixels)
        with clip_grad.record_attention(model.model.visual) as attentions:
            recorded = model.model.encode_image(pixels)
    torch.testing.assert_close(recorded, reference, atol=1e-5, rtol=1e-5)
    blocks = model.model.visual.transformer.resblocks
    assert len(attentions) == len(blocks)
    tokens = 1 + model.model.visual.grid_size[0] * model.model.visual.grid_size[1]
    assert attentions[0].shape == (1, blocks[0].attn.num_heads, tokens, tokens)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(1, blocks[0].attn.num_heads, tokens))
    assert all("attention" not in b.__dict__ for b in blocks), "open_clip's method must be restored"


def test_gradients_flow_and_relevance_depends_on_the_text(localizers, frame) -> None:
    localizer = localizers["clip_grad"]
    clip = localizer.clip
    _, attentions, gradients = localizer.attention_gradients(
        clip.pixels(frame), clip.text_embedding(localizer.prompts("Mug")))
    assert all(g.shape == a.shape for a, g in zip(attentions, gradients))
    assert all(float(g.abs().sum()) > 0 for g in gradients)
    mug = localizer.relevance({"rgb": frame}, "Mug")
    plant = localizer.relevance({"rgb": frame}, "HousePlant")
    assert np.abs(mug - plant).max() > 1e-3
    assert mug.max() == pytest.approx(1.0) and mug.min() == pytest.approx(0.0)


def test_zero_attention_gradients_give_a_uniform_map(localizers, frame, monkeypatch) -> None:
    localizer = loc.ClipGradLocalizer(loc.ClipGradConfig(**TINY))
    original = localizer.attention_gradients

    def zeroed(pixels, text_embedding, scale=1.0):
        similarity, attentions, gradients = original(pixels, text_embedding, scale)
        return similarity, attentions, [torch.zeros_like(g) for g in gradients]

    monkeypatch.setattr(localizer, "attention_gradients", zeroed)
    rel = localizer.relevance({"rgb": frame}, "Mug")
    assert rel.shape == frame.shape[:2] and np.ptp(rel) == 0.0


def test_gradient_rollout_by_hand() -> None:
    # One block, 3 tokens (CLS + 2 patches), 2 heads: R = I + mean_h(clamp(G*A, 0)) @ I.
    attn = torch.tensor([[[[0.2, 0.5, 0.3], [1, 0, 0], [0, 0, 1.0]],
                          [[0.6, 0.1, 0.3], [0, 1, 0], [0, 1, 0.0]]]])
    grad = torch.tensor([[[[1.0, 2.0, -1.0], [0, 0, 0], [0, 0, 0]],
                          [[1.0, 4.0, 1.0], [0, 0, 0], [0, 0, 0]]]])
    out = clip_grad.gradient_rollout([attn], [grad])
    # head 0 CLS row: [0.2, 1.0, 0]; head 1: [0.6, 0.4, 0.3]; mean: [0.4, 0.7, 0.15] -> patches [0.7, 0.15]
    torch.testing.assert_close(out, torch.tensor([[0.7, 0.15]]))
    # Two blocks compose: R2 = R1 + cam2 @ R1; start_layer=-1 keeps only the last.
    twice = clip_grad.gradient_rollout([attn, attn], [grad, grad])
    cam = torch.tensor([[0.4, 0.7, 0.15], [0, 0, 0], [0, 0, 0]])
    r1 = torch.eye(3) + cam
    torch.testing.assert_close(twice[0], (r1 + cam @ r1)[0, 1:])
    torch.testing.assert_close(clip_grad.gradient_rollout([attn, attn], [grad * 0, grad], start_layer=-1), out)
    assert float(clip_grad.normalize_map(torch.full((4, 4), 3.0)).abs().max()) == 0.0


def test_min_similarity_gates_the_mask(frame) -> None:
    localizer = loc.ClipGradLocalizer(loc.ClipGradConfig(**TINY, threshold=0.0, min_similarity=1.0))
    rel, mask = localizer.detect({"rgb": frame}, "Mug")
    assert localizer.last_similarity < 1.0 and not mask.any() and rel.max() == pytest.approx(1.0)


# ------------------------------------------------------------------------------ clip_patch
def test_tile_geometry() -> None:
    for h, w, k in ((120, 160, 3), (100, 130, 4), (224, 224, 3), (7, 9, 2)):
        boxes = tile_boxes(h, w, k)
        assert len(boxes) == k * k
        cover = np.zeros((h, w), int)
        for y0, y1, x0, x1 in boxes:
            cover[y0:y1, x0:x1] += 1
        assert (cover == 1).all(), "without overlap the tiles partition the frame"
        assert boxes[0][:1] == (0,) and boxes[-1][1] == h and boxes[-1][3] == w
    boxes = tile_boxes(120, 160, 3, overlap=0.5)
    assert len(boxes) == 9
    y_spans = sorted({(b[0], b[1]) for b in boxes})
    assert y_spans[0][0] == 0 and y_spans[-1][1] == 120
    assert all(a[1] > b[0] for a, b in zip(y_spans, y_spans[1:])), "neighbours overlap"
    assert all(abs((b[1] - b[0]) - 60) <= 1 for b in y_spans), "side = size / (k - (k-1) overlap)"


def test_clip_patch_relevance_is_constant_per_tile(localizers, frame) -> None:
    localizer = localizers["clip_patch"]
    rel = localizer.relevance({"rgb": frame}, "Television")
    boxes = tile_boxes(*frame.shape[:2], 3)
    for (y0, y1, x0, x1), score in zip(boxes, localizer.last_scores):
        tile = rel[y0:y1, x0:x1]
        assert np.ptp(tile) == 0.0 and tile[0, 0] == pytest.approx(score, abs=1e-6)
    assert localizer.last_scores.sum() == pytest.approx(1.0, abs=1e-5), "softmax over tiles"
    similarity = loc.ClipPatchLocalizer(loc.ClipPatchConfig(**TINY, grid=2, score="similarity"))
    rel = similarity.relevance({"rgb": frame}, "Television")
    assert len(np.unique(rel)) <= 4 and 0.0 <= rel.min() <= rel.max() <= 1.0
    overlapping = loc.ClipPatchLocalizer(loc.ClipPatchConfig(**TINY, grid=3, overlap=0.5))
    rel = overlapping.relevance({"rgb": frame}, "Television")
    assert rel.shape == frame.shape[:2] and 0.0 <= rel.min() <= rel.max() <= 1.0
    assert len(overlapping.last_scores) == 9


def test_clip_patch_vocabulary_score_is_the_goals_class_probability(frame) -> None:
    """Each tile's score, recomputed by hand: softmax over (goal, other vocabulary entries) of
    logit_scale x cosine of the tile with each class's prompt ensemble; the goal itself and
    duplicates are not counted twice."""
    vocab = ["Mug", "table", "Television", "wall", "table"]
    localizer = loc.ClipPatchLocalizer(loc.ClipPatchConfig(**TINY, grid=2, score="vocabulary",
                                                           vocabulary=vocab))
    boxes, scores = localizer.tile_scores(frame, "Television")
    clip = localizer.clip
    templates = localizer.config.templates

    def class_embedding(words: str) -> np.ndarray:
        e = clip.encode_text([t.format(words) for t in templates]).numpy()
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        m = e.mean(0)
        return m / np.linalg.norm(m)

    classes = np.stack([class_embedding(w) for w in ("television", "mug", "table", "wall")])
    images = clip.encode_image(clip.pixels(frame, boxes)).numpy()
    logits = clip.logit_scale * images @ classes.T
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(scores, probs[:, 0], atol=1e-5)
    # a vocabulary of only the goal leaves nothing to compete with: every tile scores 1
    alone = loc.ClipPatchLocalizer(loc.ClipPatchConfig(**TINY, grid=2, score="vocabulary",
                                                       vocabulary=["Television"]))
    assert np.allclose(alone.tile_scores(frame, "Television")[1], 1.0)
    with pytest.raises(ConfigError, match="vocabulary"):
        loc.ClipPatchConfig(**TINY, score="vocabulary", vocabulary=[" "])


# ------------------------------------------------------------------------------ clip_ref
@pytest.mark.parametrize("k", [2, 3, 4])
def test_clip_ref_prompts_cover_the_grid(k: int) -> None:
    names = region_names(k)
    assert len(names) == k * k == len(set(names))
    localizer = loc.ClipRefLocalizer(loc.ClipRefConfig(**TINY, grid=k))
    groups = localizer.prompts("AlarmClock")
    assert len(groups) == k * k + 1  # regions, then "no alarm clock"
    for name, group in zip(names, groups):
        assert group and all(f"alarm clock in the {name} of the" in p for p in group)
    assert all("no alarm clock" in p for p in groups[-1])
    if k == 3:
        assert names == ["top left", "top", "top right", "left", "center", "right",
                         "bottom left", "bottom", "bottom right"]
    no_negative = loc.ClipRefLocalizer(loc.ClipRefConfig(**TINY, grid=k, negative=False))
    assert len(no_negative.prompts("Mug")) == k * k


def test_clip_ref_relevance_is_the_region_probability(localizers, frame) -> None:
    localizer = localizers["clip_ref"]
    rel = localizer.relevance({"rgb": frame}, "Laptop")
    probs = localizer.last_probabilities
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    ys, xs = grid_edges(frame.shape[0], 3), grid_edges(frame.shape[1], 3)
    for i in range(3):
        for j in range(3):
            cell = rel[ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
            assert np.ptp(cell) == 0.0 and cell[0, 0] == pytest.approx(probs[3 * i + j], abs=1e-6)


# ------------------------------------------------------------------------------ ground truth
def test_ground_truth_matches_the_env_segmentation() -> None:
    from embodied.envs import objectnav_episodes as eps
    from embodied.envs.objectnav import ROTATE_LEFT, ObjectNavConfig, ObjectNavEnv

    env = ObjectNavEnv(ObjectNavConfig(split="val"), privileged=True)
    try:
        obs, info = env.reset(seed=0, options={"episode": eps.split_episode("val", 1)})
        goal_id = info["privileged"]["goal_semantic_id"]
        for _ in range(12):  # turn until the goal is in view
            if (obs["semantic"] == goal_id).any():
                break
            obs, *_ = env.step(ROTATE_LEFT)
    finally:
        env.close()
    localizer = loc.make_localizer(loc.GroundTruthConfig())
    localizer.reset(info)
    rel, mask = localizer.detect(obs, info["goal"])
    assert rel.dtype == np.float32 and set(np.unique(rel)) <= {0.0, 1.0}
    assert mask.any() and np.array_equal(mask, obs["semantic"] == goal_id)
    # Without privileged info the name is mapped through the env's `categories`; every visible
    # goal category is found by name.
    plain = loc.GroundTruthLocalizer()
    plain.reset({"goal": info["goal"], "categories": info["categories"]})
    for category in GOAL_CATEGORIES:
        expect = obs["semantic"] == semantic_id(category)
        assert np.array_equal(plain.detect(obs, category)[1], expect)
        assert np.array_equal(plain.detect(obs, category_words(category))[1], expect)
    with pytest.raises(ValueError, match="privileged=True"):
        plain.relevance({"rgb": obs["rgb"]}, "Mug")
    with pytest.raises(ValueError, match="unknown category"):
        plain.relevance(obs, "Unicorn")


# ------------------------------------------------------------------------------ weights
def test_missing_checkpoint_file_is_a_config_error_that_says_what_to_do(tmp_path) -> None:
    missing = str(tmp_path / "nope" / "ViT-B-32.pt")
    with pytest.raises(ConfigError) as err:
        validate_section(LocalizerConfig, {"id": "clip_grad", "pretrained": missing}, "agent.localizer")
    msg = str(err.value)
    assert msg.startswith("agent.localizer.pretrained: checkpoint file") and "does not exist" in msg
    assert "HF_HUB_OFFLINE=0" in msg and "null" in msg
    with pytest.raises(clip_model.WeightsNotFoundError, match="does not exist"):
        clip_model.resolve_pretrained("ViT-B-32", missing)


def test_openai_weights_offline_fail_fast_with_instructions(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache/clip either
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    clip_model.clear_cache()
    # "fail fast" means no network at all (how long it takes is benchmarks/offline_weights_failure.py's
    # to measure, never a timed assert): any attempt to resolve or reach a host is recorded and refused
    attempts: list[str] = []

    def refuse(name: str):
        def no_network(*args, **kwargs):
            attempts.append(f"{name}{args[1:] if name == 'connect' else args[:1]}")
            raise OSError("the network is off in this test")
        return no_network

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    with pytest.raises(clip_model.WeightsNotFoundError) as err:
        loc.ClipGradLocalizer(loc.ClipGradConfig(model="ViT-B-32", pretrained="openai"))
    assert attempts == [], f"must not touch the network: {attempts}"
    msg = str(err.value)
    for hint in ("HF_HUB_OFFLINE=0", str(tmp_path / "hub"), "timm/vit_base_patch32_clip_224.openai",
                 "pretrained: /path/to/checkpoint", "pretrained: null"):
        assert hint in msg, (hint, msg)
    with pytest.raises(ValueError, match="tags: openai"):
        clip_model.resolve_pretrained("ViT-B-32", "no_such_tag")


def test_a_local_checkpoint_file_loads(tmp_path) -> None:
    source = clip_model.load_clip("tiny-vit", None, init_seed=7)
    path = tmp_path / "tiny.pt"
    torch.save(source.model.state_dict(), path)
    other = loc.ClipRefLocalizer(loc.ClipRefConfig(model="tiny-vit", pretrained=str(path)))
    assert other.clip.checkpoint == str(path)
    for a, b in zip(source.model.state_dict().values(), other.clip.model.state_dict().values()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------ owlvit
def _has_transformers() -> bool:
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def test_owlvit_without_transformers_names_the_extra(monkeypatch) -> None:
    # Hide transformers whether or not it is installed: a None entry in sys.modules makes
    # `import transformers` raise ImportError, the path a user without the extra takes.
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install embodied\[owlvit\]"):
        loc.OwlVitLocalizer(loc.OwlVitConfig(model="tiny"))


@pytest.mark.skipif(not _has_transformers(),
                    reason="transformers not installed (optional extra: pip install embodied[owlvit])")
def test_owlvit_tiny_boxes_become_the_mask(frame) -> None:
    localizer = loc.OwlVitLocalizer(loc.OwlVitConfig(model="tiny", threshold=0.5))
    rel, mask = localizer.detect({"rgb": frame}, "AlarmClock")
    assert rel.shape == frame.shape[:2] and rel.dtype == np.float32 and 0.0 <= rel.min() <= rel.max() <= 1.0
    assert np.array_equal(mask, rel >= 0.5)
    assert np.array_equal(rel, localizer.relevance({"rgb": frame}, "AlarmClock"))
    assert localizer.last_boxes.shape == (len(localizer.last_scores), 4)


def test_clip_grad_works_inside_no_grad_and_inference_mode(frame) -> None:
    """Agents may wrap perception in torch.no_grad()/inference_mode(); clip_grad needs autograd inside."""
    clip_model.clear_cache()  # the text embedding is then first computed under inference_mode
    localizer = loc.ClipGradLocalizer(loc.ClipGradConfig(**TINY))
    with torch.inference_mode():
        inside = localizer.relevance({"rgb": frame}, "Vase")
    with torch.no_grad():
        assert np.array_equal(localizer.relevance({"rgb": frame}, "Vase"), inside)
    assert np.array_equal(localizer.relevance({"rgb": frame}, "Vase"), inside)
