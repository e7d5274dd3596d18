"""File access for every stage, through Beam's ``FileSystems`` so ``gs://`` and ``s3://`` work too.

Compression is recognised by magic bytes, not by file name: crawl dumps are often renamed, and a
``.gz`` that is not gzip should fail as corrupt input, not be read as garbage text.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
from dataclasses import dataclass
from typing import BinaryIO, Iterable

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tailmine.errors import InputError, StorageError
from tailmine.ingest.records import BROKEN_LINK, UNREADABLE_FILE

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True, order=True)
class InputFile:
    path: str
    size: int
    problem: str = ""
    """Why the file cannot be read ('' when it can): a quarantine reason (``broken_link``,
    ``unreadable_file``); the ingest stage turns it into a quarantined record, never a crash."""
    detail: str = ""




def printable_path(path: str) -> str:
    """``path`` as valid UTF-8 text for Parquet columns and JSON: unchanged unless the file name holds
    bytes that are not UTF-8 (kept by Python as surrogate escapes), which become ``\\xNN``.
    :func:`path_record` keeps the exact bytes beside it."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_record(f: InputFile) -> dict:
    """A manifest ``inputs`` entry: path and size, the exact name bytes (hex) when the name is not UTF-8,
    and the problem when the file could not be read."""
    entry: dict = {"path": printable_path(f.path), "bytes": f.size}
    if entry["path"] != f.path:
        entry["path_bytes_hex"] = f.path.encode("utf-8", "surrogateescape").hex()
    if f.problem:
        entry["problem"] = f.problem
        entry["detail"] = f.detail
    return entry


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def stable_file_key(path: str) -> str:
    """A file's last two path parts: the same wherever a dump is unpacked, mounted or moved.

    Anything that must not change with the location of the data (ids, hash keys, split groups) keys
    files by this, never by the full path.
    """
    return "/".join(path.replace("\\", "/").rstrip("/").split("/")[-2:])


def is_local(path: str) -> bool:
    return "://" not in path


def exists(path: str) -> bool:
    """True if ``path`` is a file or a folder. On an object store a "folder" is a key prefix that Beam's
    ``exists`` does not see (it asks for one object), so a prefix with objects under it counts too."""
    return FileSystems.exists(path) or (not is_local(path) and bool(_match_below(path)))


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary sibling, then rename, so a reader never sees half a file."""
    tmp = _tmp_name(path)
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)
    commit(tmp, path)


def _tmp_name(path: str) -> str:
    head, tail = posixpath.split(path) if not is_local(path) else __import__("os").path.split(path)
    return join(head, f".tmp-{tail}")


def commit(tmp: str, final: str) -> None:
    """Rename ``tmp`` over ``final`` (replacing it: a retried unit of work rewrites the same bytes)."""
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])


def delete_tree(path: str) -> None:
    """Delete a file or a folder with everything in it. On an object store a "folder" is a key prefix
    that ``exists`` does not see, so the objects under it are listed and deleted one by one."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
    if not is_local(path):
        below = [m.path for m in _match_below(path)]
        if below:
            FileSystems.delete(below)


def _match_below(path: str) -> list:
    try:
        return FileSystems.match([path.rstrip("/") + "/**"])[0].metadata_list
    except Exception:  # BeamIOError: nothing below
        return []


def list_files(directory: str, pattern: str = "*") -> list[InputFile]:
    """Files directly under ``directory`` matching ``pattern``, sorted by path."""
    results = FileSystems.match([join(directory, pattern)])[0].metadata_list
    return sorted(InputFile(m.path, m.size_in_bytes) for m in results)


