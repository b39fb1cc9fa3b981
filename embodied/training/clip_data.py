"""Image-text pairs rendered in the embedded ObjectNav houses, for contrastive (CLIP) training.

The data half of "train a CLIP here": pictures from the simulator with synthetic captions, in the
spirit of DataComp's *improving multimodal datasets with image captioning* (captions written from
what is known of the picture instead of scraped alt-text). Everything a caption says comes from
the privileged view: the ``instance`` mask says which objects are visible and where, the house
spec gives each object's category, colour (its largest part's RGBA), 3-D size (relative to the
category's unscaled recipe), what it stands on (``ObjectSpec.support``) and the room it is in.

* ``render_pairs``: views in houses of a split (``ObjectNavEnv(privileged=True)``): most are aimed
  at a random goal object from a random free spot 0.7-2.5 m away, some are random free poses. Per
  view, object-centred crops (every visible goal object with enough pixels: a square around its
  box with 1.2-2.5x context, resized to ``size``), and one full-frame scene caption naming 1-3
  visible objects ("a kitchen with a mug and a laptop").
* Captions come from templates with a seeded RNG: category names and hand-written synonyms
  (``SYNONYMS``), a basic colour name (``colour_name``: nearest of 11 basic colours in CIELAB), a
  size word, and a relation ("on the desk", "next to a bowl", "left of a laptop").
* The renderer's lighting is fixed (one light, no exposure change), so every image gets a seeded
  brightness/contrast jitter (and a slight per-channel gain) for some photometric variety; it is
  kept mild so the colour named in the caption stays right.
* ``save_pairs`` / ``load_pairs``: ``.npz`` shards (no pickles) plus ``index.json``;
  ``filter_pairs`` keeps the top fraction by an image-text score (as DataComp filters with a
  bootstrap CLIP).

This module imports an env (it is a data tool); the import happens inside ``render_pairs``.
Command line::

    python -m embodied.training.clip_data OUT_DIR --split train --houses 0:20 --views 4 --size 96
"""
from __future__ import annotations

import argparse
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Pair", "SYNONYMS", "FURNITURE_NAMES", "COLOURS", "colour_name", "render_pairs",
           "save_pairs", "load_pairs", "filter_pairs", "keep_top", "main"]

# ------------------------------------------------------------------------------------ vocabulary

#: names a caption may use for each goal category (the first is the plain name)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "AlarmClock": ("alarm clock", "clock", "bedside clock", "desk clock"),
    "Apple": ("apple", "piece of fruit", "fruit"),
    "BaseballBat": ("baseball bat", "bat", "wooden bat"),
    "BasketBall": ("basketball", "ball", "basket ball"),
    "Bowl": ("bowl", "dish", "serving bowl"),
    "GarbageCan": ("garbage can", "trash can", "bin", "waste bin", "trash bin"),
    "HousePlant": ("house plant", "plant", "potted plant", "houseplant"),
    "Laptop": ("laptop", "notebook computer", "laptop computer", "computer"),
    "Mug": ("mug", "cup", "coffee mug"),
    "SprayBottle": ("spray bottle", "cleaning spray bottle", "squirt bottle", "bottle"),
    "Television": ("television", "TV", "television set", "tv screen"),
    "Vase": ("vase", "flower vase", "ceramic vase"),
}

#: names of furniture (captions: relations and scene lists)
FURNITURE_NAMES: dict[str, tuple[str, ...]] = {
    "Table": ("table", "dining table"), "CoffeeTable": ("coffee table", "low table"),
    "Desk": ("desk",), "Chair": ("chair",), "Sofa": ("sofa", "couch"), "Bed": ("bed",),
    "Shelf": ("shelf", "bookshelf"), "Counter": ("counter", "kitchen counter"),
    "TVStand": ("TV stand", "media console"), "SideTable": ("side table", "nightstand"),
}

ROOM_NAMES: dict[str, tuple[str, ...]] = {
    "living": ("living room", "lounge"), "bedroom": ("bedroom",), "office": ("office", "study"),
    "kitchen": ("kitchen",), "studio": ("studio apartment", "room"),
}

