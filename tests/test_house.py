"""The procedural house generator: determinism, serialisation, navigability, sane geometry.

The navigability checks use a raster written here on purpose (not embodied.perception.navgrid):
the generator's own guarantees are checked by an independent implementation.
"""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest
from scipy import ndimage

from embodied.envs.pybullet import objects as recipes
from embodied.envs.pybullet.house import (GOAL_CATEGORIES, HouseConfig, HouseSpec, ObjectSpec,
                                          Primitive, category_names, generate_house, semantic_id)

N_HOUSES = 30
RADIUS, MARGIN = 0.18, 0.03
AGENT_Z = (0.03, 1.0)
RES = 0.05
REACH = 0.7


@pytest.fixture(scope="module")
def houses() -> list[HouseSpec]:
    return [generate_house(seed) for seed in range(N_HOUSES)]


# -------------------------------------------------------------------------- helpers (local)

def _dist_to_poly(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance from grid points to a convex polygon, 0 inside (written independently)."""
    d = np.full(px.shape, np.inf)
    inside = np.ones(px.shape, dtype=bool)
    n = len(poly)
    area2 = sum(poly[i, 0] * poly[(i + 1) % n, 1] - poly[(i + 1) % n, 0] * poly[i, 1]
                for i in range(n))
    sign = 1.0 if area2 > 0 else -1.0
    for i in range(n):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        t = np.clip(((px - ax) * ex + (py - ay) * ey) / max(ex * ex + ey * ey, 1e-18), 0, 1)
        d = np.minimum(d, np.hypot(px - ax - t * ex, py - ay - t * ey))
        inside &= sign * (ex * (py - ay) - ey * (px - ax)) >= 0
    return np.where(inside, 0.0, d)


def _free_raster(house: HouseSpec, inflation: float):
    """Cells (0.05 m) whose centre is farther than `inflation` from every obstacle footprint."""
    x0, y0, x1, y1 = house.bounds
    xs = np.arange(x0 + RES / 2, x1, RES)
    ys = np.arange(y0 + RES / 2, y1, RES)
    gx, gy = np.meshgrid(xs, ys)
    free = np.ones(gx.shape, dtype=bool)
    for obj in house.objects:
        for poly in obj.footprints(*AGENT_Z):
            lo, hi = poly.min(0) - inflation - RES, poly.max(0) + inflation + RES
            win = (gx >= lo[0]) & (gx <= hi[0]) & (gy >= lo[1]) & (gy <= hi[1])
            free[win] &= _dist_to_poly(gx[win], gy[win], poly) > inflation
    # nothing outside the outer walls' inner faces counts
    free &= (gx > x0) & (gx < x1) & (gy > y0) & (gy < y1)
    return free, gx, gy


def _part_prisms(obj: ObjectSpec):
    """Each part as (footprint polygon, z_lo, z_hi): exact for upright parts, a conservative
    superset for tilted ones -- so 'prisms disjoint' proves 'parts disjoint'."""
    out = []
    for q in obj.parts:
        single = ObjectSpec(1, obj.category, obj.kind, obj.position, obj.yaw, [q])
        lo, hi = single.world_aabb()
        out.append((single.footprints(-1e9, 1e9)[0], lo, hi))
    return out


def _sat_overlap_depth(a: np.ndarray, b: np.ndarray) -> float:
    """Penetration depth of two convex polygons along the best separating axis (<= 0: apart)."""
    depth = np.inf
    for poly in (a, b):
        e = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-e[:, 1], e[:, 0]], 1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        pa, pb = a @ normals.T, b @ normals.T
        overlap = np.minimum(pa.max(0), pb.max(0)) - np.maximum(pa.min(0), pb.min(0))
        depth = min(depth, float(overlap.min()))
    return depth


# -------------------------------------------------------------------------- tests

def test_same_seed_gives_identical_house_and_different_seeds_differ() -> None:
    a, b = generate_house(123), generate_house(123)
    assert a.to_dict() == b.to_dict()
    assert generate_house(124).to_dict() != a.to_dict()
    assert generate_house(0).to_dict() != generate_house(1).to_dict()


def test_json_round_trip_is_exact(houses: list[HouseSpec]) -> None:
    for h in houses[:5]:
        d = h.to_dict()
        back = HouseSpec.from_dict(json.loads(json.dumps(d)))
        assert back == h
        assert back.to_dict() == d
        for o, p in zip(h.objects, back.objects):
            np.testing.assert_array_equal(o.world_aabb()[0], p.world_aabb()[0])


def test_semantic_ids_follow_goal_order_then_furniture_and_structure() -> None:
    names = category_names()
    assert names[0] == "background"
    for i, c in enumerate(GOAL_CATEGORIES):
        assert semantic_id(c) == i + 1
    assert all(names[semantic_id(n)] == n for n in names)
    assert semantic_id("Wall") > semantic_id("Table") > semantic_id("Vase")
    with pytest.raises(ValueError, match="unknown category"):
        semantic_id("Refrigerator")


def test_houses_have_sane_structure(houses: list[HouseSpec]) -> None:
    room_counts = collections.Counter()
    for h in houses:
        room_counts[len(h.rooms)] += 1
        ids = [o.instance_id for o in h.objects]
        assert len(set(ids)) == len(ids) and min(ids) >= 1
        assert h.num_primitives() <= 120
        assert 1 <= len(h.rooms) <= 4 and len(h.doors) == len(h.rooms) - 1
        w, d = h.bounds[2] - h.bounds[0], h.bounds[3] - h.bounds[1]
        assert 5.0 <= w <= 12.2 and 5.0 <= d <= 12.2
        floors = [o for o in h.objects if o.category == "Floor"]
        assert len(floors) == 1 and floors[0].world_aabb()[1][2] == pytest.approx(0.0, abs=1e-9)
        for wall in (o for o in h.objects if o.category == "Wall"):
            lo, hi = wall.world_aabb()
            assert hi[2] == pytest.approx(2.5) and lo[2] == pytest.approx(0.0)
            assert min(hi[0] - lo[0], hi[1] - lo[1]) == pytest.approx(0.1)
        for door in h.doors:
            assert 0.9 <= door.width <= 1.1
            assert sorted(door.rooms) != [-1, -1] and -1 not in door.rooms
        for o in h.objects:
            semantic_id(o.category)       # every category is known
    assert len(room_counts) >= 3, room_counts          # one to several rooms occur


def test_free_space_is_one_region_and_every_goal_is_reachable(houses: list[HouseSpec]) -> None:
    for h in houses:
        free, gx, gy = _free_raster(h, RADIUS + MARGIN)
        lab, n = ndimage.label(free)                   # 4-connectivity
        sizes = np.bincount(lab.ravel())[1:]
        main = lab == int(np.argmax(sizes)) + 1
        # the generator promises one connected free region
        assert sizes.sum() == sizes.max(), (h.seed, sorted(sizes)[-3:])
        for room in h.rooms:
            x0, y0, x1, y1 = room.bounds
            inside = (gx > x0) & (gx < x1) & (gy > y0) & (gy < y1)
            assert (main & inside).sum() * RES * RES > 1.0, (h.seed, room)
        goals = [o for o in h.objects if o.kind == "object"]
        for o in goals:
            lo, hi = o.world_aabb()
            dx = np.maximum(np.maximum(lo[0] - gx, gx - hi[0]), 0)
            dy = np.maximum(np.maximum(lo[1] - gy, gy - hi[1]), 0)
            assert (main & (np.hypot(dx, dy) <= REACH)).any(), (h.seed, o.category)
        # the bare radius (no margin) must not open extra regions of any size either
        free18, _, _ = _free_raster(h, RADIUS)
        lab18, _ = ndimage.label(free18)
        sizes18 = np.bincount(lab18.ravel())[1:]
        assert sizes18.sum() - sizes18.max() <= 2, (h.seed, sorted(sizes18)[-3:])


def test_doorway_clearance_zones_are_empty(houses: list[HouseSpec]) -> None:
    for h in houses:
        zones = [d.clearance_zone(0.8, 0.1, side_margin=0.0) for d in h.doors]
        for o in h.objects:
            if o.kind == "structure":
                continue
            lo, hi = o.world_aabb()
            for z in zones:
                assert not (lo[0] < z[2] and z[0] < hi[0] and lo[1] < z[3] and z[1] < hi[1]), \
                    (h.seed, o.category)


def test_no_two_objects_intersect(houses: list[HouseSpec]) -> None:
    tol = 1e-4
    for h in houses:
        prisms = [(o.instance_id, p) for o in h.objects if o.category != "Floor"
                  for p in _part_prisms(o)]
        lo = np.array([p[1] for _, p in prisms])
        hi = np.array([p[2] for _, p in prisms])
        owner = np.array([i for i, _ in prisms])
        for a in range(len(prisms)):
            cand = np.nonzero((owner != owner[a]) & np.all(lo < hi[a] - tol, axis=1)
                              & np.all(hi > lo[a] + tol, axis=1))[0]
            for b in cand[cand > a]:
                depth = _sat_overlap_depth(prisms[a][1][0], prisms[b][1][0])
                assert depth <= tol, (h.seed, h.object_by_id(int(owner[a])).category,
                                      h.object_by_id(int(owner[b])).category, depth)


def test_objects_rest_on_the_floor_or_on_their_support(houses: list[HouseSpec]) -> None:
    for h in houses:
        for o in (o for o in h.objects if o.kind in ("object", "furniture")):
            lo, hi = o.world_aabb()
            if o.support == 0:
                assert lo[2] == pytest.approx(0.0, abs=2e-3), (h.seed, o.category)
            else:
                s = [s for s in h.surfaces if s.furniture_id == o.support
                     and s.rect[0] - 1e-6 <= lo[0] and hi[0] <= s.rect[2] + 1e-6
                     and s.rect[1] - 1e-6 <= lo[1] and hi[1] <= s.rect[3] + 1e-6
                     and abs(lo[2] - s.z) <= 2e-3]
                assert s, (h.seed, o.category)       # inside a surface rect, at its height
                assert hi[2] <= s[0].z + s[0].clearance


def test_goal_categories_are_varied_and_roughly_uniform(houses: list[HouseSpec]) -> None:
    counts = collections.Counter()
    duplicates = 0
    for h in houses:
        cats = h.goal_categories()
        assert 5 <= len(cats) <= 10, (h.seed, cats)
        counts.update(cats)
        duplicates += sum(len(h.goal_instances(c)) > 1 for c in cats)
    assert set(counts) == set(GOAL_CATEGORIES)
    expected = sum(counts.values()) / len(GOAL_CATEGORIES)
    assert min(counts.values()) >= 0.5 * expected, counts
    assert duplicates > 0


@pytest.mark.parametrize("category,low,high", [
    # (category, smallest and largest plausible extent (m) of the bounding box's longest side)
    ("AlarmClock", 0.08, 0.16), ("Apple", 0.06, 0.12), ("BaseballBat", 0.7, 1.07),
    ("BasketBall", 0.2, 0.29), ("Bowl", 0.12, 0.2), ("GarbageCan", 0.38, 0.55),
    ("HousePlant", 0.5, 0.9), ("Laptop", 0.28, 0.4), ("Mug", 0.08, 0.14),
    ("SprayBottle", 0.19, 0.27), ("Television", 0.75, 1.05), ("Vase", 0.22, 0.33),
])
def test_goal_objects_have_real_world_sizes_and_vary(category: str, low: float,
                                                     high: float) -> None:
    rng = np.random.default_rng(5)
    sizes, colours = [], set()
    for _ in range(20):
        parts = recipes.make_object(category, rng)
        lo, hi = ObjectSpec(1, category, "object", (0, 0, 0), 0.0, parts).world_aabb()
        sizes.append(float((hi - lo).max()))
        assert lo[2] == pytest.approx(0.0, abs=1e-3)          # rests on its plane
        colours.add(parts[0].rgba)
    assert low <= min(sizes) and max(sizes) <= high, (category, min(sizes), max(sizes))
    assert max(sizes) / min(sizes) > 1.1                       # scale jitter
    assert len(colours) > 5                                    # colour jitter


def test_footprints_cover_their_primitives() -> None:
    rng = np.random.default_rng(0)
    prims = [Primitive("box", (0.1, 0.2, 0.3), (0.3, 0.1, 0.2), (1, 0, 0, 1), (0.3, -0.2, 0.7)),
             Primitive("cylinder", (0.0, 0.0, 0.1), (0.2, 0.5), (1, 0, 0, 1), (0.0, 1.2, 0.4)),
             Primitive("cylinder", (0.0, 0.0, 0.1), (0.2, 0.5), (1, 0, 0, 1)),
             Primitive("sphere", (0.3, 0.0, 0.1), (0.25,), (1, 0, 0, 1))]
    for q in prims:
        obj = ObjectSpec(1, "Vase", "object", (1.0, -2.0, 0.0), 0.8, [q])
        (poly,) = obj.footprints(-10, 10)
        assert len(poly) >= (4 if q.kind == "box" else 16)
        rot, centre = obj.part_poses()[0]
        # random points inside the primitive, in its own frame, then to the world
        u = rng.uniform(-1, 1, size=(4000, 3))
        if q.kind == "box":
            local = u * np.array(q.size)
        elif q.kind == "cylinder":
            keep = np.hypot(u[:, 0], u[:, 1]) <= 1
            local = u[keep] * np.array([q.size[0], q.size[0], q.size[1]])
        else:
            local = u[np.linalg.norm(u, axis=1) <= 1] * q.size[0]
        world = local @ rot.T + centre
        assert (_dist_to_poly(world[:, 0], world[:, 1], poly) == 0).all(), q.kind
        lo, hi = obj.world_aabb()
        assert (world >= lo - 1e-9).all() and (world <= hi + 1e-9).all()
    # a part outside the height band has no footprint
    table = ObjectSpec(1, "Table", "furniture", (0, 0, 0), 0.0,
                       [Primitive("box", (0, 0, 1.5), (0.5, 0.5, 0.02), (1, 1, 1, 1))])
    assert table.footprints(0.03, 1.0) == []


def test_config_knobs_are_respected() -> None:
    small = HouseConfig(max_rooms=1, goal_categories=(3, 3), max_primitives=80)
    for seed in range(5):
        h = generate_house(seed, small)
        assert len(h.rooms) == 1 and not h.doors
        assert h.num_primitives() <= 80
        assert len(h.goal_categories()) == 3
