#!/usr/bin/env bash
# System tools some tests need: Xvfb (a virtual X display) and xwininfo (window capture by title)
# for the live-source tests; qemu-user (qemu-x86_64) to run the numeric checks on an emulated
# AVX2-only CPU without VNNI, whatever CPU the tests run on; FFmpeg (with its libplacebo filter)
# and Mesa's software Vulkan to run the exported GLSL shaders. Installed with apt-get when missing
# and we are root or have passwordless sudo; otherwise those tests skip and say why. It never
# fails the setup.
missing=""
command -v Xvfb >/dev/null 2>&1 || missing="$missing xvfb"
command -v xwininfo >/dev/null 2>&1 || missing="$missing x11-utils"
[ "$(uname -m)" = x86_64 ] && { command -v qemu-x86_64 >/dev/null 2>&1 || missing="$missing qemu-user"; }
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || missing="$missing mesa-vulkan-drivers"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: install$missing yourself for the live display, emulated-CPU and shader tests (they skip without them)"; exit 0
fi
if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else
  echo "note: not root: 'sudo apt-get install$missing' enables the live display, emulated-CPU and shader tests (they skip without them)"; exit 0
fi
if $sudo apt-get update -qq >/dev/null 2>&1 && \
   $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
  echo "installed:$missing"
else
  echo "note: apt-get could not install$missing; the tests that need them will skip"
fi
exit 0
