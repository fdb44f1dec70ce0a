"""A small pool of generated product pictures, made once with Pillow and shared by products.

Each picture belongs to one leaf category: a coloured background, a few shapes and the
category's initials. Files already in storage are kept, so a second run makes nothing.
"""

from __future__ import annotations

import io
import random

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from shop.demo.data import LEAVES, Leaf

POOL_SIZE = 60
SIDE = 640
PALETTE = [
    ((232, 240, 254), (26, 115, 232)), ((254, 239, 227), (234, 88, 12)), ((236, 253, 245), (5, 150, 105)),
    ((253, 242, 248), (219, 39, 119)), ((245, 243, 255), (124, 58, 237)), ((255, 251, 235), (217, 119, 6)),
    ((240, 249, 255), (2, 132, 199)), ((243, 244, 246), (55, 65, 81)), ((254, 242, 242), (220, 38, 38)),
    ((236, 254, 255), (8, 145, 178)),
]


def initials(name: str) -> str:
    words = [w for w in name.replace("&", " ").replace("'s", "").split() if w[:1].isalpha()]
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).upper()
    return name[:2].title()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: a small bitmap font
        return ImageFont.load_default()


def render(leaf: Leaf, variant: int) -> bytes:
    rng = random.Random(f"{leaf.slug}-{variant}")
    background, accent = PALETTE[(LEAVES.index(leaf) + variant * 3) % len(PALETTE)]
    img = Image.new("RGB", (SIDE, SIDE), background)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 6)):
        x, y = rng.randint(-80, SIDE - 80), rng.randint(-80, SIDE - 80)
        size = rng.randint(90, 260)
        tint = tuple(int(b + (a - b) * rng.uniform(0.15, 0.45)) for a, b in zip(accent, background, strict=True))
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        if shape == "ellipse":
            draw.ellipse((x, y, x + size, y + size), fill=tint)
        elif shape == "rectangle":
            draw.rounded_rectangle((x, y, x + size, y + size * 0.7), radius=24, fill=tint)
        else:
            draw.polygon([(x, y + size), (x + size / 2, y), (x + size, y + size)], fill=tint)
    text = initials(leaf.name)
    font = _font(220)
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(((SIDE - (box[2] - box[0])) / 2 - box[0], (SIDE - (box[3] - box[1])) / 2 - box[1] - 30), text,
              fill=accent, font=font)
    small = _font(40)
    box = draw.textbbox((0, 0), leaf.name, font=small)
    draw.text(((SIDE - (box[2] - box[0])) / 2, SIDE - 110), leaf.name, fill=accent, font=small)
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def pool_names() -> dict[str, list[str]]:
    """leaf slug -> the storage names of its pictures (``POOL_SIZE`` in all)."""
    names: dict[str, list[str]] = {leaf.slug: [] for leaf in LEAVES}
    for k in range(POOL_SIZE):
        leaf = LEAVES[k % len(LEAVES)]
        names[leaf.slug].append(f"demo/pool/{leaf.slug}-{k // len(LEAVES) + 1}.jpg")
    return names


def pool_ensure() -> tuple[dict[str, list[str]], int]:
    """Write the pictures missing from storage; returns the pool and how many were made."""
    names = pool_names()
    made = 0
    for leaf in LEAVES:
        for variant, name in enumerate(names[leaf.slug]):
            if default_storage.exists(name):
                continue
            saved = default_storage.save(name, ContentFile(render(leaf, variant)))
            if saved != name:  # storage picked another name: keep the pool's names exact
                default_storage.delete(saved)
                raise RuntimeError(f"Could not store {name}")
            made += 1
    return names, made
