"""Images as every viewer shows them: the EXIF orientation applied.

A phone stores a portrait photo as landscape pixels with an EXIF `Orientation`
tag (6: turn 90 degrees clockwise to view); viewers and annotation tools show it
turned, and masks and COCO polygons are drawn on what they show. So wherever an
image enters the project (the converters, predict) its pixels are turned as the tag
says, and outputs are written the way the photo is shown. TensorFlow's decoders
ignore the tag, which is why the converters store such a photo's pixels turned.

Example:
    >>> with Image.open("IMG_0001.jpg") as image:
    ...     displayed_size(image), orientation(image)
    ((4032, 3024), 6)
"""

from __future__ import annotations

from PIL import Image, ImageOps

ORIENTATION_TAG = 0x0112  # EXIF's Orientation
# Orientations 5-8 turn the picture a quarter: its shown height is the stored width.
_QUARTER_TURNS = {5, 6, 7, 8}


def orientation(image: Image.Image) -> int:
    """The image's EXIF orientation, 1 (as stored) when it has none or a value
    outside 1..8."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, TypeError):  # a damaged EXIF block
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(height, width) as the image is shown, read from its header alone."""
    if orientation(image) in _QUARTER_TURNS:
        return image.width, image.height
    return image.height, image.width


def displayed(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (itself when it says none).

    Example:
        >>> with Image.open("IMG_0001.jpg") as image:
        ...     rgb = np.asarray(displayed(image).convert("RGB"))
    """
    if orientation(image) == 1:
        return image
    return ImageOps.exif_transpose(image)
