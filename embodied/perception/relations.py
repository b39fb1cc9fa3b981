"""CSR's perception in one import: the encoders (``csr_encoder``) and the online scene graph (``scene_graph``).

Continuous Scene Representations (Gadre et al., CVPR 2022): objects and ordered object pairs embedded by
two contrastively trained 5-channel ResNet-18s, tracked frame by frame in a graph per phase, and matched
between phases. The code lives in two modules (each documents what matches the release and what
deviates); this one re-exports their public API so callers need one name.
"""
from __future__ import annotations

from embodied.perception.csr_encoder import (
    CSREncoder, EncoderConfig, FrameEmbedding, ProjectionHead, ResNetBackbone, all_pairs, box_masks,
    embed_edges, embed_frame, embed_nodes, load_encoder, prepare_inputs, save_encoder,
)
from embodied.perception.scene_graph import (
    MATCH_THRESHOLD, OBJECT_MATCH_THRESHOLD, SceneGraph, average_features, box_position,
    hungarian_match, match_graphs,
)

__all__ = [
    "CSREncoder", "EncoderConfig", "FrameEmbedding", "ProjectionHead", "ResNetBackbone", "all_pairs",
    "box_masks", "embed_edges", "embed_frame", "embed_nodes", "load_encoder", "prepare_inputs",
    "save_encoder", "MATCH_THRESHOLD", "OBJECT_MATCH_THRESHOLD", "SceneGraph", "average_features",
    "box_position", "hungarian_match", "match_graphs",
]
