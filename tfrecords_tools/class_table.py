"""The classes of a dataset of your own: the table (names, colours, ignore label),
its file, and the descriptor its shards' manifest records.

Shared by the folder and the COCO converters (`folder.py`, `coco.py`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from tfdeeplab import shard_format
from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.catalog.palettes import voc_palette
from tfrecords_tools.conversion import ConversionError
from tfrecords_tools.inputs import listed

# Class ids 0..C-1 and the ignore label, all distinct, in one byte: C <= 255.
MAX_CLASSES = 255


@dataclasses.dataclass(frozen=True)
class ClassTable:
    """The classes of a folder dataset.

    Args:
        names: tuple of str. Name of each class id.
        colours: tuple of (r, g, b), or empty. Each class's colour (for `rgb` masks
            and drawings); empty for VOC's colour map.
        ignore_label: int or None. From the classes file, if it says.
    """

    names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...] = ()
    ignore_label: int | None = None

    def check(self, ignore_label: int, where: str) -> None:
        """Refuse a table whose classes cannot be told apart or trained: a name or
        a colour given to two classes, the ignore label on a class id, more
        classes than one byte of class ids holds beside the ignore label.

        Args:
            ignore_label: int. The label of pixels that do not count.
            where: str. Where the classes came from, for the message.

        Raises:
            ConversionError: one line naming the classes at fault.
        """
        if len(self.names) > MAX_CLASSES + 1:  # 256 collide with any ignore label
            raise ConversionError(
                f"{where}: {len(self.names)} classes; a mask holds at most "
                f"{MAX_CLASSES} (class ids and the ignore label share one byte)"
            )
        for kind, values in (("name", self.names), ("colour", self.colours)):
            ids_of = {}
            for class_id, value in enumerate(values):
                ids_of.setdefault(value, []).append(class_id)
            twice = [
                f"{value} for {' and '.join(self.names[i] for i in ids)} "
                f"(ids {', '.join(map(str, ids))})"
                for value, ids in ids_of.items()
                if len(ids) > 1
            ]
            if twice:
                raise ConversionError(
                    f"{where}: one {kind} for several classes: {listed(twice)}"
                )
        if 0 <= ignore_label < len(self.names):
            raise ConversionError(
                f"{where}: the ignore label {ignore_label} is also the id of class "
                f"{self.names[ignore_label]!r} (class ids are 0..{len(self.names) - 1}"
                f"; give an ignore label of {len(self.names)}..255)"
            )


def read_classes(path: Path) -> ClassTable:
    """The class table of a `--classes` file (text, CSV `name,r,g,b`, or JSON).

    Raises:
        ConversionError: one line naming the file, the line or key, and what was
            expected.

    Example:
        >>> read_classes(Path("class_dict.csv")).names[:2]
        ('Animal', 'Archway')
    """
    if not path.is_file():
        raise ConversionError(f"--classes {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConversionError(f"{path}: not UTF-8 text ({error.reason})") from None
    if path.suffix.lower() == ".json":
        return _classes_from_json(path, text)
    if path.suffix.lower() == ".csv":
        return _classes_from_csv(path, text)
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise ConversionError(f"{path}: expected one class name a line, found none")
    return ClassTable(names)


def _colour(value, where: str) -> tuple[int, int, int]:
    try:
        colour = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        colour = ()
    if len(colour) != 3 or not all(0 <= v <= 255 for v in colour):
        raise ConversionError(f"{where}: expected a colour r, g, b of 0..255")
    return colour


def _classes_from_csv(path: Path, text: str) -> ClassTable:
    rows = list(csv.reader(text.splitlines()))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if header[:4] != ["name", "r", "g", "b"]:
        raise ConversionError(f"{path}: line 1: expected the header name,r,g,b")
    names, colours = [], []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 4:
            raise ConversionError(f"{path}: line {number}: expected name,r,g,b")
        names.append(row[0].strip())
        colours.append(_colour(row[1:4], f"{path}: line {number}"))
    if not names:
        raise ConversionError(f"{path}: expected a class a line after the header")
    return ClassTable(tuple(names), tuple(colours))


def _classes_from_json(path: Path, text: str) -> ClassTable:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConversionError(f"{path}: not valid JSON ({error})") from None
    names = record.get("names") if isinstance(record, dict) else None
    if not (
        isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    ):
        raise ConversionError(f"{path}: names: expected a list of class names")
    colours = record.get("colours", record.get("colors", []))
    if colours and len(colours) != len(names):
        raise ConversionError(
            f"{path}: colours: expected one per class ({len(names)}), got "
            f"{len(colours)}"
        )
    ignore = record.get("ignore_label")
    if ignore is not None and not (
        isinstance(ignore, int) and not isinstance(ignore, bool) and 0 <= ignore <= 255
    ):
        raise ConversionError(f"{path}: ignore_label: expected an integer in 0..255")
    return ClassTable(
        tuple(names),
        tuple(_colour(c, f"{path}: colours[{i}]") for i, c in enumerate(colours)),
        ignore,
    )


def folder_descriptor(
    name: str,
    table: ClassTable,
    ignore_label: int,
    splits: dict[str, int],
    command: str,
) -> DatasetDescriptor:
    """The descriptor of a folder dataset (recorded in its manifest)."""
    palette = voc_palette()
    for index, colour in enumerate(table.colours):
        palette[index] = colour
    train = (
        "train"
        if "train" in splits
        else next((s for s in splits if "train" in s), next(iter(splits)))
    )
    evaluation = (
        "val" if "val" in splits else next((s for s in splits if "val" in s), train)
    )
    return DatasetDescriptor(
        name=name,
        class_names=table.names,
        colours=tuple(tuple(int(v) for v in colour) for colour in palette),
        ignore_label=ignore_label,
        splits=dict(splits),
        train_split=train,
        eval_split=evaluation,
        converter_command=command,
    )


def merged_splits(out: Path, table: ClassTable, splits: dict[str, int]) -> dict:
    """The split sizes the manifest will hold: earlier calls' splits into the same
    `--out` (their classes must be these), and this call's."""
    held = shard_format.descriptor_held(out) if out.is_dir() else None
    if held is None:
        return splits
    if held.class_names != table.names:
        raise ConversionError(
            f"{out / shard_format.MANIFEST}: holds the classes "
            f"{', '.join(held.class_names[:4])}...; these masks have "
            f"{', '.join(table.names[:4])}... (convert into another --out)"
        )
    return {**dict(held.splits), **splits}
