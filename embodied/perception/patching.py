"""Model patching by weight interpolation (PAINT) and model soups.

Two closely related recipes that only ever *average weights* of models that
share one architecture (typically open_clip CLIP models):

* **PAINT** -- Ilharco, Wortsman, Gadre et al., "Patching open-vocabulary
  models by interpolating weights", NeurIPS 2022.  Fine-tuning a zero-shot
  model on a *patching* task improves that task but erodes accuracy on the
  *supported* tasks the zero-shot model was already good at.  Linearly
  interpolating ``theta = (1 - alpha) * theta_zs + alpha * theta_ft`` recovers
  most of both; ``alpha`` is picked on held-out data of both tasks
  (:func:`choose_alpha`).
* **Model soups** -- Wortsman et al., "Model soups: averaging weights of
  multiple fine-tuned models improves accuracy without increasing inference
  time", ICML 2022.  Several fine-tunes of one pre-trained model are averaged,
  either all of them (:func:`uniform_soup`) or only those that help on a
  held-out set (:func:`greedy_soup`).

Everything here is a pure function over ``Mapping[str, Tensor]`` state dicts:
inputs are never modified, and outputs are fresh tensors with the inputs'
dtype, so the results can be loaded with ``model.load_state_dict(sd,
strict=True)``.  Arithmetic is carried out in at least float32 (so float16 /
bfloat16 checkpoints do not accumulate rounding error across many
ingredients) and cast back to the input dtype at the end.

Non-floating-point entries (integer / bool buffers such as BatchNorm's
``num_batches_tracked``, token ids or attention masks) cannot be meaningfully
averaged; each function documents which input such entries are copied from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor

__all__ = [
    "ArchitectureMismatch",
    "check_compatible",
    "interpolate",
    "uniform_soup",
    "greedy_soup",
    "AlphaPoint",
    "PatchResult",
    "choose_alpha",
    "plot_alpha_curve",
    "DEFAULT_ALPHAS",
    "extract_state_dict",
    "load_state_dict",
    "save_state_dict",
]

StateDict = Mapping[str, Any]

#: PAINT's sweep: alpha in {0, 0.1, ..., 1}.  Rounded so the values print and
#: compare cleanly (0.30000000000000004 is not a helpful curve label).
DEFAULT_ALPHAS: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(11))


class ArchitectureMismatch(ValueError):
    """Two or more state dicts cannot be averaged parameter-by-parameter.

    Raised instead of letting torch fail deep inside an arithmetic op (or,
    worse, silently broadcasting), so the message can say *which* parameter
    differs and *how*: missing in one checkpoint, different shape, or
    different dtype.  ``key`` and ``detail`` are kept as attributes for
    programmatic use.
    """

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        self.detail = detail
        super().__init__(f"{key}: {detail}")


def _describe_shape(shape: torch.Size) -> str:
    return str(tuple(shape))


def check_compatible(
    state_dicts: Sequence[StateDict], names: Sequence[str] | None = None
) -> None:
    """Raise :class:`ArchitectureMismatch` unless all state dicts line up.

    Compatible means: the same set of keys, and for every key the same kind of
    value (tensor or not), the same shape and the same dtype.  Dtype is part of
    the contract because every function here promises to return the inputs'
    dtype; mixing e.g. an fp16 and an fp32 checkpoint would make that promise
    ambiguous, so the caller has to cast explicitly.

    Keys are visited in the order of the first state dict; the first mismatch
    found is reported, naming the parameter and the checkpoints involved
    (``names`` defaults to ``"checkpoint 1"``, ``"checkpoint 2"``, ...).
    """
    if len(state_dicts) == 0:
        raise ValueError("check_compatible needs at least one state dict")
    if names is None:
        names = [f"checkpoint {i + 1}" for i in range(len(state_dicts))]
    elif len(names) != len(state_dicts):
        raise ValueError(
            f"got {len(names)} names for {len(state_dicts)} state dicts"
        )
    ref, ref_name = state_dicts[0], names[0]
    for key, ref_value in ref.items():
        for other, other_name in zip(state_dicts[1:], names[1:]):
            if key not in other:
                raise ArchitectureMismatch(
                    key, f"missing in {other_name} (present in {ref_name})"
                )
            value = other[key]
            ref_is_tensor = isinstance(ref_value, Tensor)
            if ref_is_tensor != isinstance(value, Tensor):
                raise ArchitectureMismatch(
                    key,
                    f"{type(value).__name__} in {other_name} vs "
                    f"{type(ref_value).__name__} in {ref_name}",
                )
            if not ref_is_tensor:
                continue
            if value.shape != ref_value.shape:
                raise ArchitectureMismatch(
                    key,
                    f"shape {_describe_shape(value.shape)} in {other_name} vs "
                    f"{_describe_shape(ref_value.shape)} in {ref_name}",
                )
            if value.dtype != ref_value.dtype:
                raise ArchitectureMismatch(
                    key,
                    f"dtype {value.dtype} in {other_name} vs "
                    f"{ref_value.dtype} in {ref_name}",
                )
    for other, other_name in zip(state_dicts[1:], names[1:]):
        for key in other:
            if key not in ref:
                raise ArchitectureMismatch(
                    key, f"present in {other_name} but missing in {ref_name}"
                )


def _is_averageable(value: Any) -> bool:
    return isinstance(value, Tensor) and (
        value.is_floating_point() or value.is_complex()
    )


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least float32 (complex64) precision for the arithmetic."""
    if dtype.is_complex:
        return torch.promote_types(dtype, torch.complex64)
    return torch.promote_types(dtype, torch.float32)


