"""The results folder on disk: checks, locking, atomic staging and swap, recovery.

Guarantees (each tested in ``tests/test_hardening.py``)
--------------------------------------------------------
* **Atomic.** The folder is written into a hidden staging folder beside it and put in
  place by rename, so at ``out`` there is always either the complete previous folder or
  the complete new one -- never a mix, never half a folder. To replace a folder
  (``force=True``) the two are swapped with one atomic ``renameat2(RENAME_EXCHANGE)``
  system call on Linux (ext4, xfs, btrfs, tmpfs ...); where that is not available the
  old folder is renamed aside first and the new one renamed in, and a process killed
  between the two renames leaves the old folder under a recognisable name, which the
  next run on the same target moves back (see *Recovery*). Files are fsync'ed before the
  rename and the parent folder after it, so a power cut does not leave empty files behind
  a completed rename.
* **One writer per folder.** A lock (``fcntl.flock``) on a file beside the folder is held
  from the check until the folder is in place (the command line takes it before the fit
  starts, so it is held for the whole run). A second writer of the same folder does not
  wait: it stops at once with one line naming the folder and the process holding it. Two
  spellings of the same folder (symbolic links, ``~``, ``..``) share one lock. Without
  ``fcntl`` (Windows) there is no lock.
* **Inputs are never replaced.** With ``force``, a folder that contains, or lies inside,
  any input path (after ``~`` expansion and resolving every symbolic link, for the input
  folder and every file in it) or the working directory is refused.
* **Errors and interrupts.** Any exception -- a full disk, a read-only folder, Ctrl-C,
  SIGTERM (turned into KeyboardInterrupt by :mod:`ljfit._signals`) -- deletes the staging
  folder and leaves ``out`` as it was; an ``OSError`` while writing becomes one
  :class:`~ljfit.errors.DataError` naming the folder. Signals arriving during the renames
  are held until they are done.

Names beside ``out`` (``KEY`` is the folder's name, or a hash of it when it is long)
----------------------------------------------------------------------------------
``.ljfit-lock-KEY``          the lock file, deleted when the run ends
``.ljfit-new-KEY-XXXXXXXX``  the staging folder of a run
``.ljfit-old-KEY-XXXXXXXX``  the previous folder, between the two renames of the fallback

Recovery: every writer, once it holds the lock, deletes the staging folders of its target
(their writers are gone: the lock was free) and handles ``.ljfit-old-*`` folders: if
``out`` is missing, the newest is renamed back to ``out`` (the run that moved it aside was
killed before the new folder arrived); otherwise they are the superseded previous results
of a completed replacement and are deleted. Each action is reported as a warning.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import secrets
import shutil
import sys
import warnings
from pathlib import Path

from .. import _signals
from ..errors import DataError
from .figures import write_figures
from .lammps import lammps_export
from .run import FitRun, to_json
from .tables import (
    metrics_document,
    parameters_csv,
    params_document,
    predictions_csv,
    rows_csv,
)
from .text import markdown_report

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None

# ----------------------------------------------------------------------------------------
# paths
# ----------------------------------------------------------------------------------------


def _inside(a: Path, b: Path) -> bool:
    """True when ``a`` is ``b`` or inside it."""
    return a == b or b in a.parents


def _real(path) -> Path:
    """Absolute path with ``~`` expanded and every symbolic link resolved (also when the
    path, or part of it, does not exist)."""
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _key(name: str) -> str:
    """The part of the hidden names beside ``out`` that identifies it: its name, or a hash
    of a name too long to fit into a file name with the prefixes."""
    if len(name.encode("utf-8", "surrogateescape")) <= 160:
        return name
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _hidden(real_out: Path, kind: str) -> str:
    """Prefix of the hidden names of kind ``new``/``old`` (followed by 8 hex digits)."""
    return f".ljfit-{kind}-{_key(real_out.name)}-"


def _siblings(real_out: Path, kind: str) -> list:
    prefix = _hidden(real_out, kind)
    try:
        with os.scandir(real_out.parent) as entries:
            return [Path(e.path) for e in entries
                    if e.name.startswith(prefix) and len(e.name) == len(prefix) + 8]
    except FileNotFoundError:
        return []


def _fresh(real_out: Path, kind: str, create: bool) -> Path:
    """A new hidden sibling name of ``kind`` (created as an empty folder with ``create``)."""
    for _ in range(100):
        path = real_out.parent / f"{_hidden(real_out, kind)}{secrets.token_hex(4)}"
        if create:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            return path
        if not os.path.lexists(path):
            return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(real_out.parent))


def _fsync_dir(path) -> None:
    """Make a rename in ``path`` durable (best effort: not every file system can)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """fsync every file of the staging folder and the folder itself, before the rename that
    publishes it (otherwise a power cut can leave the renamed folder with empty files)."""
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False):
            fd = os.open(entry.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _remove_tree(path: Path) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------------------
# the atomic swap
# ----------------------------------------------------------------------------------------

#: Use renameat2(RENAME_EXCHANGE) when the platform has it (tests set this to False to
#: exercise the two-rename fallback).
USE_EXCHANGE = sys.platform.startswith("linux")
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_renameat2 = []  # cached libc function (or None), looked up on first use


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2`` with ``RENAME_EXCHANGE``, glibc 2.28+,
    kernel 3.15+); False when the C library, the kernel or the file system lacks it."""
    if not USE_EXCHANGE:
        return False
    if not _renameat2:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
            fn.restype = ctypes.c_int
        except (AttributeError, OSError):
            fn = None
        _renameat2.append(fn)
    fn = _renameat2[0]
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EINVAL),
               getattr(errno, "EOPNOTSUPP", errno.EINVAL)):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, real_out: Path) -> None:
    """Put the complete folder ``tmp`` at ``real_out``, replacing what is there; signals
    are held during the renames (:func:`ljfit._signals.deferred`)."""
    parent = real_out.parent
    old = None
    try:
        with _signals.deferred():
            if os.path.isdir(real_out) and not any(os.scandir(real_out)):
                os.rmdir(real_out)  # an empty folder: used as if it were not there
            if not os.path.lexists(real_out):
                os.rename(tmp, real_out)
            elif _exchange(tmp, real_out):
                old = tmp  # the previous folder, now under the staging name
            else:
                old = _fresh(real_out, "old", create=False)
                os.rename(real_out, old)
                _fsync_dir(parent)
                _signals.pause_for_test("after-old-moved")
                try:
                    os.rename(tmp, real_out)
                except BaseException:
                    os.rename(old, real_out)
                    old = None
                    raise
            _fsync_dir(parent)
        if old is not None:
            _signals.pause_for_test("after-exchange" if old == tmp else "after-new-moved")
    finally:
        if old is not None:
            _remove_tree(old)


# ----------------------------------------------------------------------------------------
# the lock
# ----------------------------------------------------------------------------------------

_CLAIMS: dict = {}  # real path of a results folder -> _Claim held by this process


class _Claim:
    """An exclusive ``flock`` on ``.ljfit-lock-KEY`` beside a results folder."""

    def __init__(self, real_out: Path, display: str):
        self.real_out = real_out
        self.display = display
        self.path = real_out.parent / f".ljfit-lock-{_key(real_out.name)}"
        self.fd = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        try:
            self.real_out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(exc, self.display,
                               "cannot create the folder for the results") from None
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                             0o644)
            except OSError as exc:
                raise _write_error(exc, self.display,
                                   "cannot create a lock file beside the results folder") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise _write_error(exc, self.display,
                                       "cannot lock the results folder") from None
                who = f"process {holder}" if holder else "another process"
                raise DataError(
                    f"another ljfit run ({who}) is writing this results folder; wait for it "
                    "to finish or choose another --out", self.display) from None
            # the holder before us may have deleted the file after we opened it: the lock
            # counts only if it is on the file that is at the path now
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return
            os.close(fd)
        raise DataError("cannot lock this results folder (its lock file keeps changing)",
                        self.display)

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # still holding the lock: nobody else has it open locked
        os.close(fd)


def _read_pid(fd) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _write_error(exc: OSError, display: str, what: str = "cannot write the results folder"
                 ) -> DataError:
    """One line for an OSError while creating or writing a results folder; it says that
    the previous folder (if any) is unchanged, which every caller guarantees."""
    reason = " ".join((exc.strerror or str(exc)).split())
    hint = {errno.ENOSPC: "; the disk is full", errno.EFBIG: "; a file size limit (ulimit -f) "
            "was reached", errno.EROFS: "; the file system is read-only",
            errno.EDQUOT: "; the disk quota is exceeded"}.get(exc.errno, "")
    state = ("the previous results are unchanged" if os.path.isdir(os.path.expanduser(display))
             else "nothing was written")
    return DataError(f"{what} ({reason}{hint}); {state}", display)


def _claim(out, display: str | None = None):
    """(claim, acquired_here): the lock of ``out``, taken now unless this process holds it."""
    real = _real(out)
    held = _CLAIMS.get(str(real))
    if held is not None and held.fd is not None:
        return held, False
    claim = _Claim(real, str(out) if display is None else display)
    claim.acquire()
    _CLAIMS[str(real)] = claim
    return claim, True


def release_claims(out=None) -> None:
    """Release the lock of ``out`` (every lock this process holds when None)."""
    keys = list(_CLAIMS) if out is None else [str(_real(out))]
    for k in keys:
        claim = _CLAIMS.pop(k, None)
        if claim is not None:
            claim.release()


def _recover(real_out: Path, display: str) -> list:
    """Clean up after killed runs on this target (the caller holds its lock); returns
    notes of what was done, one sentence each."""
    notes = []
    for path in _siblings(real_out, "new"):
        _remove_tree(path)
        notes.append(f"removed {path.name}, the staging folder of an interrupted run")
    olds = sorted(_siblings(real_out, "old"), key=lambda p: p.stat().st_mtime)
    if olds and not os.path.lexists(real_out):
        back = olds.pop()
        os.rename(back, real_out)
        _fsync_dir(real_out.parent)
        notes.append(f"restored the previous results from {back.name}: a run was killed "
                     "while replacing them")
    for path in olds:
        _remove_tree(path)
        notes.append(f"removed {path.name}, previous results a completed run had replaced")
    for n in notes:
        warnings.warn(f"{display}: {n}", UserWarning, stacklevel=3)
    return notes


# ----------------------------------------------------------------------------------------
# the folder
# ----------------------------------------------------------------------------------------


def check_output_dir(out, force: bool = False, protect=()) -> Path:
    """Refuse an output folder that exists and is not empty (unless ``force``), that is
    not a folder, or (with ``force``) that contains or lies inside one of the ``protect``
    paths (the input data) or the working directory.

    Every path is compared after ``~`` expansion and with every symbolic link resolved, so
    ``~/data`` and ``/home/me/data``, or a link into the folder, are recognised.

    Returns
    -------
    Path
        ``out`` with ``~`` expanded.
    """
    shown = str(out)
    out = Path(os.path.expanduser(shown))
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise DataError("the output path exists and is not a folder", shown)
        if any(out.iterdir()):
            if not force:
                raise DataError(
                    "the output folder exists and is not empty; use --force to replace it "
                    "or --out to choose another",
                    shown,
                )
            real = _real(out)
            if _inside(_real(os.getcwd()), real):
                raise DataError("refusing to replace this folder: it holds the working "
                                "directory", shown)
            for given in protect:
                p = _real(given)
                if _inside(p, real) or _inside(real, p):
                    where = "holds" if _inside(p, real) else "lies inside"
                    link = ""
                    if p != Path(os.path.abspath(os.path.expanduser(str(given)))):
                        link = f", which links to {p}"
                    raise DataError(
                        f"refusing to replace this folder: it {where} the input "
                        f"{given}{link}", shown)
    return out


def claim_output_dir(out, force: bool = False, protect=()) -> Path:
    """Check ``out`` (:func:`check_output_dir`), lock it for this process and clean up
    after interrupted runs on it; the lock is held until :func:`write_results` has put the
    folder in place or :func:`release_claims` is called (the command line does both).

    Raises
    ------
    DataError
        The checks fail, another process holds the lock, or the lock file cannot be
        created (a read-only folder).
    """
    shown = str(out)
    check_output_dir(out, force, protect)  # the quick refusals first, without touching
    claim, acquired = _claim(out, shown)
    try:
        notes = _recover(claim.real_out, shown)
        try:
            return check_output_dir(out, force, protect)
        except DataError as exc:
            if notes:  # say why a folder is there now
                raise DataError(f"{exc.detail} ({'; '.join(notes)})", exc.source) from None
            raise
    except BaseException:
        if acquired:
            release_claims(out)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_folder(out, force: bool = False, protect=()):
    """Yield an empty staging folder beside ``out``; when the block succeeds, put it in
    place of ``out`` atomically (replacing an old ``out`` only with ``force``). On any
    exception (KeyboardInterrupt too) delete it and leave ``out`` untouched; an OSError
    becomes a one-line DataError naming ``out``. See the module docstring for the lock,
    the swap and the recovery."""
    shown = str(out)
    claim_output_dir(out, force, protect)
    claim = _CLAIMS[str(_real(out))]
    real = claim.real_out
    try:
        try:
            tmp = _fresh(real, "new", create=True)
        except OSError as exc:
            raise _write_error(exc, shown, "cannot create a staging folder beside the results "
                                   "folder") from None
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            _fsync_tree(tmp)
            check_output_dir(out, force, protect)  # again: it may have appeared meanwhile
            _swap_in(tmp, real)
        except OSError as exc:
            _remove_tree(tmp)
            raise _write_error(exc, shown) from None
        except BaseException:
            _remove_tree(tmp)
            raise
    finally:
        release_claims(out)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_results(run: FitRun, out, *, force: bool = False, plots: bool = True,
                  protect=(), workers: int = 1) -> Path:
    """Write the whole results folder of ``run`` to ``out`` atomically.

    Parameters
    ----------
    run : FitRun
    out : str or Path
        The folder; refused when it exists and is not empty, unless ``force``.
    force : bool
    plots : bool
        Write the PNG figures (and embed them in report.md).
    protect : sequence of paths
        Paths ``out`` must never contain or lie inside when replaced (the input data).
    workers : int
        2: draw the figures in two processes (see :func:`ljfit.report.figures.write_figures`;
        the command line does).

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    Warnings of the LAMMPS export (a cutoff that drops pairs the fit counted) are appended
    to ``run.notes`` before report.md and metrics.json are written.
    """
    out = Path(os.path.expanduser(str(out)))
    with staged_folder(out, force=force, protect=protect) as tmp:
        _write_text(tmp / "parameters.csv", parameters_csv(run))
        _write_text(tmp / "predictions.csv", predictions_csv(run))
        for name, kind in (("predictions_forces.csv", "forces"),
                           ("predictions_stress.csv", "stress")):
            text = rows_csv(run, kind)
            if text is not None:
                _write_text(tmp / name, text)
        doc = params_document(run)
        _write_text(tmp / "params.json", to_json(doc))
        _signals.pause_for_test("writing")  # test hook: half of the files are written
        lmp = lammps_export(run)
        for name, text in lmp.files.items():  # pair.lmp, in.lammps, structure.data
            _write_text(tmp / name, text)
        # its warnings (a cutoff that drops pairs of the fit) join the run's, so that
        # report.md, metrics.json and the console summary (printed after) all show them
        run.notes.extend(w for w in lmp.warnings if w not in run.notes)
        figures = write_figures(run, tmp, workers=workers) if plots else []
        _write_text(tmp / "report.md", markdown_report(run, figures))
        _write_text(tmp / "metrics.json", to_json(metrics_document(run)))
    return out