#: 11 basic colour terms (Berlin & Kay) with sRGB prototypes
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20), "white": (245, 245, 245), "gray": (128, 128, 128),
    "red": (200, 30, 30), "green": (40, 150, 50), "blue": (40, 70, 200),
    "yellow": (240, 220, 40), "orange": (245, 140, 30), "brown": (130, 80, 40),
    "pink": (245, 160, 190), "purple": (130, 50, 160),
}


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in 0..255 -> CIELAB (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


_COLOUR_LAB = _srgb_to_lab(np.array(list(COLOURS.values())))


def colour_name(rgb: Sequence[float]) -> str:
    """Nearest basic colour name (CIELAB distance) of an RGB colour: 0..255 ints, or 0..1 floats
    when every value is <= 1 and one is fractional (as house specs store them)."""
    c = np.asarray(rgb, dtype=np.float64)[:3]
    if np.all(c <= 1.0) and np.any((c > 0) & (c < 1)):
        c = c * 255.0
    d = np.linalg.norm(_COLOUR_LAB - _srgb_to_lab(c), axis=-1)
    return list(COLOURS)[int(np.argmin(d))]


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ------------------------------------------------------------------------------------ pairs

@dataclass
class Pair:
    """One image-text pair. ``category`` is the crop's goal category (None for scene frames)."""
    image: np.ndarray
    caption: str
    category: str | None
    house_seed: int
    kind: str  # "crop" | "frame"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pair):
            return NotImplemented
        return (self.caption == other.caption and self.category == other.category
                and self.house_seed == other.house_seed and self.kind == other.kind
                and self.image.shape == other.image.shape and bool(np.array_equal(self.image, other.image)))


def _boxes(instance: np.ndarray) -> dict[int, tuple[tuple[int, int, int, int], int]]:
    """id -> (half-open box (x0, y0, x1, y1), pixel count) for every non-zero id."""
    inst = np.asarray(instance)
    h, w = inst.shape
    ids, inverse, counts = np.unique(inst.ravel(), return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    rows, cols = np.divmod(np.arange(h * w), w)
    x0, y0 = np.full(len(ids), w), np.full(len(ids), h)
    x1, y1 = np.full(len(ids), -1), np.full(len(ids), -1)
    np.minimum.at(x0, inverse, cols)
    np.minimum.at(y0, inverse, rows)
    np.maximum.at(x1, inverse, cols)
    np.maximum.at(y1, inverse, rows)
    return {int(i): ((int(x0[k]), int(y0[k]), int(x1[k]) + 1, int(y1[k]) + 1), int(counts[k]))
            for k, i in enumerate(ids) if int(i) != 0}


@functools.lru_cache(maxsize=None)
def _reference_extent(category: str) -> float:
    """Largest 3-D extent of the category's recipe at scale 1 (goal objects are scaled +-15 %)."""
    from embodied.envs.pybullet.house import ObjectSpec
    from embodied.envs.pybullet.objects import make_object
    parts = make_object(category, np.random.default_rng(0), scale_jitter=0.0)
    lo, hi = ObjectSpec(1, category, "object", (0.0, 0.0, 0.0), 0.0, parts).world_aabb()
    return float(np.max(hi - lo))


def _object_facts(obj: Any) -> dict[str, Any]:
    """Colour (largest part) and size word of a goal object from its spec."""
    vols = []
    for q in obj.parts:
        s = np.asarray(q.size)
        vols.append(8 * np.prod(s) if q.kind == "box" else
                    2 * math.pi * s[0] ** 2 * s[1] if q.kind == "cylinder" else 4 / 3 * math.pi * s[0] ** 3)
    colour = colour_name(obj.parts[int(np.argmax(vols))].rgba) if obj.parts else None
    lo, hi = obj.world_aabb()
    ratio = float(np.max(hi - lo)) / _reference_extent(obj.category)
    size = "small" if ratio < 0.93 else "large" if ratio > 1.07 else None
    return {"colour": colour, "size": size}


def _name(category: str, rng: np.random.Generator) -> str:
    names = SYNONYMS.get(category) or FURNITURE_NAMES.get(category) or (category.lower(),)
    return names[int(rng.integers(len(names)))]


def crop_caption(category: str, rng: np.random.Generator, colour: str | None = None,
                 size: str | None = None, support: str | None = None, room: str | None = None,
                 neighbour: tuple[str, str] | None = None) -> str:
    """A caption for an object-centred crop. ``support``: furniture category it stands on ("Floor"
    for the floor); ``neighbour``: (relation, category) of another visible object."""
    words = []
    if size and rng.random() < 0.5:
        words.append(size)
    if colour and rng.random() < 0.6:
        words.append(colour)
    words.append(_name(category, rng))
    desc = _article(" ".join(words))
    rels = []
    if support:
        rels.append("on the floor" if support == "Floor" else f"on the {_name(support, rng)}")
    if neighbour:
        rels.append(f"{neighbour[0]} {_article(_name(neighbour[1], rng))}")
    rel = rels[int(rng.integers(len(rels)))] if rels and rng.random() < 0.7 else ""
    where = f"in the {_name_room(room, rng)}" if room and rng.random() < 0.3 else ""
    tail = " ".join(t for t in (rel, where) if t)
    templates = ("a photo of {d}{t}.", "{d}{t}.", "a rendering of {d}{t}.", "a close-up of {d}{t}.",
                 "a picture of {d}{t}.", "there is {d}{t}.")
    tpl = templates[int(rng.integers(len(templates)))]
    return tpl.format(d=desc, t=(" " + tail) if tail else "")


def _name_room(room: str, rng: np.random.Generator) -> str:
    names = ROOM_NAMES.get(room, (room,))
    return names[int(rng.integers(len(names)))]


def frame_caption(categories: Sequence[str], rng: np.random.Generator, room: str | None = None,
                  colours: dict[str, str] | None = None) -> str:
    """A scene caption naming 1-3 of ``categories`` (most salient first)."""
    k = int(rng.integers(1, min(3, len(categories)) + 1))
    chosen = list(categories[:k])
    items = []
    for c in chosen:
        n = _name(c, rng)
        if colours and c in colours and rng.random() < 0.3:
            n = f"{colours[c]} {n}"
        items.append(_article(n))
    listed = _join(items)
    place = _article(_name_room(room, rng)) if room else "a room"
    templates = ("{p} with {l}.", "a view of {p} with {l}.", "{l} in {p}.",
                 "an indoor scene with {l}.", "a rendering of {p} with {l}.")
    return templates[int(rng.integers(len(templates)))].format(p=place, l=listed)


def photometric_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.25,
                       contrast: float = 0.25, gain: float = 0.04) -> np.ndarray:
    """Random brightness and contrast (and a slight per-channel gain) of a uint8 image. The
    renderer's lighting is fixed, so this is the only photometric variety the pairs get."""
    x = image.astype(np.float32)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    x = x * rng.uniform(1 - brightness, 1 + brightness) * rng.uniform(1 - gain, 1 + gain, 3)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image
    if image.shape[0] == size and image.shape[1] == size:
        return image.copy()
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _square(box: tuple[int, int, int, int], scale: float, w: int, h: int) -> tuple[int, int, int, int]:
    """A square of side scale * max(box side) around the box centre, shifted inside the image."""
    x0, y0, x1, y1 = box
    side = int(round(min(max(x1 - x0, y1 - y0) * scale, w, h)))
    side = max(side, 1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(min(max(cx - side / 2, 0), w - side)))
    top = int(round(min(max(cy - side / 2, 0), h - side)))
    return left, top, left + side, top + side


def _view_pose(env: Any, rng: np.random.Generator, aim_p: float) -> tuple[float, float, float, float]:
    """(x, y, yaw, pitch): aimed at a random goal object from a free spot, or a random free pose."""
    from embodied.envs.objectnav_episodes import CAMERA_HEIGHT
    house, free = env.house, env.free_space
    goals = [o for o in house.objects if o.kind == "object"]
    if goals and rng.random() < aim_p:
        obj = goals[int(rng.integers(len(goals)))]
        lo, hi = obj.world_aabb()
        centre = (lo + hi) / 2
        dist = rng.uniform(0.7, 2.5, 32)
        ang = rng.uniform(-math.pi, math.pi, 32)
        pts = centre[:2] + np.column_stack([dist * np.cos(ang), dist * np.sin(ang)])
        ok = np.flatnonzero(free.contains(pts))
        if len(ok):
            x, y = pts[ok[0]]
            d = float(dist[ok[0]])
            yaw = math.atan2(centre[1] - y, centre[0] - x) + rng.normal(0.0, 0.2)
            pitch = math.atan2(centre[2] - CAMERA_HEIGHT, d) + rng.normal(0.0, 0.1)
            return float(x), float(y), float(yaw), float(np.clip(pitch, -1.0, 0.5))
    x0, y0, x1, y1 = house.bounds
    for _ in range(64):
        pts = np.column_stack([rng.uniform(x0, x1, 16), rng.uniform(y0, y1, 16)])
        ok = np.flatnonzero(free.contains(pts))
        if len(ok):
            x, y = pts[ok[0]]
            return float(x), float(y), float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(-0.5, 0.1))
    x, y, yaw = env.start
    return float(x), float(y), float(yaw), 0.0


