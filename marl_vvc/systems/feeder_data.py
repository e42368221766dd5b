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
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

from marl_vvc.errors import ConfigError, DataNotFoundError

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


@dataclass(frozen=True)
class RemoteFile:
    """One file of a feeder source.

    Attributes:
        name: File name, the same in the remote folder and in the local one.
        sha256: Expected SHA-256 of the exact bytes (hex, lower case).
        size: Expected size in bytes (a download that grows past it is cut off and rejected).
    """

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FeederSource:
    """A downloadable feeder: where to find it and what its files must hash to.

    Attributes:
        key: Name used in system configurations (``feeder_data: ieee8500``).
        title: Human-readable name for messages.
        folder: Folder name of the feeder (PowerGym's layout, e.g. ``8500-Node``).
        master: Name of the master file inside a feeder folder.
        env_dir: Environment variable naming a local folder to use instead.
        env_url: Environment variable naming a base URL (mirror) to download from instead.
        base_urls: Base URLs tried in order (each ends with ``/``; file names are appended).
        files: Manifest of the downloaded files.
        master_text: Master file that marl_vvc writes next to the downloaded files.
    """

    key: str
    title: str
    folder: str
    master: str
    env_dir: str
    env_url: str
    base_urls: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    master_text: str

    @property
    def digest(self) -> str:
        """Short digest of the manifest and master (names the cache folder)."""
        h = hashlib.sha256(self.master_text.encode())
        for f in self.files:
            h.update(f"{f.name}\0{f.sha256}\0{f.size}\n".encode())
        return h.hexdigest()[:12]

    @property
    def total_size(self) -> int:
        """Bytes to download."""
        return sum(f.size for f in self.files)


# ------------------------------------------------------------------------ IEEE 8500-node
# What was verified and what was not (no network on the machine that wrote this):
# - Checksums and sizes were computed from PowerGym's copy of the feeder
#   (../shared/reference/powergym-systems/8500-Node, byte-identical to siemens/powergym
#   commit c9fc6d8's systems/8500-Node folder). PowerGym modified only the master files
#   (Master.dss gained the battery Generators; Master_daily.dss, Loads_daily.dss and the
#   loadshape folder are PowerGym's own). The 11 files below are, we believe, EPRI's files
#   unchanged, but this was NOT compared with an upstream copy.
# - The first base URL serves exactly those bytes if GitHub serves that commit as published.
# - The second (dss-extensions/electricdss-tst, Version8 tree) is the upstream the issue names.
#   Its file names, their case and their bytes were NOT checked: its newer masters redirect
#   LoadXfmrCodes.dss and Buscoords.dss and spell some names in upper case, so it may hold a
#   later revision. A mismatch there is rejected by the checksums, never used silently.
#   Confirm on a networked machine (fetch_feeder(IEEE8500, base_url=...) on each URL) before
#   relying on it; the upstream Master.dss is not needed (see master_text).
_POWERGYM_URL = (
    "https://raw.githubusercontent.com/siemens/powergym/"
    "c9fc6d8357308a1f2bd2389474b56089c2a6bd78/systems/8500-Node/"
)
_UPSTREAM_URL = (
    "https://raw.githubusercontent.com/dss-extensions/electricdss-tst/master/"
    "Version8/Distrib/IEEETestCases/8500-Node/"
)

# The balanced-load master of the 8500-node feeder: PowerGym's Master.dss with its battery block
# removed (same commands in the same order; comments and blank lines dropped, LF line ends).
# tests/test_8500.py checks that it compiles to the same power flow as PowerGym's master once
# the configured batteries are placed.
_MASTER_8500 = """\
// IEEE 8500-node test feeder, balanced load case.
// Written by marl_vvc next to the downloaded feeder files (the same commands as the feeder's
// own Master.dss, without batteries: marl_vvc adds them from its system configuration).
Clear
New Circuit.IEEE8500
~ pu=1.05  r1=0  x1=0.001  r0=0  x0=0.001
Redirect  LineCodes2.dss
Redirect  Triplex_Linecodes.dss
Redirect  Lines.dss
Redirect  Transformers.dss
Redirect  LoadXfmrs.dss
Redirect  Triplex_Lines.dss
Redirect  Loads.dss
Redirect  Capacitors.dss
Redirect  CapControls.dss
Redirect  Regulators.dss
Set voltagebases=[115, 12.47,  0.48, 0.208]
Calcvoltagebases
BusCoords  BusCoords.csv
"""

IEEE8500 = FeederSource(
    key="ieee8500",
    title="IEEE 8500-node test feeder",
    folder="8500-Node",
    master="Master.dss",
    env_dir="MARL_VVC_8500_DIR",
    env_url="MARL_VVC_8500_URL",
    base_urls=(_POWERGYM_URL, _UPSTREAM_URL),
    files=(
        RemoteFile(
            "LineCodes2.dss",
            "3fec9199a41696a758eaff7065f86a89477f70898b1bee3295de9c74f154121a",
            12249,
        ),
        RemoteFile(
            "Triplex_Linecodes.dss",
            "7dfbfc23e19d8930c9e5ac3302bd9e8e9d52aee9c333e3fc80422f15752a886d",
            786,
        ),
        RemoteFile(
            "Lines.dss", "460eb5e8179bda1926d0d70cf4fc9d8bdd29ab4dd9a101941730749f8a4a663a", 389011
        ),
        RemoteFile(
            "Transformers.dss",
            "3d20886ad01f25f092bb908267cf45e101e79fd517dc96fe3e10d599b81e8281",
            1559,
        ),
        RemoteFile(
            "LoadXfmrs.dss",
            "bcb0d10caab6e53d5b5b18b669ebd83f67f79135a478c3079f78a2fdd943122a",
            292247,
        ),
        RemoteFile(
            "Triplex_Lines.dss",
            "abf45521bc05a7f9d5c3fa4c94c4f24f7ea9bc984e7086b303ae4a143d77971d",
            128587,
        ),
        RemoteFile(
            "Loads.dss", "4d5b68a8095bbee59a95ba08255f34b74fcf3d89c0e413df2fc669648fb2d18f", 149061
        ),
        RemoteFile(
            "Capacitors.dss",
            "cc05836176a6715b121619079eb6cef96e77468a3368c8ed44815f2e9d684dcf",
            927,
        ),
        RemoteFile(
            "CapControls.dss",
            "562818b4d905f391e88ed58efcd54150d4296d6cfb355f8abac32c969a290348",
            2084,
        ),
        RemoteFile(
            "Regulators.dss",
            "624b0856415361caec9b0cf458772ea4e0a85cd7f1ff80635f648dd14892db2a",
            2925,
        ),
        RemoteFile(
            "BusCoords.csv",
            "2f8d940a42abdb02853e4c073321bc8a9e77c4ed9d300197fd75e205d65bc814",
            108125,
        ),
    ),
    master_text=_MASTER_8500,
)

SOURCES: dict[str, FeederSource] = {IEEE8500.key: IEEE8500}


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
