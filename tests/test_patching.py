"""Tests for embodied.perception.patching (PAINT interpolation, model soups)."""
from __future__ import annotations

import json
import random
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from embodied.perception.patching import (
    DEFAULT_ALPHAS,
    ArchitectureMismatch,
    PatchResult,
    check_compatible,
    choose_alpha,
    extract_state_dict,
    greedy_soup,
    interpolate,
    load_state_dict,
    plot_alpha_curve,
    save_state_dict,
    uniform_soup,
)


def sd(**tensors: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict(tensors)


# --------------------------------------------------------------------------- #
# interpolate
# --------------------------------------------------------------------------- #

ZS = sd(w=torch.tensor([0.0, 2.0, -4.0]), b=torch.tensor([[1.0, 1.0]]))
FT = sd(w=torch.tensor([4.0, 2.0, 4.0]), b=torch.tensor([[3.0, -1.0]]))


@pytest.mark.parametrize(
    "alpha, w, b",
    [
        (0.0, [0.0, 2.0, -4.0], [[1.0, 1.0]]),
        (0.25, [1.0, 2.0, -2.0], [[1.5, 0.5]]),
        (1.0, [4.0, 2.0, 4.0], [[3.0, -1.0]]),
    ],
)
def test_interpolate_hand_values(alpha, w, b):
    out = interpolate(ZS, FT, alpha)
    assert list(out) == ["w", "b"]
    assert torch.equal(out["w"], torch.tensor(w))
    assert torch.equal(out["b"], torch.tensor(b))


def test_interpolate_does_not_touch_or_alias_inputs():
    zs = {k: v.clone() for k, v in ZS.items()}
    ft = {k: v.clone() for k, v in FT.items()}
    for alpha in (0.0, 0.5, 1.0):
        out = interpolate(zs, ft, alpha)
        out["w"].add_(100.0)  # mutating the output must not leak into inputs
    for k in ZS:
        assert torch.equal(zs[k], ZS[k]) and torch.equal(ft[k], FT[k])


def test_interpolate_non_float_buffers_follow_the_closer_model():
    zs = sd(w=torch.zeros(2), n=torch.tensor(3), mask=torch.tensor([True, False]))
    ft = sd(w=torch.ones(2), n=torch.tensor(7), mask=torch.tensor([False, True]))
    for alpha in (0.0, 0.3, 0.49):
        out = interpolate(zs, ft, alpha)
        assert out["n"].item() == 3 and out["n"].dtype == torch.int64
        assert out["mask"].tolist() == [True, False]
    for alpha in (0.5, 0.8, 1.0):
        out = interpolate(zs, ft, alpha)
        assert out["n"].item() == 7
        assert out["mask"].tolist() == [False, True]
        assert out["mask"].dtype == torch.bool


@pytest.mark.parametrize("alpha", [-0.1, 1.01, float("nan"), 2])
def test_interpolate_rejects_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        interpolate(ZS, FT, alpha)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_interpolate_keeps_dtype(dtype):
    zs = sd(w=torch.tensor([1.0, 3.0], dtype=dtype))
    ft = sd(w=torch.tensor([3.0, 5.0], dtype=dtype))
    out = interpolate(zs, ft, 0.5)
    assert out["w"].dtype == dtype
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0], dtype=dtype))


def test_interpolate_mismatch_names_the_parameter():
    bad = sd(w=torch.zeros(4), b=torch.zeros(1, 2))
    with pytest.raises(ArchitectureMismatch, match=r"^w: shape \(4,\) in fine-tuned vs \(3,\) in zero-shot$"):
        interpolate(ZS, bad, 0.5)


# --------------------------------------------------------------------------- #
# check_compatible
# --------------------------------------------------------------------------- #


