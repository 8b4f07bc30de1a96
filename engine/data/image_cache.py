"""The decoded-image cache: a folder's images decoded once — in parallel, JPEGs at reduced scale —
resized to the run's image size and kept as one memory-mapped uint8 array with per-image
statistics, under the user cache directory.

Layout of one cache (``<cache_dir>/<key>/``, the key made of the folder, the image size setting
and the resize policy): ``manifest.json`` (which file is which row, with its size and
modification time, its header and content hash; the skipped files and why), ``rows-<G>.u8``
(the pixels, N×C×H×W) and ``stats-<G>.f64`` (N×C×4 statistics). A file whose size and
modification time are unchanged is never decoded again; new or changed files are decoded and
appended; a change of colour mode or image size starts a new generation ``G``. The manifest is
published atomically after the rows it names are on disk, so a build that is killed or
cancelled leaves a cache that names only complete rows (the next run decodes the rest). A file
lock keeps two processes from building the same cache at once: the second waits, then finds it
done.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine import atomic
from engine.data.decode import Header
from engine.data.decode_many import decode_many, probe_all
from engine.data.rows import row_stats
from engine.data.scan import FolderScan, ImageFile
from engine.wording import count

DECODER_VERSION = 1  # bump when decoding gives other pixels for the same file
NATIVE_LIMIT = 256  # image_size = 0 keeps the native size only for images up to this size
PHOTO_SIZE = 224  # … larger ones are resized to this (what pretrained networks expect)
ENLARGED = 2.0  # images enlarged more than this many times over get a note
PUBLISH_EVERY_S = 5.0  # a long build makes its progress durable this often
COMPACT_SHARE = 0.5  # rows of removed or changed files above this share: rewrite the rows
LOCK_POLL_S = 0.5

Progress = Callable[[int, int, str], None]  # (done, total, what); may raise Cancelled


def no_progress(done: int, total: int, what: str) -> None:
    """The default progress callback: says nothing, never cancels."""


def default_cache_dir() -> Path:
    """Where caches live unless ``data.cache_dir`` says otherwise (``PLATEAU_CACHE_DIR``
    overrides it, e.g. for tests)."""
    if os.environ.get("PLATEAU_CACHE_DIR"):
        return Path(os.environ["PLATEAU_CACHE_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("Plateau", appauthor=False)) / "images"


@dataclass
class DecodedFolder:
    """A folder's readable images as rows of one array, and what was found on the way."""

    storage: torch.Tensor  # N×C×H×W uint8, memory-mapped unless the cache is off
    row_stats: np.ndarray  # N×C×4
    rows: dict[str, int]  # file (relative path) → row
    skipped: list[dict] = field(default_factory=list)  # {"file", "reason"}
    duplicates: list[list[str]] = field(default_factory=list)  # files with the same bytes
    status: str = "off"  # built | hit | updated | off
    notes: list[str] = field(default_factory=list)
    decoded: int = 0  # files decoded by this call
    location: str = ""  # the cache folder ("" when off)
    generation: int = 0  # the cached array's generation (its files' suffix)

    @property
    def thumbnails_file(self) -> Path | None:
        """Where the doctor keeps the rows' leakage thumbnails (None without a cache)."""
        return Path(self.location) / f"thumbs-{self.generation}.f32" if self.location else None


def decode_folder(
    scan: FolderScan,
    image_size: int,
    policy: str,
    cache_root: Path | None,
    progress: Progress = no_progress,
) -> DecodedFolder:
    """Every readable image of ``scan`` as an array row, from the cache under ``cache_root``
    (built or updated as needed) or, with ``cache_root`` None, decoded into memory."""
    if cache_root is None:
        return _in_memory(scan, image_size, policy, progress)
    folder = Path(cache_root).expanduser() / _key(scan.root, image_size, policy)
    folder.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / "lock"))
    while True:
        try:
            lock.acquire(timeout=LOCK_POLL_S)
            break
        except Timeout:
            progress(0, 0, "waiting for another Plateau decoding these images")
    try:
        return _CacheUpdate(folder, scan, image_size, policy, progress).run()
    finally:
        lock.release()


def _key(root: Path, image_size: int, policy: str) -> str:
    text = json.dumps([str(root), image_size, policy, DECODER_VERSION])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _target(image_size: int, headers: dict[str, Header]) -> tuple[tuple[int, int], list[str]]:
    """The rows' ``(height, width)``, and notes: when ``image_size = 0`` could not keep the
    native size, and on images enlarged so much that they reach the network blurred."""
    sizes = list(headers.values())
    if image_size:
        return (image_size, image_size), _enlarged((image_size, image_size), headers)
    largest = max(max(h.width, h.height) for h in sizes)
    if largest <= NATIVE_LIMIT:
        size_hw = (sizes[0].height, sizes[0].width)
        return size_hw, _enlarged(size_hw, headers)
    return (PHOTO_SIZE, PHOTO_SIZE), [
        f"the images are up to {largest} px: resized to {PHOTO_SIZE}×{PHOTO_SIZE} "
        "(set 'data.image_size' to choose another size)",
        *_enlarged((PHOTO_SIZE, PHOTO_SIZE), headers),
    ]


