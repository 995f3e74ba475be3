"""Independent reader and writer of the .mmo checkpoint format, version 1.

Written from Formats/mmo-v1.md alone (section numbers below refer to it); it shares no code
with the Swift implementation. Needs numpy, zstandard and xxhash (`tools/setup --python`).

    import mmo
    with mmo.MMOFile("run.mmo") as f:
        f.verify()
        state = f.state()
        w = f.array("model/bert/bert.pooler.dense.weight")
    mmo.write("copy.mmo", {"a": np.zeros(3, np.float32)}, state={"step": 1})

Command line: `python3 mmo.py dump FILE [--values]`, `verify FILE`, `check FILE...`,
`write-sample FILE`.
"""

from __future__ import annotations

import decimal
import json
import mmap
import os
import struct
import sys
from dataclasses import dataclass

import numpy as np
import xxhash
import zstandard

MAGIC = b"\x89MMO\r\n\x1a\n"
MAJOR_VERSION = 1
MINOR_VERSION = 0
HEADER = struct.Struct("<8sIIQQQQQQ")  # §2: 64 bytes
MAX_INDEX_LENGTH = 64 << 20
MAX_INTEGER = 2**53 - 1
MAX_RANK = 8
MAX_NAME_LENGTH = 1024
INDEX_MAX_DEPTH = 8
STATE_MAX_DEPTH = 512
ZSTD_MAX_EXPANSION = 32768
ZSTD_MAX_WINDOW = 1 << 27
MAX_REGION_LENGTH = 1 << 40  # §7.3.4, §11: raw length of any region
ZSTD_MAGIC = 0xFD2FB528
ZERO_CHUNK = 1 << 20

# §3: dtype -> (numpy dtype, element size). bf16 has no numpy type: it is returned as its raw
# uint16 bit patterns.
DTYPES = {
    "f64": ("<f8", 8), "f32": ("<f4", 4), "f16": ("<f2", 2), "bf16": ("<u2", 2),
    "i64": ("<i8", 8), "i32": ("<i4", 4), "i16": ("<i2", 2), "i8": ("i1", 1),
    "u64": ("<u8", 8), "u32": ("<u4", 4), "u16": ("<u2", 2), "u8": ("u1", 1),
}
NUMPY_TO_DTYPE = {
    np.dtype("float64"): "f64", np.dtype("float32"): "f32", np.dtype("float16"): "f16",
    np.dtype("int64"): "i64", np.dtype("int32"): "i32", np.dtype("int16"): "i16", np.dtype("int8"): "i8",
    np.dtype("uint64"): "u64", np.dtype("uint32"): "u32", np.dtype("uint16"): "u16", np.dtype("uint8"): "u8",
}
CODECS = ("raw", "zstd", "zero")
FILTERS = ("none", "shuffle")
REGION_KEYS = ("codec", "offset", "stored_length", "length", "xxh3")
BLOB_KEYS = ("name", "dtype", "shape", "filter")


class MMOError(Exception):
    """A file that breaks a rule of the specification, or a failed operation on one."""

    def __init__(self, kind: str, path: str, where: str, reason: str):
        super().__init__(f"{path}: {where}: {reason}")
        self.kind, self.path, self.where, self.reason = kind, path, where, reason


def xxh3(data) -> int:
    """XXH3-64, seed 0 (§1)."""
    return xxhash.xxh3_64_intdigest(data)


def hex16(value: int) -> str:
    return format(value, "016x")


def align64(x: int) -> int:
    return (x + 63) // 64 * 64


# ---------------------------------------------------------------------------------------------
# Strict JSON (§7.2)


