"""Shape recipes: what furniture and the 12 goal objects look like, built from primitives.

Why a separate module: `house.py` decides *where* things go; this module decides *what they look
like*. Every recipe returns parts in the thing's own frame with these conventions, so the
placement code never needs to know a shape's internals:

- origin at the centre of the footprint, z = 0 is the plane it rests on (floor or a surface);
- the thing's "front" faces local +x (a sofa's seat, a TV's screen, a laptop's keyboard, the
  open side of a shelf), so "back against the wall" is a yaw of the whole object;
- sizes are real-world metres (RoboTHOR-like); colours are RGBA in [0, 1].

Goal objects get a random scale (+-15 %) and a small hue/brightness jitter so that a detector
cannot memorise one exact appearance; furniture gets random dimensions within plausible ranges.
All randomness comes from the `numpy.random.Generator` passed in, so a house is a pure function
of its seed.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np

from embodied.envs.pybullet.house import GOAL_CATEGORIES, Primitive

RGB = tuple[float, float, float]
RGBA = tuple[float, float, float, float]

HALF_PI = math.pi / 2.0
#: euler angles that turn a primitive's local z axis (a cylinder's axis) onto world x / y
ALONG_X = (0.0, HALF_PI, 0.0)
ALONG_Y = (HALF_PI, 0.0, 0.0)


def _r(v: float) -> float:
    """Round to 0.1 mm: keeps specs short in JSON and makes the round trip exact."""
    return round(float(v), 4)


def jitter_colour(rgb: RGB, rng: np.random.Generator, hue: float = 0.03,
                  value: float = 0.15, alpha: float = 1.0) -> RGBA:
    """A colour near `rgb`: hue shifted by up to +-`hue` (of the colour wheel) and brightness
    scaled by up to +-`value`, so instances of one category look alike but not identical."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    h = (h + rng.uniform(-hue, hue)) % 1.0
    v = float(np.clip(v * rng.uniform(1.0 - value, 1.0 + value), 0.0, 1.0))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (_r(r), _r(g), _r(b), float(alpha))


def _pick(rng: np.random.Generator, options: list[RGB]) -> RGB:
    return options[int(rng.integers(len(options)))]


def box(pos, half, rgba, euler=(0.0, 0.0, 0.0)) -> Primitive:
    """A box primitive given its centre and half extents."""
    return Primitive("box", tuple(_r(v) for v in pos), tuple(_r(v) for v in half), rgba,
                     tuple(_r(v) for v in euler))


def cyl(pos, radius, half_length, rgba, euler=(0.0, 0.0, 0.0)) -> Primitive:
    """A cylinder primitive; its axis is the local z axis turned by `euler`."""
    return Primitive("cylinder", tuple(_r(v) for v in pos), (_r(radius), _r(half_length)), rgba,
                     tuple(_r(v) for v in euler))


def sph(pos, radius, rgba) -> Primitive:
    """A sphere primitive."""
    return Primitive("sphere", tuple(_r(v) for v in pos), (_r(radius),), rgba)


def scaled(parts: list[Primitive], s: float) -> list[Primitive]:
    """Uniformly scale a recipe about its origin (which sits on the resting plane, so the scaled
    object still rests on it)."""
    return [Primitive(q.kind, tuple(_r(v * s) for v in q.pos), tuple(_r(v * s) for v in q.size),
                      q.rgba, q.euler) for q in parts]


# --------------------------------------------------------------------------------------------
# goal objects
# --------------------------------------------------------------------------------------------

WHITE: RGB = (0.93, 0.93, 0.9)
BLACK: RGB = (0.08, 0.08, 0.09)
CERAMICS: list[RGB] = [(0.92, 0.92, 0.88), (0.25, 0.4, 0.7), (0.3, 0.6, 0.45), (0.8, 0.3, 0.25),
                       (0.9, 0.75, 0.3)]


