"""Point-cloud operations for interactive perception: normals, clusters, visibility, free space,
ICP. Pure numpy/scipy on (N, 3) world-frame arrays; they know nothing of envs or agents.

Why a module of its own: SfA's agent (``embodied.agents.sfa``) chains these into its
segment-and-fit loop, and each is a geometric fact worth testing on its own (a normal faces the
camera, a point in front of the surface a pixel saw lies in free space, ICP ignores surfaces
that turned away from every camera).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from embodied.perception.articulation import rigid_transform, transform_points

#: a surface point is seen when the cosine between its normal and the view ray exceeds this.
VISIBLE_COS = 0.1

__all__ = ["normals_and_offsets", "dominant_normal", "clusters", "facing_cameras", "in_free_space",
           "voxel_downsample", "one_sidedness", "icp"]


def normals_and_offsets(points: np.ndarray, cameras: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per point: unit normal towards the nearest camera, and its offset in front of the local plane.

    The plane is the PCA plane of the k nearest neighbours; the offset is ``(p - centroid) . n``,
    positive for points standing out towards the camera (handles, knobs).
    """
    k = min(k, len(points))
    _, idx = cKDTree(points).query(points, k=k)
    nb = points[idx]                                     # (N, k, 3)
    centroid = nb.mean(axis=1)
    centred = nb - centroid[:, None, :]
    cov = np.einsum("nki,nkj->nij", centred, centred)
    _, vecs = np.linalg.eigh(cov)
    normals = vecs[:, :, 0]
    cam = cameras[np.argmin(np.linalg.norm(points[:, None, :] - cameras[None], axis=2), axis=1)]
    flip = np.einsum("ni,ni->n", normals, cam - points) < 0
    normals[flip] *= -1
    offsets = np.einsum("ni,ni->n", points - centroid, normals)
    return normals, offsets


