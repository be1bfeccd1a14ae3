"""A moving test pattern in a window, with its frame number drawn in as a bar code.

``python -m srstream.engine.pattern --size 640x360 --pos 0,0 --fps 30 [--log times.tsv]`` opens
a borderless window and redraws it at ``--fps``: a scrolling checkerboard, colour bars and a
moving square, with the frame number in a row of black/white blocks along the top
(:func:`read_counter` decodes it from a capture). With ``--log``, each frame's number and the
``time.perf_counter()`` just after it was put on screen are written, so a capture of the window
can be matched to the moment it was drawn: glass-to-glass latency, not just the part after the
capture. Used by the live tests and the live latency benchmark; handy to check a setup by eye.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["BITS", "draw", "read_counter"]

BITS = 16  # frame numbers modulo 2**16
_BLOCK_H = 8


def draw(index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of the pattern, ``(height, width, 3)`` uint8 RGB (about 1 ms at 640x360)."""
    x, y = np.arange(width), np.arange(height)
    columns = (((x + 3 * index) // 16) & 1).astype(np.uint8)  # scrolls 3 pixels a frame
    rows = ((y // 16) & 1).astype(np.uint8)
    grey = (columns[None, :] ^ rows[:, None]) * np.uint8(150) + np.uint8(50)
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = grey[:, :, None]
    bars = np.array([[230, 40, 40], [40, 200, 40], [40, 60, 230], [230, 230, 40], [230, 40, 230], [40, 230, 230]],
                    np.uint8)
    frame[height * 3 // 4:] = bars[(x * len(bars)) // width][None]
    size = max(8, height // 6)
    cx = (index * 5) % max(width - size, 1)
    cy = height // 3 + int((height // 6) * np.sin(index / 10))
    frame[cy:cy + size, cx:cx + size] = (250, 250, 250)
    block = width // BITS
    for bit in range(BITS):
        frame[0:_BLOCK_H, bit * block:(bit + 1) * block] = 255 if (index >> bit) & 1 else 0
    return frame


def read_counter(frame: np.ndarray) -> int:
    """The frame number drawn by :func:`draw` into ``frame`` (a capture of the pattern, RGB)."""
    width = frame.shape[1]
    block = width // BITS
    if block < 2:
        raise ValueError(f"a {width}-pixel-wide frame holds no {BITS}-bit counter (needs >= {2 * BITS} pixels)")
    margin = block // 4  # away from the block edges, which scaling or compression may smear
    value = 0
    for bit in range(BITS):
        cell = frame[1:_BLOCK_H - 1, bit * block + margin:(bit + 1) * block - margin]
        if cell.mean() > 127:
            value |= 1 << bit
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srstream.engine.pattern", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--pos", default="0,0")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until closed)")
    parser.add_argument("--log", type=Path, help="write 'frame<TAB>perf_counter' lines here")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    os.environ["SDL_VIDEO_WINDOW_POS"] = args.pos
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.display.init()
    screen = pygame.display.set_mode((width, height), pygame.NOFRAME)
    pygame.display.set_caption("sr-stream test pattern")
    log = args.log.open("w", buffering=1) if args.log else None
    start = time.perf_counter()
    index = 0
    try:
        while not args.seconds or time.perf_counter() - start < args.seconds:
            if any(e.type == pygame.QUIT for e in pygame.event.get()):
                break
            frame = draw(index, width, height)
            screen.blit(pygame.image.frombuffer(frame.data, (width, height), "RGB"), (0, 0))
            pygame.display.flip()
            if log:
                log.write(f"{index}\t{time.perf_counter():.6f}\n")
            index += 1
            delay = start + index / args.fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    except KeyboardInterrupt:
        pass
    finally:
        if log:
            log.close()
        pygame.display.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
