"""Sweeps create envs over and over: 300 create/reset/close cycles keep < 30 MB."""

from __future__ import annotations

from conftest import run_python


def test_memory_stays_flat_over_300_env_cycles() -> None:
    code = """
        import gc, os
        import marl_vvc

        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

        def cycle():
            env = marl_vvc.parallel_env("13Bus")
            env.reset(seed=0)
            env.step(env.hold_actions())
            env.close()

        for _ in range(20):  # warm up caches and allocators
            cycle()
        gc.collect()
        start = rss_mb()
        for _ in range(300):
            cycle()
        gc.collect()
        print(rss_mb() - start)
        """
    proc = run_python(code, timeout=600)
    assert proc.returncode == 0, proc.stderr
    growth_mb = float(proc.stdout.split()[-1])
    assert growth_mb < 30.0  # each env kept 1.5-2.2 MB (+433 MB per 300) before the fix
