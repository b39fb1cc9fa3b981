"""CSR's contrastive encoders: a 5-channel ResNet-18 that embeds an object or an ordered object pair.

Continuous Scene Representations (Gadre, Ehsani, Song, Mottaghi, CVPR 2022) describe a scene as a
graph whose nodes are objects and whose edges are ordered object pairs; both carry a 512-d feature
from the same kind of network. The network sees the RGB frame plus two box masks (filled
rectangles, 1 inside, 0 outside): a node (object) is its box given twice, an edge (i, j) the box
of i then the box of j. Two models are trained (``embodied.training.csr``):

* the **scene** model (nodes and edges; MoCo positives are the same object / ordered pair seen at two
  timesteps of one trajectory), used to track objects and relations within a phase;
* the **object** model (nodes only; positives are the same object in two trajectories/phases),
  used to match objects between the walkthrough and the unshuffle phase.

What matches the release (allenai/CSR: ``src/models/backbones.py``, ``src/models/imagenet_resnet.py``,
``src/lightning/modules/moco2_module.py``, ``src/dataloaders/augmentations.py``):

* torchvision's ResNet-18 from scratch (no pretrained weights), ``conv1`` taking 5 channels, the
  classifier ``fc`` replaced by a linear layer to 512 (``num_classes = emb_dim``), then the
  projection ``FeedForward([512, 256, 512])`` = Linear 512->256, BatchNorm1d, ReLU, Linear 256->512,
  then L2 normalisation (the release normalises right after the encoder, in MoCo and at inference);
* RGB scaled to [0, 1] and normalised with the ImageNet mean/std; mask channels stay 0/1;
* boxes are half-open pixel ranges: the mask of (x0, y0, x1, y1) is ``m[y0:y1, x0:x1] = 1``, as the
  release's ``get_box`` fills them.

What deviates, and why:

* ``input_size`` is a parameter (the release renders and encodes at 224 x 224). Training on this
  project's CPUs needs 64-112 px; frames of another size are resized (bilinear, antialiased) and
  their boxes scaled to the input grid, so a mask never comes from resampling a mask.
* ``crop_context`` > 0 (the shipped models: 2.0 at 64 px from a 96 px frame): the network sees a
  square window around the box(es), ``crop_context`` times their union's larger side and at least
  ``crop_min`` px, instead of the whole frame. Measured on the rearrangement val rooms: at 96 px a
  whole-frame ResNet-18 gave *identical* features (cosine 1.000) for different boxes of one frame,
  trained or not -- a 5-pixel mask is lost in global pooling -- so retrieval was at chance; with
  crops an untrained encoder already retrieves 71 % of nodes across timesteps. The masks keep
  their meaning (the boxes, in window coordinates); ``crop_context = 0`` is the release's input.
* ``width`` (channels of the first stage, 64 in ResNet-18, as the release's ``channel_width``) can be
  lowered for tiny test models; at 64 the network is exactly torchvision's ``resnet18`` layout.
* Checkpoints hold only the query encoder, in fp16 (the release shipped Lightning checkpoints with
  both encoders, the queues and the optimiser state): a width-64 encoder is ~22.9 MB on disk.

Nothing here imports an environment: detections are plain arrays, so agents can use it.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

__all__ = [
    "EncoderConfig", "ResNetBackbone", "ProjectionHead", "CSREncoder",
    "IMAGENET_MEAN", "IMAGENET_STD", "RELEASE_INPUT_SIZE", "CHECKPOINT_FORMAT",
    "as_boxes", "scale_boxes", "box_masks", "box_area_fraction", "prepare_inputs", "inputs_for",
    "crop_windows", "assemble_inputs",
    "normalize_rgb", "resize_images", "encode_inputs", "all_pairs", "embed_nodes", "embed_edges", "embed_frame", "FrameEmbedding",
    "save_encoder", "load_encoder", "parameter_count", "clip_boxes",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RELEASE_INPUT_SIZE = 224
CHECKPOINT_FORMAT = "embodied.csr_encoder/1"
KINDS = ("scene", "object")


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of one CSR encoder; stored in its checkpoint so loading needs nothing else.

    ``kind`` is informative ("scene" or "object": which positives it was trained on); the two
    models have the same architecture.
    """

    input_size: int = RELEASE_INPUT_SIZE
    width: int = 64
    emb_dim: int = 512
    in_channels: int = 5
    kind: str = "scene"
    #: 0: the network sees the whole frame (the release). > 0: a square window around the box(es),
    #: ``crop_context`` times the larger side of their union (at least ``crop_min`` px of the
    #: ``frame_size`` grid), resized to ``input_size`` (see ``assemble_inputs``)
    crop_context: float = 0.0
    crop_min: int = 24
    #: frames are resized to frame_size x frame_size before cropping (0: input_size)
    frame_size: int = 0

    def __post_init__(self) -> None:
        if self.crop_context < 0 or self.crop_min < 1 or self.frame_size < 0:
            raise ValueError(f"bad crop settings in {self}")
        if self.input_size < 16:
            raise ValueError(f"input_size={self.input_size}: expected >= 16 px (ResNet downsamples 32x)")
        if self.width < 1 or self.emb_dim < 2 or self.in_channels < 1:
            raise ValueError(f"bad encoder config {self}")
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}: expected one of {KINDS}")


