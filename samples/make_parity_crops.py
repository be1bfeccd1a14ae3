"""Cut the small real-image crops every export's parity check runs on, from the bundled clip.

    python samples/make_parity_crops.py samples/traffic_4s.mp4 export/parity_images

Odd and even sizes on purpose: the exported graph must match PyTorch at any size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import cv2

#: (frame index, top, left, height, width)
CROPS = ((30, 150, 200, 47, 61), (90, 120, 300, 72, 96))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = {c[0]: c for c in CROPS}
    with av.open(str(args.clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                _, top, left, h, w = wanted[index]
                rgb = frame.to_ndarray(format="rgb24")[top:top + h, left:left + w]
                cv2.imwrite(str(args.out / f"frame{index:03d}_{w}x{h}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
