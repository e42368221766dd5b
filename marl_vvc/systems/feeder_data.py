"""Feeder data too large to ship: find it, or fetch it once into a user cache, checksummed.

The IEEE 8500-node test feeder (EPRI's public OpenDSS model, about 1.1 MB in 11 files) is not
part of the package. :func:`locate_feeder` finds its master file in this order:

1. the folder named by the source's environment variable (``MARL_VVC_8500_DIR``): either a
   feeder folder holding ``Master.dss`` or a PowerGym-style ``systems`` folder holding
   ``8500-Node/Master.dss``; used as it is (the user's files are never checked or changed);
2. the user cache (``$MARL_VVC_CACHE``, else ``$XDG_CACHE_HOME/marl_vvc``, else
   ``~/.cache/marl_vvc``), folder ``<source folder>-<manifest digest>``, whose files must
   match the manifest's SHA-256 checksums;
3. a download of the manifest's files over HTTP(S) into that cache folder (skipped when
   ``MARL_VVC_OFFLINE=1``): every file is streamed into a private temporary folder inside the
   cache, size-bounded and hashed; the folder becomes the cache entry only when every file
   matches. A corrupted or truncated download raises :class:`ChecksumError` and leaves
   nothing behind.

Anything else raises :class:`~marl_vvc.errors.DataNotFoundError` with what to do: the URL,
the file names, the cache folder, the environment variable and the ``systems_dir`` argument.

The cache folder also receives the feeder's master file, written by marl_vvc from
:attr:`FeederSource.master_text` (never downloaded): it redirects the downloaded files in the
order of the feeder's own ``Master.dss`` and declares no battery; the system configuration
places the batteries (``placement`` in ``configs/8500Node.yaml``). Writing our own master keeps
the compiled circuit the same whichever revision of the upstream master a mirror holds.

This module never imports OpenDSS and writes nothing outside the cache folder.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.error import URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

from marl_vvc.errors import ConfigError, DataNotFoundError
from marl_vvc.systems.feeder_sources import IEEE8500, SOURCES, FeederSource, RemoteFile

__all__ = [
    "ENV_CACHE",
    "ENV_OFFLINE",
    "IEEE8500",
    "SOURCES",
    "ChecksumError",
    "FeederSource",
    "RemoteFile",
    "cache_folder",
    "cache_root",
    "download_file",
    "fetch_feeder",
    "file_sha256",
    "folder_manifest",
    "locate_feeder",
    "offline",
    "verify_folder",
]

# Environment lookups go through this mapping. Tests replace it with a plain dict instead of
# changing the real environment: the OpenDSS library (Free Pascal) keeps a pointer to the
# process environment block and crashes in threads started after the block is reallocated by
# ``setenv``.
_ENV: Mapping[str, str] = os.environ

ENV_CACHE = "MARL_VVC_CACHE"
ENV_OFFLINE = "MARL_VVC_OFFLINE"
_CHUNK = 1 << 16


class ChecksumError(DataNotFoundError):
    """A downloaded or cached feeder file does not match the manifest's SHA-256 checksum."""


# ------------------------------------------------------------------------ helpers
def cache_root() -> Path:
    """marl_vvc's user cache folder; not created here.

    ``$MARL_VVC_CACHE`` if set, else ``$XDG_CACHE_HOME/marl_vvc``, else ``~/.cache/marl_vvc``.
    """
    if _ENV.get(ENV_CACHE):
        return Path(_ENV[ENV_CACHE]).expanduser()
    xdg = _ENV.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "marl_vvc"


def cache_folder(source: FeederSource, cache: Path | None = None) -> Path:
    """Cache folder of one source (its name changes whenever the manifest does)."""
    return (cache_root() if cache is None else Path(cache)) / f"{source.folder}-{source.digest}"