class ResNetBackbone(torchvision.models.ResNet):
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) with a chosen input channel count, stage
    width and output size.

    Why a subclass and not ``torchvision.models.resnet18``: that constructor fixes the width at 64
    and the input at 3 channels. Here the layers are built by torchvision's own ``_make_layer`` and
    initialised as torchvision does, so at width 64 the module tree and parameter shapes are those of
    ``resnet18(num_classes=out_dim)`` with a 5-channel ``conv1`` (checked in tests/test_csr.py).
    """

    def __init__(self, in_channels: int = 5, width: int = 64, out_dim: int = 512) -> None:
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # BasicBlock's "width per group": must stay 64, unrelated to `width`
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * BasicBlock.expansion, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


class ProjectionHead(nn.Sequential):
    """MoCo-v2's MLP head as the release builds it: Linear d->d/2, BatchNorm1d, ReLU, Linear d/2->d."""

    def __init__(self, dim: int = 512) -> None:
        hidden = dim // 2
        super().__init__(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, dim))


class CSREncoder(nn.Module):
    """Backbone + projection head; ``forward`` returns unit-norm embeddings (B, emb_dim).

    Input: (B, 5, S, S) float, channels = normalised RGB, mask of the first box, mask of the
    second box (``prepare_inputs`` builds it from a frame and boxes).
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        c = self.config
        self.backbone = ResNetBackbone(c.in_channels, c.width, c.emb_dim)
        self.head = ProjectionHead(c.emb_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalised projection output (what MoCo's loss normalises)."""
        return self.head(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(x), dim=1)


# ---------------------------------------------------------------------------------- inputs
def as_boxes(boxes: Any) -> np.ndarray:
    """(N, 4) int64 array of (x0, y0, x1, y1) from any sequence of 4-tuples (empty -> (0, 4))."""
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(arr)):
        raise ValueError("boxes must be finite")
    return np.rint(arr).astype(np.int64)


