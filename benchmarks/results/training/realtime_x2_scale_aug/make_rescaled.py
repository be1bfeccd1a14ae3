"""The rescaled copies of the training images that the `rescaled/` run added (outside the repository):
Pexels and DIV2K at 0.75 and 0.5 of their 2048-pixel cap, BSDS400 at 0.8 and 0.6, OpenCV INTER_AREA, PNG.

    python make_rescaled.py ../shared/data/train OUT
"""

import sys
from pathlib import Path

import cv2

src, out = Path(sys.argv[1]), Path(sys.argv[2])
for folder, cap, scales in (("pexels", 2048, (0.75, 0.5)), ("div2k_resized18", 2048, (0.75, 0.5)),
                            ("bsds400", None, (0.8, 0.6))):
    for scale in scales:
        dest = out / f"{folder}_s{scale}"
        dest.mkdir(parents=True, exist_ok=True)
        for path in sorted((src / folder).iterdir()):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            h, w = image.shape[:2]
            s = scale * (cap / max(h, w) if cap and max(h, w) > cap else 1.0)
            cv2.imwrite(str(dest / f"{path.stem}.png"),
                        cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA))