def _copy(value: Any) -> Any:
    """A fresh copy, so outputs never alias (and later mutate) the inputs."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    return value


@torch.no_grad()
def _weighted_average(
    state_dicts: Sequence[StateDict],
    weights: Sequence[float],
    take_non_float_from: int,
) -> dict[str, Any]:
    """sum_i w_i * sd_i for float tensors; other entries copied from one input.

    Callers must have run :func:`check_compatible` first.
    """
    out: dict[str, Any] = {}
    for key, ref in state_dicts[0].items():
        if not _is_averageable(ref):
            out[key] = _copy(state_dicts[take_non_float_from][key])
            continue
        cdtype = _compute_dtype(ref.dtype)
        acc = torch.zeros(ref.shape, dtype=cdtype, device=ref.device)
        for sd, w in zip(state_dicts, weights):
            if w == 0.0:
                # Skip rather than add 0 * x: keeps alpha = 0 / 1 exact even
                # if the ignored checkpoint holds inf / nan.
                continue
            acc.add_(sd[key].detach().to(device=ref.device, dtype=cdtype), alpha=w)
        out[key] = acc.to(ref.dtype)
    return out


def _check_alpha(alpha: float, name: str = "alpha") -> float:
    alpha = float(alpha)
    if not (0.0 <= alpha <= 1.0):  # also rejects nan
        raise ValueError(f"{name} must be in [0, 1], got {alpha!r}")
    return alpha


def interpolate(
    zero_shot: StateDict, finetuned: StateDict, alpha: float
) -> dict[str, Any]:
    """PAINT's patched weights ``(1 - alpha) * zero_shot + alpha * finetuned``.

    ``alpha = 0`` gives back the zero-shot model, ``alpha = 1`` the fine-tuned
    one; values in between trade patching-task accuracy against accuracy on
    the tasks the zero-shot model already supported.  Extrapolation
    (``alpha`` outside [0, 1]) is rejected: PAINT only studies the segment
    between the two models and the result would be an untested model.

    Non-floating-point entries (integer / bool buffers) cannot be
    interpolated; they are copied from the model the result is *closer to*:
    ``zero_shot`` if ``alpha < 0.5``, else ``finetuned``.  Floating-point
    entries keep their input dtype; inputs are not modified.

    Raises:
        ValueError: ``alpha`` is not in [0, 1].
        ArchitectureMismatch: the state dicts differ in keys, shapes or dtypes.
    """
    alpha = _check_alpha(alpha)
    pair = (zero_shot, finetuned)
    check_compatible(pair, names=("zero-shot", "fine-tuned"))
    return _weighted_average(
        pair, (1.0 - alpha, alpha), take_non_float_from=0 if alpha < 0.5 else 1
    )


def uniform_soup(state_dicts: Sequence[StateDict]) -> dict[str, Any]:
    """The uniform model soup: the mean of all ingredients' weights.

    Non-floating-point entries are copied from the first ingredient (they
    are expected to agree across fine-tunes of one pre-trained model).

    Raises:
        ValueError: no ingredients.
        ArchitectureMismatch: the ingredients differ in keys, shapes or dtypes.
    """
    if len(state_dicts) == 0:
        raise ValueError("uniform_soup needs at least one ingredient")
    check_compatible(state_dicts)
    n = len(state_dicts)
    return _weighted_average(state_dicts, [1.0 / n] * n, take_non_float_from=0)


def _score(value: float) -> float:
    """Evaluate results as floats, with nan ranked below everything."""
    value = float(value)
    return -math.inf if math.isnan(value) else value


def greedy_soup(
    state_dicts: Sequence[StateDict],
    evaluate: Callable[[Mapping[str, Any]], float],
    *,
    ingredient_scores: Sequence[float] | None = None,
) -> tuple[dict[str, Any], list[int]]:
    """The greedy model soup (Wortsman et al., 2022, Recipe 1).

    1. Score every ingredient once with ``evaluate`` (held-out accuracy,
       higher is better) -- or pass precomputed ``ingredient_scores``.
    2. Visit ingredients from best to worst (ties: lower index first).
    3. Start the soup with the best ingredient; tentatively add each next
       ingredient to the *uniform average* of the ingredients kept so far and
       keep it only if the held-out score does not drop (``>=`` the current
       soup's score).

    Because a candidate is kept only when it scores at least as well, the
    returned soup scores at least as well on held-out data as the best single
    ingredient -- the recipe's guarantee (on the held-out set, not on test).

    ``evaluate`` is called once per ingredient (unless ``ingredient_scores``
    is given) plus once per candidate soup, i.e. at most ``2n - 1`` times.
    A ``nan`` score ranks below every number.  Non-floating-point entries
    are copied from the best ingredient (the first one in the soup).

    Returns:
        The soup's state dict and the indices (into ``state_dicts``) of the
        ingredients it averages, in the order they were added (best first).

    Raises:
        ValueError: no ingredients, or ``ingredient_scores`` of wrong length.
        ArchitectureMismatch: the ingredients differ in keys, shapes or dtypes.
    """
    n = len(state_dicts)
    if n == 0:
        raise ValueError("greedy_soup needs at least one ingredient")
    check_compatible(state_dicts)
    if ingredient_scores is None:
        scores = [_score(evaluate(sd)) for sd in state_dicts]
    else:
        if len(ingredient_scores) != n:
            raise ValueError(
                f"got {len(ingredient_scores)} ingredient_scores for {n} ingredients"
            )
        scores = [_score(s) for s in ingredient_scores]
    order = sorted(range(n), key=lambda i: (-scores[i], i))

    best = order[0]
    kept = [best]
    soup = {k: _copy(v) for k, v in state_dicts[best].items()}
    soup_score = scores[best]
    # Running *sum* of the kept ingredients in compute precision, so each
    # candidate costs one addition and one division instead of re-averaging
    # every kept ingredient, and half-precision rounding does not compound.
    running_sum: dict[str, Tensor] = {
        k: v.detach().to(_compute_dtype(v.dtype)).clone()
        for k, v in state_dicts[best].items()
        if _is_averageable(v)
    }
    with torch.no_grad():
        for i in order[1:]:
            new = state_dicts[i]
            count = len(kept) + 1
            candidate_sum = {
                k: acc + new[k].detach().to(device=acc.device, dtype=acc.dtype)
                for k, acc in running_sum.items()
            }
            candidate = {
                k: (
                    (candidate_sum[k] / count).to(v.dtype)
                    if k in candidate_sum
                    else _copy(v)
                )
                for k, v in soup.items()
            }
            candidate_score = _score(evaluate(candidate))
            if candidate_score >= soup_score:
                kept.append(i)
                soup, soup_score, running_sum = candidate, candidate_score, candidate_sum
    return soup, kept


@dataclass(frozen=True)
class AlphaPoint:
    """One point of the PAINT alpha curve (held-out accuracies at ``alpha``)."""

    alpha: float
    patch_accuracy: float
    supported_accuracy: float

    @property
    def average(self) -> float:
        """PAINT's default selection criterion: the mean of both accuracies."""
        return 0.5 * (self.patch_accuracy + self.supported_accuracy)


@dataclass
class PatchResult:
    """Outcome of :func:`choose_alpha`.

    Attributes:
        curve: every evaluated alpha, in the order given.
        alpha: the chosen mixing coefficient.
        state_dict: the patched weights at ``alpha``.
    """

    curve: list[AlphaPoint]
    alpha: float
    state_dict: dict[str, Any] = field(repr=False)

    @property
    def chosen(self) -> AlphaPoint:
        """The curve point at the chosen alpha."""
        return next(p for p in self.curve if p.alpha == self.alpha)


def choose_alpha(
    zero_shot: StateDict,
    finetuned: StateDict,
    evaluate_patch: Callable[[Mapping[str, Any]], float],
    evaluate_supported: Callable[[Mapping[str, Any]], float],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    max_supported_drop: float | None = None,
) -> PatchResult:
    """Sweep alpha and pick PAINT's patched model.

    For every alpha the interpolated weights are scored on held-out data of
    the patching task (``evaluate_patch``) and of the supported tasks
    (``evaluate_supported``).  The chosen alpha maximises the *average* of
    the two accuracies -- PAINT's default criterion, which weighs "learn the
    new task" and "do not forget the old ones" equally.  Ties go to the alpha
    listed first (with the default ascending sweep: the one closest to the
    zero-shot model, the more conservative patch).  A ``nan`` accuracy ranks
    below every number.

    ``max_supported_drop`` (e.g. 0.01: one point) switches to PAINT's other
    reading -- the best *patching* accuracy among the alphas whose supported
    accuracy is at most that far below the zero-shot model's (the curve point
    with the smallest alpha; ``alphas`` must then include a point at or
    nearest to 0 to measure it).  If no alpha qualifies, the smallest one is
    chosen.

    Only one interpolated state dict is held at a time; the chosen one is
    recomputed at the end (interpolation is deterministic).

    Raises:
        ValueError: ``alphas`` empty or an alpha outside [0, 1].
        ArchitectureMismatch: the two state dicts differ.
    """
    alphas = [_check_alpha(a, name=f"alpha {a!r} in alphas") for a in alphas]
    if not alphas:
        raise ValueError("alphas must not be empty")
    check_compatible((zero_shot, finetuned), names=("zero-shot", "fine-tuned"))
    curve: list[AlphaPoint] = []
    for a in alphas:
        sd = interpolate(zero_shot, finetuned, a)
        curve.append(
            AlphaPoint(
                alpha=a,
                patch_accuracy=float(evaluate_patch(sd)),
                supported_accuracy=float(evaluate_supported(sd)),
            )
        )
        del sd
    if max_supported_drop is None:
        best = max(range(len(curve)), key=lambda i: (_score(curve[i].average), -i))
    else:
        if not max_supported_drop >= 0:
            raise ValueError(f"max_supported_drop must be >= 0, got {max_supported_drop!r}")
        ref = min(curve, key=lambda p: p.alpha).supported_accuracy
        ok = [i for i, p in enumerate(curve) if _score(p.supported_accuracy) >= ref - max_supported_drop - 1e-12]
        if ok:
            best = max(ok, key=lambda i: (_score(curve[i].patch_accuracy), _score(curve[i].average), -i))
        else:
            best = min(range(len(curve)), key=lambda i: (curve[i].alpha, i))
    alpha = curve[best].alpha
    return PatchResult(
        curve=curve, alpha=alpha, state_dict=interpolate(zero_shot, finetuned, alpha)
    )


def plot_alpha_curve(result: PatchResult, path: str | os.PathLike[str]) -> Path:
    """Plot both held-out accuracies (and their mean) against alpha.

    The chosen alpha is marked with a vertical line.  Uses matplotlib's Agg
    canvas directly, so it works headless and does not touch the global
    pyplot backend.  Parent directories are created.  Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    points = sorted(result.curve, key=lambda p: p.alpha)
    xs = [p.alpha for p in points]
    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(xs, [p.patch_accuracy for p in points], "o-", label="patching task")
    ax.plot(xs, [p.supported_accuracy for p in points], "s-", label="supported tasks")
    ax.plot(xs, [p.average for p in points], ":", color="gray", label="average")
    chosen = result.chosen
    ax.axvline(chosen.alpha, color="k", linestyle="--", linewidth=1)
    ax.plot([chosen.alpha], [chosen.average], "k*", markersize=12,
            label=f"chosen alpha = {chosen.alpha:g}")
    ax.set_xlabel("alpha (0 = zero-shot, 1 = fine-tuned)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("PAINT interpolation curve")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    return path


def extract_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Get a plain state dict out of a loaded checkpoint.

    Accepts either a plain state dict or a training checkpoint with a
    ``state_dict`` entry (open_clip's training script saves
    ``{"epoch", "name", "state_dict", "optimizer"}``).  A leading ``module.``
    prefix, left by ``DistributedDataParallel`` wrapping, is stripped from
    every key that has it so the result loads into an unwrapped model.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(
            f"expected a mapping (state dict or checkpoint), got {type(checkpoint).__name__}"
        )
    inner = checkpoint.get("state_dict")
    if isinstance(inner, Mapping):
        checkpoint = inner
    prefix = "module."
    out: dict[str, Any] = {}
    for key, value in checkpoint.items():
        new_key = key[len(prefix):] if key.startswith(prefix) else key
        if new_key in out:
            raise ValueError(
                f"key {new_key!r} appears both with and without a {prefix!r} prefix"
            )
        out[new_key] = value
    return out


def load_state_dict(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a state dict from a torch checkpoint file.

    Uses ``torch.load(..., weights_only=True)`` so untrusted checkpoint files
    cannot execute code on load.  Handles plain state dicts and open_clip
    training checkpoints alike (see :func:`extract_state_dict`).
    """
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    return extract_state_dict(checkpoint)


def save_state_dict(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Save a state dict as a plain torch checkpoint (loadable by
    :func:`load_state_dict` and by ``torch.load(weights_only=True)``).

    Parent directories are created.  Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict), path)
    return path
