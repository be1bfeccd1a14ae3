"""Run a command and say how much CPU time each of its threads took (Linux ``/proc``).

    python benchmarks/thread_cpu.py [--dump-at S] -- sr-stream CLIP -o out.mp4 --overwrite

Thread names come from the kernel (``comm``). Python's threads all carry the program's name, so
``--dump-at S`` also writes ``py-spy dump --native`` of the process after S seconds (py-spy is a dev
dependency) to stderr. Its thread ids match the ones listed here. The sampling interval is 0.2 s:
a thread that starts and ends between two samples is not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump-at", type=float, help="py-spy dump --native after this many seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    tick = os.sysconf("SC_CLK_TCK")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    seen: dict[str, tuple[str, float]] = {}
    start, dumped = time.time(), args.dump_at is None
    while proc.poll() is None:
        try:
            tids = os.listdir(f"/proc/{proc.pid}/task")
        except FileNotFoundError:
            break
        for tid in tids:
            try:
                with open(f"/proc/{proc.pid}/task/{tid}/stat") as f:
                    stat = f.read()
            except (FileNotFoundError, ProcessLookupError):
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            seen[tid] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime + stime
        if not dumped and time.time() - start >= args.dump_at:
            dumped = True
            spy = shutil.which("py-spy")
            if spy:
                subprocess.run([spy, "dump", "--native", "--pid", str(proc.pid)], stdout=sys.stderr)
        time.sleep(0.2)
    wall = time.time() - start
    total = sum(cpu for _, cpu in seen.values())
    print(f"exit {proc.returncode}; {wall:.1f} s wall, {total:.1f} s CPU in {len(seen)} threads")
    for tid, (name, cpu) in sorted(seen.items(), key=lambda kv: -kv[1][1]):
        if cpu >= 0.05:
            print(f"  {cpu:7.1f} s  {100 * cpu / max(total, 1e-9):5.1f}%  {name} (thread {tid})")
    return proc.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