def expand_inputs(patterns: Iterable[str]) -> list[InputFile]:
    """Resolve files, globs and directories (recursively) into a sorted, de-duplicated file list.

    Hidden files and names starting with ``_`` or ``.`` (markers, temporaries) are skipped.
    Local entries that cannot be read (dangling links, symlink loops, folders that cannot be listed,
    files without read permission, FIFOs and devices) are listed with a ``problem`` rather than raised
    or left out, so the stage quarantines each of them. Symlinked folders are followed, each folder once.
    Raises :class:`InputError` naming every pattern that matched nothing.
    """
    found: dict[str, InputFile] = {}
    missing = []
    for pattern in patterns:
        if is_local(pattern):
            matched = _expand_local(pattern)
        else:
            matched = _expand_remote(pattern)
        matched = [f for f in matched if not _basename(f.path).startswith((".", "_"))]
        if not matched:
            missing.append(pattern)
        found.update((f.path, f) for f in matched)
    if missing:
        raise InputError(f"no input file matched: {', '.join(missing)}")
    return sorted(found.values())


def readable_inputs(patterns: Iterable[str]) -> list[InputFile]:
    """:func:`expand_inputs` for inputs that must all be read (evaluation sets, training data): an
    entry that cannot be read is an :class:`InputError` naming each one, not a record to quarantine."""
    files = expand_inputs(patterns)
    bad = [f for f in files if f.problem]
    if bad:
        raise InputError("cannot read: " + "; ".join(f"{printable_path(f.path)} ({f.problem}: {f.detail})" for f in bad))
    return files


def _expand_remote(pattern: str) -> list[InputFile]:
    try:
        results = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # Beam raises BeamIOError for a pattern that matches nothing
        results = []
    if not results and not (_GLOB_CHARS & set(pattern)):
        try:  # a remote "directory": match everything below it
            results = FileSystems.match([pattern.rstrip("/") + "/**"])[0].metadata_list
        except Exception:
            results = []
    return [InputFile(m.path, m.size_in_bytes) for m in results]


def _expand_local(pattern: str) -> list[InputFile]:
    import glob
    import os

    if _GLOB_CHARS & set(pattern):
        paths = sorted(glob.glob(pattern, recursive=True))
    else:
        paths = [pattern] if os.path.lexists(pattern) else []
    out: list[InputFile] = []
    seen: set = set()
    for path in paths:
        if os.path.isdir(path):
            out.extend(_walk_local(path, seen))
        else:
            out.append(local_input(path))
    return out


