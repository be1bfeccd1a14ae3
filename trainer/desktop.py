"""Synthetic desktop captures drawn with real TrueType fonts, for screen-content training.

A desktop recording is flat panels, one-pixel rules and grids, and text 9-16 pixels high drawn
by a font rasteriser: hinted, anti-aliased stems that fall on the pixel grid. ``content``'s
``screen`` kind draws OpenCV's Hershey stroke fonts, which look like none of that, and a net
trained on it did not gain on the desktop capture (``realtime_x2_strength_content``). This
draws what an editor, a file tree, a terminal or a game board shows, with Pillow's FreeType
rasteriser (the font it embeds, and the DejaVu faces where the system has them), so a net can
learn what small text and rules look like one scale down.

``desktop_subpixel`` draws half its desktops' text as subpixel (ClearType) rendering does, with
coloured fringes: most desktop recordings are of Windows or a browser. ``desktop_cleartype`` draws all
of it so.

``desktop(region, rng)`` is a pure function of the region and the generator (for a given set
of fonts on the machine). Pillow does the rasterising, OpenCV the shapes; only the layout is ours.
"""

from __future__ import annotations

import functools
import importlib.util
import string
from pathlib import Path

import cv2
import numpy as np

__all__ = ["desktop", "desktop_cleartype", "desktop_subpixel", "font_faces"]

#: Where the DejaVu faces live on common Linux systems (and matplotlib's copy, where installed).
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
              "/usr/local/share/fonts")
_FACES = ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf",
          "DejaVuSansCondensed.ttf", "DejaVuSansMono-Bold.ttf")
_WORDS = ("def", "return", "import", "from", "class", "self", "None", "for", "in", "if", "else", "func", "main",
          "package", "const", "var", "int", "string", "error", "nil", "true", "false", "print", "go.mod",
          "README", "queue", "hold", "playfield", "tetrimino", "vector", "assets", "src", "lib", "test",
          "Explorer", "Terminal", "Run", "View", "Edit", "File", "Help", "Selection", "OUTPUT", "PROBLEMS")
_PUNCT = "(){}[]<>=+-*/_.,:;\"'#&|!"


@functools.cache
def font_faces() -> tuple[str, ...]:
    """The TrueType files found on this machine ('' stands for Pillow's embedded face)."""
    found: list[str] = [""]
    dirs = list(_FONT_DIRS)
    mpl = importlib.util.find_spec("matplotlib")  # its DejaVu copy, found without importing it
    if mpl is not None and mpl.origin:
        dirs.append(str(Path(mpl.origin).parent / "mpl-data" / "fonts" / "ttf"))
    for name in _FACES:
        for d in dirs:
            if (Path(d) / name).is_file():
                found.append(str(Path(d) / name))
                break
    return tuple(found)


def _pillow():  # noqa: ANN202 - the PIL package
    """Pillow, or a :class:`~srstream.errors.DependencyError` that says how to install it."""
    try:
        import PIL.Image
        import PIL.ImageDraw
        import PIL.ImageFont
    except ImportError as exc:
        from srstream.errors import DependencyError

        raise DependencyError("the desktop content draws its text with Pillow: pip install 'sr-stream[train]'") from exc
    return PIL


@functools.lru_cache(maxsize=256)
def _font(face: str, size: int):  # noqa: ANN202 - PIL.ImageFont.FreeTypeFont
    font = _pillow().ImageFont
    return font.load_default(size) if not face else font.truetype(face, size)