def box_area_fraction(boxes: Any, height: int, width: int) -> np.ndarray:
    """Area of each (clipped) box over the image area: the release drops boxes under 0.008."""
    b = clip_boxes(as_boxes(boxes), height, width)
    return ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) / float(height * width)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes clipped to the image; an empty box stays empty (x1 <= x0 or y1 <= y0)."""
    b = as_boxes(boxes).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    b[:, 2] = np.maximum(b[:, 2], b[:, 0])
    b[:, 3] = np.maximum(b[:, 3], b[:, 1])
    return b


def scale_boxes(boxes: Any, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """Boxes of an (H, W) frame moved to the grid of its resized (H', W') copy.

    Edges are scaled and rounded; a non-empty box keeps at least one pixel (a small but detected
    object must not vanish from its mask). Identity when the sizes agree, so masks at the native
    resolution are exactly the boxes.
    """
    b = clip_boxes(boxes, *src_hw)
    if tuple(src_hw) == tuple(dst_hw):
        return b
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    out = np.empty_like(b)
    out[:, 0] = np.floor(b[:, 0] * sx + 0.5)
    out[:, 2] = np.floor(b[:, 2] * sx + 0.5)
    out[:, 1] = np.floor(b[:, 1] * sy + 0.5)
    out[:, 3] = np.floor(b[:, 3] * sy + 0.5)
    nonempty = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    for lo, hi, limit in ((0, 2, dst_hw[1]), (1, 3, dst_hw[0])):
        grow = nonempty & (out[:, hi] <= out[:, lo])
        out[grow, hi] = np.minimum(out[grow, lo] + 1, limit)
        out[grow, lo] = out[grow, hi] - 1
    return clip_boxes(out, *dst_hw)


def box_masks(boxes: Any, height: int, width: int) -> torch.Tensor:
    """(N, H, W) float32 masks, 1 on ``[y0:y1, x0:x1]`` of each box (vectorised, no Python loop per pixel)."""
    b = torch.as_tensor(clip_boxes(boxes, height, width))
    ys = torch.arange(height).view(1, height, 1)
    xs = torch.arange(width).view(1, 1, width)
    inside_y = (ys >= b[:, 1].view(-1, 1, 1)) & (ys < b[:, 3].view(-1, 1, 1))
    inside_x = (xs >= b[:, 0].view(-1, 1, 1)) & (xs < b[:, 2].view(-1, 1, 1))
    return (inside_y & inside_x).to(torch.float32)


def normalize_rgb(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> ImageNet-normalised, as the release's ``Normalize`` transform."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def _to_chw_float(rgb: Any) -> torch.Tensor:
    """(H, W, 3) or (B, H, W, 3) uint8 array/tensor, or (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float."""
    t = torch.as_tensor(np.ascontiguousarray(rgb) if isinstance(rgb, np.ndarray) else rgb)
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4:
        raise ValueError(f"rgb must be (H, W, 3), (B, H, W, 3) or (B, 3, H, W), got {tuple(t.shape)}")
    if t.shape[-1] == 3 and t.shape[1] != 3:
        t = t.permute(0, 3, 1, 2)
    if t.dtype == torch.uint8:
        return t.to(torch.float32) / 255.0
    return t.to(torch.float32)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size): bilinear with antialiasing (no-op at the same size)."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True).clamp_(0.0, 1.0)


def prepare_inputs(rgb: Any, first: Any, second: Any, size: int,
                   frame_index: Sequence[int] | None = None, crop_context: float = 0.0,
                   crop_min: int = 24, frame_size: int = 0) -> torch.Tensor:
    """The encoder's (N, 5, size, size) input for N box pairs.

    ``rgb``: one frame (H, W, 3) uint8, or a batch (B, H, W, 3) uint8 / (B, 3, H, W) float in
    [0, 1] (already augmented, for training). ``first``/``second``: (N, 4) boxes in the frame's
    pixels. ``frame_index`` (N,) says which frame of the batch each pair is in (default: pair i in
    frame i, or all pairs in the one frame). Frames are resized to ``frame_size`` (0: ``size``)
    and the boxes scaled to that grid, not their masks resampled, so the mask channels are exact
    rectangles; then ``assemble_inputs`` (whole frame, or a crop with ``crop_context`` > 0).
    """
    images = _to_chw_float(rgb)
    b, _, h, w = images.shape
    first, second = as_boxes(first), as_boxes(second)
    if len(first) != len(second):
        raise ValueError(f"{len(first)} first boxes but {len(second)} second boxes")
    n = len(first)
    if frame_index is None:
        if b == 1:
            frame_index = [0] * n
        elif b == n:
            frame_index = list(range(n))
        else:
            raise ValueError(f"{b} frames for {n} box pairs: pass frame_index")
    fs = int(frame_size) or int(size)
    images = normalize_rgb(resize_images(images, fs))
    return assemble_inputs(images, scale_boxes(first, (h, w), (fs, fs)), scale_boxes(second, (h, w), (fs, fs)),
                           frame_index, size, crop_context, crop_min)


def inputs_for(config: EncoderConfig, rgb: Any, first: Any, second: Any,
               frame_index: Sequence[int] | None = None) -> torch.Tensor:
    """``prepare_inputs`` with an encoder's own input settings (what every caller should use)."""
    return prepare_inputs(rgb, first, second, config.input_size, frame_index, config.crop_context,
                          config.crop_min, config.frame_size)


def crop_windows(first: np.ndarray, second: np.ndarray, context: float, min_side: float) -> np.ndarray:
    """(N, 4) float square windows (x0, y0, x1, y1) centred on the union of each box pair, of side
    ``context`` x its larger side, at least ``min_side`` (may reach outside the frame)."""
    f, s = as_boxes(first).astype(np.float64), as_boxes(second).astype(np.float64)
    lo = np.minimum(f[:, :2], s[:, :2])
    hi = np.maximum(f[:, 2:], s[:, 2:])
    centre = (lo + hi) / 2.0
    side = np.maximum(context * (hi - lo).max(axis=1), float(min_side))
    return np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1)