class _NotDigitsOnly:
    """Stands for a JSON number that is not an integer written with digits only."""


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _check_strings(value) -> None:
    """Rejects unpaired surrogates, which Python's json accepts from \\u escapes."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, list):
        for v in value:
            _check_strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            k.encode("utf-8")
            _check_strings(v)


def parse_strict_json(data: bytes, max_depth: int, digits_only_integers: bool):
    """Parses RFC 8259 JSON: UTF-8 without BOM, no NaN/Infinity, no duplicate keys, bounded depth.
    With `digits_only_integers`, numbers other than unsigned digit strings become _NotDigitsOnly."""
    text = bytes(data).decode("utf-8")  # strict: raises on invalid UTF-8
    if text.startswith("\ufeff"):
        raise ValueError("byte-order mark")
    if _nesting_depth(text) > max_depth:
        raise ValueError(f"nesting deeper than {max_depth}")

    def pairs(items):
        result = {}
        for k, v in items:
            if k in result:
                raise ValueError(f"duplicate key {k!r}")
            result[k] = v
        return result

    def constant(name):
        raise ValueError(f"{name} is not JSON")

    kwargs = {"object_pairs_hook": pairs, "parse_constant": constant,
              # Python's int() refuses more than 4300 digits (a guard of its own, not a JSON rule);
              # such integers are still exact JSON integers, so they are kept exactly as Decimal.
              "parse_int": lambda s: int(s) if len(s) <= 4000 else decimal.Decimal(s)}
    if digits_only_integers:
        kwargs["parse_int"] = lambda s: _NotDigitsOnly() if s.startswith("-") or len(s) > 16 else int(s)
        kwargs["parse_float"] = lambda s: _NotDigitsOnly()
    value = json.loads(text, **kwargs)
    _check_strings(value)
    return value


# ---------------------------------------------------------------------------------------------
# zstd frame header (§4), parsed here so that the rules are exactly the specification's


def zstd_frame_problem(stored, length: int):
    """None if `stored` starts with a zstd frame header that §4 allows for `length` raw bytes,
    else the reason (RFC 8878 §3.1.1)."""
    b = bytes(stored[:18])  # the longest header: 4 + 1 + 1 + 4 + 8 bytes
    if len(b) < 5:
        return "too short for a zstd frame header"
    magic = int.from_bytes(b[:4], "little")
    if magic & 0xFFFFFFF0 == 0x184D2A50:
        return "a skippable frame is not allowed"
    if magic != ZSTD_MAGIC:
        return "not a zstd frame"
    descriptor = b[4]
    fcs_flag, single, did_flag = descriptor >> 6, bool(descriptor & 0x20), descriptor & 3
    if descriptor & 0x08:
        return "reserved bit of the zstd frame header set"
    pos = 5
    window = None
    if not single:
        if pos >= len(b):
            return "zstd frame header truncated"
        wd = b[pos]
        pos += 1
        base = 1 << (10 + (wd >> 3))
        window = base + (base // 8) * (wd & 7)
    did_size = (0, 1, 2, 4)[did_flag]
    fcs_size = ((1 if single else 0), 2, 4, 8)[fcs_flag]
    if pos + did_size + fcs_size > len(b):
        return "zstd frame header truncated"
    dictionary = int.from_bytes(b[pos:pos + did_size], "little")
    pos += did_size
    if fcs_size == 0:
        return "the zstd frame does not declare its content size"
    content = int.from_bytes(b[pos:pos + fcs_size], "little") + (256 if fcs_size == 2 else 0)
    if window is None:
        window = content
    if content != length:
        return f"zstd frame declares {content} bytes, index {length}"
    if dictionary != 0:
        return f"zstd frame needs dictionary {dictionary}; dictionaries are not allowed"
    if window > ZSTD_MAX_WINDOW:
        return f"zstd frame needs a window of {window} bytes, more than 2^27"
    return None


def zero_hashes(lengths) -> dict:
    """XXH3-64 of n zero bytes for each n in `lengths`, in constant memory: zeros are streamed
    through one state up to the largest n, with a digest taken at each n on the way (§4, §11)."""
    zeros = bytes(ZERO_CHUNK)
    state = xxhash.xxh3_64()
    hashed = 0
    result = {}
    for n in sorted(set(lengths)):
        while hashed < n:
            step = min(ZERO_CHUNK, n - hashed)
            state.update(zeros if step == ZERO_CHUNK else zeros[:step])
            hashed += step
        result[n] = state.intdigest()
    return result


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Region:
    codec: str
    offset: int
    stored_length: int
    length: int
    xxh3: int
    stored_xxh3: int | None


@dataclass(frozen=True)
class Blob:
    name: str
    dtype: str
    shape: tuple
    filter: str
    region: Region

    @property
    def codec(self) -> str:
        return self.region.codec


class MMOFile:
    """An opened, validated .mmo file (§7.1-7.3). Decoding is lazy and checksum-verified (§7.4)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else b""
        self._view = memoryview(self._map)
        try:
            self._read_header()
            self._read_index()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        view, self._view = getattr(self, "_view", None), None
        if view is not None:
            view.release()
        if isinstance(getattr(self, "_map", None), mmap.mmap):
            try:
                self._map.close()
            except BufferError:
                pass  # a slice is still referenced (e.g. by a traceback); the GC unmaps it later

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fail(self, kind, where, reason):
        raise MMOError(kind, self.path, where, reason)

    # §7.1
    def _read_header(self) -> None:
        size = len(self._view)
        if size < 64:
            if size >= 8 and bytes(self._view[:8]) != MAGIC:
                self._fail("not_mmo", "header.magic", "wrong magic bytes")
            self._fail("truncated", "header", f"file is {size} bytes, smaller than the 64-byte header")
        magic, major, minor, file_length, index_offset, index_length, index_xxh3, reserved, header_xxh3 = (
            HEADER.unpack_from(self._view, 0))
        if magic != MAGIC:
            self._fail("not_mmo", "header.magic", "wrong magic bytes")
        if major != MAJOR_VERSION:
            self._fail("unsupported_version", "header.major_version", f"version {major}.{minor} is not 1.x")
        if header_xxh3 != xxh3(self._view[:56]):
            self._fail("checksum", "header.header_xxh3", "header checksum mismatch")
        if reserved != 0:
            self._fail("invalid_header", "header.reserved", "must be zero")
        if file_length > MAX_INTEGER:
            self._fail("invalid_header", "header.file_length", "exceeds 2^53-1")
        if file_length > size:
            self._fail("truncated", "header.file_length", f"header says {file_length} bytes, file has {size}")
        if file_length < size:
            self._fail("trailing_bytes", "header.file_length", f"header says {file_length} bytes, file has {size}")
        if not 2 <= index_length <= MAX_INDEX_LENGTH:
            self._fail("invalid_header", "header.index_length", f"{index_length} outside 2..{MAX_INDEX_LENGTH}")
        if index_offset < 64 or index_offset % 64:
            self._fail("invalid_header", "header.index_offset", "not a multiple of 64 at or after the header")
        if index_offset > file_length or file_length - index_offset != index_length:
            self._fail("invalid_layout", "header.index_offset", "the index must end exactly at the end of the file")
        index = self._view[index_offset:file_length]
        if xxh3(index) != index_xxh3:
            self._fail("checksum", "index", "index checksum mismatch")
        self.major_version, self.minor_version = major, minor
        self.file_length = file_length
        self.index_offset = index_offset
        self.content_hash = header_xxh3
        self._index_bytes = bytes(index)

    # §7.2, §7.3
    def _read_index(self) -> None:
        try:
            root = parse_strict_json(self._index_bytes, INDEX_MAX_DEPTH, digits_only_integers=True)
        except (ValueError, UnicodeError, RecursionError) as e:
            self._fail("malformed_index", "index", f"invalid JSON: {e}")
        strict = self.minor_version <= MINOR_VERSION
        self._keys(root, "index", ("state", "blobs"), (), strict)
        self.state_region = self._region(root["state"], "index.state", is_blob=False, strict=strict)
        if not isinstance(root["blobs"], list):
            self._fail("malformed_index", "index.blobs", "must be an array")
        self.blobs = []
        self._by_name = {}
        for i, entry in enumerate(root["blobs"]):
            blob = self._blob(entry, f"index.blobs[{i}]", strict)
            if blob.name in self._by_name:
                self._fail("invalid_blob", f"index.blobs[{i}].name", f"duplicate name {blob.name!r}")
            self._by_name[blob.name] = blob
            self.blobs.append(blob)
        # §6: canonical layout.
        cursor = 64
        for where, region in [("index.state", self.state_region)] + [
            (f"index.blobs[{i}]", b.region) for i, b in enumerate(self.blobs)
        ]:
            if region.offset != cursor:
                self._fail("invalid_layout", where + ".offset", f"is {region.offset}, must be {cursor}")
            cursor = align64(region.offset + region.stored_length)
            if cursor > self.index_offset:
                self._fail("invalid_layout", where + ".stored_length", "runs past the index")
        if cursor != self.index_offset:
            self._fail("invalid_layout", "header.index_offset", f"is {self.index_offset}, must be {cursor}")

    def _keys(self, value, where, required, optional, strict):
        if not isinstance(value, dict):
            self._fail("malformed_index", where, "must be an object")
        for key in value:
            if key not in required and key not in optional and strict:
                self._fail("malformed_index", where, f"unknown key {key!r}")
        for key in required:
            if key not in value:
                self._fail("malformed_index", where, f"required key {key!r} is missing")

    def _integer(self, value, where):
        if type(value) is not int or value > MAX_INTEGER:
            self._fail("malformed_index", where, "must be an integer (digits only, at most 2^53-1)")
        return value

    def _hex16(self, value, where):
        if not isinstance(value, str) or len(value) != 16 or any(c not in "0123456789abcdef" for c in value):
            self._fail("malformed_index", where, "must be 16 lowercase hex digits")
        return int(value, 16)

    def _string(self, value, where):
        if not isinstance(value, str):
            self._fail("malformed_index", where, "must be a string")
        return value

    def _region(self, value, where, is_blob, strict) -> Region:
        self._keys(value, where, REGION_KEYS + (BLOB_KEYS if is_blob else ()), ("stored_xxh3",), strict)
        codec = self._string(value["codec"], where + ".codec")
        if codec not in CODECS or (codec == "zero" and not is_blob):
            self._fail("malformed_index", where + ".codec", f"unknown codec {codec!r}")
        region = Region(
            codec=codec,
            offset=self._integer(value["offset"], where + ".offset"),
            stored_length=self._integer(value["stored_length"], where + ".stored_length"),
            length=self._integer(value["length"], where + ".length"),
            xxh3=self._hex16(value["xxh3"], where + ".xxh3"),
            stored_xxh3=self._hex16(value["stored_xxh3"], where + ".stored_xxh3") if "stored_xxh3" in value else None,
        )
        if region.length > MAX_REGION_LENGTH:  # §7.3.4: bounds the work of verifying a zero blob
            self._fail("invalid_blob" if is_blob else "invalid_state_document", where + ".length",
                       "exceeds the limit of 2^40 bytes per region")
        if codec == "raw" and region.stored_length != region.length:
            self._fail("invalid_blob", where + ".stored_length", "raw requires stored_length = length")
        if codec == "zero" and region.stored_length != 0:
            self._fail("invalid_blob", where + ".stored_length", "zero requires stored_length 0")
        if codec == "zstd" and (region.stored_length < 1 or region.length > ZSTD_MAX_EXPANSION * region.stored_length):
            self._fail("invalid_blob", where + ".length", "impossible zstd expansion")
        if (codec == "zstd") != (region.stored_xxh3 is not None):
            self._fail("invalid_blob", where + ".stored_xxh3", "present iff codec is zstd")
        if not is_blob and region.length < 2:
            self._fail("invalid_state_document", where + ".length", "the state document must be a JSON object")
        return region

    def _blob(self, value, where, strict) -> Blob:
        region = self._region(value, where, is_blob=True, strict=strict)
        name = self._string(value["name"], where + ".name")
        raw_name = name.encode("utf-8")
        if not 1 <= len(raw_name) <= MAX_NAME_LENGTH or any(b < 0x21 or b > 0x7E for b in raw_name):
            self._fail("invalid_blob", where + ".name", f"invalid name {name!r}")
        dtype = self._string(value["dtype"], where + ".dtype")
        if dtype not in DTYPES:
            self._fail("invalid_blob", where + ".dtype", f"unknown dtype {dtype!r}")
        shape = value["shape"]
        if not isinstance(shape, list):
            self._fail("malformed_index", where + ".shape", "must be an array")
        if len(shape) > MAX_RANK:
            self._fail("invalid_blob", where + ".shape", f"rank {len(shape)} exceeds {MAX_RANK}")
        # §7.3.7: the exact product of the dimensions (1 for []) times the element size is length.
        count = 1
        for d, n in enumerate(shape):
            count *= self._integer(n, f"{where}.shape[{d}]")
        if count * DTYPES[dtype][1] != region.length:
            self._fail("invalid_blob", where + ".length", f"shape {shape} x {dtype} is not {region.length} bytes")
        filt = self._string(value["filter"], where + ".filter")
        if filt not in FILTERS:
            self._fail("invalid_blob", where + ".filter", f"unknown filter {filt!r}")
        if filt == "shuffle" and (region.codec != "zstd" or DTYPES[dtype][1] < 2):
            self._fail("invalid_blob", where + ".filter", "shuffle needs codec zstd and elements of >= 2 bytes")
        if filt != "none" and region.codec != "zstd":
            self._fail("invalid_blob", where + ".filter", "filters need codec zstd")
        return Blob(name=name, dtype=dtype, shape=tuple(shape), filter=filt, region=region)

    # §7.4
    def _check_stored(self, region: Region, where: str) -> None:
        """zstd: the checks that need no memory, before anything is allocated (§7.4.1)."""
        if region.codec != "zstd":
            return
        stored = self._view[region.offset:region.offset + region.stored_length]
        if xxh3(stored) != region.stored_xxh3:
            self._fail("checksum", where, "stored bytes checksum mismatch")
        problem = zstd_frame_problem(stored, region.length)
        if problem:
            self._fail("decode", where, problem)

    def _check_allocatable(self, region: Region, where: str) -> None:
        if region.length > _physical_memory():
            self._fail("too_large", where, f"{region.length} bytes exceed this machine's memory")

    def _decode(self, region: Region, filt: str, size: int, where: str) -> bytes:
        stored = self._view[region.offset:region.offset + region.stored_length]
        if region.codec == "raw":
            raw = bytes(stored)
        elif region.codec == "zero":
            self._check_allocatable(region, where)
            if zero_hashes([region.length])[region.length] != region.xxh3:
                self._fail("checksum", where, "decoded bytes checksum mismatch")
            return bytes(region.length)
        else:
            self._check_stored(region, where)
            self._check_allocatable(region, where)
            try:
                # The frame's own content checksum, if any, is checked by zstd (§4).
                raw = zstandard.ZstdDecompressor().decompress(stored, allow_extra_data=False)
            except zstandard.ZstdError as e:
                self._fail("decode", where, f"zstd: {e}")
            if len(raw) != region.length:
                self._fail("decode", where, f"zstd produced {len(raw)} bytes, not {region.length}")
            if filt == "shuffle":  # §5: filtered[k*n + i] = raw[i*s + k]
                raw = np.frombuffer(raw, np.uint8).reshape(size, -1).T.tobytes()
        if xxh3(raw) != region.xxh3:
            self._fail("checksum", where, "decoded bytes checksum mismatch")
        return raw

    def blob(self, name: str) -> Blob:
        if name not in self._by_name:
            raise MMOError("no_such_blob", self.path, f"blob {name!r}", "no blob of this name")
        return self._by_name[name]

    def raw_bytes(self, name: str) -> bytes:
        """The raw (decoded, unfiltered) bytes of blob `name`."""
        b = self.blob(name)
        return self._decode(b.region, b.filter, DTYPES[b.dtype][1], f"blob {name!r}")

    def array(self, name: str) -> np.ndarray:
        """Blob `name` as a numpy array (a copy; bf16 as uint16 bit patterns)."""
        b = self.blob(name)
        raw = self.raw_bytes(name)
        try:
            return np.frombuffer(raw, DTYPES[b.dtype][0]).reshape(b.shape).copy()
        except ValueError:
            # Valid empty shapes such as [2^30, 2^30, 2^30, 0] (§7.3.7) overflow numpy's own size
            # computation; the bytes (none) are still available from raw_bytes().
            self._fail("too_large", f"blob {name!r}", f"numpy cannot represent shape {list(b.shape)}; use raw_bytes()")

    def state_bytes(self) -> bytes:
        return self._decode(self.state_region, "none", 1, "state document")

    def state(self):
        """The state document, parsed (§9)."""
        try:
            value = parse_strict_json(self.state_bytes(), STATE_MAX_DEPTH, digits_only_integers=False)
        except (ValueError, UnicodeError, RecursionError) as e:
            self._fail("invalid_state_document", "state document", f"invalid JSON: {e}")
        if not isinstance(value, dict):
            self._fail("invalid_state_document", "state document", "top level must be an object")
        return value

    def verify(self) -> dict:
        """Checks every region and padding byte (§7.4); returns the byte accounting."""
        self.state()
        regions = [self.state_region] + [b.region for b in self.blobs]
        padding = 0
        for i, r in enumerate(regions):
            end = r.offset + r.stored_length
            nxt = regions[i + 1].offset if i + 1 < len(regions) else self.index_offset
            if any(self._view[end:nxt]):
                self._fail("nonzero_padding", f"padding after region {i}", f"bytes {end}..{nxt} must be zero")
            padding += nxt - end
        for b in self.blobs:
            if b.codec != "zero":
                self._decode(b.region, b.filter, DTYPES[b.dtype][1], f"blob {b.name!r}")
        # Zero blobs: one streaming pass up to the largest length serves all of them (§4).
        hashes = zero_hashes(b.region.length for b in self.blobs if b.codec == "zero")
        for b in self.blobs:
            if b.codec == "zero" and hashes[b.region.length] != b.region.xxh3:
                self._fail("checksum", f"blob {b.name!r}", "decoded bytes checksum mismatch")
        stored = sum(r.stored_length for r in regions)
        index_length = self.file_length - self.index_offset
        assert 64 + stored + padding + index_length == self.file_length
        return {"blobs": len(self.blobs), "file_length": self.file_length, "stored": stored,
                "padding": padding, "index": index_length, "raw": sum(r.length for r in regions)}


