"""The colour maps, by their earlier name: they live in `tfdeeplab.catalog.palettes`."""

from tfdeeplab.catalog.palettes import cityscapes_palette, colorize, voc_palette

__all__ = ["cityscapes_palette", "colorize", "voc_palette"]