def _walk_local(top: str, seen: set) -> list[InputFile]:
    """Every file below ``top``; folders that cannot be listed and links that lead nowhere included,
    each with its problem. ``seen`` holds the (device, inode) of folders already walked."""
    import os

    out: list[InputFile] = []

    def unlistable(exc: OSError) -> None:
        out.append(InputFile(exc.filename or top, 0, UNREADABLE_FILE, f"folder cannot be listed: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(top, onerror=unlistable, followlinks=True):
        try:
            st = os.stat(root)
            key = (st.st_dev, st.st_ino)
        except OSError as exc:
            unlistable(exc)
            dirs[:] = []
            continue
        if key in seen:
            out.append(InputFile(root, 0, BROKEN_LINK, "links to a folder already read (a symlink loop or a second path to it); not read twice"))
            dirs[:] = []
            continue
        seen.add(key)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            out.append(local_input(os.path.join(root, name)))
    return out


def local_input(path: str) -> InputFile:
    """A local file with its size, or with the reason it cannot be read."""
    import errno
    import os
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            if exc.errno == errno.ELOOP:
                return InputFile(path, 0, BROKEN_LINK, "symlink loop")
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return InputFile(path, 0, BROKEN_LINK, f"dangling symlink to {printable_path(target)!r}")
        return InputFile(path, 0, UNREADABLE_FILE, f"cannot stat: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return InputFile(path, 0, UNREADABLE_FILE, "not a regular file (a FIFO, socket or device)")
    if not os.access(path, os.R_OK):
        return InputFile(path, st.st_size, UNREADABLE_FILE, "permission denied")
    return InputFile(path, st.st_size)


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


class _Prefixed(io.RawIOBase):
    """A read-only stream that replays ``prefix`` before the rest of ``stream`` (for sniffing unseekable input)."""

    def __init__(self, prefix: bytes, stream: BinaryIO):
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_raw(path: str) -> BinaryIO:
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def sniff_compression(head: bytes) -> str | None:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(BZIP2_MAGIC) and head[3:4].isdigit() and head[3:4] != b"0":
        return "bz2"
    return None


class DecompressionLimit(Exception):
    """A compressed input decompressed past its size or ratio limit (a decompression bomb guard)."""


RATIO_GRACE_BYTES = 64 << 20


def check_decompression(decompressed: int, compressed: int, max_bytes: int, max_ratio: float) -> None:
    """Raise :class:`DecompressionLimit` if ``decompressed`` bytes from ``compressed`` ones break a limit."""
    if decompressed > max_bytes:
        raise DecompressionLimit(f"decompressed past max_decompressed_bytes {max_bytes}")
    if decompressed > RATIO_GRACE_BYTES and decompressed > max_ratio * max(compressed, 1):
        raise DecompressionLimit(
            f"{decompressed} bytes decompressed from {compressed} compressed: ratio over max_compression_ratio {max_ratio:g}"
        )


class _Counting(io.RawIOBase):
    """Counts the bytes read from a raw (compressed) stream."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


class _Limited:
    """A decompressed stream that raises :class:`DecompressionLimit` when a limit is crossed.

    A thin proxy (no buffer of its own): the decompressor's ``readline`` delivers every complete line
    before a truncation, which an extra buffering layer would swallow.
    """

    def __init__(self, stream: BinaryIO, compressed: "_Counting", max_bytes: int, max_ratio: float):
        self._stream, self._compressed, self._max_bytes, self._max_ratio = stream, compressed, max_bytes, max_ratio
        self.count = 0

    def _counted(self, data: bytes) -> bytes:
        self.count += len(data)
        check_decompression(self.count, self._compressed.count, self._max_bytes, self._max_ratio)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._counted(self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self._stream.readline(size))

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        """Decompressed bytes handed out so far (fastwarc asks for the position of each record)."""
        return self.count

    def close(self) -> None:
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: str, max_bytes: int | None = None, max_ratio: float | None = None) -> BinaryIO:
    """Open ``path`` for reading, transparently decompressing gzip (multi-member too), zstd and bzip2.

    Every decompressor here inflates no more than the caller asks for (``read(n)``/``readline(n)``),
    so memory stays bounded whatever the compression ratio; ``max_bytes``/``max_ratio`` additionally
    stop a bomb's CPU time.

    A truncated compressed stream raises ``EOFError`` (gzip) or ``zstandard.ZstdError`` when the
    reader reaches the cut; callers turn that into a quarantined ``truncated_input`` record.
    """
    raw = open_raw(path)
    head = raw.read(4)
    if raw.seekable():
        raw.seek(0)
        stream: BinaryIO = raw
    else:
        stream = io.BufferedReader(_Prefixed(head, raw), buffer_size=1 << 20)
    kind = sniff_compression(head)
    if kind is None:
        return stream
    counted = _Counting(stream)
    compressed = io.BufferedReader(counted, buffer_size=1 << 20)
    if kind == "gzip":
        decompressed = _gzip_reader(compressed)
    elif kind == "bz2":
        import bz2

        decompressed = bz2.BZ2File(compressed, mode="rb")  # type: ignore[assignment]  # read(n) inflates at most n
    else:
        decompressed = io.BufferedReader(ZstdReader(compressed), buffer_size=1 << 20)  # type: ignore[assignment]
    if max_bytes is None and max_ratio is None:
        return decompressed
    return _Limited(decompressed, counted, max_bytes or (1 << 62), max_ratio or float("inf"))  # type: ignore[return-value]


class ZstdReader(io.RawIOBase):
    """Streaming zstd decompression across frames that, unlike ``zstandard.stream_reader``, notices a cut.

    A stream that ends inside a frame raises ``EOFError`` (as ``gzip`` does), so a truncated ``.zst``
    is quarantined instead of its last partial record being read as if it were whole.

    Memory is bounded while it reads, whatever the input: zstd's decompressobj has no output limit, so
    compressed bytes are fed ``FEED`` at a time. A zstd block is at least 4 bytes and inflates to at
    most 128 KiB, so one feed yields at most ``FEED * 32768`` bytes (32 MiB): a bomb of zeros costs
    that much per step, never the whole inflated size (the old 256 KiB feed could inflate to 8 GiB).
    """

    CHUNK = 1 << 18
    FEED = 1 << 10
    MAX_FEED_OUTPUT = FEED * (128 << 10) // 4

    def __init__(self, stream: BinaryIO):
        import zstandard

        self._zstd = zstandard
        self._stream = stream
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False
        self._input = b""  # compressed bytes read but not yet fed
        self._input_pos = 0
        self._pending = b""  # decompressed bytes not yet handed out
        self._pending_pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._pending_pos >= len(self._pending):
            if self._input_pos >= len(self._input):
                self._input, self._input_pos = self._stream.read(self.CHUNK), 0
                if not self._input:
                    if self._in_frame:
                        raise EOFError("zstd stream ends before the end of its frame (truncated file)")
                    return 0
            piece = self._input[self._input_pos : self._input_pos + self.FEED]
            self._input_pos += len(piece)
            self._pending, self._pending_pos = self._feed(piece), 0
        n = min(len(buffer), len(self._pending) - self._pending_pos)
        buffer[:n] = self._pending[self._pending_pos : self._pending_pos + n]
        self._pending_pos += n
        return n

    def _feed(self, piece: bytes) -> bytes:
        out = []
        while piece:
            self._in_frame = True
            out.append(self._obj.decompress(piece))
            if self._obj.eof:
                self._in_frame = False
                piece = self._obj.unused_data
                self._obj = self._zstd.ZstdDecompressor().decompressobj()
            else:
                piece = b""
        return out[0] if len(out) == 1 else b"".join(out)

    def close(self) -> None:
        self._stream.close()
        super().close()


def _gzip_reader(stream: BinaryIO) -> BinaryIO:
    """ISA-L's gzip reader (2.7x stdlib's inflate here) when installed; stdlib gzip otherwise.

    Both read multi-member files and raise ``EOFError`` at a truncated stream.
    """
    try:
        from isal import igzip

        return igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    except ImportError:
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]


def read_head(path: str, n: int = 4096) -> bytes:
    """The first ``n`` decompressed bytes of ``path`` (for format detection); short or empty on errors."""
    try:
        with open_input(path) as handle:
            return handle.read(n)
    except (OSError, EOFError, ValueError):
        return b""
    except Exception:  # zstandard.ZstdError and friends: an unreadable head is not a detection crash
        return b""


class HashingWriter(io.RawIOBase):
    """Wrap a writable stream, counting bytes and computing sha256 as they pass (no second read)."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self._stream.write(data)
        self.sha256.update(data)
        self.bytes += len(data)
        return len(data)

    def tell(self) -> int:
        return self.bytes

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def create_hashing(path: str) -> HashingWriter:
    return HashingWriter(FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED))


# --- object stores: one S3 client per process, checked once before any work -------------------------


def share_s3_clients() -> None:
    """Make Beam's S3 file system reuse one boto3 client per process and option set.

    Beam builds a new boto3 session and client for every S3 call (``exists``, ``open``, ``rename``...),
    and each build parses botocore's JSON service model again: 0.1 s per call on an idle machine, about
    a second on a loaded one, which dominated a small run (121 client builds, 130 of 158 s). botocore
    clients are thread-safe; the per-download state of Beam's wrapper stays per instance (it is copied
    from the first instance's state right after construction, when it is still empty).
    """
    try:
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:
        return
    cls = boto3_client.Client
    if getattr(cls, "_tailmine_shared", False) or getattr(boto3_client, "boto3", None) is None:
        return
    import os
    import threading

    original = cls.__init__
    fresh: dict[tuple, dict] = {}
    lock = threading.Lock()

    def __init__(self, options):
        key = (os.getpid(), _s3_options_key(options))  # never share a client across a fork
        with lock:
            state = fresh.get(key)
            if state is None:
                original(self, options)
                fresh[key] = dict(vars(self))
                return
        vars(self).update(state)

    cls.__init__ = __init__
    cls._tailmine_shared = True
    cls._tailmine_unshared_init = original  # benchmarks/object_store.py times both


def _s3_options_key(options) -> tuple:
    names = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token", "s3_endpoint_url", "s3_region_name",
             "s3_api_version", "s3_verify", "s3_disable_ssl")
    if isinstance(options, dict):
        return tuple(options.get(n) for n in names)
    from apache_beam.options.pipeline_options import S3Options

    view = options.view_as(S3Options)
    return tuple(getattr(view, n) for n in names)


