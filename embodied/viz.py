"""Pictures of runs: top-down maps, episode videos and summary plots.

Frames are drawn with plain numpy (no matplotlib per frame) so that `run.save_video=true` costs
little next to rendering; matplotlib is used once per run, for the summary plot.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

FREE = np.array([235, 235, 235], np.uint8)
BLOCKED = np.array([70, 70, 80], np.uint8)
MARGIN = np.array([170, 170, 178], np.uint8)  # free of geometry, but too close for the agent
GOAL = np.array([220, 40, 40], np.uint8)
PATH = np.array([40, 110, 230], np.uint8)
AGENT = np.array([20, 160, 60], np.uint8)


def _to_pixels(xy: np.ndarray, origin: Sequence[float], resolution: float, height: int) -> np.ndarray:
    """World (x, y) -> image (row, col) with +y pointing up in the picture."""
    col = (xy[..., 0] - origin[0]) / resolution
    row = height - 1 - (xy[..., 1] - origin[1]) / resolution
    return np.stack([row, col], axis=-1)


def draw_polyline(img: np.ndarray, pts_rc: np.ndarray, color: np.ndarray, width: int = 1) -> None:
    """Draw connected segments by dense sampling: simple, vectorized, good enough for maps."""
    if len(pts_rc) == 0:
        return
    if len(pts_rc) == 1:
        draw_disc(img, pts_rc[0], width, color)
        return
    seg = np.diff(pts_rc, axis=0)
    n = np.maximum(np.ceil(np.abs(seg).max(axis=1) * 2), 1).astype(int)
    samples = np.concatenate([pts_rc[k] + np.linspace(0, 1, n[k] + 1)[:, None] * seg[k]
                              for k in range(len(seg))])
    for dr in range(-(width // 2), width // 2 + 1):
        for dc in range(-(width // 2), width // 2 + 1):
            r = np.clip(np.round(samples[:, 0]).astype(int) + dr, 0, img.shape[0] - 1)
            c = np.clip(np.round(samples[:, 1]).astype(int) + dc, 0, img.shape[1] - 1)
            img[r, c] = color


def draw_disc(img: np.ndarray, centre_rc: np.ndarray, radius: float, color: np.ndarray) -> None:
    r0, c0 = centre_rc
    rr, cc = np.ogrid[: img.shape[0], : img.shape[1]]
    img[(rr - r0) ** 2 + (cc - c0) ** 2 <= radius ** 2] = color


def topdown_map(grid: Any, trajectory: Iterable[np.ndarray], pose: tuple[float, float, float],
                goal_boxes: Sequence[tuple[np.ndarray, np.ndarray, int]], size: int) -> np.ndarray:
    """The house's navigability grid with goal boxes, the path so far and the agent, `size` px tall."""
    free = grid.free[::-1]  # row 0 is the lowest y in the grid; images put it at the bottom
    h, w = free.shape
    scale = size / h
    rows = np.minimum((np.arange(size) / scale).astype(int), h - 1)
    width_px = max(1, int(round(w * scale)))
    cols = np.minimum((np.arange(width_px) / scale).astype(int), w - 1)
    img = np.where(free[rows][:, cols, None], FREE, BLOCKED).astype(np.uint8)
    occupied = getattr(grid, "occupied", None)
    if occupied is not None:
        margin = ~occupied[::-1][rows][:, cols] & ~free[rows][:, cols]
        img[margin] = MARGIN
    res = grid.resolution / scale
    for lo, hi, _ in goal_boxes:
        a = _to_pixels(np.asarray(lo), grid.origin, res, size)
        b = _to_pixels(np.asarray(hi), grid.origin, res, size)
        r0, r1 = sorted((int(a[0]), int(b[0])))
        c0, c1 = sorted((int(a[1]), int(b[1])))
        img[max(r0 - 1, 0): r1 + 2, max(c0 - 1, 0): c1 + 2] = GOAL
    path = np.array(list(trajectory), dtype=float).reshape(-1, 2)
    draw_polyline(img, _to_pixels(path, grid.origin, res, size), PATH, width=2)
    x, y, yaw = pose
    here = _to_pixels(np.array([x, y]), grid.origin, res, size)
    ahead = _to_pixels(np.array([x + 0.4 * math.cos(yaw), y + 0.4 * math.sin(yaw)]), grid.origin, res, size)
    draw_disc(img, here, max(2.0, 0.18 / res), AGENT)
    draw_polyline(img, np.stack([here, ahead]), AGENT, width=2)
    return img


