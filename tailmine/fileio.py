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

from tailmine.errors import InputError

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
    return FileSystems.exists(path)


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
    if FileSystems.exists(path):
        FileSystems.delete([path])


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