# ---------------------------------------------------------------------------------------------
# Writing


def _encode(raw: bytes, size: int, filt: str, compress: bool, level: int, allow_zero: bool):
    """-> (codec, filter, stored bytes, stored_xxh3)"""
    if allow_zero and len(raw) > 0 and not any(raw):
        return "zero", "none", b"", None
    if not compress or len(raw) == 0:
        return "raw", "none", raw, None
    if filt == "shuffle":
        # One zstd block boundary per byte plane, so each plane gets its own entropy tables.
        planes = np.frombuffer(raw, np.uint8).reshape(-1, size).T.tobytes()
        n = len(raw) // size
        # A 64-entry hash table: byte planes are coded almost purely with Huffman (faster and
        # smaller than level defaults on float data; any parameters decode the same).
        params = zstandard.ZstdCompressionParameters.from_level(
            level, source_size=len(raw), hash_log=6, write_content_size=True)
        c = zstandard.ZstdCompressor(compression_params=params).compressobj(size=len(raw))
        parts = []
        for k in range(size):
            parts.append(c.compress(planes[k * n:(k + 1) * n]))
            parts.append(c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK if k < size - 1 else zstandard.COMPRESSOBJ_FLUSH_FINISH))
        frame = b"".join(parts)
    else:
        frame = zstandard.ZstdCompressor(level=level, write_content_size=True).compress(raw)
    if len(frame) > len(raw) * 0.98:
        return "raw", "none", raw, None
    return "zstd", filt, frame, xxh3(frame)


