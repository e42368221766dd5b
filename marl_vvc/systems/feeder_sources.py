"""Feeder sources: what a downloadable feeder's files are, where they live, their checksums.

Data only; :mod:`marl_vvc.systems.feeder_data` finds, fetches and checks the files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


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
# tests/systems/test_8500.py checks that it compiles to the same power flow as PowerGym's
# master once the configured batteries are placed.
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
