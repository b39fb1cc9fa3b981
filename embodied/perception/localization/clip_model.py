"""One open_clip model, its tokenizer and its preprocessing: what every CLIP localizer builds on.

Why one module: clip_grad, clip_patch and clip_ref differ only in how they turn image–text
similarity into a map. Loading weights, finding them offline, preprocessing frames and ensembling
prompts must behave the same in all three, and a model loaded once is shared (`load_clip` caches).

Weights. `pretrained` is an open_clip tag (`openai`, `laion2b_s34b_b79k`, ...), a checkpoint file, or
None (random weights from `init_seed`: the architecture's speed without its knowledge, for tests and
benchmarks). Nothing downloads unless the environment says `HF_HUB_OFFLINE=0` explicitly: docs/design.md
forbids downloads at run and test time, and an agent that stalls 46 s on network retries inside a
worker is worse than one that fails at once saying what to do. A tag is looked up in the Hugging Face
cache (and open_clip's URL cache ~/.cache/clip); if absent, `WeightsNotFoundError` explains how to get
it.

torch and open_clip are imported inside functions: `registry.load_builtin()` imports this module to
register the localizers, and `embodied list` must not pay the ~4 s those imports cost.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from embodied.perception.localization.base import looks_like_path

if TYPE_CHECKING:
    import torch

__all__ = [
    "ClipModel", "WeightsNotFoundError", "load_clip", "resolve_pretrained", "downloads_allowed",
    "register_model_configs", "MODEL_CONFIG_DIR", "clear_cache",
]

#: Model configs shipped with the package (`tiny-vit`: 2+2 layers, width 64, 96 px, 3.4M parameters).
MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"

_FALSE = {"0", "false", "no", "off"}
_CACHE: dict[tuple[str, str | None, str, int], "ClipModel"] = {}
_CACHE_SIZE = 4


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not on this machine (and downloading is off); the message says how to get them."""