def _region_json(codec, offset, stored, raw, stored_xxh3) -> dict:
    r = {"codec": codec, "offset": offset, "stored_length": len(stored), "length": len(raw), "xxh3": hex16(xxh3(raw))}
    if stored_xxh3 is not None:
        r["stored_xxh3"] = hex16(stored_xxh3)
    return r


def write(path, arrays, state=None, *, level: int = 1, compress: bool = True, dtypes=None, hints=None) -> None:
    """Writes arrays (a dict or list of (name, ndarray)) and a state document (dict or JSON bytes)
    atomically (§8). `dtypes` maps names to format dtypes where numpy has none (bf16 from uint16
    bit patterns); `hints` maps names to "auto" (default), "shuffle", "noshuffle" or "raw"."""
    path = os.fspath(path)
    items = list(arrays.items()) if isinstance(arrays, dict) else list(arrays)
    dtypes, hints = dtypes or {}, hints or {}
    if state is None:
        state = {}
    state_raw = state if isinstance(state, (bytes, bytearray)) else json.dumps(state, ensure_ascii=False).encode("utf-8")
    if not isinstance(parse_strict_json(state_raw, STATE_MAX_DEPTH, False), dict):
        raise ValueError("the state document must be a JSON object")

    chunks = [bytes(64)]
    position = 64

    def place(codec, stored, raw, stored_xxh3):
        nonlocal position
        entry = _region_json(codec, position, stored, raw, stored_xxh3)
        chunks.append(stored)
        end = position + len(stored)
        chunks.append(bytes(align64(end) - end))
        position = align64(end)
        return entry

    codec, _, stored, sx = _encode(bytes(state_raw), 1, "none", compress, level, allow_zero=False)
    index = {"state": place(codec, stored, bytes(state_raw), sx), "blobs": []}
    names = set()
    for name, array in items:
        raw_name = name.encode("ascii")
        if name in names or not 1 <= len(raw_name) <= MAX_NAME_LENGTH or any(b < 0x21 or b > 0x7E for b in raw_name):
            raise ValueError(f"invalid or duplicate blob name {name!r}")
        names.add(name)
        array = np.asarray(array)
        dtype = dtypes.get(name) or NUMPY_TO_DTYPE.get(array.dtype)
        if dtype is None or np.dtype(DTYPES[dtype][0]).itemsize != array.dtype.itemsize:
            raise ValueError(f"blob {name!r}: unsupported numpy dtype {array.dtype}")
        if array.ndim > MAX_RANK:
            raise ValueError(f"blob {name!r}: more than {MAX_RANK} dimensions")
        raw = np.ascontiguousarray(array).astype(DTYPES[dtype][0], copy=False).tobytes()
        size = DTYPES[dtype][1]
        hint = hints.get(name, "auto")
        is_float = dtype in ("f64", "f32", "f16", "bf16")
        filt = "shuffle" if size >= 2 and (hint == "shuffle" or (hint == "auto" and is_float)) else "none"
        codec, filt, stored, sx = _encode(raw, size, filt, compress and hint != "raw", level, allow_zero=hint != "raw")
        entry = {"name": name, "dtype": dtype, "shape": list(array.shape), "filter": filt}
        entry.update(place(codec, stored, raw, sx))
        index["blobs"].append(entry)

    index_bytes = json.dumps(index, separators=(",", ":")).encode("utf-8")
    index_offset = position
    file_length = index_offset + len(index_bytes)
    head = HEADER.pack(MAGIC, MAJOR_VERSION, MINOR_VERSION, file_length, index_offset, len(index_bytes),
                       xxh3(index_bytes), 0, 0)
    chunks[0] = head[:56] + struct.pack("<Q", xxh3(head[:56]))
    chunks.append(index_bytes)

    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------------------------------------
