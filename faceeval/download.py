"""Fetch the 300-W archives from ibug and unpack them into the layout :mod:`faceeval.datasets.w300` reads.

The archives, the folder each one fills and their optional sizes and checksums are
listed in ``faceeval/data/300w_archives.json``. Files are fetched with pooch through
:class:`ResumableDownloader`, which keeps an interrupted download as ``FILE.part`` and
continues it with an HTTP ``Range`` request on the next attempt. Every file is checked
against the server's ``Content-Length`` and the manifest's size, every archive is
tested with :meth:`zipfile.ZipFile.testzip` before it is unpacked, and whatever top
folder an archive has, its contents land in the ibug layout::

    DIR/afw/  DIR/helen/{trainset,testset}/  DIR/ibug/  DIR/lfpw/{trainset,testset}/
    DIR/300W/{01_Indoor,02_Outdoor}/         DIR/archives/  (the downloaded files)

Example (the base URL can point at a mirror, or at a local server in tests)::

    >>> download_300w("DATA/300w", only=["ibug"])             # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .io import DataError
from .resources import data_path

#: Environment variable that overrides the manifest's base URL (a mirror, or a test server).
BASE_URL_ENV = "FACEEVAL_300W_URL"
#: Folder under the dataset root where the archives are kept (and where files fetched by hand go).
ARCHIVE_DIR = "archives"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ArchiveFile:
    """One file to fetch; ``size`` (bytes) and ``sha256`` are checked when known."""

    file: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Archive:
    """A zip (possibly split in parts) that fills the folder ``dest`` of the ibug layout."""

    name: str
    dest: str
    subfolders: tuple[str, ...]
    files: tuple[ArchiveFile, ...]

    @property
    def zip_name(self) -> str:
        """The file that is unpacked: the only file, or the parts joined (``300w.zip``)."""
        first = self.files[0].file
        return first if len(self.files) == 1 else first.rsplit(".", 1)[0]


def load_manifest(path: str | os.PathLike | None = None) -> tuple[str, list[Archive]]:
    """The base URL and archives of a manifest (default: the one shipped with faceeval)."""
    try:
        raw = json.loads(Path(path).read_text() if path is not None else data_path("300w_archives.json").read_text())
        archives = [Archive(a["name"], a["dest"], tuple(a.get("subfolders", ())),
                            tuple(ArchiveFile(f["file"], f.get("size"), f.get("sha256")) for f in a["files"]))
                    for a in raw["archives"]]
        return raw["base_url"], archives
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path or '300w_archives.json'}: unreadable archive manifest ({exc!r})") from exc


def archive_url(base_url: str, file: str) -> str:
    return base_url.rstrip("/") + "/" + file


class ResumableDownloader:
    """A pooch downloader that resumes interrupted downloads and checks their size.

    Bytes go to ``partial`` (kept between attempts); a non-empty partial file is
    continued with ``Range: bytes=K-``. A server that ignores the range (status 200)
    restarts the file. The finished file is moved onto pooch's output file, so pooch's
    own hash check and atomic rename still apply.
    """

    def __init__(self, partial: Path, expected_size: int | None = None, progress: bool = True,
                 timeout: float = 60.0):
        self.partial = Path(partial)
        self.expected_size = expected_size
        self.progress = progress
        self.timeout = timeout

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False):
        import requests

        if check_only:
            return self._available(url)
        name = self.partial.name.removesuffix(".part")
        have = self.partial.stat().st_size if self.partial.is_file() else 0
        if self.expected_size is not None and have > self.expected_size:
            self.partial.unlink()
            have = 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.exceptions.RequestException as exc:
            raise DataError(f"{name}: cannot reach {url} ({exc.__class__.__name__}: {exc})") from exc
        with response:
            if response.status_code == 416 and have:           # nothing left to fetch, or a stale partial
                total = _total_from_content_range(response.headers.get("Content-Range"))
                if total == have:
                    return self._finish(output_file, have)
                self.partial.unlink()
                return self(url, output_file, pooch)
            if response.status_code not in (200, 206):
                raise DataError(f"{name}: {url} answered {response.status_code} {response.reason}")
            if "text/html" in response.headers.get("Content-Type", ""):
                raise DataError(f"{name}: {url} answered with a web page, not the archive (ibug may ask you to "
                                f"accept its licence first); download {name} by hand into {self.partial.parent} "
                                f"and run the command again")
            resume = response.status_code == 206 and have > 0
            if resume and _start_from_content_range(response.headers.get("Content-Range")) != have:
                raise DataError(f"{name}: {url} resumed at the wrong offset "
                                f"({response.headers.get('Content-Range')!r} for {have} bytes held)")
            length = response.headers.get("Content-Length")
            total = (have if resume else 0) + int(length) if length is not None else None
            if total is None and response.status_code == 206:
                total = _total_from_content_range(response.headers.get("Content-Range"))
            self._check_size(name, total, "the server offers")
            self._stream(response, name, have if resume else 0, total)
        size = self.partial.stat().st_size
        if total is not None and size != total:
            raise DataError(f"{name}: download stopped at {size} of {total} bytes; the partial file "
                            f"{self.partial} is kept: run the command again to resume")
        self._check_size(name, size, "downloaded", discard=True)
        return self._finish(output_file, size)

    def _stream(self, response, name: str, start: int, total: int | None) -> None:
        import requests
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                   disable=not self.progress, leave=False)
        # A dropped connection then ends the stream early instead of discarding the last
        # buffered block; the size check after the stream reports it and keeps the bytes.
        response.raw.enforce_content_length = False
        try:
            with open(self.partial, "ab" if start else "wb") as fh:
                for block in response.iter_content(chunk_size=_BLOCK):
                    fh.write(block)
                    bar.update(len(block))
        except (requests.exceptions.RequestException, OSError) as exc:
            held = self.partial.stat().st_size if self.partial.is_file() else 0
            raise DataError(f"{name}: download interrupted at {held}{f' of {total}' if total else ''} bytes "
                            f"({exc.__class__.__name__}); the partial file {self.partial} is kept: "
                            f"run the command again to resume") from exc
        finally:
            bar.close()

    def _check_size(self, name: str, size: int | None, what: str, discard: bool = False) -> None:
        if self.expected_size is not None and size is not None and size != self.expected_size:
            if discard:
                self.partial.unlink(missing_ok=True)
            raise DataError(f"{name}: size mismatch: {what} {size} bytes but the manifest expects "
                            f"{self.expected_size}" + ("; removed the file" if discard else ""))

    def _finish(self, output_file, size: int) -> None:
        os.replace(self.partial, output_file)

    def _available(self, url: str) -> bool:
        import requests

        try:
            return requests.head(url, timeout=self.timeout, allow_redirects=True).ok
        except requests.exceptions.RequestException:
            return False


def _start_from_content_range(value: str | None) -> int | None:
    # "bytes START-END/TOTAL"
    try:
        return int(value.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _total_from_content_range(value: str | None) -> int | None:
    try:
        return int(value.rsplit("/", 1)[1])
    except (AttributeError, IndexError, ValueError):
        return None


def fetch_file(base_url: str, entry: ArchiveFile, directory: Path, progress: bool = True) -> Path:
    """Fetch one file into ``directory`` with pooch (kept there: a second call does not re-fetch)."""
    import pooch

    pooch.get_logger().setLevel("WARNING")
    directory.mkdir(parents=True, exist_ok=True)
    downloader = ResumableDownloader(directory / f"{entry.file}.part", entry.size, progress)
    target = directory / entry.file
    if target.is_file() and entry.size is not None and target.stat().st_size != entry.size:
        target.unlink()                                   # a stale or truncated copy: fetch again
    try:
        path = pooch.retrieve(archive_url(base_url, entry.file),
                              known_hash=f"sha256:{entry.sha256}" if entry.sha256 else None,
                              fname=entry.file, path=directory, downloader=downloader)
    except DataError:
        raise
    except ValueError as exc:                              # pooch: hash mismatch
        raise DataError(f"{entry.file}: {exc}") from exc
    return Path(path)


def join_parts(parts: Sequence[Path], target: Path) -> Path:
    """Concatenate the parts of a split zip (``300w.zip.001`` ...) into ``target``, atomically."""
    from .io import atomic_write

    if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in parts):
        return target
    with atomic_write(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, _BLOCK)
    return target


def verify_zip(path: Path, label: str | None = None) -> None:
    """Raise :class:`DataError` naming the archive unless every member's CRC checks out."""
    label = label or path.name
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
        raise DataError(f"{label}: corrupt zip archive ({exc})") from exc
    if bad is not None:
        raise DataError(f"{label}: corrupt zip archive (member {bad!r} fails its CRC check)")


