"""The original CoW code's prompts (real-stanford/cow), for the localizers' `variant: paper`.

Why a separate module: the paper preset must reproduce what the original sent to CLIP, word for
word -- its prompt ensemble (CLIP's 80 ImageNet templates, Radford et al. 2021, which CoW reads from
`prompt_templates/imagenet_template.json`) and its class names (`THOR_OBJECT_TYPES_CLIP`: e.g.
"plant" for HousePlant and "TV" for Television) -- while `variant: ours` keeps this project's
shorter ensemble and plain CamelCase splits.
"""
from __future__ import annotations

from embodied.perception.localization.base import category_words

__all__ = ["IMAGENET_TEMPLATES", "PAPER_CLASS_NAMES", "paper_words"]

#: CLIP's 80 ImageNet prompt templates, in the order of CoW's imagenet_template.json
IMAGENET_TEMPLATES: tuple[str, ...] = (
    'a bad photo of a {}.', 'a photo of many {}.', 'a sculpture of a {}.',
    'a photo of the hard to see {}.', 'a low resolution photo of the {}.', 'a rendering of a {}.',
    'graffiti of a {}.', 'a bad photo of the {}.', 'a cropped photo of the {}.', 'a tattoo of a {}.',
    'the embroidered {}.', 'a photo of a hard to see {}.', 'a bright photo of a {}.',
    'a photo of a clean {}.', 'a photo of a dirty {}.', 'a dark photo of the {}.',
    'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.', 'a photo of the cool {}.',
    'a close-up photo of a {}.', 'a black and white photo of the {}.', 'a painting of the {}.',
    'a painting of a {}.', 'a pixelated photo of the {}.', 'a sculpture of the {}.',
    'a bright photo of the {}.', 'a cropped photo of a {}.', 'a plastic {}.',
    'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.', 'a blurry photo of the {}.',
    'a photo of the {}.', 'a good photo of the {}.', 'a rendering of the {}.', 'a {} in a video game.',
    'a photo of one {}.', 'a doodle of a {}.', 'a close-up photo of the {}.', 'a photo of a {}.',
    'the origami {}.', 'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.',
    'a origami {}.', 'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.',
    'a photo of the clean {}.', 'a photo of a large {}.', 'a rendition of a {}.',
    'a photo of a nice {}.', 'a photo of a weird {}.', 'a blurry photo of a {}.', 'a cartoon {}.',
    'art of a {}.', 'a sketch of the {}.', 'a embroidered {}.', 'a pixelated photo of a {}.',
    'itap of the {}.', 'a jpeg corrupted photo of the {}.', 'a good photo of a {}.', 'a plushie {}.',
    'a photo of the nice {}.', 'a photo of the small {}.', 'a photo of the weird {}.',
    'the cartoon {}.', 'art of the {}.', 'a drawing of the {}.', 'a photo of the large {}.',
    'a black and white photo of a {}.', 'the plushie {}.', 'a dark photo of a {}.', 'itap of a {}.',
    'graffiti of the {}.', 'a toy {}.', 'itap of my {}.', 'a photo of a cool {}.',
    'a photo of a small {}.', 'a tattoo of the {}.',
)

#: the words the original put into the templates for each RoboTHOR goal type
PAPER_CLASS_NAMES: dict[str, str] = {
    "AlarmClock": "alarm clock", "Apple": "apple", "BaseballBat": "baseball bat",
    "BasketBall": "basketball", "Bowl": "bowl", "GarbageCan": "garbage can", "HousePlant": "plant",
    "Laptop": "laptop", "Mug": "mug", "SprayBottle": "spray bottle", "Television": "TV", "Vase": "vase",
}


def paper_words(text: str) -> str:
    """The original's class name for a goal category; any other goal text as `category_words`."""
    return PAPER_CLASS_NAMES.get(text.strip(), category_words(text))