def _alarm_clock(rng: np.random.Generator) -> list[Primitive]:
    """Twin-bell alarm clock: a box body, a round white face on the front, two bells on top."""
    body = jitter_colour(_pick(rng, [(0.8, 0.1, 0.1), (0.15, 0.15, 0.18), (0.2, 0.35, 0.7),
                                     (0.85, 0.8, 0.2)]), rng)
    face = jitter_colour(WHITE, rng, value=0.05)
    return [
        box((0, 0, 0.045), (0.03, 0.06, 0.045), body),
        cyl((0.034, 0, 0.047), 0.038, 0.004, face, ALONG_X),
        sph((0, 0.035, 0.095), 0.017, body),
        sph((0, -0.035, 0.095), 0.017, body),
    ]


def _apple(rng: np.random.Generator) -> list[Primitive]:
    """A red sphere of about 8 cm with a short brown stem."""
    return [
        sph((0, 0, 0.04), 0.04, jitter_colour((0.78, 0.08, 0.08), rng)),
        cyl((0, 0, 0.086), 0.004, 0.01, (0.35, 0.22, 0.1, 1.0)),
    ]


def _baseball_bat(rng: np.random.Generator) -> list[Primitive]:
    """A bat lying on the floor along local x: thick barrel, thin handle, knob (~86 cm)."""
    c = jitter_colour(_pick(rng, [(0.78, 0.62, 0.4), (0.6, 0.42, 0.25), (0.2, 0.2, 0.22),
                                  (0.7, 0.72, 0.75)]), rng)
    grip = jitter_colour(BLACK, rng, value=0.1)
    return [
        cyl((0.2, 0, 0.033), 0.033, 0.24, c, ALONG_X),
        cyl((-0.23, 0, 0.016), 0.016, 0.19, c, ALONG_X),
        cyl((-0.428, 0, 0.022), 0.022, 0.008, grip, ALONG_X),
    ]


def _basketball(rng: np.random.Generator) -> list[Primitive]:
    """An orange sphere of about 24 cm with two black seams (thin discs just proud of it)."""
    seam = (0.05, 0.04, 0.03, 1.0)
    return [
        sph((0, 0, 0.121), 0.12, jitter_colour((0.9, 0.42, 0.08), rng)),
        cyl((0, 0, 0.121), 0.121, 0.003, seam),
        cyl((0, 0, 0.121), 0.121, 0.003, seam, ALONG_X),
    ]


def _bowl(rng: np.random.Generator) -> list[Primitive]:
    """A foot, a wide shallow body and a darker inner disc that reads as the hollow."""
    c = jitter_colour(_pick(rng, CERAMICS), rng)
    inner = (_r(c[0] * 0.55), _r(c[1] * 0.55), _r(c[2] * 0.55), 1.0)
    return [
        cyl((0, 0, 0.01), 0.045, 0.01, c),
        cyl((0, 0, 0.045), 0.08, 0.025, c),
        cyl((0, 0, 0.071), 0.068, 0.001, inner),
    ]


def _garbage_can(rng: np.random.Generator) -> list[Primitive]:
    """A 30 cm x 45 cm cylinder with a darker lid rim."""
    c = jitter_colour(_pick(rng, [(0.55, 0.57, 0.6), (0.2, 0.35, 0.6), (0.25, 0.5, 0.3),
                                  (0.15, 0.15, 0.16)]), rng)
    return [
        cyl((0, 0, 0.21), 0.15, 0.21, c),
        cyl((0, 0, 0.435), 0.155, 0.015, (_r(c[0] * 0.6), _r(c[1] * 0.6), _r(c[2] * 0.6), 1.0)),
    ]


def _house_plant(rng: np.random.Generator) -> list[Primitive]:
    """A terracotta pot, a stem and three green foliage spheres (about 75 cm tall)."""
    leaf = jitter_colour((0.2, 0.55, 0.2), rng)
    leaf2 = jitter_colour((0.15, 0.45, 0.15), rng)
    return [
        cyl((0, 0, 0.12), 0.13, 0.12, jitter_colour((0.72, 0.38, 0.22), rng)),
        cyl((0, 0, 0.33), 0.015, 0.09, (0.3, 0.22, 0.1, 1.0)),
        sph((0, 0, 0.57), 0.18, leaf),
        sph((0.09, 0.07, 0.46), 0.13, leaf2),
        sph((-0.08, -0.07, 0.48), 0.12, leaf2),
    ]