def test_check_compatible_messages():
    a = sd(**{"visual.proj": torch.zeros(64, 16), "n": torch.tensor(1)})
    check_compatible([a, {k: v.clone() for k, v in a.items()}])  # no error

    b = sd(**{"visual.proj": torch.zeros(64, 32), "n": torch.tensor(1)})
    with pytest.raises(ArchitectureMismatch) as info:
        check_compatible([a, a, b])
    assert str(info.value) == (
        "visual.proj: shape (64, 32) in checkpoint 3 vs (64, 16) in checkpoint 1"
    )
    assert info.value.key == "visual.proj"
    assert isinstance(info.value, ValueError)

    c = sd(**{"visual.proj": torch.zeros(64, 16, dtype=torch.float16), "n": torch.tensor(1)})
    with pytest.raises(ArchitectureMismatch, match=r"visual\.proj: dtype torch\.float16 in checkpoint 2 vs torch\.float32"):
        check_compatible([a, c])

    d = sd(**{"visual.proj": torch.zeros(64, 16)})
    with pytest.raises(ArchitectureMismatch, match=r"^n: missing in checkpoint 2"):
        check_compatible([a, d])
    with pytest.raises(ArchitectureMismatch, match=r"^n: present in checkpoint 2 but missing in checkpoint 1"):
        check_compatible([d, a])
    with pytest.raises(ArchitectureMismatch, match=r"^n: missing in mine"):
        check_compatible([a, d], names=["yours", "mine"])


# --------------------------------------------------------------------------- #
# A real (tiny) open_clip model
# --------------------------------------------------------------------------- #

TINY = "embodied-test-tiny-clip"
TINY_WIDE = "embodied-test-tiny-clip-wide"


def _tiny_cfg(width: int) -> dict:
    return {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": 32,
            "layers": 2,
            "width": width,
            "head_width": 16,
            "patch_size": 8,
        },
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 49408,  # the default tokenizer's vocabulary
            "width": 32,
            "heads": 2,
            "layers": 2,
        },
    }