def assemble_inputs(images: torch.Tensor, first: np.ndarray, second: np.ndarray,
                    frame_index: Sequence[int], size: int, crop_context: float = 0.0,
                    crop_min: int = 24) -> torch.Tensor:
    """(N, 5, size, size) from normalised frames (B, 3, F, F) and boxes on their F grid.

    ``crop_context`` 0 (the release): the whole frame (F must equal ``size``) and the two boxes'
    masks. > 0 (this project's deviation, see the module docstring): each pair's square window
    (``crop_windows``) is cut out with bilinear ``roi_align`` (outside the frame reads 0, the
    normalised mean colour) and resized to ``size``; the masks are the boxes in window coordinates.
    Why: at the input sizes a CPU can train, a whole-frame ResNet does not see a 5-pixel box --
    the pooled features of different boxes of one frame were identical (cosine 1.000) -- while a
    crop gives the object, with its surroundings, most of the input.
    """
    idx = torch.as_tensor(np.asarray(frame_index, dtype=np.int64).reshape(-1))
    first, second = as_boxes(first), as_boxes(second)
    if crop_context <= 0:
        f = images.shape[-1]
        if images.shape[-2:] != (size, size):
            raise ValueError(f"whole-frame inputs need {size} x {size} frames, got {f}")
        m1 = box_masks(first, size, size)
        m2 = box_masks(second, size, size)
        return torch.cat([images[idx], m1.unsqueeze(1), m2.unsqueeze(1)], dim=1)
    from torchvision.ops import roi_align

    win = crop_windows(first, second, crop_context, crop_min)
    rois = torch.cat([idx.to(torch.float32).view(-1, 1), torch.as_tensor(win, dtype=torch.float32)], dim=1)
    crops = roi_align(images, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=2,
                      aligned=True)
    scale = size / (win[:, 2] - win[:, 0])

    def local(b: np.ndarray) -> np.ndarray:
        out = (b.astype(np.float64) - win[:, [0, 1, 0, 1]]) * scale[:, None]
        r = np.floor(out + 0.5).astype(np.int64)
        r[:, 2] = np.maximum(r[:, 2], r[:, 0] + 1)      # a detected box keeps >= 1 pixel
        r[:, 3] = np.maximum(r[:, 3], r[:, 1] + 1)
        return r

    m1 = box_masks(local(first), size, size)
    m2 = box_masks(local(second), size, size)
    return torch.cat([crops, m1.unsqueeze(1), m2.unsqueeze(1)], dim=1)


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every ordered pair (i, j), i != j, of n detections: the release's edge set per frame."""
    return list(itertools.permutations(range(n), 2))


