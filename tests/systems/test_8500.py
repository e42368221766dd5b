"""The IEEE 8500-node system: PowerGym parity, fetch and cache, missing data, battery placement.

Parity (``test_parity_replay``): PowerGym's two recorded 8500Node episodes replayed through
``make_env("8500Node", systems_dir=<PowerGym's systems copy>)`` with the recorded per-load
multipliers (PowerGym's yearly ``bic_loadshape.csv`` is not in the reference data). Measured
on the pinned OpenDSS (DSS C-API 0.14.5), both profiles:

- observations (8573 entries), stored kWh, solver iterations: bit-identical at every step;
- ``power_loss_ratio``: bit-identical;
- ``vol_reward`` and so ``reward``: up to 1.3e-12 apart (profile 5, step 11; the values lie
  between -489 and -48). Cause: summation order. PowerGym adds the 4876 per-bus terms one
  after another in a Python loop; marl_vvc sums a numpy array (pairwise summation). A
  left-to-right sum of our own per-bus terms equals PowerGym's value exactly at all 48
  steps, so the voltages and the per-bus terms agree bit for bit;
- ``ctrl_reward``: up to 7e-15 apart (same cause, 32 device costs).

The tests bound everything by 1e-6, as for the other systems.

Fetching: the manifest's files are served from a copy of the reference files by an HTTP
server on 127.0.0.1 (ephemeral port, stopped by the test or by a watchdog after 120 s);
every download in this module goes through a guard that refuses any other host, and
``MARL_VVC_OFFLINE=1`` is set unless a test unsets it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from conftest import REPO_ROOT

from marl_vvc import CircuitLoadError, ConfigError, DataNotFoundError, load_system, make_env
from marl_vvc.systems import feeder_data as fd
from marl_vvc.systems.feeder_data import IEEE8500, ChecksumError, locate_feeder
from marl_vvc.tasks.build import build_core

TOL = 1e-6
FOLDER = "8500-Node"
TRACES = ["8500Node_profile00_seed1.json", "8500Node_profile05_seed1.json"]


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private cache, downloads off, no user folder, and no request beyond loopback."""
    cache = tmp_path / "cache"
    # A private copy of the environment: changing the real one (setenv) makes the OpenDSS
    # library crash in threads started later in the same process (see feeder_data._ENV).
    env = {k: v for k, v in os.environ.items() if k not in (IEEE8500.env_dir, IEEE8500.env_url)}
    env[fd.ENV_CACHE] = str(cache)
    env[fd.ENV_OFFLINE] = "1"
    monkeypatch.setattr(fd, "_ENV", env)
    real_urlopen = fd.urlopen

    def loopback_only(request, *args, **kwargs):
        url = request.full_url if hasattr(request, "full_url") else str(request)
        host = urlsplit(url).hostname
        if host != "127.0.0.1":
            raise AssertionError(f"a test tried to reach {url}; only 127.0.0.1 is allowed")
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(fd, "urlopen", loopback_only)
    return cache