def _find_source(staging: Path, archive: Archive) -> Path:
    """The folder inside an unpacked archive that corresponds to ``archive.dest``, whatever its top folder."""
    queue = [staging]
    while queue:
        d = queue.pop(0)
        if archive.subfolders:
            if all((d / s).is_dir() for s in archive.subfolders):
                return d
        elif any(d.glob("*.pts")):
            return d
        queue.extend(sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))))
    wanted = f"a folder with {', '.join(s + '/' for s in archive.subfolders)}" if archive.subfolders \
        else "a folder of .pts files"
    raise DataError(f"{archive.zip_name}: does not contain {wanted} for {archive.dest}/")


def _merge_into(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


def unpack(archive: Archive, zip_path: Path, root: Path) -> Path:
    """Extract ``zip_path`` and move the folder matching ``archive.dest`` to ``root/dest``."""
    staging = Path(tempfile.mkdtemp(prefix=f".unpack-{archive.name}-", dir=root))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(staging)
        _merge_into(_find_source(staging, archive), root / archive.dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / archive.dest


def download_300w(to: str | os.PathLike, base_url: str | None = None, only: Iterable[str] | None = None,
                  manifest: str | os.PathLike | None = None, progress: bool = True,
                  remove_archives: bool = False) -> list[Path]:
    """Fetch, verify and unpack the 300-W archives into ``to``; returns the folders filled.

    ``base_url``: else ``$FACEEVAL_300W_URL``, else the manifest's (ibug). ``only``: archive
    names (afw, helen, ibug, lfpw, 300w). Files already in ``to/archives`` are not fetched again,
    so archives downloaded by hand can be put there.
    """
    default_url, archives = load_manifest(manifest)
    base_url = base_url or os.environ.get(BASE_URL_ENV) or default_url
    if only:
        only = list(only)
        unknown = sorted(set(only) - {a.name for a in archives})
        if unknown:
            raise DataError(f"unknown 300-W archive(s) {unknown}; choose from {', '.join(a.name for a in archives)}")
        archives = [a for a in archives if a.name in only]
    root = Path(to).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    store = root / ARCHIVE_DIR
    filled = []
    for archive in archives:
        parts = [fetch_file(base_url, entry, store, progress) for entry in archive.files]
        zip_path = parts[0] if len(parts) == 1 else join_parts(parts, store / archive.zip_name)
        try:
            verify_zip(zip_path, archive.zip_name)
        except DataError as exc:
            for path in {zip_path, *parts}:
                path.unlink(missing_ok=True)
            raise DataError(f"{exc}; removed {', '.join(sorted({zip_path.name, *(p.name for p in parts)}))}: "
                            f"run the command again to download it afresh") from exc
        filled.append(unpack(archive, zip_path, root))
        if remove_archives:
            for path in {zip_path, *parts}:
                path.unlink(missing_ok=True)
    return filled


__all__ = ["Archive", "ArchiveFile", "ResumableDownloader", "download_300w", "load_manifest", "fetch_file",
           "verify_zip", "unpack", "join_parts", "BASE_URL_ENV", "ARCHIVE_DIR"]