def render_pairs(split: str = "train", houses: Sequence[int] = range(4), views_per_house: int = 4,
                 size: int = 224, seed: int = 0, render_size: int | None = None,
                 min_pixels: int | None = None, aim_p: float = 0.8, frames: bool = True,
                 jitter: bool = True) -> list[Pair]:
    """Image-text pairs from ``views_per_house`` views in each house of ``split`` (indices ``houses``).

    Views are rendered at ``render_size`` (default 2 * size, so crops are not upsampled much);
    crops of goal objects with >= ``min_pixels`` instance pixels (default 0.3 % of the frame,
    at least 30) and one full-frame pair per view that shows a named object. Deterministic in
    ``seed`` (each house has its own generator, seeded by (seed, house index)).
    """
    from embodied.envs import objectnav_episodes as episodes_lib
    from embodied.envs.objectnav import ObjectNavEnv
    from embodied.envs.pybullet.house import FURNITURE_CATEGORIES, GOAL_CATEGORIES

    rs = int(render_size or 2 * size)
    min_px = int(min_pixels if min_pixels is not None else max(30, 0.003 * rs * rs))
    env = ObjectNavEnv(privileged=True, width=rs, height=rs, max_steps=10 ** 9)
    out: list[Pair] = []
    try:
        for h in houses:
            rng = np.random.default_rng([int(seed), int(h)])
            episode = episodes_lib.split_episode(split, int(h) * episodes_lib.SPLITS[split].episodes_per_house)
            env.reset(seed=int(seed), options={"episode": episode})
            house = env.house
            house_seed = int(episode["house_seed"])
            specs = {o.instance_id: o for o in house.objects}
            rooms = {r.index: r.kind for r in house.rooms}
            facts = {o.instance_id: _object_facts(o) for o in house.objects if o.category in GOAL_CATEGORIES}
            for _ in range(views_per_house):
                x, y, yaw, pitch = _view_pose(env, rng, aim_p)
                frame = env.scene.render(x, y, yaw, pitch, want_depth=False, want_seg=True)
                rgb, boxes = frame["rgb"], _boxes(frame["instance"])
                room = rooms.get(house.room_of((x, y)))
                named = sorted(((cnt, i) for i, (_, cnt) in boxes.items()
                                if i in specs and specs[i].category in GOAL_CATEGORIES + FURNITURE_CATEGORIES
                                and cnt >= min_px), reverse=True)
                goals = [i for _, i in named if specs[i].category in GOAL_CATEGORIES]
                for i in goals:
                    spec, box = specs[i], boxes[i][0]
                    sq = _square(box, float(rng.uniform(1.2, 2.5)), rs, rs)
                    crop = rgb[sq[1]:sq[3], sq[0]:sq[2]]
                    # a neighbour: the nearest other named object whose box lies in the crop
                    neighbour = None
                    cx = (box[0] + box[2]) / 2
                    others = [j for _, j in named if j != i and j != spec.support
                              and specs[j].category != spec.category]
                    inside = [j for j in others if boxes[j][0][0] < sq[2] and boxes[j][0][2] > sq[0]
                              and boxes[j][0][1] < sq[3] and boxes[j][0][3] > sq[1]]
                    if inside:
                        j = min(inside, key=lambda j: abs((boxes[j][0][0] + boxes[j][0][2]) / 2 - cx))
                        ox = (boxes[j][0][0] + boxes[j][0][2]) / 2
                        gap = abs(ox - cx) / max(1, sq[2] - sq[0])
                        rel = "next to" if gap < 0.25 or rng.random() < 0.4 else \
                            ("left of" if cx < ox else "right of")
                        neighbour = (rel, specs[j].category)
                    support = specs[spec.support].category if spec.support in specs else "Floor"
                    f = facts[i]
                    caption = crop_caption(spec.category, rng, f["colour"], f["size"], support,
                                           rooms.get(spec.room), neighbour)
                    img = _resize(np.ascontiguousarray(crop), size)
                    if jitter:
                        img = photometric_jitter(img, rng)
                    out.append(Pair(img, caption, spec.category, house_seed, "crop"))
                if frames and named:
                    # goal objects first (they are what CLIP must tell apart), then furniture
                    cats: list[str] = []
                    for i in goals + [i for _, i in named if i not in goals]:
                        if specs[i].category not in cats:
                            cats.append(specs[i].category)
                    colours = {specs[i].category: facts[i]["colour"] for i in goals if facts[i]["colour"]}
                    caption = frame_caption(cats, rng, room, colours)
                    img = _resize(rgb, size)
                    if jitter:
                        img = photometric_jitter(img, rng)
                    out.append(Pair(img, caption, None, house_seed, "frame"))
    finally:
        env.close()
    return out