def offline() -> bool:
    """True when ``MARL_VVC_OFFLINE`` forbids downloads (any value but '', '0', 'false', 'no')."""
    return _ENV.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_manifest(folder: Path, names: list[str] | tuple[str, ...]) -> tuple[RemoteFile, ...]:
    """Manifest entries for files in a local folder (to build or update a manifest)."""
    folder = Path(folder)
    return tuple(RemoteFile(n, file_sha256(folder / n), (folder / n).stat().st_size) for n in names)


def verify_folder(folder: Path, files: tuple[RemoteFile, ...]) -> list[str]:
    """Names of manifest files that are missing from ``folder`` or differ from the manifest."""
    bad = []
    for f in files:
        path = Path(folder) / f.name
        if not path.is_file() or path.stat().st_size != f.size or file_sha256(path) != f.sha256:
            bad.append(f.name)
    return bad


def _write_master(folder: Path, source: FeederSource) -> Path:
    """Write (or refresh) marl_vvc's master file in a cache folder, atomically."""
    path = folder / source.master
    if path.is_file() and path.read_text() == source.master_text:
        return path
    fd, tmp = tempfile.mkstemp(prefix=".master-", dir=folder)
    with os.fdopen(fd, "w", newline="\n") as fh:
        fh.write(source.master_text)
    os.replace(tmp, path)
    return path


