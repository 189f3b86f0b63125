"""What every benchmark report says about its run, and where the report goes.

A benchmark measures, then hands its Markdown to :func:`publish`, which adds
the command that produced it and the machine it ran on, read from the machine
(CPU model, cores, torch and its threads, the GPU, the load average) plus the
``--note`` given on the command line (whether the machine was quiet), and
writes it:

- into its own section of a shared file such as ``benchmarks/RESULTS.md``,
  between ``<!-- begin NAME: ... -->`` and ``<!-- end NAME -->`` (NAME is the
  script's name and the case: ``bench_image/cpu``, ``bench_video/cuda-1080p``);
  the rest of the file, written by hand, is kept as it is;
- or, with ``whole=True``, as a whole file (``benchmarks/RESULTS-shots.md``).

Without ``--results`` the report is only printed. Nothing inside a generated
section is edited by hand: rerun the command it names.

Imports only the standard library and torch, so it runs on a bare GPU machine too.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Another session may be training here: its processes, one PID a line, are paused while a benchmark times.
TRAINING_PIDS = Path("/tmp/vidstyle-training.pids")


def add_options(ap: argparse.ArgumentParser) -> None:
    """``--results FILE`` and ``--note TEXT``, the same in every benchmark."""
    ap.add_argument("--results", type=Path, default=None,
                    help="write the report into this Markdown file (benchmarks/RESULTS.md: this script's section "
                         "of it); default: print it only")
    ap.add_argument("--note", default="",
                    help="how busy the machine was, for the report: e.g. 'quiet: nothing else running' or "
                         "'shared: other jobs running'")


def command() -> str:
    """The command line that ran this script, as it would be typed from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def _cpu_model() -> tuple[str, list[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    have = set(flags.group(1).split()) if flags else set()
    simd = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("amx_tile", "AMX")) if flag in have]
    return (model.group(1).strip() if model else platform.machine()), simd


def _git() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (with local changes)" if head and dirty else head or "unknown"


def machine(device: str = "cpu") -> str:
    """One paragraph of facts about this machine and this process, read now."""
    import torch

    model, simd = _cpu_model()
    logical = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    cores = f"{usable} of {logical} logical CPUs" if usable != logical else f"{logical} logical CPUs"
    parts = [f"CPU {model}" + (f" ({', '.join(simd)})" if simd else "") + f", {cores}",
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
             f"torch {torch.__version__} with {torch.get_num_threads()} threads"]
    if (device == "auto" or str(device).startswith("cuda")) and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device("cuda" if device == "auto" else device))
        parts.append(f"GPU {props.name} ({props.total_memory // 2**20:,} MiB, CUDA {torch.version.cuda})")
    if "av" in sys.modules:
        av = sys.modules["av"]
        ffmpeg = getattr(av, "ffmpeg_version_info", None)
        parts.append(f"PyAV {av.__version__}" + (f" (FFmpeg {ffmpeg})" if ffmpeg else ""))
    return "; ".join(parts) + "."


def load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load average not available"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) when the report was written"


def header(args: argparse.Namespace, device: str = "cpu") -> str:
    """The lines that open every report: command, when and where, how busy."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    note = args.note.strip() or "no note given (--note)"
    return "\n".join([
        f"Command: `{command()}`  ",
        f"Run: {when}, commit {_git()}.  ",
        f"Machine: {machine(device)}  ",
        f"Load: {note}; {load()}.",
    ])


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the section ``name`` replaced by ``body`` (appended if it is not there yet)."""
    begin = f"<!-- begin {name}: generated, do not edit; rerun the command below -->"
    end = f"<!-- end {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(rf"<!-- begin {re.escape(name)}:[^>]*-->.*?<!-- end {re.escape(name)} -->", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"


def publish(args: argparse.Namespace, section: str, body: str, *, device: str = "cpu", whole: bool = False) -> str:
    """Print the report, and write it to ``args.results`` if given. Returns the report.

    ``body`` is the Markdown of what was measured: a heading, then the rest; the
    report puts :func:`header` under the heading. ``section`` names the part of
    ``args.results`` it replaces (the script's name and the case, as
    ``bench_video/cpu-1080p``); with ``whole=True`` the report is the whole file.
    """
    title, _, rest = body.strip().partition("\n")
    report = f"{title}\n\n{header(args, device)}\n\n{rest.strip()}\n"
    print(report)
    dest: Path | None = args.results
    if dest is not None:
        old = dest.read_text(encoding="utf-8") if dest.exists() else ""
        new = report if whole else replace_section(old, section, report)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(dest)
        print(f"wrote {dest}" if whole else f"wrote section {section} of {dest}")
    return report


class Paused:
    """SIGSTOP the training processes listed in TRAINING_PIDS while timing; always resume them."""

    def __enter__(self):
        self.pids = []
        if TRAINING_PIDS.exists():
            self.pids = [int(p) for p in TRAINING_PIDS.read_text().split() if p.strip().isdigit()]
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        self._old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return self

    def __exit__(self, *exc):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        signal.signal(signal.SIGTERM, self._old)
