"""Which files a converter may read: those inside the folders it was given.

A path that comes from a user's file (a COCO `file_name`, a link in an image folder)
is data, not a place to go: an annotation file from an annotation service or a
colleague must not pull an image from elsewhere on the machine into shards that are
later shared. So:

- a name with `..` or an absolute path is refused, always;
- a symbolic link is followed only to a file (or folder) inside the given folder,
  its target resolved; a link pointing elsewhere is refused in one line naming it,
  unless the caller allows links out (`--follow-links`: a dataset kept as links
  into a larger store).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from tfrecords_tools.conversion import ConversionError


def is_inside(root: Path, path: Path) -> bool:
    """Whether `path`, every link on the way resolved, lies inside `root`'s
    resolved folder.

    Example:
        >>> is_inside(Path("images"), Path("images/a.jpg"))
        True
    """
    return path.resolve().is_relative_to(root.resolve())


def listed(names: list[str], count: int = 3, separator: str = ", ") -> str:
    """The first `count` of `names` and how many more, for a one-line message.

    Example:
        >>> listed(["a", "b", "c", "d"], 2)
        'a, b and 2 more'
    """
    more = f" and {len(names) - count} more" if len(names) > count else ""
    return separator.join(names[:count]) + more


def relative_file(root: Path, name: str, follow_links: bool = False) -> Path | None:
    """`root / name` for a relative name that stays inside `root`, else None.

    Args:
        root: Path. The folder the name is relative to (`--images`).
        name: str. A relative file name from a user's file (`a/b.jpg`).
        follow_links: bool. Allow a link inside `root` to point outside it.

    Returns:
        The path, or None for an absolute name, one with `..`, a drive, or one that
        resolves outside `root` (without `follow_links`).

    Example:
        >>> relative_file(Path("val2017"), "../secret/x.jpg") is None
        True
    """
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if (
        not name
        or posix.is_absolute()
        or windows.is_absolute()
        or windows.drive
        or ".." in posix.parts
        or ".." in windows.parts
    ):
        return None
    path = root / posix
    if not follow_links and not is_inside(root, path):
        return None
    return path


def walk_files(
    root: Path, suffixes: tuple[str, ...], follow_links: bool = False
) -> list[Path]:
    """Every file below `root` whose suffix is one of `suffixes`, sorted.

    Links to files or folders inside `root` are followed (a folder once, by its
    real path); links that point outside it are refused unless `follow_links`.

    Raises:
        ConversionError: one line naming the links that point outside `root`.

    Example:
        >>> walk_files(Path("images"), (".jpg", ".png"))[:1]
        [PosixPath('images/0001.jpg')]
    """
    real_root = root.resolve()
    found, outside, seen = [], [], {real_root}
    for folder, folders, files in os.walk(root, followlinks=True):
        here = Path(folder)
        kept = []
        for name in sorted(folders):
            real = (here / name).resolve()
            if not real.is_relative_to(real_root) and not follow_links:
                outside.append(str(here / name))
            elif real not in seen:  # a folder reached twice (a link to it) once
                seen.add(real)
                kept.append(name)
        folders[:] = kept
        for name in files:
            path = here / name
            if path.suffix.lower() not in suffixes or not path.is_file():
                continue
            if not follow_links and not path.resolve().is_relative_to(real_root):
                outside.append(str(path))
                continue
            found.append(path)
    if outside:
        raise ConversionError(
            f"{root}: links to files outside it: {listed(sorted(outside))} (pass "
            "--follow-links to read them, or copy them in)"
        )
    return sorted(found)


def is_file_stem(name: str) -> bool:
    """Whether `name` (an id from a list file) names a file in one folder: no
    separator, not `.` or `..`, not hidden."""
    return (
        name not in ("", ".", "..")
        and not name.startswith(".")
        and PurePosixPath(name).name == name
        and PureWindowsPath(name).name == name
    )


def check_file_stems(ids: list[str], where: Path) -> list[str]:
    """`ids` themselves if every one is a file stem (`is_file_stem`).

    Raises:
        ConversionError: one line naming the list file and the ids that hold a
            path (`../../etc/x` would read outside the dataset's folders).
    """
    bad = [repr(i) for i in ids if not is_file_stem(i)]
    if bad:
        raise ConversionError(
            f"{where}: ids that are paths, not file names: {listed(bad)}"
        )
    return ids


def read_list(path: Path) -> list[str]:
    """Ids of a split list file (one id per line, blank lines ignored).

    Raises:
        ConversionError: when the file is missing, is not UTF-8 or lists an id
            more than once.
    """
    if not path.is_file():
        raise ConversionError(f"{path}: split list not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConversionError(
            f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); a list "
            "file holds one image id a line"
        ) from None
    ids = [line.split()[0] for line in text.splitlines() if line.strip()]
    seen, twice = set(), []
    for image_id in ids:
        if image_id in seen and image_id not in twice:
            twice.append(image_id)
        seen.add(image_id)
    if twice:  # each would be written twice and counted twice
        shown = ", ".join(twice[:5]) + (
            f" and {len(twice) - 5} more" if len(twice) > 5 else ""
        )
        raise ConversionError(f"{path}: ids listed more than once: {shown}")
    return ids