def _laptop(rng: np.random.Generator) -> list[Primitive]:
    """An open laptop facing +x: base slab, screen tilted 15 degrees back, dark display."""
    shell = jitter_colour(_pick(rng, [(0.75, 0.76, 0.78), (0.12, 0.12, 0.13), (0.35, 0.36, 0.4)]),
                          rng, value=0.08)
    tilt = -math.radians(15.0)                       # about y: the top leans towards -x
    hinge = np.array([-0.12, 0.0, 0.02])
    axis = np.array([math.sin(tilt), 0.0, math.cos(tilt)])    # screen's up direction
    normal = np.array([math.cos(tilt), 0.0, -math.sin(tilt)])  # screen's front direction
    screen = hinge + axis * 0.115 + normal * 0.006
    display = screen + normal * 0.0065
    return [
        box((0, 0, 0.01), (0.12, 0.17, 0.01), shell),
        box(screen, (0.006, 0.17, 0.115), shell, (0.0, tilt, 0.0)),
        box(display, (0.0005, 0.155, 0.1), jitter_colour((0.1, 0.16, 0.32), rng), (0.0, tilt, 0.0)),
    ]


def _mug(rng: np.random.Generator) -> list[Primitive]:
    """A 8 cm x 10 cm cylinder with a handle made of three thin boxes."""
    c = jitter_colour(_pick(rng, CERAMICS), rng)
    return [
        cyl((0, 0, 0.05), 0.04, 0.05, c),
        box((0, 0.064, 0.05), (0.006, 0.006, 0.028), c),
        box((0, 0.052, 0.076), (0.006, 0.012, 0.005), c),
        box((0, 0.052, 0.024), (0.006, 0.012, 0.005), c),
    ]


def _spray_bottle(rng: np.random.Generator) -> list[Primitive]:
    """A tall bottle, a neck, a trigger head with its nozzle pointing +x, and the trigger."""
    body = jitter_colour(_pick(rng, [(0.3, 0.6, 0.85), (0.4, 0.75, 0.4), (0.92, 0.92, 0.9),
                                     (0.9, 0.5, 0.7)]), rng)
    head = jitter_colour(_pick(rng, [WHITE, BLACK, (0.9, 0.2, 0.2)]), rng, value=0.05)
    return [
        cyl((0, 0, 0.08), 0.035, 0.08, body),
        cyl((0, 0, 0.18), 0.013, 0.02, head),
        box((0.012, 0, 0.213), (0.032, 0.012, 0.013), head),
        box((0.032, 0, 0.183), (0.005, 0.007, 0.017), head),
    ]


def _television(rng: np.random.Generator) -> list[Primitive]:
    """A big thin dark panel (~90 x 55 cm) with a display face on +x, on a neck and foot."""
    frame = jitter_colour(BLACK, rng, value=0.2)
    return [
        box((0, 0, 0.345), (0.025, 0.45, 0.275), frame),
        box((0.0255, 0, 0.345), (0.0005, 0.43, 0.255), jitter_colour((0.13, 0.15, 0.22), rng)),
        box((0, 0, 0.045), (0.02, 0.04, 0.025), frame),
        box((0, 0, 0.01), (0.1, 0.2, 0.01), frame),
    ]


def _vase(rng: np.random.Generator) -> list[Primitive]:
    """A foot, a round belly, a narrow neck and a lip (~27 cm)."""
    c = jitter_colour(_pick(rng, CERAMICS + [(0.55, 0.2, 0.45)]), rng)
    return [
        cyl((0, 0, 0.006), 0.045, 0.006, c),
        sph((0, 0, 0.08), 0.07, c),
        cyl((0, 0, 0.2), 0.028, 0.06, c),
        cyl((0, 0, 0.262), 0.038, 0.008, c),
    ]


_OBJECT_RECIPES = {
    "AlarmClock": _alarm_clock, "Apple": _apple, "BaseballBat": _baseball_bat,
    "BasketBall": _basketball, "Bowl": _bowl, "GarbageCan": _garbage_can,
    "HousePlant": _house_plant, "Laptop": _laptop, "Mug": _mug, "SprayBottle": _spray_bottle,
    "Television": _television, "Vase": _vase,
}
assert tuple(_OBJECT_RECIPES) == GOAL_CATEGORIES

