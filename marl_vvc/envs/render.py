"""Feeder drawings: buses at their coordinates (or a tree layout), coloured by voltage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from marl_vvc.core.grid import GridCore
from marl_vvc.envs.layout import feeder_layout
from marl_vvc.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

_MARKERS = {
    "capacitor": ("^", "capacitor"),
    "regulator": ("s", "regulator"),
    "battery": ("D", "battery"),
    "generator": ("o", "generator"),
    "storage": ("P", "storage"),
}


class FeederRenderer:
    """Draws the core's latest snapshot with matplotlib (off-screen)."""

    def __init__(
        self,
        core: GridCore,
        v_band: tuple[float, float] = (0.95, 1.05),
        size: tuple[float, float] = (6.4, 4.8),
        dpi: int = 100,
    ) -> None:
        from matplotlib.figure import Figure

        self.core = core
        eng = core.engine
        branches = eng.branches()
        self.xy = xy = feeder_layout(eng.bus_coordinates(), eng.bus_names, branches)
        index = {b: i for i, b in enumerate(eng.bus_names)}
        self.segments = np.array(
            [(xy[index[a]], xy[index[b]]) for a, b in branches if a in index and b in index]
        )
        self.v_band = v_band
        self.figure = Figure(figsize=size, dpi=dpi)
        self._window: AxesImage | None = None

    def draw(self) -> np.ndarray:
        """Render the current state as an ``(H, W, 3)`` uint8 image."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection

        core, fig = self.core, self.figure
        fig.clear()
        ax = fig.add_subplot(111)
        if len(self.segments):
            segments = cast(Sequence[Any], self.segments)  # an (n, 2, 2) array: n segments
            ax.add_collection(LineCollection(segments, colors="0.6", linewidths=1.0, zorder=1))
        snap = core.snapshot
        v_min, v_max = self.v_band
        if snap is None:
            worst = np.ones(len(self.xy))
        else:
            # colour each bus by its node farthest from 1 pu
            worst = np.where(
                np.abs(snap.bus_vmax - 1.0) > np.abs(snap.bus_vmin - 1.0),
                snap.bus_vmax,
                snap.bus_vmin,
            )
        pts = ax.scatter(
            self.xy[:, 0],
            self.xy[:, 1],
            c=worst,
            cmap="coolwarm",
            vmin=2 * v_min - 1.0,
            vmax=2 * v_max - 1.0,
            s=28,
            zorder=2,
            edgecolors="k",
            linewidths=0.3,
        )
        fig.colorbar(pts, ax=ax, label="bus voltage (pu, farthest node from 1)")
        for kind, (marker, label) in _MARKERS.items():
            devs = [d for d in core.devices if d.kind == kind]
            if not devs:
                continue
            pos = np.array([self.xy[core.bus_index[d.bus]] for d in devs])
            ax.scatter(
                pos[:, 0],
                pos[:, 1],
                marker=marker,
                s=110,
                facecolors="none",
                edgecolors="k",
                linewidths=1.4,
                zorder=3,
                label=label,
            )
        ax.legend(loc="best", fontsize=7, framealpha=0.8)
        status = "" if snap is None or snap.converged else "  (power flow diverged)"
        horizon = core.task.horizon
        ax.set_title(f"{core.name}  t={core.t}/{horizon or '∞'}{status}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()

    def show(self, image: np.ndarray) -> None:
        """Show ``image`` in a window (``human`` mode); a no-op without a display."""
        import matplotlib.pyplot as plt

        if plt.get_backend().lower() == "agg":
            return
        if self._window is None:
            self._window = plt.imshow(image)
            plt.axis("off")
        else:
            self._window.set_data(image)
        plt.pause(0.001)

    def close(self) -> None:
        """Release the figure and its window."""
        self.figure.clear()
        if self._window is not None:
            import matplotlib.pyplot as plt

            plt.close(cast("Figure", self._window.figure))  # plt.imshow's: a whole figure
            self._window = None


RENDER_MODES = ("human", "rgb_array")


def check_render_mode(render_mode: str | None) -> str | None:
    """Return ``render_mode`` if it is None or a supported mode.

    Raises:
        ConfigError: Any other value.
    """
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ConfigError(
            f"render_mode must be None or one of {list(RENDER_MODES)}, got {render_mode!r}"
        )
    return render_mode


class FeederView:
    """What every environment's ``render``/``close`` do: draw lazily, show or return the frame.

    The view draws the core; it owns neither the core nor its engine.

    Args:
        core: The grid core to draw.
        render_mode: ``None``, ``"human"`` or ``"rgb_array"``.
        v_band: ``(v_min, v_max)`` of the colour scale.
    """

    def __init__(
        self, core: GridCore, render_mode: str | None, v_band: tuple[float, float] = (0.95, 1.05)
    ) -> None:
        self.core = core
        self.render_mode = render_mode
        self.v_band = v_band
        self._renderer: FeederRenderer | None = None

    def render(self) -> np.ndarray | None:
        """The frame for ``rgb_array``; shown in a window for ``human``; None without a mode."""
        if self.render_mode is None:
            return None
        if self._renderer is None:
            self._renderer = FeederRenderer(self.core, self.v_band)
        image = self._renderer.draw()
        if self.render_mode == "rgb_array":
            return image
        self._renderer.show(image)
        return None

    def close(self) -> None:
        """Release the figure (and its window in ``human`` mode)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
