"""Trajectories for CSR training without the rearrangement env: rendered ObjectNav walks and synthetic frames.

Why this module: the CSR trainer (``embodied.training.csr``) reads trajectories in an env-independent
format, and the rearrangement env that will produce them is not there yet. Two stand-ins:

* ``render_trajectories``: random walks in the embedded ObjectNav houses (``ObjectNavEnv`` with
  ``privileged=True``), two walks ("phases") per house from the split's two episode starts. Boxes come
  from the ``instance`` segmentation (the tight rectangle around each instance's pixels, as the
  release derived its ground-truth boxes from THOR's instance masks), categories from the house's
  object list; floors and walls are not objects. Objects do not move between phases here, so the
  object model only learns viewpoint invariance from them, not invariance to being moved.
* ``synthetic_trajectories``: coloured, patterned shapes on textured backgrounds, placed anew each
  frame (so a box's place says nothing of its identity): seconds to make, for tests and smoke runs.

This module imports an env (it is a data tool, outside ``embodied.perception`` and
``embodied.agents``, which must not); the env import happens inside ``render_trajectories`` so the
synthetic generator stays light. Command line::

    python -m embodied.training.csr_data OUT_DIR --split train --houses 0:40 --steps 80 --size 112
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from embodied.training.csr import Frame, Trajectory, resize_trajectories, save_dataset

__all__ = ["boxes_from_instances", "frame_from_rearrange", "render_rearrange_trajectories", "render_trajectories", "synthetic_trajectories", "main"]

STRUCTURE = ("Floor", "Wall")


def boxes_from_instances(instance: np.ndarray, min_pixels: int = 1,
                         ignore: Sequence[int] = (0,)) -> dict[int, tuple[int, int, int, int]]:
    """Tight half-open box (x0, y0, x1, y1) of every instance id in an (H, W) id image.

    One pass over the image (``np.unique`` + per-id min/max via ``np.minimum.at``), not one mask per id.
    Ids in ``ignore`` (0 = nothing) and instances with fewer than ``min_pixels`` pixels are left out.
    """
    inst = np.asarray(instance)
    h, w = inst.shape
    ids, inverse, counts = np.unique(inst.ravel(), return_inverse=True, return_counts=True)
    rows = np.repeat(np.arange(h), w)
    cols = np.tile(np.arange(w), h)
    n = len(ids)
    x0, y0 = np.full(n, w), np.full(n, h)
    x1, y1 = np.full(n, -1), np.full(n, -1)
    np.minimum.at(x0, inverse, cols)
    np.minimum.at(y0, inverse, rows)
    np.maximum.at(x1, inverse, cols)
    np.maximum.at(y1, inverse, rows)
    skip = {int(i) for i in ignore}
    return {int(i): (int(x0[k]), int(y0[k]), int(x1[k]) + 1, int(y1[k]) + 1)
            for k, i in enumerate(ids) if int(i) not in skip and counts[k] >= min_pixels}


def render_trajectories(split: str = "train", houses: Sequence[int] = range(4), steps: int = 60,
                        size: int = 112, phases: int = 2, seed: int = 0, stride: int = 1,
                        min_pixels: int = 20, look_p: float = 0.05,
                        with_depth: bool = True) -> list[Trajectory]:
    """Random-walk trajectories in ObjectNav houses of ``split`` (house indices ``houses``).

    Per house, ``phases`` walks (at most 2: the split's two episode starts of that house), each of
    ``steps`` actions, a frame kept every ``stride`` steps. The walk moves ahead with probability
    0.7, else turns; when blocked it turns 1-5 times one way; with probability ``look_p`` it tilts
    the camera (so objects on tables are seen from above too). Poses are world (x, y, yaw, pitch).
    """
    from embodied.envs import objectnav_episodes as episodes_lib
    from embodied.envs.objectnav import LOOK_DOWN, LOOK_UP, MOVE_AHEAD, ROTATE_LEFT, ROTATE_RIGHT, ObjectNavEnv

    if not 1 <= phases <= episodes_lib.SPLITS[split].episodes_per_house:
        raise ValueError(f"phases={phases}: a house of split {split!r} has "
                         f"{episodes_lib.SPLITS[split].episodes_per_house} episode starts")
    env = ObjectNavEnv(privileged=True, width=size, height=size, max_steps=10 ** 9)
    rng = np.random.default_rng(seed)
    out: list[Trajectory] = []
    try:
        for h in houses:
            for phase in range(phases):
                episode = episodes_lib.split_episode(split, int(h) * episodes_lib.SPLITS[split].episodes_per_house + phase)
                obs, info = env.reset(seed=int(seed), options={"episode": episode})
                categories = {o.instance_id: o.category for o in env.house.objects
                              if o.category not in STRUCTURE}
                camera = {k: v for k, v in info["camera"].items()}
                frames: list[Frame] = []

                def record(o: dict[str, Any]) -> None:
                    boxes = boxes_from_instances(o["instance"], min_pixels)
                    dets = [(i, categories[i], b) for i, b in sorted(boxes.items()) if i in categories]
                    pose = (float(env.position[0]), float(env.position[1]), float(env.yaw), float(env.pitch))
                    frames.append(Frame.from_detections(o["rgb"], dets, o["depth"][..., 0] if with_depth else None, pose))

                record(obs)
                for t in range(1, steps + 1):
                    u = rng.random()
                    if u < look_p:
                        action = LOOK_DOWN if env.pitch >= 0 else LOOK_UP
                    elif u < 0.7:
                        action = MOVE_AHEAD
                    else:
                        action = ROTATE_LEFT if rng.random() < 0.5 else ROTATE_RIGHT
                    obs, _, _, _, step_info = env.step(int(action))
                    if action == MOVE_AHEAD and not step_info["last_action_success"]:
                        turn = ROTATE_LEFT if rng.random() < 0.5 else ROTATE_RIGHT
                        for _ in range(int(rng.integers(1, 6))):
                            obs, *_ = env.step(int(turn))
                    if t % stride == 0:
                        record(obs)
                out.append(Trajectory(frames, int(episode["house_seed"]),
                                      phase="walkthrough" if phase == 0 else f"phase{phase}",
                                      trajectory_id=f"{split}_h{int(h):04d}_p{phase}",
                                      camera=camera, meta={"source": "objectnav", "split": split,
                                                           "house_index": int(h), "episode_id": episode["episode_id"]}))
    finally:
        env.close()
    return out


def frame_from_rearrange(obs: dict[str, Any], category_names: Sequence[str],
                         pose: Sequence[float] | None = None, min_pixels: int = 1,
                         with_depth: bool = True) -> Frame:
    """A CSR frame from a privileged `embodied/Rearrange-PyBullet-v0` observation.

    Detections are the env's ground-truth ``boxes`` rows (instance id, category id, x0, y0, x1, y1,
    inclusive) turned half-open; rows with fewer than ``min_pixels`` instance pixels are dropped.
    """
    dets = []
    instance = obs["instance"]
    for row in np.asarray(obs["boxes"]):
        iid, cat, x0, y0, x1, y1 = (int(v) for v in row)
        if iid < 0:
            continue
        if min_pixels > 1 and int((instance[y0:y1 + 1, x0:x1 + 1] == iid).sum()) < min_pixels:
            continue
        dets.append((iid, category_names[cat], (x0, y0, x1 + 1, y1 + 1)))
    depth = obs["depth"][..., 0] if with_depth else None
    return Frame.from_detections(obs["rgb"], dets, depth, pose if pose is not None else obs["pose"])


def render_rearrange_trajectories(split: str = "train", episodes: Sequence[int] = range(4),
                                  steps: int = 60, size: int = 224, seed: int = 0, stride: int = 1,
                                  min_pixels: int = 20, look_p: float = 0.15, keep_size: int | None = None,
                                  with_depth: bool = True) -> list[Trajectory]:
    """Random walks through both phases of rearrangement episodes: the data CSR trains on.

    Per episode (indices into ``split``'s episode list) two trajectories from the same start pose:
    the walkthrough (the room in its goal state) and the unshuffle phase (1-5 objects moved or an
    openable part at another openness) -- so the object model's cross-trajectory positives include
    objects that were moved, as in the release's walkthrough/unshuffle pairs. Each walk has
    ``steps`` actions (move ahead with p 0.6, else a turn or, with ``look_p``, a camera tilt towards
    the tables); a refused move turns 1-3 times. Frames are rendered at ``size`` (the agent's
    224 px, so the downsampling matches what agents see) and stored at ``keep_size`` (default:
    unchanged). Poses are relative to the start (the observation's GPS+compass + pitch).
    """
    from embodied.envs import rearrange_episodes as episodes_lib
    from embodied.envs.rearrange import ACTIONS, RearrangeConfig, RearrangeEnv

    act = {name: i for i, name in enumerate(ACTIONS)}
    env = RearrangeEnv(RearrangeConfig(split=split, width=size, height=size,
                                       walkthrough_steps=steps + 10 ** 6, unshuffle_steps=steps + 10 ** 6),
                       privileged=True)
    rng = np.random.default_rng(seed)
    out: list[Trajectory] = []
    try:
        for index in episodes:
            episode = episodes_lib.split_episode(split, int(index))
            obs, info = env.reset(seed=int(seed), options={"episode": episode})
            names = [None] * (max(info["categories"].values()) + 1)
            for name, cid in info["categories"].items():
                names[cid] = name
            camera = dict(info["camera"])
            ids = {q.name: q.instance_id for q in env.room.pickupables}
            ids.update({o.name: o.instance_id for o in env.room.openables})
            changed = sorted(int(ids[c["name"]]) for c in episode["changes"])
            for phase in ("walkthrough", "unshuffle"):
                frames = [frame_from_rearrange(obs, names, min_pixels=min_pixels, with_depth=with_depth)]
                for t in range(1, steps + 1):
                    u = rng.random()
                    pitch = float(obs["pose"][3])
                    if u < look_p:
                        name = "look_down" if pitch > -0.9 and (pitch >= 0 or rng.random() < 0.5) else "look_up"
                    elif u < 0.6 + look_p:
                        name = "move_ahead"
                    else:
                        name = "rotate_left" if rng.random() < 0.5 else "rotate_right"
                    obs, _, _, _, step_info = env.step(act[name])
                    if name == "move_ahead" and not step_info["last_action_success"]:
                        turn = "rotate_left" if rng.random() < 0.5 else "rotate_right"
                        for _ in range(int(rng.integers(1, 4))):
                            obs, *_ = env.step(act[turn])
                    if t % stride == 0:
                        frames.append(frame_from_rearrange(obs, names, min_pixels=min_pixels,
                                                           with_depth=with_depth))
                traj = Trajectory(frames, int(episode["room_seed"]), phase=phase,
                                  trajectory_id=f"{split}_{episode['episode_id']}_{phase}", camera=camera,
                                  meta={"source": "rearrange", "split": split,
                                        "episode_id": episode["episode_id"],
                                        "changed_instances": changed})
                out.append(resize_trajectories([traj], keep_size)[0] if keep_size else traj)
                if phase == "walkthrough":
                    obs, *_ = env.step(act["done"])    # the env switches to the unshuffle phase
    finally:
        env.close()
    return out


# ------------------------------------------------------------------------------------ synthetic
_SHAPES = ("rect", "ellipse", "triangle", "diamond")


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour as RGB in [0, 1] (hue in turns)."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def _shape_mask(shape: str, hh: int, ww: int) -> np.ndarray:
    yy, xx = np.mgrid[0:hh, 0:ww]
    u = (xx + 0.5) / ww * 2 - 1
    v = (yy + 0.5) / hh * 2 - 1
    if shape == "rect":
        return np.ones((hh, ww), bool)
    if shape == "ellipse":
        return u ** 2 + v ** 2 <= 1.0
    if shape == "triangle":
        return np.abs(u) <= (v + 1) / 2
    return np.abs(u) + np.abs(v) <= 1.0


def synthetic_trajectories(n_houses: int = 4, phases: int = 2, frames: int = 8, size: int = 64,
                           objects: int = 6, per_frame: tuple[int, int] = (3, 5), seed: int = 0,
                           n_categories: int = 4, house_background: bool = True) -> list[Trajectory]:
    """Toy trajectories: each house has ``objects`` instances (category = shape; colour and stripe
    pattern per instance); a frame shows a random subset at random places and scales over a
    textured background (one colour per house, or per frame with ``house_background=False``, which
    removes the "same house" shortcut a positive pair otherwise offers). Identity is in the appearance only (mostly the hue of the instance's colour,
    then its shape and stripes), which is what retrieval must learn."""
    rng = np.random.default_rng(seed)
    out = []
    for house in range(n_houses):
        insts = []
        for i in range(objects):
            colour = _hsv(rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
            insts.append({
                "id": i + 1,
                "category": _SHAPES[int(rng.integers(min(n_categories, len(_SHAPES))))],
                "color": colour,
                "color2": colour * rng.uniform(0.4, 0.8),
                "period": int(rng.integers(1, 4)),
                "vertical": bool(rng.random() < 0.5),
            })
        bg = rng.uniform(0.2, 0.8, 3)
        for phase in range(phases):
            fs = []
            for _ in range(frames):
                yy, xx = np.mgrid[0:size, 0:size] / size
                if not house_background:  # a new background every frame: no "which house" cue
                    bg = rng.uniform(0.2, 0.8, 3)
                img = bg[None, None] * (0.8 + 0.2 * np.sin(6 * xx + rng.uniform(0, 6))[..., None]) \
                    + rng.normal(0, 0.03, (size, size, 3))
                k = int(rng.integers(per_frame[0], per_frame[1] + 1))
                chosen = rng.choice(objects, size=min(k, objects), replace=False)
                dets = []
                for idx in chosen:
                    o = insts[int(idx)]
                    s = rng.uniform(0.18, 0.4)
                    hh = max(4, int(s * size * rng.uniform(0.8, 1.2)))
                    ww = max(4, int(s * size * rng.uniform(0.8, 1.2)))
                    y0 = int(rng.integers(0, size - hh + 1))
                    x0 = int(rng.integers(0, size - ww + 1))
                    m = _shape_mask(o["category"], hh, ww)
                    extent = ww if o["vertical"] else hh
                    stripe = (np.arange(extent) * 2 * o["period"] // extent) % 2 == 0  # `period` bands
                    stripe = np.broadcast_to(stripe[None, :] if o["vertical"] else stripe[:, None], (hh, ww))
                    colour = np.where(stripe[..., None], o["color2"], o["color"]) * rng.uniform(0.85, 1.15)
                    patch = img[y0:y0 + hh, x0:x0 + ww]
                    patch[m] = colour[m]
                    dets.append((o["id"], o["category"], (x0, y0, x0 + ww, y0 + hh)))
                rgb = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
                fs.append(Frame.from_detections(rgb, dets))
            out.append(Trajectory(fs, house_seed=1000 + house, phase=f"phase{phase}",
                                  trajectory_id=f"synthetic_s{seed}_h{house}_p{phase}",
                                  meta={"source": "synthetic"}))
    return out


# ---------------------------------------------------------------------------------------- CLI
def _range(text: str) -> range:
    if ":" in text:
        a, b = text.split(":")
        return range(int(a), int(b))
    return range(int(text))


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Render ObjectNav walks (or synthetic frames with ``--synthetic``) into a dataset directory."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="output directory (one .npz per trajectory)")
    p.add_argument("--split", default="train")
    p.add_argument("--houses", default="0:8", help="house indices, 'a:b' or a count")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--phases", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-depth", action="store_true")
    p.add_argument("--synthetic", action="store_true")
    a = p.parse_args(argv)
    if a.synthetic:
        trajs = synthetic_trajectories(len(_range(a.houses)), a.phases, a.steps, a.size, seed=a.seed)
    else:
        trajs = render_trajectories(a.split, _range(a.houses), a.steps, a.size, a.phases, a.seed,
                                    a.stride, with_depth=not a.no_depth)
    paths = save_dataset(trajs, a.out)
    n_frames = sum(len(t.frames) for t in trajs)
    n_det = sum(len(f.boxes) for t in trajs for f in t.frames)
    print(f"wrote {len(paths)} trajectories, {n_frames} frames, {n_det} detections to {a.out}")
    return paths


if __name__ == "__main__":  # pragma: no cover
    main()
