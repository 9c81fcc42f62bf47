"""Several artifacts at once: the registry table, the dry-run plan, and the fetch of
each named artifact with where it landed and the command that takes it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.fetch.download import byte_count, partial_path
from tfdeeplab.fetch.fetching import (
    DOWNLOADS,
    FetchedArtifact,
    artifact_root,
    fetch_artifact,
    is_fetched,
)
from tfdeeplab.fetch.registry import Artifact


class UnknownArtifactError(TfdeeplabError):
    """A name the registry does not hold; the message lists the names it does."""


def chosen(registry: dict[str, Artifact], names: Sequence[str]) -> list[Artifact]:
    """The named artifacts, in the order given, each once.

    Raises:
        UnknownArtifactError: naming the unknown ones and every known name.
    """
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise UnknownArtifactError(
            f"unknown artifact {', '.join(repr(n) for n in unknown)} (known: "
            f"{', '.join(registry)})"
        )
    return [registry[name] for name in dict.fromkeys(names)]


def _state(artifact: Artifact, data_dir: Path) -> str:
    if is_fetched(artifact, data_dir):
        return "here, checked"
    downloads = data_dir / DOWNLOADS
    if any(
        (downloads / f.name).is_file() or partial_path(downloads / f.name).is_file()
        for f in artifact.files
    ):
        return "partly here"
    return "-"


def registry_table(registry: dict[str, Artifact], data_dir: Path) -> str:
    """Every artifact: name, size, access, whether it is here, what it is.

    Example:
        >>> print(registry_table(load_registry(), Path("data")))
    """
    rows = [("name", "size", "access", "in " + str(data_dir), "what")]
    rows += [
        (a.name, byte_count(a.size), a.access, _state(a, data_dir), a.description)
        for a in registry.values()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[4]
        for row in rows
    )


def next_command(
    artifact: Artifact, data_dir: Path, registry: dict[str, Artifact]
) -> str:
    """The command that takes the artifact, `{name}` replaced by where each
    artifact of `registry` lands under `data_dir`."""
    roots = {name: str(artifact_root(a, data_dir)) for name, a in registry.items()}
    return artifact.next.format_map(roots) if artifact.next else ""


def plan_lines(
    registry: dict[str, Artifact], names: Sequence[str], data_dir: Path
) -> list[str]:
    """What `fetch NAMES` would do: per file, reuse or fetch (and how), the bytes
    to download, then the commands that take the artifacts."""
    lines, total = [], 0
    for artifact in chosen(registry, names):
        if is_fetched(artifact, data_dir):
            lines.append(f"{artifact.name}: here and checked, reused")
            continue
        for remote in artifact.files:
            final = data_dir / DOWNLOADS / remote.name
            if final.is_file():
                how = "in downloads/, checked before use"
            elif artifact.access == "open":
                how = f"download {byte_count(remote.size)} from {remote.urls[0]}"
                total += remote.size or 0
            else:
                how = f"needs {artifact.access}: {artifact.page or 'see --list'}"
            unpacking = f", unpack ({remote.unpack})" if remote.unpack else ""
            lines.append(f"{artifact.name}: {remote.name}: {how}{unpacking}")
        lines.append(f"  -> {artifact_root(artifact, data_dir)}")
    lines.append(f"to download: {byte_count(total)} (and about as much unpacked)")
    commands = [next_command(a, data_dir, registry) for a in chosen(registry, names)]
    lines += [f"then: {command}" for command in dict.fromkeys(commands) if command]
    return lines


def fetch_all(
    registry: dict[str, Artifact],
    names: Sequence[str],
    data_dir: Path,
    *,
    log: Callable[[str], None] = print,
    **options,
) -> list[FetchedArtifact]:
    """Fetch every named artifact; print where each is and what takes it.

    Args:
        registry: {name: Artifact}.
        names: the artifacts to fetch.
        data_dir: Path. DATA.
        log: function taking one line of text.
        **options: `fetching.fetch_artifact`'s keyword arguments.

    Returns:
        The FetchedArtifact of each name.
    """
    results = []
    for artifact in chosen(registry, names):
        result = fetch_artifact(artifact, Path(data_dir), log=log, **options)
        state = "reused (fetched and checked before)" if result.reused else "checked"
        log(f"{artifact.name}: {result.root}  [{state}]")
        command = next_command(artifact, Path(data_dir), registry)
        if command:
            log(f"  next: {command}")
        results.append(result)
    return results