# Sample content shared with the Swift tests (Tests/MMOFormatTests/CrossLanguageTests.swift
# recomputes every value from these formulas).


def sample_arrays():
    i = np.arange(4096, dtype=np.uint64)
    hashed = ((i * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.float64) / 2.0**32 - 0.5
    return [
        ("py/f32", np.arange(15, dtype=np.float64).reshape(3, 5).astype(np.float32) * np.float32(0.5) - np.float32(3.25)),
        ("py/f64", np.arange(4, dtype=np.float64) / 3.0),
        ("py/f16", (np.arange(6) - 2.5).astype(np.float16)),
        ("py/bf16", np.array([[0x3F80, 0xC000], [0x0000, 0x7F80]], dtype=np.uint16)),
        ("py/i64", np.array([-(2**62), 0, 2**62 + 5], dtype=np.int64)),
        ("py/u64", np.array([2**64 - 1, 2**53 + 1], dtype=np.uint64)),
        ("py/i32", np.array([-7, 2**31 - 1, -(2**31)], dtype=np.int32)),
        ("py/u32", np.array([0, 4294967295], dtype=np.uint32)),
        ("py/i16", np.array([-32768, 32767, 1], dtype=np.int16)),
        ("py/u16", np.array([65535, 3], dtype=np.uint16)),
        ("py/i8", np.array([-128, 127, 0, -1], dtype=np.int8)),
        ("py/u8", np.frombuffer(b"hello, mmo", dtype=np.uint8)),
        ("py/zeros", np.zeros((128, 4), dtype=np.float32)),
        ("py/scalar", np.array(42.0, dtype=np.float32)),
        ("py/empty", np.zeros((0, 3), dtype=np.int32)),
        ("py/hashed", hashed.astype(np.float32).reshape(64, 64)),
        ("py/raw", hashed[:16].astype(np.float32)),
    ]


SAMPLE_STATE = {"producer": "mmo.py", "step": 7, "values": [1.5, -2, "text"], "unicode": "h\u00e9llo \u2713",
                "big": 18446744073709551615}


def write_sample(path) -> None:
    write(path, sample_arrays(), SAMPLE_STATE, dtypes={"py/bf16": "bf16"}, hints={"py/raw": "raw"})


def dump(path, values: bool) -> dict:
    with MMOFile(path) as f:
        out = {"major_version": f.major_version, "minor_version": f.minor_version,
               "content_hash": hex16(f.content_hash), "file_length": f.file_length,
               "state": f.state_bytes().decode("utf-8"), "blobs": []}
        for b in f.blobs:
            entry = {"name": b.name, "dtype": b.dtype, "shape": list(b.shape), "codec": b.codec, "filter": b.filter,
                     "length": b.region.length, "stored_length": b.region.stored_length, "xxh3": hex16(b.region.xxh3)}
            if values:
                entry["hex"] = f.raw_bytes(b.name).hex()
            out["blobs"].append(entry)
        return out


def main(argv) -> int:
    if len(argv) >= 2 and argv[0] == "dump":
        json.dump(dump(argv[1], "--values" in argv), sys.stdout)
        return 0
    if len(argv) == 2 and argv[0] == "verify":
        try:
            with MMOFile(argv[1]) as f:
                print(json.dumps(f.verify()))
            return 0
        except MMOError as e:
            print(f"error[{e.kind}]: {e}", file=sys.stderr)
            return 1
    if len(argv) >= 1 and argv[0] == "check":
        # One JSON line per file: whether open + verify accept it, and if not, why. Used by the
        # Swift cross-language agreement tests (one process for many files).
        for path in argv[1:]:
            try:
                with MMOFile(path) as f:
                    f.verify()
                print(json.dumps({"path": path, "ok": True}))
            except MMOError as e:
                print(json.dumps({"path": path, "ok": False, "kind": e.kind, "error": str(e)}))
        return 0
    if len(argv) == 2 and argv[0] == "write-sample":
        write_sample(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    import signal
    if hasattr(signal, "SIGPIPE"):  # `mmo.py dump F | head` ends quietly, as other CLI tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main(sys.argv[1:]))