share_s3_clients()


S3_CREDENTIALS_HINT = (
    "pass --s3_access_key_id=... --s3_secret_access_key=... after '--' "
    "(or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
)


def check_access(paths: Iterable[str], options) -> None:
    """Fail fast, naming the URL and the option to set, when an object store in ``paths`` cannot be used.

    Beam's S3 client retries a missing credential or a refused connection with exponential backoff for
    about nine minutes per call, and only then reports "no input file matched". One direct request per
    bucket here, without retries and with a short timeout, tells the user at once. ``options`` are the
    Beam pipeline options (the same ``--s3_*`` values Beam's client uses). Local paths and schemes other
    than ``s3://`` are left to Beam.
    """
    buckets: dict[str, str] = {}
    for path in paths:
        if path.startswith("s3://"):
            buckets.setdefault(path[5:].split("/", 1)[0], path)
    for bucket, url in sorted(buckets.items()):
        _check_s3_bucket(bucket, url, options)


def _check_s3_bucket(bucket: str, url: str, options) -> None:
    from apache_beam.options.pipeline_options import S3Options

    try:
        import boto3
        import botocore.config
        import botocore.exceptions as bexc
    except ImportError as exc:
        raise StorageError(f"{url}: reading s3:// needs boto3: pip install 'apache-beam[aws]' ({exc})") from exc
    s3 = options.view_as(S3Options)
    endpoint = s3.s3_endpoint_url or "the default AWS endpoint"
    session = boto3.session.Session(
        aws_access_key_id=s3.s3_access_key_id, aws_secret_access_key=s3.s3_secret_access_key,
        aws_session_token=s3.s3_session_token, region_name=s3.s3_region_name,
    )
    if session.get_credentials() is None:
        raise StorageError(f"{url}: no S3 credentials found; {S3_CREDENTIALS_HINT}")
    client = session.client(
        "s3", endpoint_url=s3.s3_endpoint_url, use_ssl=not s3.s3_disable_ssl, verify=s3.s3_verify,
        api_version=s3.s3_api_version,
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30),
    )
    try:
        client.head_bucket(Bucket=bucket)
    except (bexc.EndpointConnectionError, bexc.ConnectTimeoutError, bexc.ReadTimeoutError) as exc:
        raise StorageError(f"{url}: cannot reach the S3 endpoint {endpoint} ({exc}); set --s3_endpoint_url after '--'") from exc
    except bexc.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("404", "NoSuchBucket") or status == 404:
            raise StorageError(f"{url}: bucket {bucket!r} does not exist at {endpoint}; create it or check --s3_endpoint_url") from exc
        if status in (401, 403) or code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise StorageError(f"{url}: S3 at {endpoint} refused these credentials for bucket {bucket!r}; {S3_CREDENTIALS_HINT}") from exc
        raise StorageError(f"{url}: S3 at {endpoint} answered {code or status} for bucket {bucket!r} ({exc})") from exc
    except bexc.BotoCoreError as exc:
        raise StorageError(f"{url}: cannot use S3 at {endpoint} ({exc}); check the --s3_* options after '--'") from exc