def side_by_side(*images: np.ndarray) -> np.ndarray:
    """Concatenate frames horizontally, padding heights (even sizes, as video encoders need)."""
    h = max(im.shape[0] for im in images)
    padded = [np.pad(im, ((0, h - im.shape[0]), (0, 0), (0, 0))) for im in images]
    out = np.concatenate(padded, axis=1)
    return np.pad(out, ((0, out.shape[0] % 2), (0, out.shape[1] % 2), (0, 0)))


def objectnav_frame(rgb: np.ndarray, grid: Any, trajectory: Iterable[np.ndarray],
                    pose: tuple[float, float, float],
                    goal_boxes: Sequence[tuple[np.ndarray, np.ndarray, int]], category: str) -> np.ndarray:
    """One video frame: what the agent sees beside where it is, where it went and the goal."""
    return side_by_side(rgb, topdown_map(grid, trajectory, pose, goal_boxes, rgb.shape[0]))


def write_episode_video(frames: Sequence[np.ndarray], path: str | Path, fps: int = 4) -> Path:
    """Write an mp4 (H.264 through imageio-ffmpeg's bundled binary: no system ffmpeg needed)."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Frames of one episode may differ in size (an agent's own map appears after its first
    # step, and grows): pad all to the largest, even-sized, as the encoder needs one size.
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    h, w = h + h % 2, w + w % 2
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=7, macro_block_size=1) as writer:
        for frame in frames:
            pad = ((0, h - frame.shape[0]), (0, w - frame.shape[1]), (0, 0))
            writer.append_data(np.ascontiguousarray(np.pad(frame, pad)))
    return path


#: what a rearrangement run's picture shows (the challenge's leaderboard columns)
REARRANGEMENT_HEADLINE = ("success", "fixed_strict", "misplaced", "energy_remaining")


def plot_summary(summary: dict[str, Any], out_dir: str | Path,
                 metrics: Sequence[str] | None = None) -> Path | None:
    """Bar chart of the headline metrics (Success/SPL, SfA's joint-type accuracy/part IoU, or the
    rearrangement challenge's Success/% Fixed Strict/% Misplaced/Energy Remaining) per category
    and overall: the run's picture at a glance. Runs without categories get the overall bars."""
    from embodied.results import headline_metrics

    per_cat = summary.get("per_category") or {}
    overall = summary.get("metrics", {})
    if metrics is None:
        metrics = ([m for m in REARRANGEMENT_HEADLINE if m in overall] if "fixed_strict" in overall
                   else headline_metrics(overall))
    metrics = list(metrics)
    if not metrics or not (per_cat or overall):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(per_cat) + ["all"]
    rows = [per_cat[n] for n in sorted(per_cat)] + [summary.get("metrics", {})]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names)), 3.6))
    width = 0.8 / len(metrics)
    top = 1.0
    for k, m in enumerate(metrics):
        vals = [float(r.get(m) or 0.0) for r in rows]
        top = max(top, *vals)
        ax.bar(x + (k - (len(metrics) - 1) / 2) * width, vals, width, label=m)
    ax.set_xticks(x, names, rotation=40, ha="right")
    ax.set_ylim(0, 1.05 * top)            # rates end at 1; an error in degrees may not
    ax.set_title(f"{summary.get('episodes', '?')} episodes, {summary.get('failed', 0)} failed")
    ax.legend()
    fig.tight_layout()
    path = Path(out_dir) / "summary.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


