"""What reading a file costs: CPU seconds and peak memory per unit, for legitimate files and hostile ones.

    .venv/bin/python benchmarks/bench_parse.py                 # the costs the reading limits were chosen from
    .venv/bin/python benchmarks/bench_parse.py --bomb-only     # the 150 MB-unpacking .docx alone
    PYTHONPATH=/path/to/an/older/checkout .venv/bin/python benchmarks/bench_parse.py --bomb-only --in-process

Each case runs in a fresh process, so that its peak memory is its own: `--in-process` reads the file in
that process (as the chat did before reading was bounded); otherwise through `qa.ingest.bounded`'s worker with
the default limits. CPU is the process's and its worker's, user plus system. Prints a line per case,
then one JSON line. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PROBE = """
import json, resource, sys, time
from pathlib import Path
path, mode, timeout = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
def hwm(pid="self"):  # peak resident memory of this process image (ru_maxrss would count the parent's at fork)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(l.split()[1]) / 1024 for l in status.splitlines() if l.startswith("VmHWM"))
def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
start_rss, start, worker_rss = hwm(), time.monotonic(), None
class Late(Exception):
    pass
def late(*_):
    raise Late()
if mode == "in-process":
    import signal
    signal.signal(signal.SIGALRM, late)
    signal.alarm(int(timeout))  # the old code may run for many minutes: give up, and say how far it got
    from qa.ingest.documents import parse_document
    try:
        doc = parse_document(path.name, path.suffix, path.read_bytes())
    except Late:
        doc = type("Stopped", (), {"reason": f"still reading after {timeout:.0f} s: stopped"})
else:
    from qa.ingest.bounded import ParseLimits, parse_bounded, _WORKER
    from qa.config import Settings
    doc = parse_bounded(path.name, path.suffix, path, ParseLimits.of(Settings.load()))
    if _WORKER._process is not None:
        worker_rss = hwm(_WORKER._process.pid)
        _WORKER._stop(_WORKER._process)
print(json.dumps({"seconds": time.monotonic() - start, "cpu": cpu(resource.RUSAGE_SELF) + cpu(resource.RUSAGE_CHILDREN),
                  "start_rss_mb": start_rss, "peak_rss_mb": hwm(), "worker_peak_rss_mb": worker_rss,
                  "result": getattr(doc, "reason", None) or f"{len(doc.text):,} characters"}))
"""


def measure(path: Path, mode: str, timeout: float) -> dict:
    """Read `path` in a fresh process; its CPU, peak memory and result."""
    # Run from the file's folder: `python -c` puts the working folder first on sys.path, and this one's qa
    # would shadow the one PYTHONPATH names.
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), mode, str(timeout)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))},
                          cwd=path.parent)
    if done.returncode:
        return {"result": f"stopped after {timeout:.0f} s" if done.returncode == -14 else done.stderr[-300:]}
    return json.loads(done.stdout.splitlines()[-1])


def prose(chars: int) -> str:
    """Real text: the seeds' paragraphs, numbered so that none is dropped as a repeat, to `chars` characters."""
    paragraphs = [p for f in sorted((ROOT / "seeds").glob("*.txt"))
                  for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    out, n, have = [], 0, 0
    while have < chars:
        p = f"{n}. {paragraphs[n % len(paragraphs)]}"
        out.append(p)
        have += len(p) + 2
        n += 1
    return "\n\n".join(out)[:chars]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bomb-only", action="store_true")
    parser.add_argument("--in-process", action="store_true", help="read in the probe process, with no limits")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    from hostile import bomb_docx, text_docx
    from test_extraction import make_pdf

    mode = "in-process" if args.in_process else "bounded"
    results = {}
    with tempfile.TemporaryDirectory(prefix="qa-bench-parse-") as tmp:
        cases = {"bomb.docx (150 MB of XML)": ("bomb.docx", bomb_docx())}
        if not args.bomb_only:
            for mb in (4, 16):
                cases[f"prose.txt, {mb} M characters"] = ("prose.txt", prose(mb * 10**6).encode())
            cases["prose.docx, 4 M characters"] = ("prose.docx", text_docx(prose(4 * 10**6).split("\n\n")))
            lines = prose(2 * 10**6).encode("latin-1", "replace").decode("latin-1").split(". ")
            pages = [lines[i:i + 40] for i in range(0, len(lines), 40)]
            cases[f"prose.pdf, {len(pages)} pages"] = ("prose.pdf", make_pdf(pages))
            cases["bomb.docx, 16 MB of XML"] = ("bomb16.docx", bomb_docx(16 * 10**6))
        for label, (name, data) in cases.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            result = measure(path, mode, args.timeout)
            result.update(file_mb=round(len(data) / 2**20, 2))
            results[label] = result
            print(f"{label:32} {mode:10} file {result['file_mb']:7.2f} MB  cpu {result.get('cpu', float('nan')):6.2f} s  "
                  f"peak rss {result.get('peak_rss_mb') or float('nan'):6.0f} MB, worker "
                  f"{result.get('worker_peak_rss_mb') or float('nan'):6.0f} MB  -> {result['result']}", flush=True)
    print(json.dumps({"mode": mode, "loadavg": os.getloadavg()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                      "results": results}))


if __name__ == "__main__":
    main()
