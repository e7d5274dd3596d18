"""One writer per output folder: ``OUT/.tailmine-lock.json`` names the run that is writing there.

Two runs writing one folder at once delete and rename each other's shards and can leave a manifest
that lists a shard which no longer exists, so a second run into a locked folder stops at once with a
message naming the owner. The lock file holds the owner's pid, host, process start time and start
time (UTC), and a random token.

* Local folders: the file is held with ``flock`` for the whole run. The kernel drops that lock when
  the process dies however it dies (SIGKILL included), so a lock left by a dead run is always seen as
  stale and taken over; its owner record is replaced.
* Object stores (``s3://``, ``gs://``), which have no locks: the file is created if absent and read
  back to check the token. A lock whose owner ran on this host and is no longer running (its pid is
  gone, or now belongs to a process started at another time) is stale and taken over. A lock from
  another host cannot be checked from here: the message says to delete the file if that run is dead.
  Two runs starting within the same second on different hosts can both pass (object stores offer no
  atomic create here): the lock is a guard against mistakes, not a distributed mutex.

A process that already holds a folder's lock may take it again (``tailmine run`` locks the run folder
and then each stage folder; ``tailmine demo`` locks its folder before ``run`` does); it is released
when the outermost holder exits.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Optional

from tailmine.errors import LockError
from tailmine.fileio import delete_tree, exists, is_local, join, read_bytes, write_bytes_atomic

LOCK_NAME = ".tailmine-lock.json"  # a dot name: input listings skip it

_log = logging.getLogger(__name__)
_held: dict[str, "_Held"] = {}  # lock path -> this process's hold on it


@dataclass(frozen=True)
class LockOwner:
    pid: int
    host: str
    started: str  # UTC, ISO 8601
    process_start: Optional[int]  # the pid's start time in clock ticks since boot (Linux), to tell a reused pid
    token: str
    command: str = ""

    @classmethod
    def me(cls, command: str) -> "LockOwner":
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            process_start=process_start_time(os.getpid()),
            token=uuid.uuid4().hex,
            command=command,
        )

    @classmethod
    def parse(cls, data: bytes) -> Optional["LockOwner"]:
        """The owner in a lock file's bytes; None for an empty or half-written file (a run killed while
        writing it), which counts as stale."""
        try:
            fields = json.loads(data)
            owner = cls(**{k: fields.get(k) for k in cls.__dataclass_fields__})
        except (ValueError, TypeError, AttributeError):
            return None
        return owner if isinstance(owner.pid, int) and isinstance(owner.host, str) else None

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode()

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}" + (f" ({self.command})" if self.command else "")


def process_start_time(pid: int) -> Optional[int]:
    """When ``pid`` started, in clock ticks since boot (field 22 of ``/proc/PID/stat``); None where
    there is no ``/proc`` or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def owner_is_running(owner: LockOwner) -> bool:
    """False only when the owner surely is gone: it ran on this host and its pid is free, or the pid was
    reused by a process started at another time. An owner on another host counts as running."""
    if owner.host != socket.gethostname():
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    started = process_start_time(owner.pid)
    return owner.process_start is None or started is None or started == owner.process_start


@dataclass
class _Held:
    owner: LockOwner
    fd: Optional[int]  # the flock'ed descriptor of a local lock
    depth: int = 1


def _refuse(out_dir: str, path: str, owner: LockOwner) -> LockError:
    return LockError(
        f"{out_dir} is being written by another tailmine run ({owner.describe()}); wait for it to finish "
        f"or use another --out. If that run is dead, delete {path}"
    )


def acquire(out_dir: str, command: str = "") -> LockOwner:
    """Take the lock of ``out_dir`` (creating the folder) or raise :class:`LockError` naming the owner."""
    path = join(out_dir, LOCK_NAME)
    held = _held.get(_key(path))
    if held is not None:
        held.depth += 1
        return held.owner
    me = LockOwner.me(command)
    fd = _acquire_local(out_dir, path, me) if is_local(out_dir) else _acquire_remote(out_dir, path, me)
    _held[_key(path)] = _Held(me, fd)
    return me


def _key(path: str) -> str:
    """One key per lock file however its folder is spelled (``out``, ``./out/``, a symlink to it)."""
    return os.path.realpath(path) if is_local(path) else path


def release(out_dir: str) -> None:
    path = join(out_dir, LOCK_NAME)
    held = _held.get(_key(path))
    if held is None:
        return
    held.depth -= 1
    if held.depth > 0:
        return
    del _held[_key(path)]
    if held.fd is not None:
        try:
            os.unlink(path)  # before unlocking: a waiting run then finds no file, or a fresh one
        except FileNotFoundError:
            pass
        os.close(held.fd)
        return
    try:
        current = LockOwner.parse(read_bytes(path))
    except Exception:  # noqa: BLE001 - already gone: nothing to release
        return
    if current is not None and current.token == held.owner.token:
        delete_tree(path)


def _acquire_local(out_dir: str, path: str, me: LockOwner) -> int:
    import fcntl

    os.makedirs(out_dir, exist_ok=True)
    deadline = time.monotonic() + 5.0
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = LockOwner.parse(_read_fd(fd))
            os.close(fd)
            if owner is None and time.monotonic() < deadline:  # the holder is between locking and writing the file
                time.sleep(0.05)
                continue
            if owner is None:
                raise LockError(f"{out_dir} is locked by a live process that left no owner record in {path}; "
                                "wait for it to finish or use another --out") from None
            raise _refuse(out_dir, path, owner) from None
        try:
            same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:  # the previous holder released (unlinked) it between our open and our flock
            os.close(fd)
            continue
        previous = LockOwner.parse(_read_fd(fd))
        if previous is not None:
            _log.warning("%s: taking over the lock of a run that is gone (%s)", out_dir, previous.describe())
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.to_bytes(), 0)
        os.fsync(fd)
        return fd


def _read_fd(fd: int) -> bytes:
    return os.pread(fd, 1 << 16, 0)


def _acquire_remote(out_dir: str, path: str, me: LockOwner) -> None:
    if exists(path):
        owner = LockOwner.parse(read_bytes(path))
        if owner is not None and owner_is_running(owner):
            raise _refuse(out_dir, path, owner)
        if owner is not None:
            _log.warning("%s: taking over the lock of a run that is gone (%s)", out_dir, owner.describe())
    write_bytes_atomic(path, me.to_bytes())
    current = LockOwner.parse(read_bytes(path))
    if current is None:
        raise LockError(f"{path}: the lock file reads back empty or garbled right after writing it; is another run starting?")
    if current.token != me.token:  # another run wrote its lock between our check and our write
        raise _refuse(out_dir, path, current)
    return None


class OutputLock:
    """``with OutputLock(out_dir):`` holds the folder's lock for the block (see the module docstring)."""

    def __init__(self, out_dir: str, command: str = ""):
        self.out_dir, self.command = out_dir, command

    def __enter__(self) -> LockOwner:
        return acquire(self.out_dir, self.command)

    def __exit__(self, *exc) -> None:
        release(self.out_dir)