@pytest.fixture(scope="module")
def open_clip_tiny(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    from open_clip import factory

    saved_paths = list(factory._MODEL_CONFIG_PATHS)
    saved_cfgs = dict(factory._MODEL_CONFIGS)
    cfg_dir = tmp_path_factory.mktemp("open_clip_cfgs")
    (cfg_dir / f"{TINY}.json").write_text(json.dumps(_tiny_cfg(32)))
    (cfg_dir / f"{TINY_WIDE}.json").write_text(json.dumps(_tiny_cfg(48)))
    open_clip.add_model_config(cfg_dir)

    def make(name: str = TINY, seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        return open_clip.create_model(name, pretrained=None)

    yield make
    factory._MODEL_CONFIG_PATHS[:] = saved_paths
    factory._MODEL_CONFIGS.clear()
    factory._MODEL_CONFIGS.update(saved_cfgs)


def test_open_clip_interpolation_loads_strictly(open_clip_tiny):
    m0, m1, m2 = open_clip_tiny(seed=0), open_clip_tiny(seed=1), open_clip_tiny(seed=2)
    sd0, sd1 = m0.state_dict(), m1.state_dict()
    before = {k: v.clone() for k, v in sd0.items()}
    mid = interpolate(sd0, sd1, 0.5)
    m2.load_state_dict(mid, strict=True)

    key = "visual.transformer.resblocks.0.attn.in_proj_weight"
    assert not torch.equal(sd0[key], sd1[key])  # seeds really differ
    loaded = m2.state_dict()[key]
    assert torch.allclose(loaded, (sd0[key] + sd1[key]) / 2, atol=1e-7, rtol=0)
    assert torch.equal(m2.state_dict()["logit_scale"], (sd0["logit_scale"] + sd1["logit_scale"]) / 2)
    assert all(torch.equal(before[k], sd0[k]) for k in before)

    # The patched model is usable end-to-end.
    with torch.no_grad():
        feats = m2.encode_image(torch.randn(1, 3, 32, 32))
    assert feats.shape == (1, 16) and torch.isfinite(feats).all()


def test_open_clip_width_mismatch_names_a_parameter(open_clip_tiny):
    narrow = open_clip_tiny(TINY).state_dict()
    wide = open_clip_tiny(TINY_WIDE).state_dict()
    with pytest.raises(ArchitectureMismatch) as info:
        interpolate(narrow, wide, 0.5)
    assert info.value.key in narrow
    assert info.value.key.startswith("visual.")
    assert "shape" in str(info.value) and "48" in str(info.value)
    with pytest.raises(ArchitectureMismatch, match=r"^visual\."):
        uniform_soup([narrow, narrow, wide])


# --------------------------------------------------------------------------- #
# Soups
# --------------------------------------------------------------------------- #


def test_uniform_soup_is_hand_mean():
    a = sd(w=torch.tensor([1.0, 2.0]), n=torch.tensor(5))
    b = sd(w=torch.tensor([4.0, -2.0]), n=torch.tensor(6))
    c = sd(w=torch.tensor([1.0, 3.0]), n=torch.tensor(7))
    out = uniform_soup([a, b, c])
    assert torch.allclose(out["w"], torch.tensor([2.0, 1.0]))
    assert out["n"].item() == 5  # non-float buffers from the first ingredient
    assert torch.equal(a["w"], torch.tensor([1.0, 2.0]))  # input untouched
    with pytest.raises(ValueError):
        uniform_soup([])


def _neg_distance_to(target: torch.Tensor):
    calls = []

    def evaluate(state):
        calls.append(1)
        return -float(torch.linalg.vector_norm(state["w"].double() - target))

    return evaluate, calls


def test_greedy_soup_hand_built_case():
    evaluate, calls = _neg_distance_to(torch.tensor([0.0]))
    ingredients = [
        sd(w=torch.tensor([1.0])),   # score -1
        sd(w=torch.tensor([-1.0])),  # score -1
        sd(w=torch.tensor([3.0])),   # score -3
        sd(w=torch.tensor([-0.5])),  # score -0.5  (best)
    ]
    soup, used = greedy_soup(ingredients, evaluate)
    # Order d, a, b, c:  {d}: -0.5 -> {d,a}: 0.25 -> {d,a,b}: -1/6 -> +c: 0.625 (rejected)
    assert used == [3, 0, 1]
    assert torch.allclose(soup["w"], torch.tensor([-0.5 / 3]))
    assert len(calls) == 4 + 3


def test_greedy_soup_keeps_ties_and_uses_given_scores():
    evaluate, calls = _neg_distance_to(torch.tensor([0.0]))
    twins = [sd(w=torch.tensor([1.0])), sd(w=torch.tensor([1.0]))]
    soup, used = greedy_soup(twins, evaluate)
    assert used == [0, 1]  # score does not drop -> kept (>=, not >)

    calls.clear()
    ingredients = [sd(w=torch.tensor([5.0])), sd(w=torch.tensor([-5.0]))]
    soup, used = greedy_soup(ingredients, evaluate, ingredient_scores=[-6.0, -5.0])
    assert used == [1, 0] and len(calls) == 1  # only the candidate was evaluated
    assert torch.equal(soup["w"], torch.tensor([0.0]))


def test_greedy_soup_never_worse_than_best_ingredient():
    for seed in range(200):
        gen = torch.Generator().manual_seed(seed)
        rng = random.Random(seed)
        n = rng.randint(1, 7)
        dim = rng.randint(1, 4)
        target = torch.randn(dim, generator=gen, dtype=torch.float64)
        ingredients = [
            sd(w=(target + torch.randn(dim, generator=gen, dtype=torch.float64) * rng.uniform(0.1, 3)).float(),
               n=torch.tensor(i))
            for i in range(n)
        ]
        evaluate, calls = _neg_distance_to(target)
        soup, used = greedy_soup(ingredients, evaluate)
        scores = [evaluate(x) for x in ingredients]
        best = max(scores)
        assert evaluate(soup) >= best, seed
        assert used[0] == scores.index(best)
        assert sorted(set(used)) == sorted(used) and all(0 <= i < n for i in used)
        # The soup is exactly the uniform average of the ingredients it names.
        expected = uniform_soup([ingredients[i] for i in used])
        assert torch.allclose(soup["w"], expected["w"], atol=1e-6), seed
        assert soup["n"].item() == used[0]
        assert len(calls) <= 2 * n - 1 + n + 1


# --------------------------------------------------------------------------- #
# choose_alpha
# --------------------------------------------------------------------------- #


def test_choose_alpha_picks_hand_argmax_and_plots(tmp_path: Path):
    zs, ft = sd(w=torch.tensor([0.0])), sd(w=torch.tensor([1.0]))
    # At mixing alpha the weight is alpha, so patch acc = alpha and supported
    # acc = 1 - 1.5 alpha^2; the average peaks at alpha = 1/3 -> grid point 0.3
    # (0.3 - 0.135 = 0.165 > 0.4 - 0.24 = 0.16 > 0.2 - 0.06 = 0.14).
    seen = []

    def patch(state):
        seen.append(float(state["w"]))
        return float(state["w"])

    def supported(state):
        return 1.0 - 1.5 * float(state["w"]) ** 2

    result = choose_alpha(zs, ft, patch, supported)
    assert isinstance(result, PatchResult)
    assert result.alpha == 0.3
    assert [p.alpha for p in result.curve] == list(DEFAULT_ALPHAS)
    assert DEFAULT_ALPHAS == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert seen == pytest.approx(list(DEFAULT_ALPHAS))
    p = result.chosen
    assert p.patch_accuracy == pytest.approx(0.3)
    assert p.supported_accuracy == pytest.approx(1 - 0.135)
    assert p.average == pytest.approx((0.3 + 1 - 0.135) / 2)
    assert torch.allclose(result.state_dict["w"], torch.tensor([0.3]))

    out = plot_alpha_curve(result, tmp_path / "sub" / "alpha.png")
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_choose_alpha_ties_custom_grid_and_validation():
    zs, ft = sd(w=torch.tensor([0.0])), sd(w=torch.tensor([1.0]))
    flat = choose_alpha(zs, ft, lambda s: 0.5, lambda s: 0.5)
    assert flat.alpha == 0.0  # ties -> first listed alpha (closest to zero-shot)

    # Patch accuracy only -> fully fine-tuned wins on a custom grid.
    res = choose_alpha(zs, ft, lambda s: float(s["w"]), lambda s: 0.0, alphas=(0.0, 0.5, 1.0))
    assert res.alpha == 1.0 and len(res.curve) == 3
    assert torch.equal(res.state_dict["w"], ft["w"])

    with pytest.raises(ValueError, match="alpha"):
        choose_alpha(zs, ft, lambda s: 0.0, lambda s: 0.0, alphas=(0.0, 1.5))
    with pytest.raises(ValueError, match="alphas"):
        choose_alpha(zs, ft, lambda s: 0.0, lambda s: 0.0, alphas=())


# --------------------------------------------------------------------------- #
# Checkpoint I/O
# --------------------------------------------------------------------------- #


def test_save_load_round_trip(tmp_path: Path):
    state = sd(w=torch.randn(3, 2), n=torch.tensor(4), h=torch.ones(2, dtype=torch.float16))
    path = save_state_dict(state, tmp_path / "a" / "plain.pt")
    loaded = load_state_dict(path)
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], state[k]) and loaded[k].dtype == state[k].dtype for k in state)