#: where each goal category is put: on the floor of a room or on a furniture surface
OBJECT_PLACEMENT: dict[str, str] = {
    "AlarmClock": "surface", "Apple": "surface", "BaseballBat": "floor", "BasketBall": "floor",
    "Bowl": "surface", "GarbageCan": "floor", "HousePlant": "floor", "Laptop": "surface",
    "Mug": "surface", "SprayBottle": "surface", "Television": "surface", "Vase": "surface",
}

#: furniture a surface object may stand on (None: any surface, shelves included)
SURFACE_HOSTS: dict[str, tuple[str, ...] | None] = {
    "Television": ("TVStand", "Counter", "Table", "Desk"),
    "Laptop": ("Table", "Desk", "CoffeeTable", "Counter", "SideTable"),
}

#: primitives per goal object (recipes are fixed-size), used to budget a house before building
OBJECT_PRIMITIVES: dict[str, int] = {
    name: len(fn(np.random.default_rng(0))) for name, fn in _OBJECT_RECIPES.items()}


def make_object(category: str, rng: np.random.Generator, scale_jitter: float = 0.15
                ) -> list[Primitive]:
    """Parts of one goal object of `category`, with random colour and scale (1 +- scale_jitter).

    The scale is drawn *after* the colours so every recipe consumes the generator the same way
    for a given category.
    """
    try:
        fn = _OBJECT_RECIPES[category]
    except KeyError:
        raise ValueError(f"unknown goal category {category!r}; expected one of "
                         f"{', '.join(GOAL_CATEGORIES)}") from None
    parts = fn(rng)
    return scaled(parts, float(rng.uniform(1.0 - scale_jitter, 1.0 + scale_jitter)))


# --------------------------------------------------------------------------------------------
# furniture
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalSurface:
    """A horizontal rectangle in the furniture's frame on which small objects may stand.

    `clearance` is the free height above it (the next shelf board), so a tall object is never
    put where it would cut through a board.
    """
    rect: tuple[float, float, float, float]   # xmin, ymin, xmax, ymax in the furniture frame
    z: float
    clearance: float


@dataclass
class FurnitureRecipe:
    """Parts of one piece of furniture plus the surfaces that can carry objects."""
    category: str
    parts: list[Primitive]
    surfaces: list[LocalSurface] = field(default_factory=list)


WOODS: list[RGB] = [(0.55, 0.38, 0.22), (0.7, 0.52, 0.32), (0.4, 0.26, 0.16), (0.82, 0.7, 0.52)]
FABRICS: list[RGB] = [(0.35, 0.4, 0.55), (0.55, 0.3, 0.25), (0.45, 0.45, 0.42), (0.3, 0.45, 0.35),
                      (0.7, 0.62, 0.48)]
PAINTS: list[RGB] = [(0.92, 0.92, 0.9), (0.3, 0.32, 0.35), (0.6, 0.7, 0.75), (0.75, 0.68, 0.55)]
OPEN_ABOVE = 1.5   # clearance of a surface with nothing above it


