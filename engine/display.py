"""The live display window (pygame / SDL2): upscaled frames, an A/B toggle and a stats overlay.

Keys: ``Tab`` or ``Space`` toggles between the upscaled frame and the original (nearest-neighbour
enlarged to the same size, so the two compare pixel for pixel); ``O`` toggles the overlay (model,
fps shown, capture-to-display latency, dropped frames); ``Q``/``Esc`` or closing the window stops.
SDL picks the platform's video driver (X11/Wayland, Windows, macOS); ``SDL_VIDEODRIVER=dummy``
runs it without a screen.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque

import cv2
import numpy as np

from srstream.engine.messages import Report, Upscaled
from srstream.errors import DependencyError, InputError

__all__ = ["WindowDisplay"]


class WindowDisplay:
    """A window the size of the upscaled frame (opened on the first frame)."""

    def __init__(self, title: str = "sr-stream", *, overlay: bool = True, position: tuple[int, int] | None = None,
                 start_original: bool = False) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        if position is not None:
            os.environ["SDL_VIDEO_WINDOW_POS"] = f"{position[0]},{position[1]}"
        try:
            import pygame
        except ImportError as exc:
            raise DependencyError("the display window needs pygame: pip install 'sr-stream[live]' "
                                  "(or pass --no-display and record with -o)") from exc
        self.pg = pygame
        asked = os.environ.get("SDL_VIDEODRIVER")
        # Linux without a desktop (no DISPLAY, no WAYLAND_DISPLAY: a server, an SSH session): SDL's Wayland
        # probe printed "error: XDG_RUNTIME_DIR is invalid or not set", and then it fell back to its
        # offscreen driver, so the run "showed" every frame to nobody. Only a console's own screen
        # (KMS/DRM) is tried there; SDL_VIDEODRIVER, where set, chooses as always.
        console = (asked is None and sys.platform.startswith("linux")
                   and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))
        try:
            if console:
                os.environ["SDL_VIDEODRIVER"] = "kmsdrm"
            try:
                pygame.display.init()
            finally:
                if console:
                    del os.environ["SDL_VIDEODRIVER"]
        except pygame.error as exc:
            why = "no DISPLAY or WAYLAND_DISPLAY, and no console screen SDL can open" if console else str(exc)
            raise InputError(f"no display to open a window on ({why}); set DISPLAY, or pass --no-display and "
                             "record with -o") from exc
        driver = pygame.display.get_driver()
        if driver in ("offscreen", "dummy") and asked != driver:
            pygame.display.quit()
            raise InputError(f"no display to open a window on (SDL found only its {driver} driver, which shows "
                             "nothing); set DISPLAY, or pass --no-display and record with -o")
        self.title, self.overlay, self.original = title, overlay, start_original
        self.screen = None
        self.font = None
        self.shown_at: deque[float] = deque(maxlen=60)
        self.latencies: deque[float] = deque(maxlen=60)
        self.last: np.ndarray | None = None  # what the window shows now (RGB, without the overlay)

    def _open(self, width: int, height: int) -> None:
        pg = self.pg
        self.screen = pg.display.set_mode((width, height))
        pg.display.set_caption(f"{self.title}  [Tab: original/upscaled, O: overlay, Q: quit]")
        if self.overlay:
            self._load_font()

    def _load_font(self) -> None:
        if self.font is None:
            self.pg.font.init()
            self.font = self.pg.font.Font(None, 22)

    def _events(self) -> bool:
        pg = self.pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                return False
            if event.type == pg.KEYDOWN:
                if event.key in (pg.K_q, pg.K_ESCAPE):
                    return False
                if event.key in (pg.K_TAB, pg.K_SPACE):
                    self.original = not self.original
                elif event.key == pg.K_o:
                    self.overlay = not self.overlay
                    if self.overlay:
                        self._load_font()
        return True

    def idle(self) -> bool:
        return self._events() if self.screen is not None else True

    def frame_for(self, frame: Upscaled) -> np.ndarray:
        """The picture for ``frame`` in the current mode (no overlay)."""
        if not self.original:
            return frame.rgb
        h, w = frame.rgb.shape[:2]
        return cv2.resize(frame.input, (w, h), interpolation=cv2.INTER_NEAREST)

    def show(self, frame: Upscaled, report: Report) -> bool:
        if not self._events():
            return False
        pg = self.pg
        h, w = frame.rgb.shape[:2]
        if self.screen is None or self.screen.get_size() != (w, h):
            self._open(w, h)
        picture = np.ascontiguousarray(self.frame_for(frame))
        self.screen.blit(pg.image.frombuffer(picture.data, (w, h), "RGB"), (0, 0))
        if self.overlay and self.font is not None:
            self._draw_overlay(frame, report)
        pg.display.flip()
        now = time.perf_counter()
        self.shown_at.append(now)
        self.latencies.append((now - frame.src.t) * 1000)
        self.last = picture
        return True

    def _draw_overlay(self, frame: Upscaled, report: Report) -> None:
        pg = self.pg
        fps = (len(self.shown_at) - 1) / (self.shown_at[-1] - self.shown_at[0]) if len(self.shown_at) > 1 else 0.0
        lat = float(np.median(self.latencies)) if self.latencies else 0.0
        lines = [f"{'ORIGINAL' if self.original else 'UPSCALED'}  {frame.label}",
                 f"{fps:5.1f} fps   latency {lat:5.1f} ms",
                 f"dropped {report.dropped_live()} of {report.frames_in}"]
        surfaces = [self.font.render(text, True, (255, 255, 255)) for text in lines]
        width = max(s.get_width() for s in surfaces) + 12
        height = sum(s.get_height() for s in surfaces) + 10
        box = pg.Surface((width, height), pg.SRCALPHA)
        box.fill((0, 0, 0, 160))
        self.screen.blit(box, (6, 6))
        y = 11
        for s in surfaces:
            self.screen.blit(s, (12, y))
            y += s.get_height()

    def close(self) -> None:
        self.pg.display.quit()
