"""Download and extract GTZAN and MagnaTagATune, with mirrors, resume and checksums.

Each corpus is a list of :class:`FileSpec`: a file name, the URLs to try in order and its
checksum. A file is streamed into ``<dest>/<name>.part``; an interrupted transfer resumes with
an HTTP range request (from the same mirror while it keeps sending data, else from the next);
the finished file is verified and only then renamed to ``<dest>/<name>``, so a file with its
final name is always complete. Archives are extracted with every member checked to stay inside
``dest``, and a ``<dest>/.<corpus>.done`` marker makes re-runs skip the corpus.

Checksums: GTZAN's ``genres.tar.gz`` by sha256 and size (the value torchaudio checks). The
MagnaTagATune files by md5, the values checked by the downloader of keunwoochoi/kapre
(``kapre/datasets.py``) and, identically, by other public MagnaTagATune loaders; no sizes were
found for them.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from wavegen import __version__
from wavegen.errors import WavegenError
from wavegen.progress import progress

log = logging.getLogger(__name__)

CHUNK = 1 << 20
MAX_UNDECLARED = 16 << 30  # bytes read for a file of undeclared size (MTAT parts are ~1 GB)
MAX_RESUMES = 10  # resumed attempts per URL after a transfer broke off with progress


@dataclass(frozen=True)
class FileSpec:
    """One file of a corpus.

    Attributes:
        name: file name in the destination folder and last component of mirror URLs.
        urls: full URLs, tried in order after any user mirrors.
        checksum: ``"<hashlib algorithm>:<hex digest>"``, e.g. ``"sha256:2434..."``.
        size: size in bytes, when known (checked before the digest).
    """

    name: str
    urls: tuple[str, ...]
    checksum: str
    size: int | None = None


_MTAT_HOSTS = ("https://mirg.city.ac.uk/datasets/magnatagatune",
               "http://mi.soi.city.ac.uk/datasets/magnatagatune")
_MTAT_MD5 = {
    "mp3.zip.001": "179c91c8c2a6e9b3da3d4e69d306fd3b",
    "mp3.zip.002": "acf8265ff2e35c6ff22210e46457a824",
    "mp3.zip.003": "582dc649cabb8cd991f09e14b99349a5",
    "annotations_final.csv": "f04fa01752a8cc64f6e1ca142a0fef1d",
    "clip_info_final.csv": "03ef3cb8ddcfe53fdcdb8e0cda005be2",
}

CORPORA: dict[str, tuple[FileSpec, ...]] = {
    "gtzan": (
        FileSpec(
            "genres.tar.gz",
            ("http://opihi.cs.uvic.ca/sound/genres.tar.gz",
             "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz"),
            "sha256:24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
            1_225_571_541,
        ),
    ),
    "mtat": tuple(FileSpec(name, tuple(f"{host}/{name}" for host in _MTAT_HOSTS), f"md5:{md5}")
                  for name, md5 in _MTAT_MD5.items()),
}


def download_corpus(
    name: str, dest: str | os.PathLike[str], mirrors: Sequence[str] = (),
    specs: Sequence[FileSpec] | None = None, timeout: float = 30.0,
) -> Path:
    """Download and extract a corpus into ``dest``; skipped when ``dest`` has its marker.

    GTZAN ends up as ``dest/genres/<genre>/...``; MagnaTagATune as ``dest/mp3/<0-f>/...``
    next to its csv files.

    Args:
        name: ``gtzan`` or ``mtat``.
        dest: destination folder (created).
        mirrors: base URLs tried before the built-in ones (``<mirror>/<file name>``).
        specs: the corpus files, replacing the built-in list (same file names).
        timeout: seconds allowed to connect and for each read.

    Returns:
        ``dest``.

    Raises:
        WavegenError: unknown corpus, every URL of a file failed, or an unsafe archive.
    """
    if name not in CORPORA:
        raise WavegenError(f"unknown corpus '{name}'; known: {', '.join(CORPORA)}")
    dest = Path(dest)
    marker = dest / f".{name}.done"
    if marker.exists():
        log.info("%s is already in %s; delete %s to fetch it again", name, dest, marker)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    files = [download_file(spec, dest, mirrors, timeout)
             for spec in (CORPORA[name] if specs is None else specs)]
    if name == "gtzan":
        extract_tar(dest / "genres.tar.gz", dest)
    else:
        parts = sorted(f for f in files if f.name.startswith("mp3.zip."))
        extract_split_zip(parts, dest / "mp3.zip", dest / "mp3")
    marker.touch()
    return dest


def specs_with_checksums(name: str, path: str | os.PathLike[str]) -> tuple[FileSpec, ...]:
    """The corpus's files with the checksums (and sizes) of a checksum file instead.

    For a mirror that serves its own build of the files. Each line of the file is
    ``<file name> <algorithm>:<hex digest> [<size in bytes>]``; files it does not name keep
    the built-in values.

    Raises:
        WavegenError: unknown corpus, a malformed line or a file name the corpus lacks.
    """
    if name not in CORPORA:
        raise WavegenError(f"unknown corpus '{name}'; known: {', '.join(CORPORA)}")
    specs = {s.name: s for s in CORPORA[name]}
    path = Path(path)
    if not path.is_file():
        raise WavegenError(f"checksum file {path} not found")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or line.lstrip().startswith("#"):
            continue
        algorithm, _, digest = fields[1].partition(":") if len(fields) > 1 else ("", "", "")
        if (len(fields) not in (2, 3) or algorithm not in hashlib.algorithms_available
                or not digest or any(c not in "0123456789abcdefABCDEF" for c in digest)
                or (len(fields) == 3 and not fields[2].isdigit())):
            raise WavegenError(f"{path}:{lineno}: expected '<file> <algorithm>:<digest> "
                               f"[<size>]', got {line!r}")
        if fields[0] not in specs:
            raise WavegenError(f"{path}:{lineno}: '{fields[0]}' is not a file of {name}; "
                               f"its files: {', '.join(specs)}")
        size = int(fields[2]) if len(fields) == 3 else None
        specs[fields[0]] = replace(specs[fields[0]], checksum=fields[1], size=size)
    return tuple(specs.values())


def download_file(
    spec: FileSpec, dest: str | os.PathLike[str], mirrors: Sequence[str] = (),
    timeout: float = 30.0,
) -> Path:
    """Fetch one file into ``dest`` (skipped when already there and verified).

    Returns:
        Path of the verified file.

    Raises:
        WavegenError: every URL failed; the message lists each with its failure.
    """
    final = Path(dest) / spec.name
    part = final.with_name(final.name + ".part")
    if final.exists():
        problem = verify(final, spec)
        if problem is None:
            log.info("%s is already downloaded and verified", final)
            return final
        log.warning("removing %s and downloading it again: %s", final, problem)
        final.unlink()
    urls = [f"{m.rstrip('/')}/{spec.name}" for m in mirrors] + list(spec.urls)
    failures = []
    for url in urls:
        resumed = part.exists()
        problem = _download_verified(url, part, spec, timeout)
        if problem is not None and resumed and not part.exists():
            # The bad bytes may have come from an earlier partial download: retry from zero.
            log.warning("%s: %s; downloading again from the start", url, problem)
            problem = _download_verified(url, part, spec, timeout)
        if problem is None:
            os.replace(part, final)
            log.info("downloaded %s from %s", final, url)
            return final
        log.warning("%s: %s", url, problem)
        failures.append(f"{url}: {problem}")
    kept = (f"; the partial download {part} was kept and a re-run resumes it"
            if part.exists() else "")
    raise WavegenError(
        f"could not download {spec.name}: {'; '.join(failures)}{kept}; add a mirror that has "
        f"it (--mirror URL) or put the file into {Path(dest)} by hand")


def verify(path: Path, spec: FileSpec) -> str | None:
    """None when ``path`` has the size and checksum of ``spec``, else what is wrong."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"size {size} bytes, expected {spec.size}"
    algorithm, _, expected = spec.checksum.partition(":")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        return f"{algorithm} {digest.hexdigest()}, expected {expected}"
    return None