# ------------------------------------------------------------------------------ inference
def encode_inputs(encoder: CSREncoder, x: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Embeddings of prepared inputs x (N, 5, S, S) in chunks, in eval mode (BatchNorm's running statistics), restoring the mode after."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    dtype = next(encoder.parameters()).dtype
    try:
        with torch.no_grad():
            out = [encoder(x[i:i + batch_size].to(device=device, dtype=dtype)).float().cpu()
                   for i in range(0, len(x), batch_size)]
    finally:
        encoder.train(was_training)
    if not out:
        return torch.zeros(0, encoder.config.emb_dim)
    return torch.cat(out)


def embed_nodes(encoder: CSREncoder, rgb: np.ndarray, boxes: Any, batch_size: int = 100) -> torch.Tensor:
    """(N, emb_dim) unit-norm features of N detections in one frame (each box given twice)."""
    b = as_boxes(boxes)
    if len(b) == 0:
        return torch.zeros(0, encoder.config.emb_dim)
    return encode_inputs(encoder, inputs_for(encoder.config, rgb, b, b), batch_size)


def embed_edges(encoder: CSREncoder, rgb: np.ndarray, boxes: Any,
                pairs: Iterable[tuple[int, int]] | None = None,
                batch_size: int = 100) -> tuple[list[tuple[int, int]], torch.Tensor]:
    """Features of ordered detection pairs (default: all i != j) of one frame: (pairs, (E, emb_dim))."""
    b = as_boxes(boxes)
    pairs = all_pairs(len(b)) if pairs is None else [(int(i), int(j)) for i, j in pairs]
    if not pairs:
        return [], torch.zeros(0, encoder.config.emb_dim)
    i, j = np.array(pairs).T
    return pairs, encode_inputs(encoder, inputs_for(encoder.config, rgb, b[i], b[j]), batch_size)


@dataclass
class FrameEmbedding:
    """What the scene graph needs from one frame: scene-model node and edge features and
    object-model node features, all unit norm."""

    nodes: torch.Tensor
    objects: torch.Tensor
    edge_pairs: list[tuple[int, int]]
    edges: torch.Tensor


def embed_frame(scene: CSREncoder, obj: CSREncoder | None, rgb: np.ndarray, boxes: Any,
                with_edges: bool = True, batch_size: int = 100) -> FrameEmbedding:
    """Embed one frame's detections with both models (nodes and edges with the scene model, in one
    batch as the release does; nodes with the object model). ``obj=None`` reuses the scene features."""
    b = as_boxes(boxes)
    n = len(b)
    pairs = all_pairs(n) if with_edges else []
    first = np.concatenate([b, b[[p[0] for p in pairs]].reshape(-1, 4)])
    second = np.concatenate([b, b[[p[1] for p in pairs]].reshape(-1, 4)])
    if len(first):
        feats = encode_inputs(scene, inputs_for(scene.config, rgb, first, second), batch_size)
    else:
        feats = torch.zeros(0, scene.config.emb_dim)
    nodes, edges = feats[:n], feats[n:]
    objects = nodes if obj is None else embed_nodes(obj, rgb, b, batch_size)
    return FrameEmbedding(nodes=nodes, objects=objects, edge_pairs=pairs, edges=edges)


# ----------------------------------------------------------------------------- checkpoints
def save_encoder(encoder: CSREncoder, path: str | Path, half: bool = True,
                 meta: Mapping[str, Any] | None = None) -> Path:
    """Write the encoder (state dict, fp16 by default, plus its config and ``meta``) to ``path``.

    Why fp16 and encoder only: the shipped checkpoint must stay <= 25 MB; fp16 halves a ResNet-18
    to ~22.9 MB and inference does not need the key encoder, the queues or the optimiser.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().to("cpu", torch.float16) if half and v.is_floating_point() else v.detach().cpu())
             for k, v in encoder.state_dict().items()}
    doc = {"format": CHECKPOINT_FORMAT, "config": asdict(encoder.config), "state_dict": state,
           "meta": dict(meta or {})}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(doc, tmp)
    tmp.replace(path)
    return path


def load_encoder(path: str | Path, device: str | torch.device = "cpu") -> CSREncoder:
    """Load a checkpoint written by ``save_encoder`` as a float32 encoder in eval mode.

    ``weights_only=True``: a checkpoint is data, never code (the meta holds plain values only).
    The meta is available as ``encoder.meta``.
    """
    doc = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a CSR encoder checkpoint (format {CHECKPOINT_FORMAT})")
    encoder = CSREncoder(EncoderConfig(**doc["config"]))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in doc["state_dict"].items()}
    encoder.load_state_dict(state)
    encoder.meta = dict(doc.get("meta") or {})
    return encoder.to(device).eval()


def parameter_count(module: nn.Module) -> int:
    """Number of parameters (the checkpoint size is about 2 bytes each in fp16)."""
    return sum(p.numel() for p in module.parameters())

