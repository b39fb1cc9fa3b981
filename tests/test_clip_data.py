"""Tests of the CLIP image-text pair generator (embodied.training.clip_data)."""
from __future__ import annotations

import numpy as np
import pytest

from embodied.envs.pybullet.house import GOAL_CATEGORIES
from embodied.training import clip_data
from embodied.training.clip_data import (COLOURS, SYNONYMS, Pair, colour_name, crop_caption,
                                         filter_pairs, frame_caption, load_pairs, save_pairs)


@pytest.mark.parametrize("rgb,name", [
    ((255, 0, 0), "red"), ((0, 0, 255), "blue"), ((0, 128, 0), "green"), ((20, 20, 20), "black"),
    ((250, 250, 250), "white"), ((128, 128, 128), "gray"), ((255, 165, 0), "orange"),
    ((255, 255, 0), "yellow"), ((139, 69, 19), "brown"), ((128, 0, 128), "purple"),
    ((255, 192, 203), "pink"),
    # house specs store 0..1 floats (the recipes' ceramic and appliance colours)
    ((0.93, 0.93, 0.9), "white"), ((0.08, 0.08, 0.09), "black"), ((0.25, 0.4, 0.7), "blue"),
    ((0.3, 0.6, 0.45), "green"), ((0.8, 0.3, 0.25), "red"), ((0.9, 0.75, 0.3), "yellow"),
])
def test_colour_name(rgb, name):
    assert colour_name(rgb) == name


def test_colour_prototypes_name_themselves():
    for name, rgb in COLOURS.items():
        assert colour_name(rgb) == name
    assert len(COLOURS) == 11


def test_synonyms_cover_goal_categories():
    assert set(SYNONYMS) == set(GOAL_CATEGORIES)
    assert all(len(v) >= 2 for v in SYNONYMS.values())
    assert "TV" in SYNONYMS["Television"] and "trash can" in SYNONYMS["GarbageCan"]


def _mentions(caption: str, category: str) -> bool:
    return any(n.lower() in caption.lower() for n in SYNONYMS[category])


def test_caption_templates_short_and_mention_category():
    rng = np.random.default_rng(0)
    for k in range(300):
        cat = GOAL_CATEGORIES[k % len(GOAL_CATEGORIES)]
        cap = crop_caption(cat, rng, colour="red", size="small", support="Desk", room="kitchen",
                           neighbour=("left of", "Mug"))
        assert _mentions(cap, cat) and len(cap.split()) <= 30
        cap = frame_caption([cat, "Table", "Sofa"], rng, room="living", colours={cat: "blue"})
        assert len(cap.split()) <= 30 and cap.endswith(".")


def test_filter_pairs_top_fraction():
    img = np.zeros((4, 4, 3), np.uint8)
    pairs = [Pair(img, f"c{i}", None, 0, "frame") for i in range(10)]
    scores = {f"c{i}": s for i, s in enumerate([5, 1, 9, 3, 7, 2, 8, 0, 6, 4])}
    kept = filter_pairs(pairs, lambda im, cap: scores[cap], 0.3)
    assert [p.caption for p in kept] == ["c2", "c4", "c6"]  # scores 9, 7, 8 in original order
    assert filter_pairs(pairs, lambda im, cap: scores[cap], 0.0) == []
    assert len(filter_pairs(pairs, lambda im, cap: scores[cap], 1.0)) == 10
    with pytest.raises(ValueError):
        filter_pairs(pairs, lambda im, cap: 0.0, 1.5)


@pytest.fixture(scope="module")
def small_render():
    return clip_data.render_pairs("train", houses=range(2), views_per_house=2, size=64, seed=0)


def test_render_pairs(small_render):
    pairs = small_render
    assert pairs and any(p.kind == "crop" for p in pairs) and any(p.kind == "frame" for p in pairs)
    for p in pairs:
        assert p.image.shape == (64, 64, 3) and p.image.dtype == np.uint8
        assert p.kind in ("crop", "frame") and isinstance(p.house_seed, int)
        assert len(p.caption.split()) <= 30
        if p.kind == "crop":
            assert p.category in GOAL_CATEGORIES and _mentions(p.caption, p.category)
        else:
            assert p.category is None


def test_render_pairs_deterministic(small_render):
    again = clip_data.render_pairs("train", houses=range(2), views_per_house=2, size=64, seed=0)
    assert again == small_render
    other = clip_data.render_pairs("train", houses=range(2), views_per_house=2, size=64, seed=1)
    assert other != small_render


def test_save_load_round_trip(small_render, tmp_path):
    save_pairs(small_render, tmp_path / "pairs", shard_size=3)
    loaded = load_pairs(tmp_path / "pairs")
    assert loaded == small_render
    assert len(list((tmp_path / "pairs").glob("shard_*.npz"))) == -(-len(small_render) // 3)
    for f in (tmp_path / "pairs").glob("shard_*.npz"):
        with np.load(f, allow_pickle=False) as z:
            assert z["images"].dtype == np.uint8


def test_cli(tmp_path):
    assert clip_data.main([str(tmp_path / "out"), "--houses", "0:1", "--views", "1", "--size", "32"]) == 0
    assert (tmp_path / "out" / "index.json").exists()
    load_pairs(tmp_path / "out")