def test_load_open_clip_training_checkpoint_strips_module_prefix(tmp_path: Path):
    state = {"module.visual.proj": torch.ones(2, 2), "module.logit_scale": torch.tensor(2.0)}
    ckpt = {"epoch": 3, "name": "run", "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}
    path = tmp_path / "epoch_3.pt"
    torch.save(ckpt, path)
    loaded = load_state_dict(path)
    assert list(loaded) == ["visual.proj", "logit_scale"]
    assert torch.equal(loaded["visual.proj"], torch.ones(2, 2))

    assert list(extract_state_dict({"visual.proj": torch.ones(1)})) == ["visual.proj"]
    with pytest.raises(ValueError, match="prefix"):
        extract_state_dict({"module.a": torch.ones(1), "a": torch.ones(1)})
    with pytest.raises(TypeError):
        extract_state_dict([1, 2])  # type: ignore[arg-type]


def test_load_refuses_pickled_code(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1), "obj": Path("x")}, path)  # not weights-only
    with pytest.raises(Exception):
        load_state_dict(path)


def test_choose_alpha_with_a_supported_drop_budget():
    zs, ft = sd(w=torch.tensor([0.0])), sd(w=torch.tensor([1.0]))

    def patch(state):  # rises with alpha
        return float(state["w"])

    def supported(state):  # 0.9 at alpha 0, 0.9 - alpha^2 beyond: drop <= 0.02 while alpha <= 0.141
        return 0.9 - float(state["w"]) ** 2

    # By hand: drops are 0, 0.01, 0.04, ...: within 0.02 only alpha 0 and 0.1, so 0.1 (patch 0.1).
    assert choose_alpha(zs, ft, patch, supported, max_supported_drop=0.02).alpha == 0.1
    # Within 0.1: alpha <= 0.316 -> 0.3.
    assert choose_alpha(zs, ft, patch, supported, max_supported_drop=0.1).alpha == 0.3
    # The average rule ignores the budget: 0.5 * (a + 0.9 - a^2) peaks at a = 0.5.
    assert choose_alpha(zs, ft, patch, supported).alpha == 0.5
    with pytest.raises(ValueError, match="max_supported_drop"):
        choose_alpha(zs, ft, patch, supported, max_supported_drop=-0.1)