def downloads_allowed() -> bool:
    """True only when the user opted in with HF_HUB_OFFLINE=0 (or false/no/off)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _FALSE


def register_model_configs() -> None:
    """Make the package's model configs (tiny-vit) known to open_clip; idempotent."""
    import open_clip

    missing = [p.stem for p in MODEL_CONFIG_DIR.glob("*.json") if p.stem not in open_clip.list_models()]
    if missing:
        open_clip.add_model_config(MODEL_CONFIG_DIR)


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants
        return str(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - only used in a message
        return os.path.expanduser("~/.cache/huggingface/hub")


def _how_to_get(model: str, tag: str, where: list[str]) -> str:
    looked = "; ".join(where) if where else "nowhere (no download location known for this tag)"
    return (
        f"pretrained weights {tag!r} for open_clip model {model!r} are not on this machine "
        f"(looked in: {looked}). To get them: run once on a machine with internet with HF_HUB_OFFLINE=0 "
        f"(e.g. `HF_HUB_OFFLINE=0 python -c \"import open_clip; open_clip.create_model('{model}', "
        f"pretrained='{tag}')\"`), which fills the Hugging Face cache {_hf_cache_dir()} (set HF_HOME "
        f"to move it; copy that folder to offline machines); or download the checkpoint file yourself "
        f"and set `pretrained: /path/to/checkpoint` (agent.localizer.pretrained=...); or set "
        f"`pretrained: null` for random weights (tests, speed benchmarks)."
    )


def _cached_tag_file(tag_cfg: dict[str, Any]) -> tuple[str | None, list[str]]:
    """Where an open_clip tag's checkpoint already lies on disk, without touching the network."""
    where: list[str] = []
    hf_hub = tag_cfg.get("hf_hub", "")
    if hf_hub:
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo_id, filename = os.path.split(hf_hub)  # "org/repo/" means open_clip's default file name
        filename = filename or HF_WEIGHTS_NAME
        candidates = [filename]
        if filename == HF_WEIGHTS_NAME:
            candidates.insert(0, HF_SAFE_WEIGHTS_NAME)
        elif filename.endswith((".bin", ".pth")):
            candidates.insert(0, filename[:-4] + ".safetensors")
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            for name in candidates:
                found = try_to_load_from_cache(repo_id=repo_id, filename=name)
                if isinstance(found, str) and os.path.isfile(found):
                    return found, where
        where.append(f"Hugging Face cache {_hf_cache_dir()} (repo {repo_id}, file {' or '.join(candidates)})")
    url = tag_cfg.get("url", "")
    if url:
        path = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if os.path.isfile(path):
            return path, where
        where.append(path)
    if tag_cfg.get("file") and os.path.isfile(tag_cfg["file"]):
        return tag_cfg["file"], where
    return None, where


def resolve_pretrained(model: str, pretrained: str | None) -> tuple[str | None, dict[str, Any]]:
    """(checkpoint file or None for random weights, the tag's open_clip config or {}).

    Fails fast, before any model is built: a missing file or an uncached tag raises
    WeightsNotFoundError saying how to get the weights; an unknown tag a ValueError listing the tags.
    """
    import open_clip

    if not pretrained:
        return None, {}
    tag_cfg = open_clip.get_pretrained_cfg(model, pretrained) if not looks_like_path(pretrained) else {}
    if tag_cfg:
        found, where = _cached_tag_file(tag_cfg)
        if found is not None:
            return found, tag_cfg
        if not downloads_allowed():
            raise WeightsNotFoundError(_how_to_get(model, pretrained, where))
        try:
            return open_clip.download_pretrained(tag_cfg), tag_cfg
        except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
            raise WeightsNotFoundError(f"downloading failed ({type(exc).__name__}: {exc}); "
                                       + _how_to_get(model, pretrained, where)) from exc
    path = Path(pretrained).expanduser()
    if path.is_file():
        return str(path), {}
    if looks_like_path(pretrained):
        raise WeightsNotFoundError(
            f"checkpoint file {pretrained!r} does not exist. Give an existing open_clip checkpoint for "
            f"model {model!r}, or an open_clip tag (e.g. 'openai'; " + _how_to_get(model, "openai", [])
            + ")")
    tags = open_clip.list_pretrained_tags_by_model(model)
    raise ValueError(f"pretrained {pretrained!r} is neither a checkpoint file nor an open_clip tag of "
                     f"{model!r} (tags: {', '.join(tags) or 'none'})")


@contextlib.contextmanager
def _quiet_random_init(active: bool) -> Iterator[None]:
    """open_clip logs a root WARNING for random weights, which `pretrained: null` asks for on purpose."""
    if not active:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


class ClipModel:
    """A loaded open_clip model in eval mode, with the frame preprocessing and prompt ensembling.

    Preprocessing squashes the *whole* frame to the model's input size (no centre crop): a localizer
    must cover every pixel of the observation, and the default 224x224 frames are square anyway.
    """

    def __init__(self, model_name: str, pretrained: str | None = None, device: str = "cpu",
                 init_seed: int = 0) -> None:
        import open_clip
        import torch

        register_model_configs()
        if model_name not in open_clip.list_models():
            raise ValueError(f"unknown open_clip model {model_name!r}; e.g. ViT-B-32, ViT-B-16, "
                             f"ViT-L-14, tiny-vit (all: open_clip.list_models())")
        checkpoint, tag_cfg = resolve_pretrained(model_name, pretrained)
        quick_gelu = bool(tag_cfg.get("quick_gelu", False)) and not model_name.endswith("quickgelu")
        preprocess = {k: tag_cfg[k] for k in ("mean", "std", "interpolation") if k in tag_cfg}
        with torch.random.fork_rng(devices=[]), _quiet_random_init(checkpoint is None):
            torch.manual_seed(init_seed)
            model = open_clip.create_model(model_name, pretrained=checkpoint, device=device,
                                           force_quick_gelu=quick_gelu,
                                           force_preprocess_cfg=preprocess or None)
        model.eval()
        model.requires_grad_(False)  # clip_grad differentiates w.r.t. activations, never weights
        self.model = model
        self.name, self.pretrained, self.checkpoint = model_name, pretrained, checkpoint
        self.device = torch.device(device)
        self.tokenizer = open_clip.get_tokenizer(model_name)
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = model.visual.image_size
        self.image_size: tuple[int, int] = (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) \
            else (int(size), int(size))
        self.mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)),
                                 device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)),
                                device=self.device).view(1, 3, 1, 1)
        self.interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        self.logit_scale = float(model.logit_scale.exp()) if hasattr(model, "logit_scale") else 100.0
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}

    # ------------------------------------------------------------------------------ images
    def pixels(self, rgb: np.ndarray,
               boxes: Sequence[tuple[int, int, int, int]] | None = None) -> "torch.Tensor":
        """(N, 3, h, w) normalised model input: the whole frame, or one crop per (y0, y1, x0, x1) box."""
        import torch
        import torch.nn.functional as F

        image = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device)
        image = image.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        crops = [image] if boxes is None else [image[:, :, y0:y1, x0:x1] for y0, y1, x0, x1 in boxes]
        resized = [F.interpolate(c, size=self.image_size, mode=self.interpolation, antialias=True,
                                 align_corners=False) for c in crops]
        batch = torch.cat(resized).clamp_(0.0, 1.0)
        return (batch - self.mean) / self.std

    def encode_image(self, pixels: "torch.Tensor") -> "torch.Tensor":
        """Unit-norm image embeddings (N, D)."""
        import torch

        with torch.no_grad():
            emb = self.model.encode_image(pixels)
        return emb / emb.norm(dim=-1, keepdim=True)

    # ------------------------------------------------------------------------------ text
    def encode_text(self, prompts: Sequence[str]) -> "torch.Tensor":
        """Unit-norm text embeddings (N, D), one per prompt."""
        import torch

        tokens = self.tokenizer(list(prompts)).to(self.device)
        with torch.no_grad():
            emb = self.model.encode_text(tokens)
        return emb / emb.norm(dim=-1, keepdim=True)

    def text_embedding(self, prompts: Sequence[str]) -> "torch.Tensor":
        """One unit-norm (D,) embedding for several phrasings of one thing, cached.

        Prompt ensembling as in CLIP's zero-shot classifier: normalise each prompt's embedding,
        average, normalise again. Cached by the prompts, so each goal is encoded once per process.
        """
        key = tuple(prompts)
        cached = self._text_cache.get(key)
        if cached is None:
            mean = self.encode_text(prompts).mean(dim=0)
            cached = mean / mean.norm()
            self._text_cache[key] = cached
        return cached


def load_clip(model_name: str, pretrained: str | None = None, device: str = "cpu",
              init_seed: int = 0) -> ClipModel:
    """A ClipModel, shared within the process: three localizers (or an agent rebuilt after a crash)
    on the same weights cost one model's memory. The model is read-only after loading."""
    key = (model_name, pretrained, str(device), int(init_seed) if pretrained is None else 0)
    model = _CACHE.get(key)
    if model is None:
        model = ClipModel(model_name, pretrained, device, init_seed)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = model
    return model


def clear_cache() -> None:
    """Forget the shared models (tests, benchmarks measuring memory)."""
    _CACHE.clear()