UNKNOWN_RGB = np.array([55, 55, 62], np.uint8)
OCCUPIED_RGB = np.array([10, 10, 10], np.uint8)
FRONTIER_RGB = np.array([240, 200, 30], np.uint8)


def relevance_overlay(rgb: np.ndarray, relevance: np.ndarray | None, alpha: float = 0.55) -> np.ndarray:
    """The localizer's relevance as a red heat overlay on the frame it was computed from."""
    if relevance is None:
        return rgb
    heat = np.zeros_like(rgb)
    heat[..., 0] = np.clip(relevance * 255, 0, 255).astype(np.uint8)
    a = (alpha * np.clip(relevance, 0, 1))[..., None]
    return (rgb * (1 - a) + heat * a).astype(np.uint8)


def agent_map(agent: Any, size: int) -> np.ndarray:
    """A CoW agent's own map, cropped to what it knows: free/occupied/unknown, frontiers, the
    planned path, target cells and the agent, `size` px tall."""
    from embodied.perception.frontier import frontier_mask
    from embodied.perception.mapping import FREE as FREE_CELL, OCCUPIED as OCCUPIED_CELL

    m = agent.map
    state = m.state
    i0, i1, j0, j1 = m.bbox(margin=4)
    if i1 <= i0 or j1 <= j0:
        i0, i1, j0, j1 = 0, state.shape[0], 0, state.shape[1]
    # A square window around what is known, so the picture keeps one shape as the map grows.
    side = max(i1 - i0, j1 - j0, 16)
    ci, cj = (i0 + i1) // 2, (j0 + j1) // 2
    i0 = min(max(0, ci - side // 2), max(0, state.shape[0] - side))
    j0 = min(max(0, cj - side // 2), max(0, state.shape[1] - side))
    i1, j1 = min(state.shape[0], i0 + side), min(state.shape[1], j0 + side)
    img = np.empty(state.shape + (3,), np.uint8)
    img[:] = UNKNOWN_RGB
    img[state == FREE_CELL] = FREE
    img[(state == FREE_CELL) & ~m.traversable] = MARGIN
    img[state == OCCUPIED_CELL] = OCCUPIED_RGB
    img[frontier_mask(state)] = FRONTIER_RGB
    img[agent.score >= max(agent.config.localizer.threshold, 1e-6)] = GOAL
    crop = img[i0:i1, j0:j1][::-1]
    scale = size / max(crop.shape[0], 1)
    rows = np.minimum((np.arange(size) / scale).astype(int), crop.shape[0] - 1)
    width = max(1, int(round(crop.shape[1] * scale)))
    cols = np.minimum((np.arange(width) / scale).astype(int), crop.shape[1] - 1)
    out = crop[rows][:, cols].copy()
    origin = (m.origin[0] + j0 * m.resolution, m.origin[1] + i0 * m.resolution)
    res = m.resolution / scale
    if agent.path is not None and len(agent.path):
        draw_polyline(out, _to_pixels(np.asarray(agent.path), origin, res, size), PATH, width=2)
    x, y, yaw = agent.pose[:3]
    here = _to_pixels(np.array([x, y]), origin, res, size)
    ahead = _to_pixels(np.array([x + 0.4 * math.cos(yaw), y + 0.4 * math.sin(yaw)]), origin, res, size)
    draw_disc(out, here, max(2.0, 0.18 / res), AGENT)
    draw_polyline(out, np.stack([here, ahead]), AGENT, width=2)
    return out


def cow_frame(agent: Any) -> np.ndarray | None:
    """What CoW thinks: the relevance overlay on its last frame beside its own map."""
    if agent.rgb is None:
        return None
    rgb = relevance_overlay(agent.rgb, agent.relevance)
    return side_by_side(rgb, agent_map(agent, rgb.shape[0]))