def _download_verified(url: str, part: Path, spec: FileSpec, timeout: float) -> str | None:
    """Complete and verify ``part`` (removed when the checksum fails); None on success."""
    problem = _fetch_resuming(url, part, spec.size, timeout)
    if problem is None:
        problem = verify(part, spec)
        if problem is not None:
            part.unlink()
    return problem


def _fetch_resuming(url: str, part: Path, size: int | None, timeout: float) -> str | None:
    """Complete ``part`` from ``url``, resuming while attempts make progress; None on success."""
    for _ in range(MAX_RESUMES + 1):
        before = part.stat().st_size if part.exists() else 0
        try:
            _fetch(url, part, size, timeout)
            return None
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code} {err.reason}"
        except urllib.error.URLError as err:
            return f"{err.reason}"
        except (OSError, http.client.HTTPException) as err:
            problem = f"{type(err).__name__}: {err}"
        after = part.stat().st_size if part.exists() else 0
        if after <= before:
            return problem
        log.warning("%s: %s; resuming at byte %d", url, problem, after)
    return f"{problem} (gave up after {MAX_RESUMES} resumes)"


def _fetch(url: str, part: Path, size: int | None, timeout: float) -> None:
    """One HTTP request appending to ``part`` (or rewriting it when the range is ignored)."""
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        part.unlink()
        start = 0
    if size is not None and start == size:
        return
    headers = {"User-Agent": f"wavegen/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # nothing left to send: let the checksum decide
            return
        raise
    with resp:
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        content_range = resp.headers.get("Content-Range", "")
        if resp.status == 206:
            if not content_range.startswith(f"bytes {start}-"):
                raise ConnectionError(f"asked for bytes {start}- but got '{content_range}'")
            mode = "ab"
        else:
            if start:
                log.info("%s ignored the range request; downloading from the start", url)
            start, mode = 0, "wb"
        total = size if size is not None else (start + expected if expected is not None else None)
        # Never more than the declared size (or, undeclared, MAX_UNDECLARED): a mirror that
        # streams on is cut off before it fills the disk.
        limit = (size if size is not None else MAX_UNDECLARED) - start
        received = 0
        with open(part, mode) as fh, progress(total=total, initial=start, unit="B",
                                              unit_scale=True, unit_divisor=1024,
                                              desc=part.stem) as bar:
            while chunk := resp.read(min(CHUNK, limit - received + 1)):
                if received + len(chunk) > limit:
                    fh.write(chunk[: limit - received])
                    raise ConnectionError(f"{url} sent more than the {start + limit} bytes "
                                          "declared for it; stopped reading")
                fh.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received < expected:
        raise ConnectionError(f"connection closed after {received} of {expected} bytes")


def _check_member(name: str, dest: Path, archive: Path) -> None:
    path = PurePosixPath(name)
    target = (dest / path).resolve()
    if path.is_absolute() or ".." in path.parts or not target.is_relative_to(dest.resolve()):
        raise WavegenError(f"refusing to extract {archive}: member '{name}' would be written "
                           f"outside {dest}; the archive is corrupt or not the expected one")


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract regular files and folders of ``archive`` into ``dest``; refuse anything else."""
    log.info("extracting %s into %s", archive, dest)
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(m.name, dest, archive)
                if not (m.isfile() or m.isdir()):
                    raise WavegenError(f"refusing to extract {archive}: member '{m.name}' is a "
                                       "link or a device, which a corpus archive never holds")
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members, filter="data")
            else:  # a Python without extraction filters; the members were checked above
                tf.extractall(dest, members)
    except tarfile.TarError as err:
        raise WavegenError(f"cannot extract {archive} ({err}); delete it and download it "
                           "again") from err


def extract_split_zip(parts: Sequence[Path], joined: Path, dest: Path) -> None:
    """Concatenate a zip split into ``parts``, extract it into ``dest``, remove the join."""
    log.info("joining %s into %s", ", ".join(p.name for p in parts), joined)
    with open(joined, "wb") as out:
        for p in parts:
            with open(p, "rb") as fh:
                shutil.copyfileobj(fh, out, CHUNK)
    log.info("extracting %s into %s", joined, dest)
    try:
        with zipfile.ZipFile(joined) as zf:
            # Every member is checked before anything is written.
            for info in zf.infolist():
                _check_member(info.filename, dest, joined)
                kind = stat.S_IFMT(info.external_attr >> 16)
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                    raise WavegenError(f"refusing to extract {joined}: member "
                                       f"'{info.filename}' is a link or a device, which a "
                                       "corpus archive never holds")
            zf.extractall(dest)
    except zipfile.BadZipFile as err:
        raise WavegenError(f"{joined} is not a valid zip archive ({err}); delete the parts "
                           "and download them again") from err
    except OSError as err:
        raise WavegenError(f"cannot extract {joined} into {dest}: {err}") from err
    finally:
        joined.unlink()


__all__ = ["CORPORA", "FileSpec", "download_corpus", "download_file", "extract_split_zip",
           "extract_tar", "specs_with_checksums", "verify"]