@pytest.fixture(scope="module")
def traces(traces_dir: Path) -> dict[str, dict]:
    return {name: json.loads((traces_dir / name).read_text()) for name in TRACES}


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` on 127.0.0.1; yields (base URL, list of requested paths)."""
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    watchdog = threading.Timer(120.0, server.shutdown)  # stops by itself if a test hangs
    watchdog.daemon = True
    watchdog.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", hits
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def mirror(reference_dir: Path, tmp_path: Path) -> Path:
    """A folder holding exactly the manifest's files, as a mirror would."""
    out = tmp_path / "mirror"
    out.mkdir()
    for f in IEEE8500.files:
        shutil.copyfile(reference_dir / FOLDER / f.name, out / f.name)
    return out


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def _stripped_copy(reference_dir: Path, dest: Path) -> Path:
    """PowerGym's 8500-Node folder without the battery Generators in Master.dss."""
    shutil.copytree(reference_dir / FOLDER, dest / FOLDER)
    master = dest / FOLDER / "Master.dss"
    master.chmod(0o644)
    lines = master.read_text().splitlines()
    kept = [ln for ln in lines if not ln.lower().startswith("new generator.batt")]
    assert len(lines) - len(kept) == 10
    master.write_text("\n".join(kept) + "\n")
    return dest


# ------------------------------------------------------------------------ (a) parity
@pytest.mark.parametrize("trace_name", TRACES)
def test_parity_replay(trace_name: str, traces: dict, reference_dir: Path) -> None:
    trace = traces[trace_name]
    env = make_env("8500Node", systems_dir=str(reference_dir))
    try:
        assert env.observation_space.shape == (trace["observation_layout"]["size"],) == (8573,)
        core = env.unwrapped.core
        assert [f"Capacitor.{c.name}" for c in core.fleet["capacitor"].devices] == trace[
            "cap_names"
        ]
        assert [f"Regulator.{r.name}" for r in core.fleet["regulator"].devices] == trace[
            "reg_names"
        ]
        assert [f"Battery.{b.name}" for b in core.fleet["battery"].devices] == trace["bat_names"]
        obs, _ = env.reset(options={"load_multipliers": trace["load_profile"]["multipliers"]})
        np.testing.assert_allclose(obs, trace["reset"]["obs"], rtol=0, atol=TOL)
        assert env.observation_space.contains(obs)
        for rec in trace["steps"]:
            obs, reward, terminated, truncated, info = env.step(rec["action"])
            where = f"{trace_name} step {rec['t']}"
            np.testing.assert_allclose(obs, rec["obs"], rtol=0, atol=TOL, err_msg=where)
            assert reward == pytest.approx(rec["reward"], abs=TOL), where
            for key, value in rec["info"].items():
                assert info[key] == pytest.approx(value, abs=TOL), f"{where}: info[{key!r}]"
            assert terminated == rec["done"] and not truncated
            kwh = [b["kwh"] for b in rec["debug"]["batteries"]]
            np.testing.assert_array_equal(core.fleet["battery"].kwh, kwh, err_msg=where)
            snap = core.snapshot
            assert snap.losses_kw == pytest.approx(rec["debug"]["total_losses_kw"], abs=1e-9)
            assert snap.total_power_kw == pytest.approx(rec["debug"]["total_power_kw"], abs=1e-9)
    finally:
        env.close()


def test_config_weights_and_devices(reference_dir: Path) -> None:
    cfg = load_system("8500Node", systems_dir=str(reference_dir))
    w = cfg.reward.weights
    assert (w.power_w, w.cap_w, w.reg_w, w.soc_w, w.dis_w) == (1.0, 1 / 33, 1 / 33, 0.0, 200 / 33)
    w = load_system("8500Node_soc", systems_dir=str(reference_dir)).reward.weights
    assert (w.soc_w, w.dis_w) == (10000 / 33, 100 / 33)
    assert (
        len(cfg.devices.capacitors),
        len(cfg.devices.regulators),
        len(cfg.devices.batteries),
        cfg.scenario.horizon,
    ) == (
        10,
        12,
        10,
        24,
    )
    assert cfg.feeder.circuit == (reference_dir / FOLDER / "Master.dss").resolve()
    # Ratings come from the folder's Battery.csv; placements still come from our config.
    assert all(b.placement is not None for b in cfg.devices.batteries)


def test_non_daily_master_matches_powergym_daily_master(reference_dir: Path) -> None:
    """Master.dss (what we compile) is Master_daily.dss minus the daily-load-shape parts."""
    folder = reference_dir / FOLDER
    plain = (folder / "Master.dss").read_text().replace("\r\n", "\n").splitlines()
    daily = (folder / "Master_daily.dss").read_text().replace("\r\n", "\n").splitlines()
    daily_only = {"! add loadshape", "redirect loadshape.dss", "redirect Loads_daily.dss"}
    daily_only.add("Set mode=Daily number=1 hour=0 stepsize=3600 sec=0")
    assert [ln for ln in daily if ln not in daily_only and ln] == [
        ln for ln in plain if "Loads.dss" not in ln and ln
    ]
    # Loads_daily.dss is Loads.dss plus one daily= shape per load.
    loads = (folder / "Loads.dss").read_text().replace("\r\n", "\n").splitlines()
    loads_daily = (folder / "Loads_daily.dss").read_text().splitlines()
    stripped = [re.sub(r"\s+daily=\S+", "", ln, flags=re.IGNORECASE) for ln in loads_daily]
    assert stripped == loads


# ------------------------------------------------------------------------ (b) fetching
def test_manifest_matches_powergym_copy(reference_dir: Path) -> None:
    assert fd.verify_folder(reference_dir / FOLDER, IEEE8500.files) == []
    names = [f.name for f in IEEE8500.files]
    assert fd.folder_manifest(reference_dir / FOLDER, names) == IEEE8500.files


def test_fetch_verifies_installs_and_reuses(mirror: Path, isolated: Path) -> None:
    with serve(mirror) as (url, hits):
        master = locate_feeder("ieee8500", base_url=url, allow_download=True)
        assert sorted(hits) == sorted(f"/{f.name}" for f in IEEE8500.files)
        assert master == fd.cache_folder(IEEE8500) / "Master.dss"
        assert master.parent.parent == isolated  # MARL_VVC_CACHE is honoured
        assert master.read_text() == IEEE8500.master_text
        assert fd.verify_folder(master.parent, IEEE8500.files) == []
        assert _leftovers(isolated) == [master.parent.name]  # no partial folder left
        # Second use: straight from the cache, no request at all (even with downloads on).
        n = len(hits)
        assert locate_feeder("ieee8500", base_url=url, allow_download=True) == master
        assert locate_feeder("ieee8500") == master  # offline: the cache is enough
        assert len(hits) == n


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_corrupted_download_is_rejected(mirror: Path, isolated: Path, damage: str) -> None:
    path = mirror / "Lines.dss"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[1000] ^= 0x01
    elif damage == "truncate":
        del data[-10:]
    else:
        data += b"! extra\r\n"
    path.write_bytes(bytes(data))
    with serve(mirror) as (url, _), pytest.raises(ChecksumError, match=r"Lines\.dss"):
        locate_feeder("ieee8500", base_url=url, allow_download=True)
    assert _leftovers(isolated) == []  # neither the bad file nor a partial folder is kept


def test_missing_file_on_mirror(mirror: Path, isolated: Path) -> None:
    (mirror / "Regulators.dss").unlink()
    with serve(mirror) as (url, _), pytest.raises(DataNotFoundError, match="404") as err:
        locate_feeder("ieee8500", base_url=url, allow_download=True)
    assert not isinstance(err.value, ChecksumError)
    assert _leftovers(isolated) == []


def test_damaged_cache_is_reported_offline_and_refetched_online(
    mirror: Path, isolated: Path
) -> None:
    with serve(mirror) as (url, hits):
        master = locate_feeder("ieee8500", base_url=url, allow_download=True)
        (master.parent / "Loads.dss").write_text("! tampered\n")
        with pytest.raises(DataNotFoundError, match=r"damaged \(Loads\.dss\)"):
            locate_feeder("ieee8500")  # offline
        n = len(hits)
        assert locate_feeder("ieee8500", base_url=url, allow_download=True) == master
        assert len(hits) == n + len(IEEE8500.files)
        assert fd.verify_folder(master.parent, IEEE8500.files) == []
        assert _leftovers(isolated) == [master.parent.name]


def test_only_http_urls(isolated: Path) -> None:
    with pytest.raises(DataNotFoundError, match="must be http"):
        locate_feeder("ieee8500", base_url="file:///etc/", allow_download=True)


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delitem(fd._ENV, fd.ENV_CACHE)
    monkeypatch.setitem(fd._ENV, "XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fd.cache_root() == tmp_path / "xdg" / "marl_vvc"
    monkeypatch.delitem(fd._ENV, "XDG_CACHE_HOME")
    assert fd.cache_root() == Path.home() / ".cache" / "marl_vvc"
    monkeypatch.setitem(fd._ENV, fd.ENV_CACHE, str(tmp_path / "mine"))
    assert fd.cache_root() == tmp_path / "mine"


# ------------------------------------------------------------------------ (c) no data
def test_clear_error_without_data_or_network(isolated: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        make_env("8500Node")
    text = str(err.value)
    for needed in (
        IEEE8500.env_dir,  # MARL_VVC_8500_DIR
        "systems_dir",
        fd.ENV_OFFLINE,
        str(fd.cache_folder(IEEE8500)),
        IEEE8500.base_urls[0],
        "Lines.dss",
    ):
        assert needed in text, f"the message should mention {needed!r}:\n{text}"
    assert _leftovers(isolated) == []


def test_unreachable_mirror_gives_the_same_advice(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delitem(fd._ENV, fd.ENV_OFFLINE)
    monkeypatch.setitem(fd._ENV, IEEE8500.env_url, f"http://127.0.0.1:{port}/")
    with pytest.raises(DataNotFoundError, match="could not download") as err:
        make_env("8500Node")
    assert IEEE8500.env_dir in str(err.value)
    assert _leftovers(isolated) == []


def test_env_var_pointing_at_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setitem(fd._ENV, IEEE8500.env_dir, str(empty))
    with pytest.raises(DataNotFoundError, match=re.escape(str(empty))):
        make_env("8500Node")


def test_systems_dir_without_the_feeder(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"8500-Node/Master\.dss"):
        make_env("8500Node", systems_dir=str(tmp_path))


def test_env_var_accepts_feeder_or_systems_folder(
    reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(fd._ENV, IEEE8500.env_dir, str(reference_dir / FOLDER))
    assert locate_feeder("ieee8500") == (reference_dir / FOLDER / "Master.dss").resolve()
    monkeypatch.setitem(fd._ENV, IEEE8500.env_dir, str(reference_dir))
    assert locate_feeder("ieee8500") == (reference_dir / FOLDER / "Master.dss").resolve()
    assert (
        load_system("8500Node").feeder.circuit == (reference_dir / FOLDER / "Master.dss").resolve()
    )


# ------------------------------------------------------------------------ (d) placement
def test_config_placement_matches_powergym_master(reference_dir: Path) -> None:
    text = (reference_dir / FOLDER / "Master.dss").read_text()
    pattern = (
        r"New Generator\.(\w+) bus1=(\S+) Phases=(\d) kV=(\S+) kW=0 pf=(\S+) "
        r"conn=(\w+) Model=(\d)"
    )
    declared = {m[0].lower(): m[1:] for m in re.findall(pattern, text)}
    cfg = load_system("8500Node", systems_dir=str(reference_dir))
    assert len(declared) == len(cfg.devices.batteries) == 10
    for bat in cfg.devices.batteries:
        bus1, phases, kv, pf, conn, model = declared[bat.name]
        p = bat.placement
        assert (p.bus1, p.phases, p.kv, p.conn, p.model, bat.pf) == (
            bus1.lower(),
            int(phases),
            float(kv),
            conn.lower(),
            int(model),
            float(pf),
        )


def _episode(env, actions: list, multipliers: dict) -> np.ndarray:
    obs, _ = env.reset(options={"load_multipliers": multipliers})
    out = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        out.append(obs)
    return np.array(out)


def test_placement_adds_missing_batteries_with_identical_power_flow(
    reference_dir: Path, tmp_path: Path, traces: dict
) -> None:
    trace = traces[TRACES[0]]
    mult = trace["load_profile"]["multipliers"]
    # Recorded actions plus full discharge and full charge of every battery.
    actions = [rec["action"] for rec in trace["steps"][:4]]
    actions += [actions[-1][:22] + [32] * 10, actions[-1][:22] + [0] * 10]
    stripped = _stripped_copy(reference_dir, tmp_path / "systems")
    env_ref = make_env("8500Node", systems_dir=str(reference_dir))
    env_new = make_env("8500Node", systems_dir=str(stripped))
    try:
        ref_core, new_core = env_ref.unwrapped.core, env_new.unwrapped.core
        assert "generator" not in (stripped / FOLDER / "Master.dss").read_text().lower()
        assert new_core.engine.node_names == ref_core.engine.node_names
        for bat in new_core.fleet["battery"].devices:
            assert new_core.engine.has_element(f"Generator.{bat.name}")
        a = _episode(env_ref, actions, mult)
        b = _episode(env_new, actions, mult)
        np.testing.assert_array_equal(a, b)  # bit-identical
        np.testing.assert_array_equal(new_core.fleet["battery"].kwh, ref_core.fleet["battery"].kwh)
    finally:
        env_ref.close()
        env_new.close()


def test_fetched_feeder_end_to_end(
    mirror: Path, traces: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """make_env("8500Node") with no folder: download (loopback), our master, our batteries.

    Measured: the whole recorded episode is bit-identical to PowerGym's (observations).
    """
    trace = traces[TRACES[1]]
    monkeypatch.delitem(fd._ENV, fd.ENV_OFFLINE)
    with serve(mirror) as (url, hits):
        monkeypatch.setitem(fd._ENV, IEEE8500.env_url, url)
        env = make_env("8500Node")
        assert len(hits) == len(IEEE8500.files)
    try:
        assert env.unwrapped.config.feeder.circuit == fd.cache_folder(IEEE8500) / "Master.dss"
        steps = trace["steps"]
        got = _episode(env, [r["action"] for r in steps], trace["load_profile"]["multipliers"])
        want = np.array([trace["reset"]["obs"]] + [r["obs"] for r in steps])
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    finally:
        env.close()
    env = make_env("8500Node")  # second env: from the cache, server gone, downloads still on
    env.close()


def test_files_copied_into_the_cache_by_hand_are_used_offline(
    reference_dir: Path, isolated: Path
) -> None:
    """Option 2 of the advice: no network, files put into the cache folder by the user."""
    entry = fd.cache_folder(IEEE8500)
    entry.mkdir(parents=True)
    for f in IEEE8500.files:
        shutil.copyfile(reference_dir / FOLDER / f.name, entry / f.name)
    assert locate_feeder("ieee8500") == entry / "Master.dss"  # marl_vvc wrote its master
    cfg = load_system("8500Node")
    assert cfg.feeder.circuit == entry / "Master.dss"
    assert cfg.scenario.profiles_dir is None  # no bic_loadshape.csv: built-in profiles


def test_placement_on_unknown_bus_is_rejected(tmp_path: Path) -> None:
    circuit = REPO_ROOT / "circuits" / "ieee13" / "ieee13.dss"
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"circuit: {circuit}\n"
        "capacitors: [cap1]\n"
        "batteries:\n"
        "  - {name: extra, max_kw: 50, pf: 0.95, max_kwh: 200, initial_kwh: 200,\n"
        "     placement: {bus1: nowhere.1, kv: 2.4}}\n"
        "reward: {power_w: 1, cap_w: 1, reg_w: 1, soc_w: 0, dis_w: 1}\n"
    )
    with pytest.raises(CircuitLoadError, match="nowhere"):
        build_core(load_system(str(path)))
    path.write_text(path.read_text().replace("nowhere.1", "675.1"))
    core = build_core(load_system(str(path)))
    try:
        assert core.engine.has_element("Generator.extra")
        assert core.fleet["battery"].devices[0].bus == "675"
    finally:
        core.close()


@pytest.mark.parametrize(
    ("placement", "match"),
    [
        ("{kv: 2.4}", r"missing key\(s\) \['bus1'\]"),
        ("{bus1: 675.1, kv: x}", "kv"),
        ("{bus1: 675.1, kv: 2.4, phases: 4}", "phases 1-3"),
        ("{bus1: 675.1, kv: 2.4, conn: zigzag}", "conn wye or delta"),
        ("{bus1: 675.1, kv: 2.4, phase: 1}", "unknown key"),
    ],
)
def test_bad_placement_is_a_config_error(tmp_path: Path, placement: str, match: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"circuit: {REPO_ROOT / 'circuits' / 'ieee13' / 'ieee13.dss'}\n"
        "batteries:\n"
        "  - {name: extra, max_kw: 50, pf: 0.95, max_kwh: 200, initial_kwh: 200,\n"
        f"     placement: {placement}}}\n"
        "reward: {power_w: 1, cap_w: 1, reg_w: 1, soc_w: 0, dis_w: 1}\n"
    )
    with pytest.raises(ConfigError, match=match):
        load_system(str(path))