def _token(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.5:
        return _WORDS[int(rng.integers(0, len(_WORDS)))]
    if r < 0.8:
        letters = string.ascii_letters + string.digits
        return "".join(letters[i] for i in rng.integers(0, len(letters), int(rng.integers(1, 10))))
    return "".join(_PUNCT[i] for i in rng.integers(0, len(_PUNCT), int(rng.integers(1, 4))))


def _theme(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background, panel and ink colours of a dark or a light theme."""
    if rng.random() < 0.6:
        bg = rng.integers(0, 45, 3)
        panel = np.clip(bg + rng.integers(-8, 20, 3), 0, 255)
        ink = rng.integers(170, 256, 3)
    else:
        bg = rng.integers(215, 256, 3)
        panel = np.clip(bg - rng.integers(0, 25, 3), 0, 255)
        ink = rng.integers(0, 70, 3)
    return bg, panel, ink


def _text_block(draw, box: tuple[int, int, int, int], ink: np.ndarray, rng: np.random.Generator,
                zoom: int = 1) -> None:
    """Lines of code-like or menu-like text in ``box`` (x0, y0, x1, y1, in pixels of the desktop).

    ``draw`` draws on an image ``zoom`` times the desktop's size (the subpixel layers of
    :func:`_subpixel_text`), with the font and the layout scaled by as much.
    """
    faces = font_faces()
    face = faces[int(rng.integers(0, len(faces)))]
    size = int(rng.integers(8, 17))
    font = _font(face, size * zoom)
    line = int(round(size * rng.uniform(1.15, 1.6)))
    x0, y0, x1, y1 = box
    y = y0 + int(rng.integers(-line // 2, line // 2 + 1))
    palette = [ink] + [rng.integers(60, 256, 3) for _ in range(3)]
    while y < y1:
        if rng.random() < 0.85:
            x = x0 + int(rng.integers(0, 4)) * int(rng.integers(0, 3)) * size
            for _ in range(int(rng.integers(1, 9))):
                word = _token(rng)
                colour = palette[int(rng.integers(0, len(palette)))] if rng.random() < 0.5 else ink
                draw.text((x * zoom, y * zoom), word, font=font, fill=tuple(int(c) for c in colour))
                x += int(draw.textlength(word + " ", font=font) / zoom)
                if x > x1:
                    break
        y += line


#: The LCD filter that spreads each subpixel's coverage over its neighbours, as FreeType's default
#: (and, to within rounding, ClearType's) does to keep the colour fringes faint.
_LCD_FILTER = np.array([8, 77, 86, 77, 8], np.float32) / 256


def _subpixel_text(canvas: np.ndarray, boxes: list[tuple[int, int, int, int]], ink: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Text drawn on ``canvas`` as subpixel (ClearType) rendering draws it on Windows and in
    browsers: each pixel's red, green and blue stripes covered on their own, from glyphs rasterised
    at three times the width, through an LCD filter. Such text has coloured fringes and stems at
    third-pixel positions, and is what most desktop recordings show. The glyphs are drawn three
    times larger; vertically they are then either anti-aliased (DirectWrite: the mean of each
    pixel's three rows) or not (GDI: its middle row), one or the other per desktop."""
    pil = _pillow()
    h, w = canvas.shape[:2]
    layer = pil.Image.new("RGBA", (3 * w, 3 * h), (0, 0, 0, 0))  # words' colours, coverage as alpha
    draw = pil.ImageDraw.Draw(layer)
    for box in boxes:
        if rng.random() < 0.85:
            _text_block(draw, box, ink, rng, zoom=3)
    rgba = np.asarray(layer, np.float32).reshape(h, 3, 3 * w, 4)
    cover = rgba[..., 3] / 255
    cover = cover.mean(axis=1) if rng.random() < 0.5 else cover[:, 1]  # (h, 3w)
    ink_rgb = rgba[..., :3].max(axis=1)
    cover = cv2.filter2D(cover, -1, _LCD_FILTER[None, :], borderType=cv2.BORDER_CONSTANT)
    cover = cover.reshape(h, w, 3)  # each pixel's three stripes, left to right
    if rng.random() < 0.2:  # BGR panels
        cover = cover[:, :, ::-1]
    ink_rgb = ink_rgb.reshape(h, w, 3, 3).max(axis=2)  # a word's colour over the pixel, and over
    ink_rgb = cv2.dilate(ink_rgb, np.ones((1, 3), np.uint8))  # the pixels the filter spreads it to
    out = canvas.astype(np.float32) * (1 - cover) + ink_rgb * cover
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _grid(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A board or a table: cells with one-pixel rules, some filled with bevelled blocks."""
    h, w = canvas.shape[:2]
    cell = int(rng.integers(8, 28))
    rows, cols = int(rng.integers(2, 24)), int(rng.integers(2, 14))
    y0, x0 = int(rng.integers(-cell, h)), int(rng.integers(-cell, w))
    rule = rng.integers(0, 256, 3).tolist()
    for r in range(rows + 1):
        cv2.line(canvas, (x0, y0 + r * cell), (x0 + cols * cell, y0 + r * cell), rule, 1)
    for c in range(cols + 1):
        cv2.line(canvas, (x0 + c * cell, y0), (x0 + c * cell, y0 + rows * cell), rule, 1)
    for _ in range(int(rng.integers(0, rows * cols // 3 + 1))):
        r, c = int(rng.integers(0, rows)), int(rng.integers(0, cols))
        fill = rng.integers(0, 256, 3)
        a, b = (x0 + c * cell + 1, y0 + r * cell + 1), (x0 + (c + 1) * cell - 1, y0 + (r + 1) * cell - 1)
        cv2.rectangle(canvas, a, b, fill.tolist(), -1)
        if rng.random() < 0.5:  # a bevel: lighter top-left, darker bottom-right edges
            cv2.rectangle(canvas, a, b, np.clip(fill * 0.6, 0, 255).tolist(), 1)
            cv2.line(canvas, a, (b[0], a[1]), np.clip(fill * 1.3 + 20, 0, 255).tolist(), 1)


def _icons(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    for _ in range(int(rng.integers(0, 6))):
        s = int(rng.integers(5, 17))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = rng.integers(0, 256, 3).tolist()
        shape = rng.random()
        if shape < 0.4:
            cv2.rectangle(canvas, (x, y), (x + s, y + s), colour, -1 if rng.random() < 0.5 else 1)
        elif shape < 0.7:
            cv2.circle(canvas, (x, y), s // 2, colour, -1 if rng.random() < 0.5 else 1, cv2.LINE_AA)
        else:  # a pointer arrow, white with a dark outline, as cursors are
            pts = np.array([[0, 0], [0, 6], [1.5, 4.5], [3, 6], [4, 5], [2, 4], [4, 4]]) * (s / 6) + (x, y)
            pts = pts.round().astype(np.int32)
            cv2.fillPoly(canvas, [pts], (255, 255, 255), cv2.LINE_AA)
            cv2.polylines(canvas, [pts], True, (0, 0, 0), 1, cv2.LINE_AA)


def desktop(region: np.ndarray, rng: np.random.Generator, subpixel: float = 0.0) -> np.ndarray:
    """``region`` (uint8 RGB, HxWx3) made into a synthetic desktop: uint8, the same shape.

    Panels split by one-pixel rules, text in each (the system's fonts, 8-16 px), sometimes a
    board or table grid, icons and a pointer, and sometimes part of the photo in a window. Half
    the desktops are drawn 1.2-2x larger and area-downscaled, as a recording of a larger screen
    at 720p is: text then 5-13 px high, no longer on the pixel grid. ``subpixel``: the share of
    desktops whose text is drawn as subpixel (ClearType) rendering draws it (:func:`_subpixel_text`).
    """
    h, w = region.shape[:2]
    if rng.random() < 0.5:
        f = float(rng.uniform(1.2, 2.0))
        big = cv2.resize(region, (round(w * f), round(h * f)), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(_draw(big, rng, subpixel), (w, h), interpolation=cv2.INTER_AREA)
    return _draw(region, rng, subpixel)


def desktop_subpixel(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`desktop` with half the desktops' text drawn as subpixel (ClearType) rendering draws
    it (:func:`_subpixel_text`), as Windows and browsers show it."""
    return desktop(region, rng, subpixel=0.5)


def desktop_cleartype(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`desktop` with every desktop's text drawn as subpixel (ClearType) rendering draws it."""
    return desktop(region, rng, subpixel=1.0)


def _draw(region: np.ndarray, rng: np.random.Generator, subpixel: float = 0.0) -> np.ndarray:
    pil = _pillow()
    h, w = region.shape[:2]
    bg, panel, ink = _theme(rng)
    canvas = np.empty_like(region)
    canvas[:] = bg.astype(np.uint8)
    # vertical panels (sidebar | editor | minimap), a title or status band
    cuts = sorted(int(c) for c in rng.integers(0, w, int(rng.integers(0, 3))))
    edges = [0, *cuts, w]
    boxes = []
    for i in range(len(edges) - 1):
        x0, x1 = edges[i], edges[i + 1]
        if rng.random() < 0.4:
            canvas[:, x0:x1] = panel.astype(np.uint8)
        if x0 > 0:
            cv2.line(canvas, (x0, 0), (x0, h - 1), np.clip(panel + 25, 0, 255).tolist(), 1)
        boxes.append((x0 + 4, 0, x1, h))
    if rng.random() < 0.4:
        band = int(rng.integers(12, 26))
        y = 0 if rng.random() < 0.5 else h - band
        canvas[y:y + band] = rng.integers(0, 256, 3).astype(np.uint8)
    if rng.random() < 0.25:  # a picture in a window: part of the photo, at its own resolution
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        y1, x1 = int(rng.integers(y0 + h // 4, h + 1)), int(rng.integers(x0 + w // 4, w + 1))
        canvas[y0:y1, x0:x1] = region[y0:y1, x0:x1]
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), np.clip(panel + 40, 0, 255).tolist(), 1)
    if rng.random() < 0.35:
        _grid(canvas, rng)
    if subpixel and rng.random() < subpixel:  # no draw without it: ``desktop`` stays as it was
        out = _subpixel_text(canvas, boxes, ink, rng)
    else:
        image = pil.Image.fromarray(canvas)
        draw = pil.ImageDraw.Draw(image)
        if rng.random() < 0.2:
            draw.fontmode = "1"  # no anti-aliasing, as some terminals and older UIs draw text
        for box in boxes:
            if rng.random() < 0.85:
                _text_block(draw, box, ink, rng)
        out = np.asarray(image).copy()
    _icons(out, rng)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m srstream.trainer.desktop --photos DIR --out DIR [--count N] [--seed S]``: write
    synthetic desktops (PNG, 640x360, each made from a photo of DIR) to calibrate an INT8 graph of
    a screen model on, or to look at."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.split("\n\n")[0] if main.__doc__ else None)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subpixel", type=float, default=0.0,
                        help="the share of desktops with ClearType-like text (desktop_subpixel: 0.5)")
    args = parser.parse_args(argv)
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not photos:
        raise SystemExit(f"{args.photos}: no .png or .jpg photos")
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.count):
        rng = np.random.default_rng((args.seed, i))
        photo = photos[int(rng.integers(0, len(photos)))]
        bgr = cv2.imread(str(photo))
        if bgr is None:
            raise SystemExit(f"cannot read {photo}")
        region = np.ascontiguousarray(cv2.resize(bgr, (640, 360), interpolation=cv2.INTER_AREA)[:, :, ::-1])
        cv2.imwrite(str(args.out / f"desktop_{i:04d}.png"), desktop(region, rng, args.subpixel)[:, :, ::-1])
    print(f"wrote {args.count} desktops to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