def _enlarged(size_hw: tuple[int, int], headers: dict[str, Header]) -> list[str]:
    """A note naming the images under half the rows' size (enlarged more than twice over)."""
    small = sorted(
        (h.width * h.height, rel, h)
        for rel, h in headers.items()
        if max(size_hw[0] / h.height, size_hw[1] / h.width) > ENLARGED
    )
    if not small:
        return []
    _, rel, h = small[0]
    n = len(small)
    return [
        f"{count(n, 'image')} smaller than half the image size of {size_hw[1]}×{size_hw[0]} "
        f"(the smallest: {rel}, {h.width}×{h.height} px) {'is' if n == 1 else 'are'} enlarged "
        f"more than twice over and {'reaches' if n == 1 else 'reach'} the network blurred; a "
        f"smaller 'data.image_size' keeps {'it' if n == 1 else 'them'} sharp"
    ]


def _duplicates(hashes: dict[str, str]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for rel, digest in hashes.items():
        groups.setdefault(digest, []).append(rel)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def _in_memory(scan: FolderScan, image_size: int, policy: str, progress) -> DecodedFolder:
    headers, skipped = probe_all(scan, {}, {})
    if not headers:
        return DecodedFolder(
            torch.zeros(0, 1, 1, 1, dtype=torch.uint8), np.zeros((0, 1, 4)), {}, skipped
        )
    files = [f for f in scan.files if f.rel in headers]
    color = any(h.color for h in headers.values())
    size_hw, notes = _target(image_size, {f.rel: headers[f.rel] for f in files})
    c = 3 if color else 1
    pixels = np.empty((len(files), c, *size_hw), dtype=np.uint8)
    stats = np.empty((len(files), c, 4), dtype=np.float64)
    rows, hashes = {}, {}

    def sink(f: ImageFile, array, extra) -> None:
        if array is None:
            skipped.append({"file": f.rel, "reason": extra})
            return
        row = len(rows)
        pixels[row] = array
        stats[row] = row_stats(array[None])[0]
        rows[f.rel], hashes[f.rel] = row, extra

    decode_many(scan, files, color, size_hw, policy, sink, progress)
    n = len(rows)
    return DecodedFolder(
        torch.from_numpy(pixels[:n]),
        stats[:n],
        rows,
        skipped,
        _duplicates(hashes),
        "off",
        notes,
        n,
    )


class _CacheUpdate:
    """One locked update of a cache folder: reuse what is decoded, decode the rest, publish."""

    def __init__(self, folder: Path, scan: FolderScan, image_size: int, policy: str, progress):
        self.folder, self.scan, self.progress = folder, scan, progress
        self.image_size, self.policy = image_size, policy
        self.manifest = self._read_manifest()

    def _read_manifest(self) -> dict | None:
        try:
            manifest = json.loads((self.folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("version") != DECODER_VERSION or not self._files_whole(manifest):
            return None
        return manifest

    def _files_whole(self, manifest: dict) -> bool:
        """The rows the manifest names are all on disk (else it is not trusted)."""
        c, (h, w) = (3 if manifest["color"] else 1), manifest["size"]
        rows = self.folder / f"rows-{manifest['generation']}.u8"
        stats = self.folder / f"stats-{manifest['generation']}.f64"
        n = manifest["rows"]
        try:
            return rows.stat().st_size >= n * c * h * w and stats.stat().st_size >= n * c * 32
        except OSError:
            return False

    def run(self) -> DecodedFolder:
        m = self.manifest
        known = {e["rel"]: e for e in m["entries"]} if m else {}
        bad = m.get("bad", {}) if m else {}
        headers, skipped = probe_all(self.scan, known, bad)
        files = [f for f in self.scan.files if f.rel in headers]
        if not files:
            empty = torch.zeros(0, 1, 1, 1, dtype=torch.uint8)
            return DecodedFolder(empty, np.zeros((0, 1, 4)), {}, skipped, status="built")
        self.color = any(h.color for h in headers.values())
        self.size_hw, notes = _target(self.image_size, {f.rel: headers[f.rel] for f in files})
        self.c = 3 if self.color else 1
        same_shape = m and m["color"] == self.color and tuple(m["size"]) == self.size_hw
        self.generation = m["generation"] if same_shape else (m["generation"] + 1 if m else 1)
        self.n_rows = m["rows"] if same_shape else 0
        if not same_shape:  # rows start again from 0: older thumbnails of this name are not theirs
            (self.folder / f"thumbs-{self.generation}.f32").unlink(missing_ok=True)
        live = {
            f.rel: known[f.rel]
            for f in files
            if same_shape
            and f.rel in known
            and (known[f.rel]["size"], known[f.rel]["mtime_ns"]) == (f.size, f.mtime_ns)
        }
        todo = [f for f in files if f.rel not in live]
        orphans = self.n_rows - len(live)
        if same_shape and orphans > max(64, COMPACT_SHARE * self.n_rows):
            live = self._compact(live)
        self.entries = dict(live)
        self.bad = {s["file"]: s for s in skipped}
        self.headers = headers
        self._append(todo)
        unchanged = not todo and len(live) == len(known) and set(self.bad) == set(bad)
        status = "hit" if m and same_shape and unchanged else ("updated" if live else "built")
        if status != "hit":
            self._publish()
        self._remove_old_generations()
        return self._result(status, notes, len(todo))

    def _paths(self, generation: int | None = None) -> tuple[Path, Path]:
        g = self.generation if generation is None else generation
        return self.folder / f"rows-{g}.u8", self.folder / f"stats-{g}.f64"

    def _row_bytes(self) -> int:
        return self.c * self.size_hw[0] * self.size_hw[1]

    def _append(self, todo: list[ImageFile]) -> None:
        rows_path, stats_path = self._paths()
        for path, width in ((rows_path, self._row_bytes()), (stats_path, self.c * 32)):
            with open(path, "ab") as f:  # drop a tail no manifest names (a killed build's)
                f.truncate(self.n_rows * width)
        if not todo:
            return
        rows_file, stats_file = open(rows_path, "ab"), open(stats_path, "ab")
        last_publish = time.monotonic()

        def sink(f: ImageFile, array, extra) -> None:
            nonlocal last_publish
            if array is None:
                self.bad[f.rel] = {"file": f.rel, "reason": extra}
                return
            rows_file.write(np.ascontiguousarray(array).tobytes())
            stats_file.write(row_stats(array[None])[0].tobytes())
            h = self.headers[f.rel]
            self.entries[f.rel] = {
                "rel": f.rel,
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "row": self.n_rows,
                "w": h.width,
                "h": h.height,
                "mode": h.mode,
                "sha1": extra,
            }
            self.n_rows += 1
            if time.monotonic() - last_publish > PUBLISH_EVERY_S:
                self._publish(rows_file, stats_file)
                last_publish = time.monotonic()

        try:
            decode_many(self.scan, todo, self.color, self.size_hw, self.policy, sink, self.progress)
        finally:  # cancelled or failed: what is complete stays usable
            self._publish(rows_file, stats_file)
            rows_file.close()
            stats_file.close()

    def _publish(self, *open_files) -> None:
        for f in open_files:
            f.flush()
            os.fsync(f.fileno())
        manifest = {
            "version": DECODER_VERSION,
            "root": str(self.scan.root),
            "color": self.color,
            "size": list(self.size_hw),
            "policy": self.policy,
            "generation": self.generation,
            "rows": self.n_rows,
            "entries": sorted(self.entries.values(), key=lambda e: e["row"]),
            "bad": {
                f.rel: {"size": f.size, "mtime_ns": f.mtime_ns, "reason": self.bad[f.rel]["reason"]}
                for f in self.scan.files
                if f.rel in self.bad
            },
        }
        atomic.write_text(self.folder / "manifest.json", json.dumps(manifest))

    def _compact(self, live: dict[str, dict]) -> dict[str, dict]:
        """Copy the live rows into a new generation (removed and changed files left behind)."""
        old_rows, old_stats = self._memmaps(self.generation, self.n_rows)
        self.generation += 1
        rows_path, stats_path = self._paths()
        ordered = sorted(live.values(), key=lambda e: e["row"])
        with open(rows_path, "wb") as rows_file, open(stats_path, "wb") as stats_file:
            for entry in ordered:
                rows_file.write(np.ascontiguousarray(old_rows[entry["row"]]).tobytes())
                stats_file.write(np.ascontiguousarray(old_stats[entry["row"]]).tobytes())
            for f in (rows_file, stats_file):
                f.flush()
                os.fsync(f.fileno())
        self.n_rows = len(ordered)
        return {e["rel"]: {**e, "row": i} for i, e in enumerate(ordered)}

    def _memmaps(self, generation: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows_path, stats_path = self._paths(generation)
        if n == 0:
            return np.zeros((0, self.c, *self.size_hw), np.uint8), np.zeros((0, self.c, 4))
        rows = np.memmap(rows_path, np.uint8, "c", shape=(n, self.c, *self.size_hw))
        stats = np.fromfile(stats_path, np.float64, count=n * self.c * 4).reshape(n, self.c, 4)
        return rows, stats

    def _remove_old_generations(self) -> None:
        keep = {p.name for p in self._paths()} | {f"thumbs-{self.generation}.f32"}
        for path in self.folder.glob("*-*.*"):
            if path.suffix in (".u8", ".f64", ".f32") and path.name not in keep:
                try:
                    path.unlink()
                except OSError:  # still mapped elsewhere (Windows): removed another time
                    pass

    def _result(self, status: str, notes: list[str], decoded: int) -> DecodedFolder:
        rows_map, stats = self._memmaps(self.generation, self.n_rows)
        return DecodedFolder(
            storage=torch.from_numpy(rows_map),
            row_stats=stats,
            rows={rel: e["row"] for rel, e in self.entries.items()},
            skipped=list(self.bad.values()),
            duplicates=_duplicates({rel: e["sha1"] for rel, e in self.entries.items()}),
            status=status,
            notes=notes,
            decoded=decoded,
            location=str(self.folder),
            generation=self.generation,
        )