# ------------------------------------------------------------------------------------ storage

def save_pairs(pairs: Sequence[Pair], directory: str | Path, shard_size: int = 1000) -> Path:
    """Write ``pairs`` as ``shard_XXXXX.npz`` files (images uint8 (N, H, W, 3); captions,
    categories and kinds as JSON strings; house seeds int64) plus ``index.json``. All images of
    a shard must share one shape."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shards = []
    for k, start in enumerate(range(0, len(pairs), shard_size)):
        chunk = pairs[start:start + shard_size]
        name = f"shard_{k:05d}.npz"
        np.savez_compressed(
            directory / name,
            images=np.stack([p.image for p in chunk]).astype(np.uint8),
            captions=np.array(json.dumps([p.caption for p in chunk])),
            categories=np.array(json.dumps([p.category for p in chunk])),
            kinds=np.array(json.dumps([p.kind for p in chunk])),
            house_seeds=np.array([p.house_seed for p in chunk], dtype=np.int64))
        shards.append({"file": name, "count": len(chunk)})
    index = {"format": "embodied.clip_pairs/1", "count": len(pairs), "shards": shards}
    (directory / "index.json").write_text(json.dumps(index, indent=1))
    return directory


def load_pairs(directory: str | Path) -> list[Pair]:
    """Read what ``save_pairs`` wrote (no pickles)."""
    directory = Path(directory)
    index = json.loads((directory / "index.json").read_text())
    out: list[Pair] = []
    for shard in index["shards"]:
        with np.load(directory / shard["file"], allow_pickle=False) as z:
            images = z["images"]
            captions = json.loads(str(z["captions"]))
            categories = json.loads(str(z["categories"]))
            kinds = json.loads(str(z["kinds"]))
            seeds = z["house_seeds"]
        out.extend(Pair(images[i].copy(), captions[i], categories[i], int(seeds[i]), kinds[i])
                   for i in range(len(captions)))
    return out


def filter_pairs(pairs: Sequence[Pair], score_fn: Callable[[np.ndarray, str], float],
                 keep_fraction: float) -> list[Pair]:
    """The ``round(keep_fraction * len(pairs))`` pairs with the highest ``score_fn(image, caption)``
    (e.g. a bootstrap CLIP's cosine similarity, as DataComp filters), in their original order;
    ties are broken by position (earlier first)."""
    return keep_top(pairs, [float(score_fn(p.image, p.caption)) for p in pairs], keep_fraction)


def keep_top(pairs: Sequence[Pair], scores: Sequence[float], keep_fraction: float) -> list[Pair]:
    """``filter_pairs`` with the scores already computed (one per pair, e.g. in batches)."""
    if not 0.0 <= keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in [0, 1], got {keep_fraction}")
    if len(scores) != len(pairs):
        raise ValueError(f"{len(scores)} scores for {len(pairs)} pairs")
    k = int(round(keep_fraction * len(pairs)))
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return [pairs[i] for i in sorted(order.tolist())]


# ------------------------------------------------------------------------------------ CLI

def _range(text: str) -> range:
    a, _, b = text.partition(":")
    return range(int(a), int(b)) if b else range(int(a), int(a) + 1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--split", default="train")
    p.add_argument("--houses", default="0:20", help="house indices, START:STOP")
    p.add_argument("--views", type=int, default=4, help="views per house")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--render-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard-size", type=int, default=1000)
    args = p.parse_args(argv)
    pairs = render_pairs(args.split, _range(args.houses), args.views, args.size, args.seed,
                         render_size=args.render_size)
    save_pairs(pairs, args.out_dir, args.shard_size)
    crops = sum(p.kind == "crop" for p in pairs)
    print(f"{len(pairs)} pairs ({crops} crops, {len(pairs) - crops} frames) -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