def face_offsets(points: np.ndarray, normals: np.ndarray, voxel: float = 0.01,
                 k: int = 200, min_flatness: float = 0.9) -> np.ndarray:
    """Per point: how far it stands in front of the face around it (m, towards the camera).

    ``normals``: per-point unit normals oriented to the cameras (``normals_and_offsets``). The
    face around a point is taken over its ``k`` nearest cells of a ``voxel`` grid (about 8 cm
    at 1 cm): its normal is their mean normal, its plane the median of their positions along it.
    Why, beside ``normals_and_offsets``' offsets: a handle fixed flush to its door (no gap
    behind it) fills its own small neighbourhood, whose plane then passes through the handle,
    so a handle 2.5 cm proud can show offsets of 3 mm. A handle's front is parallel to its door
    and covers a minority of the wider neighbourhood, so the median lies on the door. Points
    whose neighbours' normals disagree (mean normal shorter than ``min_flatness``: an edge or
    corner of the object) get 0.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(points) < 3:
        return np.zeros(len(points))
    keys = np.floor(points / voxel).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    sample, sample_normals = points[first], np.asarray(normals, dtype=float)[first]
    _, idx = cKDTree(sample).query(sample, k=min(k, len(sample)))
    idx = idx.reshape(len(sample), -1)
    face_normal = sample_normals[idx].mean(axis=1)
    length = np.linalg.norm(face_normal, axis=1, keepdims=True)
    face_normal = np.where(length > 1e-9, face_normal / np.maximum(length, 1e-12), sample_normals)
    level = np.median(np.einsum("nki,ni->nk", sample[idx], face_normal), axis=1)
    cell = inverse.reshape(-1)
    out = np.einsum("ni,ni->n", points, face_normal[cell]) - level[cell]
    # where the neighbourhood holds two faces (an edge or corner of the object: normals that
    # disagree), the median plane cuts the corner and the edge stands "proud": not a face
    out[length[cell, 0] < min_flatness] = 0.0
    return out


def dominant_normal(points: np.ndarray, tolerance: float = 0.01) -> np.ndarray | None:
    """Unit normal of the plane holding most of ``points`` (a part's front), or None.

    RANSAC-free on purpose: the plane is the PCA plane of the points, refit once to those within
    ``tolerance`` of it (a handle or a drawer's side walls do not tilt the front's plane).
    """
    if len(points) < 10:
        return None
    pts = points
    for _ in range(2):
        centre = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
        normal = vt[2]
        near = np.abs((points - centre) @ normal) < tolerance
        if near.sum() < 10:
            return None
        pts = points[near]
    return normal / np.linalg.norm(normal)


def clusters(points: np.ndarray, radius: float) -> np.ndarray:
    """Connected-component labels of points linked when closer than ``radius``."""
    if len(points) == 0:
        return np.zeros(0, dtype=int)
    graph = cKDTree(points).sparse_distance_matrix(cKDTree(points), radius, output_type="coo_matrix")
    _, labels = connected_components(graph, directed=False)
    return labels


def in_free_space(points: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray,
                  extrinsics: np.ndarray, margin: float) -> np.ndarray:
    """Whether each world point lies where some camera saw empty space (nearer than the surface
    its pixel saw, by more than ``margin``). Pixels that saw nothing hold the far depth.

    Why: only something that moved can appear where the cameras saw through before, so the
    points of an interaction's "after" cloud in the "before" free space belong to the moved part
    (a drawer's sides and floor once it slides out), while what the motion uncovered behind the
    part (the cabinet's inside) lies behind the old surface and is not taken.
    """
    free = np.zeros(len(points), dtype=bool)
    for z_img, K, E in zip(depth, intrinsics, extrinsics):
        E = np.asarray(E, dtype=float)
        cam = (points - E[:3, 3]) @ E[:3, :3]
        z = cam[:, 2]
        ok = z > 1e-6
        u = np.full(len(points), -1, dtype=np.int64)
        v = np.full(len(points), -1, dtype=np.int64)
        u[ok] = np.rint(K[0, 0] * cam[ok, 0] / z[ok] + K[0, 2]).astype(np.int64)
        v[ok] = np.rint(K[1, 1] * cam[ok, 1] / z[ok] + K[1, 2]).astype(np.int64)
        h, w = z_img.shape[:2]
        ok &= (u >= 0) & (u < w) & (v >= 0) & (v < h)
        idx = np.flatnonzero(ok)
        free[idx] |= z[idx] < np.asarray(z_img, dtype=float).reshape(h, w)[v[idx], u[idx]] - margin
    return free


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """One point (the first) per occupied voxel: bounded size, same coverage."""
    if len(points) == 0:
        return points
    _, first = np.unique(np.floor(points / voxel).astype(np.int64), axis=0, return_index=True)
    return points[np.sort(first)]


def one_sidedness(points: np.ndarray, surface: np.ndarray, radius: float,
                  tree: cKDTree | None = None) -> np.ndarray:
    """Per point: how much the surface points within ``radius`` lie to one side of it, seen
    across the surface (0: all around, as round a handle on a door; 1: all on one side, as at
    a corner of the outline). Why: a cabinet top's overhanging corner stands proud of its
    neighbours just like a handle, but a handle sits inside its face. Points with no surface
    point near score 1. ``tree``: a cKDTree of ``surface`` the caller already has."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    surface = np.asarray(surface, dtype=float).reshape(-1, 3)
    out = np.ones(len(points))
    if len(surface) < 3:
        return out
    tree = cKDTree(surface) if tree is None else tree
    for i, (p, near) in enumerate(zip(points, tree.query_ball_point(points, radius))):
        if len(near) < 3:
            continue
        nb = surface[near]
        centred = nb - nb.mean(axis=0)
        normal = np.linalg.svd(centred, full_matrices=False)[2][-1]     # the neighbours' plane
        v = nb - p
        v -= np.outer(v @ normal, normal)
        length = np.linalg.norm(v, axis=1)
        v = v[length > 1e-9] / length[length > 1e-9, None]
        if len(v):
            out[i] = float(np.linalg.norm(v.mean(axis=0)))
    return out


def facing_cameras(points: np.ndarray, normals: np.ndarray, cameras: np.ndarray,
                   min_cos: float = VISIBLE_COS) -> np.ndarray:
    """Whether each oriented surface point faces at least one camera (not edge-on or turned away)."""
    view = cameras[None, :, :] - points[:, None, :]                  # (N, K, 3)
    view /= np.linalg.norm(view, axis=2, keepdims=True)
    return np.any(np.einsum("nki,ni->nk", view, normals) > min_cos, axis=1)


def icp(src: np.ndarray, dst: np.ndarray, init_t: np.ndarray, iterations: int,
        final_radius: float, R0: np.ndarray | None = None, src_normals: np.ndarray | None = None,
        cameras: np.ndarray | None = None, start_radius: float | None = None
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Point-to-point ICP src -> dst from (R0 or I, init_t); the inlier radius shrinks to ``final_radius``
    from ``start_radius`` (default: 8 cm from a bare translation, 4 x final from a given R0).

    Returns (R, t, matched dst point per src point, visible mask). Why shrink: the first
    iterations must reach across the commanded displacement's error, the last must ignore newly
    revealed surfaces. Why ``visible``: with ``src_normals`` and ``cameras``, a source point whose
    moved surface turns away from every camera cannot be in ``dst``; matching it anyway pulls
    it onto the nearest surface that is seen (a lid lifted past the camera's elevation shows
    its underside 1 cm below its top, and the fit then tilts and shifts the hinge to match).
    """
    tree = cKDTree(dst)
    R = np.eye(3) if R0 is None else np.asarray(R0, dtype=float)
    t = np.asarray(init_t, dtype=float)
    if start_radius is None:
        start_radius = 0.08 if R0 is None else 4 * final_radius
    radii = np.geomspace(start_radius, final_radius, max(2, iterations))
    visible = np.ones(len(src), dtype=bool)
    for radius in radii:
        moved = transform_points(R, t, src)
        if src_normals is not None and cameras is not None:
            visible = facing_cameras(moved, src_normals @ R.T, cameras)
        d, nn = tree.query(moved)
        keep = (d < radius) & visible
        if keep.sum() < 6:
            break
        R, t = rigid_transform(src[keep], dst[nn[keep]])
    moved = transform_points(R, t, src)
    if src_normals is not None and cameras is not None:
        visible = facing_cameras(moved, src_normals @ R.T, cameras)
    _, nn = tree.query(moved)
    return R, t, dst[nn], visible
