"""A local Ray that `qa index --ray` starts ends with the process that started it, however that process ends.

Ray stops its processes when the driver exits, or is interrupted or terminated (SIGINT, SIGTERM: Ray's own handler
exits through `ray.shutdown`). A driver killed outright (SIGKILL, the OOM killer, a lost terminal) runs no code:
the Ray processes it started sharing its fate die with it, but the raylet's agents (`ray::DashboardAgent`,
`ray::RuntimeEnvAgent`) outlive it for a minute or more, each waiting on the dead GCS before it exits. So a small
watcher process is started beside the driver: it notes the driver's descendants twice a second, and once the
driver is gone (the pipe between them closes, whatever ended it) it ends those that are left, and Ray's
processes of the driver's process group started since it last looked.
"""

from __future__ import annotations

import os
import subprocess
import sys

_watchers: list[subprocess.Popen] = []  # kept for the process's life: its end closes their pipes

WATCHER = r"""
import os, select, signal, sys, time

driver, group, born = map(int, sys.argv[1:4])  # from the driver: this may start after it is gone


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[2]), int(fields[19])  # parent, process group, start time (not reused)
    except (OSError, IndexError, ValueError):
        return None


def is_ray(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read()
    except OSError:
        return False
    return command.startswith(b"ray::") or b"/ray/" in command


seen = {}
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.5)
    if ready and not os.read(sys.stdin.fileno(), 4096):
        break  # the driver is gone
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (info := stat(int(name))):
            children.setdefault(info[0], []).append((int(name), info[2]))
    todo = [driver]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid != os.getpid():
                seen[pid] = start
                todo.append(pid)
# Those started since the last look, orphaned already: Ray's, of the driver's process group, younger than it.
for name in os.listdir("/proc"):
    if name.isdigit() and (info := stat(int(name))) and info[1] == group and info[2] >= born and is_ray(int(name)):
        seen.setdefault(int(name), info[2])
for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
    left = [pid for pid, start in seen.items() if (stat(pid) or (0, 0, None))[2] == start]
    for pid in left:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    if not left:
        break
    time.sleep(grace)
"""


def end_ray_with_this_process() -> None:
    """Start the watcher that ends this process's Ray processes once this process has ended (Linux only)."""
    if not sys.platform.startswith("linux") or _watchers:
        return
    with open("/proc/self/stat") as f:
        born = f.read().rsplit(")", 1)[1].split()[19]
    _watchers.append(subprocess.Popen([sys.executable, "-c", WATCHER, str(os.getpid()), str(os.getpgid(0)), born],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
