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

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True, order=True)
class InputFile:
    path: str
    size: int


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
    Raises :class:`InputError` naming every pattern that matched nothing.
    """
    import os

    found: dict[str, int] = {}
    missing = []
    for pattern in patterns:
        matched: list[tuple[str, int]] = []
        if is_local(pattern) and os.path.isdir(pattern):
            for root, dirs, files in os.walk(pattern):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                for name in sorted(files):
                    full = os.path.join(root, name)
                    matched.append((full, os.path.getsize(full)))
        else:
            try:
                results = FileSystems.match([pattern])[0].metadata_list
            except Exception:  # Beam raises BeamIOError for a pattern that matches nothing
                results = []
            if not results and not (_GLOB_CHARS & set(pattern)):
                try:  # a remote "directory": match everything below it
                    results = FileSystems.match([pattern.rstrip("/") + "/**"])[0].metadata_list
                except Exception:
                    results = []
            matched = [(m.path, m.size_in_bytes) for m in results]
        matched = [(p, s) for p, s in matched if not _basename(p).startswith((".", "_"))]
        if not matched:
            missing.append(pattern)
        found.update(matched)
    if missing:
        raise InputError(f"no input file matched: {', '.join(missing)}")
    return sorted(InputFile(p, s) for p, s in found.items())


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

    def close(self) -> None:
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: str, max_bytes: int | None = None, max_ratio: float | None = None) -> BinaryIO:
    """Open ``path`` for reading, transparently decompressing gzip (multi-member too) and zstd.

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
    else:
        decompressed = io.BufferedReader(ZstdReader(compressed), buffer_size=1 << 20)  # type: ignore[assignment]
    if max_bytes is None and max_ratio is None:
        return decompressed
    return _Limited(decompressed, counted, max_bytes or (1 << 62), max_ratio or float("inf"))  # type: ignore[return-value]


class ZstdReader(io.RawIOBase):
    """Streaming zstd decompression across frames that, unlike ``zstandard.stream_reader``, notices a cut.

    A stream that ends inside a frame raises ``EOFError`` (as ``gzip`` does), so a truncated ``.zst``
    is quarantined instead of its last partial record being read as if it were whole.
    """

    CHUNK = 1 << 18

    def __init__(self, stream: BinaryIO):
        import zstandard

        self._zstd = zstandard
        self._stream = stream
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._stream.read(self.CHUNK)
            if not chunk:
                if self._in_frame:
                    raise EOFError("zstd stream ends before the end of its frame (truncated file)")
                return 0
            self._feed(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        out = []
        while chunk:
            self._in_frame = True
            out.append(self._obj.decompress(chunk))
            if self._obj.eof:
                self._in_frame = False
                chunk = self._obj.unused_data
                self._obj = self._zstd.ZstdDecompressor().decompressobj()
            else:
                chunk = b""
        self._pending += b"".join(out)

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