def _table(rng: np.random.Generator, depth: tuple[float, float], width: tuple[float, float],
           height: float, category: str) -> FurnitureRecipe:
    d, w = rng.uniform(*depth), rng.uniform(*width)
    h = height + rng.uniform(-0.02, 0.02)
    wood = jitter_colour(_pick(rng, WOODS), rng)
    legs = jitter_colour(_pick(rng, [wood[:3], BLACK, (0.7, 0.7, 0.72)]), rng, value=0.05)
    lh = (h - 0.04) / 2
    parts = [box((0, 0, h - 0.02), (d / 2, w / 2, 0.02), wood)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(box((sx * (d / 2 - 0.06), sy * (w / 2 - 0.06), lh), (0.025, 0.025, lh),
                             legs))
    return FurnitureRecipe(category, parts,
                           [LocalSurface((-d / 2 + 0.03, -w / 2 + 0.03, d / 2 - 0.03, w / 2 - 0.03),
                                         _r(h), OPEN_ABOVE)])


def _desk(rng: np.random.Generator) -> FurnitureRecipe:
    d, w, h = rng.uniform(0.6, 0.72), rng.uniform(1.0, 1.4), 0.75
    top = jitter_colour(_pick(rng, WOODS + [(0.9, 0.9, 0.88)]), rng)
    side = jitter_colour(_pick(rng, PAINTS), rng)
    ph = (h - 0.03) / 2
    parts = [box((0, 0, h - 0.015), (d / 2, w / 2, 0.015), top),
             box((0, w / 2 - 0.02, ph), (d / 2 - 0.02, 0.02, ph), side),
             box((0, -w / 2 + 0.02, ph), (d / 2 - 0.02, 0.02, ph), side),
             box((-d / 2 + 0.03, 0, h - 0.2), (0.01, w / 2 - 0.04, 0.15), side)]
    return FurnitureRecipe("Desk", parts,
                           [LocalSurface((-d / 2 + 0.03, -w / 2 + 0.03, d / 2 - 0.03, w / 2 - 0.03),
                                         h, OPEN_ABOVE)])


def _chair(rng: np.random.Generator) -> FurnitureRecipe:
    s = rng.uniform(0.42, 0.48)
    c = jitter_colour(_pick(rng, WOODS + PAINTS), rng)
    lh = 0.215
    parts = [box((0, 0, 0.45), (s / 2, s / 2, 0.02), c),
             box((-s / 2 + 0.02, 0, 0.7), (0.02, s / 2, 0.23), c)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(box((sx * (s / 2 - 0.03), sy * (s / 2 - 0.03), lh), (0.02, 0.02, lh), c))
    return FurnitureRecipe("Chair", parts)


def _sofa(rng: np.random.Generator) -> FurnitureRecipe:
    d, w = rng.uniform(0.8, 0.95), rng.uniform(1.6, 2.2)
    c = jitter_colour(_pick(rng, FABRICS), rng)
    dark = (_r(c[0] * 0.8), _r(c[1] * 0.8), _r(c[2] * 0.8), 1.0)
    return FurnitureRecipe("Sofa", [
        box((0, 0, 0.21), (d / 2, w / 2, 0.21), c),
        box((-d / 2 + 0.1, 0, 0.64), (0.1, w / 2, 0.22), dark),
        box((0.05, w / 2 - 0.09, 0.53), (d / 2 - 0.05, 0.09, 0.11), dark),
        box((0.05, -w / 2 + 0.09, 0.53), (d / 2 - 0.05, 0.09, 0.11), dark),
    ])


def _bed(rng: np.random.Generator) -> FurnitureRecipe:
    length, w = rng.uniform(1.95, 2.1), rng.uniform(1.4, 1.8)
    wood = jitter_colour(_pick(rng, WOODS), rng)
    sheet = jitter_colour(_pick(rng, [WHITE, (0.85, 0.88, 0.95), (0.9, 0.85, 0.78)]), rng,
                          value=0.05)
    blanket = jitter_colour(_pick(rng, FABRICS), rng)
    x0 = -length / 2
    return FurnitureRecipe("Bed", [
        box((0.02, 0, 0.15), (length / 2 - 0.02, w / 2, 0.15), wood),
        box((0.03, 0, 0.4), (length / 2 - 0.05, w / 2 - 0.03, 0.1), sheet),
        box((x0 + 0.04, 0, 0.5), (0.04, w / 2, 0.5), wood),
        box((x0 + 0.3, 0, 0.54), (0.15, w / 2 - 0.15, 0.04), sheet),
        box((0.25, 0, 0.51), (length / 2 - 0.3, w / 2 - 0.02, 0.012), blanket),
    ])


def _shelf(rng: np.random.Generator) -> FurnitureRecipe:
    w, d, h = rng.uniform(0.8, 1.1), 0.35, 1.6
    c = jitter_colour(_pick(rng, WOODS + PAINTS), rng)
    boards = [0.06, 0.55, 1.05, h - 0.015]
    parts = [box((0, w / 2 - 0.015, h / 2), (d / 2, 0.015, h / 2), c),
             box((0, -w / 2 + 0.015, h / 2), (d / 2, 0.015, h / 2), c),
             box((-d / 2 + 0.01, 0, h / 2), (0.01, w / 2 - 0.03, h / 2), c)]
    surfaces = []
    for i, zc in enumerate(boards):
        parts.append(box((0.01, 0, zc), (d / 2 - 0.01, w / 2 - 0.03, 0.015), c))
        if i + 1 < len(boards):   # every board below the top one carries objects
            top, nxt = zc + 0.015, boards[i + 1] - 0.015
            surfaces.append(LocalSurface((-d / 2 + 0.03, -w / 2 + 0.04, d / 2 - 0.01,
                                          w / 2 - 0.04), _r(top), _r(nxt - top)))
    return FurnitureRecipe("Shelf", parts, surfaces)


def _cabinet(rng: np.random.Generator, category: str, depth: float, width: tuple[float, float],
             height: float) -> FurnitureRecipe:
    """A closed body under a slightly overhanging top slab (counter, TV stand, side table)."""
    w = rng.uniform(*width)
    body = jitter_colour(_pick(rng, PAINTS + WOODS), rng)
    top = jitter_colour(_pick(rng, [(0.25, 0.25, 0.27), (0.85, 0.85, 0.82), (0.5, 0.45, 0.4)]
                              + WOODS), rng)
    bh = (height - 0.04) / 2
    return FurnitureRecipe(category, [
        box((-0.02, 0, bh), (depth / 2 - 0.02, w / 2 - 0.01, bh), body),
        box((0, 0, height - 0.02), (depth / 2, w / 2, 0.02), top),
    ], [LocalSurface((-depth / 2 + 0.03, -w / 2 + 0.03, depth / 2 - 0.03, w / 2 - 0.03),
                     _r(height), OPEN_ABOVE)])


_FURNITURE_RECIPES = {
    "Table": lambda rng: _table(rng, (0.7, 0.9), (1.0, 1.6), 0.75, "Table"),
    "CoffeeTable": lambda rng: _table(rng, (0.5, 0.6), (0.9, 1.2), 0.42, "CoffeeTable"),
    "Desk": _desk,
    "Chair": _chair,
    "Sofa": _sofa,
    "Bed": _bed,
    "Shelf": _shelf,
    "Counter": lambda rng: _cabinet(rng, "Counter", 0.62, (1.2, 2.4), 0.9),
    "TVStand": lambda rng: _cabinet(rng, "TVStand", 0.45, (1.2, 1.5), 0.5),
    "SideTable": lambda rng: _cabinet(rng, "SideTable", 0.42, (0.45, 0.55), 0.55),
}

#: probability that a piece stands with its back against a wall (else it stands free)
AGAINST_WALL: dict[str, float] = {
    "Table": 0.3, "CoffeeTable": 0.0, "Desk": 1.0, "Chair": 0.5, "Sofa": 1.0, "Bed": 1.0,
    "Shelf": 1.0, "Counter": 1.0, "TVStand": 1.0, "SideTable": 1.0,
}

#: what each kind of room may hold: (category, probability of trying to place it)
ROOM_FURNITURE: dict[str, list[tuple[str, float]]] = {
    "living": [("Sofa", 1.0), ("TVStand", 0.8), ("CoffeeTable", 0.7), ("Shelf", 0.7),
               ("SideTable", 0.5), ("Table", 0.3), ("Chair", 0.3)],
    "kitchen": [("Counter", 1.0), ("Table", 0.8), ("Counter", 0.5), ("Chair", 0.5),
                ("Shelf", 0.3)],
    "bedroom": [("Bed", 1.0), ("SideTable", 0.8), ("Desk", 0.5), ("Shelf", 0.5), ("Chair", 0.3)],
    "office": [("Desk", 1.0), ("Shelf", 0.9), ("Chair", 0.6), ("Table", 0.3), ("SideTable", 0.3)],
    "studio": [("Counter", 0.9), ("Sofa", 0.8), ("Table", 0.8), ("Shelf", 0.6), ("TVStand", 0.5),
               ("CoffeeTable", 0.4), ("Bed", 0.3)],
}


def make_furniture(category: str, rng: np.random.Generator) -> FurnitureRecipe:
    """Parts and surfaces of one piece of furniture with random dimensions and colours."""
    try:
        return _FURNITURE_RECIPES[category](rng)
    except KeyError:
        raise ValueError(f"unknown furniture category {category!r}; expected one of "
                         f"{', '.join(_FURNITURE_RECIPES)}") from None
