"""Decoding many files at once: every core decodes (reading, hashing, decoding and resizing
release the GIL), results come back in order to one thread; and the headers of a folder's files,
reused from a manifest where the file is unchanged."""

from __future__ import annotations

import hashlib
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.data.decode import Header, UnreadableImage, decode, probe
from engine.data.scan import FolderScan


def _decode_file(path: Path, color: bool, size_hw, policy: str):
    """One file's pixels and content hash, or the reason it cannot be read (runs on a worker
    thread: reading, hashing, decoding and resizing release the GIL)."""
    try:
        data = path.read_bytes()
        return decode(data, color, size_hw, policy, path), hashlib.sha1(data).hexdigest()
    except UnreadableImage as exc:
        return None, exc.reason
    except OSError as exc:
        return None, exc.strerror or str(exc)


def decode_many(scan, files, color, size_hw, policy, sink, progress, done=0, total=0):
    """Decode ``files`` on a thread per core, in order; ``sink(file, array, hash_or_reason)``
    on this thread."""
    workers = max(1, os.cpu_count() or 1)
    total = total or len(files)
    with ThreadPoolExecutor(workers, thread_name_prefix="plateau-decode") as pool:
        pending: deque = deque()
        queue = iter(files)
        for f in queue:
            pending.append((f, pool.submit(_decode_file, scan.path(f), color, size_hw, policy)))
            if len(pending) >= 2 * workers:
                break
        try:
            while pending:
                f, future = pending.popleft()
                array, extra = future.result()
                sink(f, array, extra)
                done += 1
                progress(done, total, "decoding images")
                nxt = next(queue, None)
                if nxt is not None:
                    fut = pool.submit(_decode_file, scan.path(nxt), color, size_hw, policy)
                    pending.append((nxt, fut))
        finally:
            for _, future in pending:
                future.cancel()


def probe_all(scan: FolderScan, known: dict, bad: dict):
    """Headers of the readable files (from the manifest where unchanged), and the skipped."""
    headers: dict[str, Header] = {}
    skipped: list[dict] = []
    for f in scan.files:
        entry, failed = known.get(f.rel), bad.get(f.rel)
        if entry and (entry["size"], entry["mtime_ns"]) == (f.size, f.mtime_ns):
            headers[f.rel] = Header(entry["w"], entry["h"], entry["mode"])
        elif failed and (failed["size"], failed["mtime_ns"]) == (f.size, f.mtime_ns):
            skipped.append({"file": f.rel, "reason": failed["reason"]})
        else:
            try:
                headers[f.rel] = probe(scan.path(f))
            except UnreadableImage as exc:
                skipped.append({"file": f.rel, "reason": exc.reason})
            except OSError as exc:
                skipped.append({"file": f.rel, "reason": exc.strerror or str(exc)})
    return headers, skipped
