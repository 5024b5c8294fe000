"""Every file the project keeps (runs, checkpoints, figures, reports, the data cache) written atomically and read back
with errors that name the file. A reader never sees a half-written file: each write goes to
`.NAME.<pid>.<random>.tmp`, renamed onto NAME on success; a killed writer cannot clean up, so the next write to NAME
removes what it left."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import pickle
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

STALE_AFTER_S = 3600  # no write of this project takes an hour: an untouched temp file that old is left over


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, OverflowError) as exc:  # no such process (or no process can have it), unless someone else's
        return isinstance(exc, PermissionError)
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the `.NAME.*.tmp` files of killed writes to `path`: their pid no longer runs here, or they are untouched
    for `STALE_AFTER_S` (another machine's, or named without a pid); return what was removed."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<pid>\d+)\.)?[^.]+\.tmp")  # not NAME.gz's
    removed, now = [], time.time()
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if match := pattern.fullmatch(candidate.name):
            pid = int(match["pid"] or os.getpid())  # no pid in the name: judged by age alone
            with contextlib.suppress(OSError):  # gone already, or not ours to remove
                if pid != os.getpid() and not _pid_running(pid) or now - candidate.lstat().st_mtime > STALE_AFTER_S:
                    candidate.unlink()
                    removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`, renamed onto it only if the block succeeds. An OSError names `path`, not
    the temporary file, with its errno: "results/x.json: No space left on device"."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp.touch(exist_ok=False)  # mode 0o666 less the umask, as any new file gets (mkstemp would make it 0600)
        try:
            yield tmp
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # ours from the touch on
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) == path:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def unloadable(exc: BaseException) -> str:
    """Why torch.load(weights_only=True) refused a file, in one line; never torch's advice (that runs its code)."""
    text = str(exc)
    if any(sign in text for sign in ("weights_only", "Weights only", "Unsupported global")):
        name = text.partition("GLOBAL ")[2].split(maxsplit=1)
        return f"it holds pickled objects{f' ({name[0]})' if name else ''} that could run code, refused"
    if isinstance(exc, EOFError | pickle.UnpicklingError) or getattr(exc, "errno", None) == errno.EINVAL or any(
            sign in text for sign in ("PytorchStreamReader", "magic number")):  # torch on a cut or foreign file
        return "it is cut short or not a torch file"
    return " ".join(f"{type(exc).__name__}: {text}".split())[:300]


def describe_os_error(exc: OSError) -> str:
    """One line for a user: the file, what went wrong, and for a full disk, that the disk is full."""
    what = exc.strerror or str(exc)
    what = f"the disk is full ({what})" if exc.errno == errno.ENOSPC else what
    return f"{exc.filename}: {what}" if exc.filename else what


def error_line(exc: BaseException) -> str:
    """What a command prints after "error: ": an OSError that names its file as `describe_os_error` says it, else the
    message (ours name the file already)."""
    return describe_os_error(exc) if isinstance(exc, OSError) and exc.filename else str(exc)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing (text as UTF-8, never the locale's codec); it replaces `path` on success."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else "utf-8") as handle:
        yield handle


def unused_path(folder: str | os.PathLike[str], stem: str, suffix: str = ".json") -> Path:
    """folder/<stem><suffix>, else <stem>-2, -3, ...: the first name no file has, so nothing measured before is
    overwritten."""
    path, n = Path(folder) / f"{stem}{suffix}", 1
    while path.exists():
        n += 1
        path = Path(folder) / f"{stem}-{n}{suffix}"
    return path


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(json.dumps(obj, indent=2) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read JSON (UTF-8, whatever the locale), naming the file in the error when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_bytes())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