def _check_url(base_url: str) -> str:
    scheme = urlsplit(base_url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DataNotFoundError(f"feeder download URL must be http(s), got {base_url!r}")
    return base_url if base_url.endswith("/") else base_url + "/"


def download_file(url: str, dest: Path, expected: RemoteFile, *, timeout: float = 30.0) -> None:
    """Stream ``url`` into ``dest``, rejecting any size or SHA-256 mismatch.

    Raises:
        ChecksumError: The bytes differ from the manifest (``dest`` is removed).
        DataNotFoundError: The server could not be reached or answered with an error.
    """
    request = Request(url, headers={"User-Agent": "marl_vvc feeder fetch"})
    h = hashlib.sha256()
    size = 0
    try:
        with urlopen(request, timeout=timeout) as resp, open(dest, "wb") as out:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > expected.size:  # never store more than the manifest allows
                    break
                h.update(chunk)
                out.write(chunk)
    except (URLError, OSError, ValueError, http.client.HTTPException) as exc:
        dest.unlink(missing_ok=True)
        raise DataNotFoundError(f"could not download {url}: {exc}") from exc
    if size != expected.size or h.hexdigest() != expected.sha256:
        dest.unlink(missing_ok=True)
        got = f"more than {expected.size}" if size > expected.size else str(size)
        raise ChecksumError(
            f"{url}: {got} bytes with SHA-256 {h.hexdigest()[:16]}…, expected {expected.size} "
            f"bytes with SHA-256 {expected.sha256[:16]}… (corrupted download, or the mirror "
            "holds another revision of the file); nothing was kept"
        )


def fetch_feeder(
    source: FeederSource,
    *,
    base_url: str,
    cache: Path | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download every manifest file from ``base_url`` into the cache and verify it.

    The files go to a private temporary folder inside the cache first; it becomes the cache
    entry only after every checksum matched, so a failed download leaves nothing behind.

    Args:
        source: What to fetch.
        base_url: Folder URL; each file is ``base_url + name``.
        cache: Cache root (default :func:`cache_root`).
        timeout: Socket timeout per request, in seconds.

    Returns:
        The cache folder (holding the files and marl_vvc's master file).

    Raises:
        ChecksumError: A file does not match the manifest.
        DataNotFoundError: A file could not be downloaded.
    """
    base = _check_url(base_url)
    final = cache_folder(source, cache)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".partial-{source.folder}-", dir=final.parent))
    try:
        for f in source.files:
            download_file(base + quote(f.name), tmp / f.name, f, timeout=timeout)
        _write_master(tmp, source)
        if final.exists():
            if not verify_folder(final, source.files):  # another process installed it first
                return final
            shutil.rmtree(final)  # a damaged entry, replaced by the verified download
        try:
            os.replace(tmp, final)
        except OSError:  # another process installed it meanwhile
            if verify_folder(final, source.files):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _help(source: FeederSource, cache_dir: Path, why: str) -> str:
    names = ", ".join(f.name for f in source.files)
    return (
        f"{source.title}: {why}\n"
        "It is not shipped with marl_vvc; any one of these provides it:\n"
        f"  1. allow network access once: marl_vvc downloads {len(source.files)} files "
        f"({source.total_size / 1e6:.1f} MB) from\n       {source.base_urls[0]}\n"
        f"     into {cache_dir}\n"
        f"     (unset {ENV_OFFLINE}; {source.env_url}=<base URL> names a mirror);\n"
        f"  2. download these files from that URL yourself into {cache_dir}:\n"
        f"       {names}\n"
        "     (their SHA-256 checksums are checked; marl_vvc writes the master file itself);\n"
        f"  3. point {source.env_dir} at a folder holding a complete copy of the feeder with its "
        f"own {source.master}\n"
        f"     (e.g. OpenDSS's IEEETestCases/{source.folder} or PowerGym's "
        f"systems/{source.folder}), or pass\n"
        f"     systems_dir=<folder containing {source.folder}/> to make_env / parallel_env."
    )


def locate_feeder(
    key: str,
    *,
    base_url: str | None = None,
    cache: Path | None = None,
    allow_download: bool | None = None,
    timeout: float = 30.0,
) -> Path:
    """The master file of a feeder: user folder, else cache, else download (see module doc).

    Args:
        key: Source key (``"ieee8500"``).
        base_url: Download from this base URL only (default: ``$<env_url>``, else the
            source's URLs in order).
        cache: Cache root (default :func:`cache_root`).
        allow_download: False never downloads; None (default) downloads unless
            ``MARL_VVC_OFFLINE`` is set.
        timeout: Socket timeout per request, in seconds.

    Raises:
        ConfigError: Unknown ``key``.
        DataNotFoundError: The data cannot be found or fetched; the message says what to do.
            A damaged cache entry (offline) is reported here, naming the bad files.
        ChecksumError: Every download attempt was rejected by the checksums.
    """
    if key not in SOURCES:
        raise ConfigError(f"feeder_data: unknown feeder {key!r}; known: {sorted(SOURCES)}")
    source = SOURCES[key]

    named = _ENV.get(source.env_dir)
    if named:
        folder = Path(named).expanduser().resolve()
        for master in (folder / source.master, folder / source.folder / source.master):
            if master.is_file():
                return master
        raise DataNotFoundError(
            f"{source.env_dir}={named}: expected {folder / source.master} or "
            f"{folder / source.folder / source.master} ({source.title}); unset {source.env_dir} "
            "to use the cache or a download instead"
        )

    entry = cache_folder(source, cache)
    bad = verify_folder(entry, source.files) if entry.is_dir() else None
    if bad == []:
        return _write_master(entry, source)

    off = f"{ENV_OFFLINE} is set" if allow_download is None else "allow_download=False"
    if allow_download is None:
        allow_download = not offline()
    if not allow_download:
        why = (
            f"the cache folder {entry} is incomplete or damaged ({', '.join(bad)})"
            if bad
            else "no local copy was found"
        )
        raise DataNotFoundError(_help(source, entry, f"{why}, and downloads are off ({off})."))

    urls = (base_url,) if base_url else None
    if urls is None and _ENV.get(source.env_url):
        urls = (_ENV[source.env_url],)
    errors: list[DataNotFoundError] = []
    for url in urls or source.base_urls:
        try:
            return fetch_feeder(source, base_url=url, cache=cache, timeout=timeout) / source.master
        except DataNotFoundError as exc:
            errors.append(exc)
    lines = "\n  ".join(str(e) for e in errors)
    error_type = (
        ChecksumError if all(isinstance(e, ChecksumError) for e in errors) else DataNotFoundError
    )
    raise error_type(_help(source, entry, f"the download failed:\n  {lines}"))
