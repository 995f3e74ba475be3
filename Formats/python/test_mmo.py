"""Tests of the independent Python implementation (run: python3 -m unittest discover -s Formats/python).

They check round trips, the golden files, every validation rule class, truncation at every byte
and 1,000 seeded random mutations (each must raise MMOError, nothing else).
"""

import json
import os
import random
import struct
import tempfile
import unittest

import numpy as np
import xxhash

import mmo

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "golden")


def read_all(path) -> None:
    with mmo.MMOFile(path) as f:
        f.verify()
        f.state()
        for b in f.blobs:
            f.array(b.name)


def read_file(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def fix_checksums(data: bytearray) -> bytearray:
    """Recomputes index and header checksums after an edit of the index or header fields."""
    offset, length = struct.unpack_from("<QQ", data, 24)
    struct.pack_into("<Q", data, 40, mmo.xxh3(bytes(data[offset:offset + length])))
    struct.pack_into("<Q", data, 56, mmo.xxh3(bytes(data[:56])))
    return data


def with_index(data: bytes, index: bytes) -> bytes:
    offset = struct.unpack_from("<Q", data, 24)[0]
    out = bytearray(data[:offset] + index)
    struct.pack_into("<QQQ", out, 16, len(out), offset, len(index))
    return bytes(fix_checksums(out))


class MMOTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "t.mmo")

    def tearDown(self):
        self.dir.cleanup()

    def write_bytes(self, data) -> str:
        path = os.path.join(self.dir.name, "case.mmo")
        with open(path, "wb") as f:
            f.write(bytes(data))
        return path

    def test_round_trip_every_dtype(self):
        mmo.write_sample(self.path)
        with mmo.MMOFile(self.path) as f:
            report = f.verify()
            self.assertEqual(report["blobs"], len(mmo.sample_arrays()))
            self.assertEqual(64 + report["stored"] + report["padding"] + report["index"], report["file_length"])
            for name, array in mmo.sample_arrays():
                got = f.array(name)
                self.assertEqual(got.shape, np.asarray(array).shape, name)
                self.assertEqual(got.tobytes(), np.asarray(array).tobytes(), name)
            self.assertEqual(f.state(), mmo.SAMPLE_STATE)
            self.assertEqual(f.blob("py/zeros").codec, "zero")
            self.assertEqual(f.blob("py/hashed").filter, "shuffle")
            self.assertEqual(f.blob("py/raw").codec, "raw")
        self.assertEqual([n for n in os.listdir(self.dir.name)], ["t.mmo"], "no temporary left behind")

    def test_layout_is_aligned_and_canonical(self):
        mmo.write_sample(self.path)
        with mmo.MMOFile(self.path) as f:
            for b in f.blobs:
                self.assertEqual(b.region.offset % 64, 0)

    def test_golden_files_read_identically(self):
        for name in ("v1-swift", "v1-python"):
            with open(os.path.join(GOLDEN, name + ".json")) as m:
                manifest = json.load(m)
            with mmo.MMOFile(os.path.join(GOLDEN, name + ".mmo")) as f:
                f.verify()
                self.assertEqual(mmo.hex16(f.content_hash), manifest["content_hash"])
                self.assertEqual(f.state_bytes().decode("utf-8"), manifest["state"])
                self.assertEqual([b.name for b in f.blobs], [b["name"] for b in manifest["blobs"]])
                for expected in manifest["blobs"]:
                    b = f.blob(expected["name"])
                    self.assertEqual((b.dtype, list(b.shape), b.codec, b.filter),
                                     (expected["dtype"], expected["shape"], expected["codec"], expected["filter"]))
                    self.assertEqual(f.raw_bytes(b.name).hex(), expected["hex"], b.name)

    def test_specification_worked_example(self):
        mmo.write(self.path, [("model/tiny/weight", np.array([1.0, -2.0], np.float32)),
                              ("optim/tiny/m/weight", np.zeros(2, np.float32))], state=b'{"progress":{"step":1}}')
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "example-v1.mmo")
        self.assertEqual(read_file(self.path), read_file(example))
        with mmo.MMOFile(example) as f:
            self.assertEqual(mmo.hex16(f.content_hash), "acc0599ce83f8fcb")
            self.assertEqual(f.verify()["padding"], 41 + 56)

    def test_truncation_at_every_byte(self):
        mmo.write_sample(self.path)
        data = read_file(self.path)
        path = self.write_bytes(data)
        for n in reversed(range(len(data))):  # one file, cut shorter in place
            os.truncate(path, n)
            with self.assertRaises(mmo.MMOError) as caught:
                read_all(path)
            self.assertEqual(caught.exception.kind, "truncated", n)

    def test_random_mutations_are_all_detected(self):
        mmo.write_sample(self.path)
        data = read_file(self.path)
        rng = random.Random(1234)
        kinds = {}
        for trial in range(1000):
            mutated = bytearray(data)
            start = rng.randrange(len(data))
            for i in range(start, min(len(data), start + 1 + (rng.randrange(8) if rng.random() < 0.25 else 0))):
                mutated[i] ^= rng.randrange(1, 256)
            with self.assertRaises(mmo.MMOError, msg=f"trial {trial} at {start}") as caught:
                read_all(self.write_bytes(mutated))
            kinds[caught.exception.kind] = kinds.get(caught.exception.kind, 0) + 1
        self.assertGreater(kinds.get("checksum", 0), 500)

    def test_index_mutations_with_repaired_checksums(self):
        mmo.write_sample(self.path)
        data = read_file(self.path)
        offset = struct.unpack_from("<Q", data, 24)[0]
        index = data[offset:]
        rng = random.Random(99)
        interesting = b'{}[]",:0123456789-.eE\\ tfn\x00\x1f\x7f\x80\xc3\xff'
        errors = 0
        for _ in range(500):
            m = bytearray(index)
            at = rng.randrange(len(m))
            choice = rng.randrange(3)
            if choice == 0:
                m[at] = interesting[rng.randrange(len(interesting))]
            elif choice == 1:
                del m[at]
            else:
                m.insert(at, interesting[rng.randrange(len(interesting))])
            try:
                read_all(self.write_bytes(with_index(data, bytes(m))))
            except mmo.MMOError:
                errors += 1
        self.assertGreater(errors, 400)

    def test_validation_rules(self):
        mmo.write(self.path, {"a": np.arange(10, dtype=np.float32)}, {"x": 1}, compress=False)
        data = read_file(self.path)
        offset = struct.unpack_from("<Q", data, 24)[0]
        index = data[offset:].decode()
        cases = [
            (index.replace('"dtype":"f32"', '"dtype":"f128"'), "invalid_blob"),
            (index.replace('"shape":[10]', '"shape":[11]'), "invalid_blob"),
            (index.replace('"length":40', '"length":40.0'), "malformed_index"),
            (index.replace('"length":40', '"length":-40'), "malformed_index"),
            (index.replace('"length":40', '"length":NaN'), "malformed_index"),
            (index.replace('"name":"a"', '"name":"a","name":"a"'), "malformed_index"),
            (index.replace('"name":"a"', '"name":"\\ud800"'), "malformed_index"),
            (index.replace('"name":"a"', '"name":"a b"'), "invalid_blob"),
            (index.replace('"filter":"none"', '"filter":"shuffle"'), "invalid_blob"),
            (index.replace('"codec":"raw"', '"codec":"lz4"', 1), "malformed_index"),
            (index[:-1] + ',"extra":1}', "malformed_index"),
            ("[" * 100 + index + "]" * 100, "malformed_index"),
            ("\ufeff" + index, "malformed_index"),
        ]
        for text, kind in cases:
            with self.assertRaises(mmo.MMOError, msg=text[:80]) as caught:
                read_all(self.write_bytes(with_index(data, text.encode())))
            self.assertEqual(caught.exception.kind, kind, text[:120])
        # A newer minor version may add keys.
        newer = bytearray(with_index(data, (index[:-1] + ',"extra":1}').encode()))
        struct.pack_into("<I", newer, 12, 1)
        read_all(self.write_bytes(fix_checksums(newer)))
        # Another major version is refused.
        other = bytearray(data)
        struct.pack_into("<I", other, 8, 2)
        with self.assertRaises(mmo.MMOError) as caught:
            read_all(self.write_bytes(fix_checksums(other)))
        self.assertEqual(caught.exception.kind, "unsupported_version")

    def raw_case(self, state=b"{}", blobs=(), minor=0) -> str:
        """A file from explicit index members: blobs are (members without offset, stored bytes)."""
        chunks, position = [bytes(64)], 64

        def place(stored):
            nonlocal position
            offset = position
            chunks.append(stored + bytes(mmo.align64(position + len(stored)) - position - len(stored)))
            position = mmo.align64(position + len(stored))
            return offset

        entry = {"codec": "raw", "offset": place(state), "stored_length": len(state), "length": len(state),
                 "xxh3": mmo.hex16(mmo.xxh3(state))}
        index = {"state": entry, "blobs": []}
        for members, stored in blobs:
            members = dict(members)
            members["offset"] = place(stored)
            index["blobs"].append(members)
        text = json.dumps(index, separators=(",", ":")).encode()
        head = mmo.HEADER.pack(mmo.MAGIC, 1, minor, position + len(text), position, len(text), mmo.xxh3(text), 0, 0)
        return self.write_bytes(head[:56] + struct.pack("<Q", mmo.xxh3(head[:56])) + b"".join(chunks[1:]) + text)

    def assert_kind(self, path, kind):
        with self.assertRaises(mmo.MMOError) as caught:
            read_all(path)
        self.assertEqual(caught.exception.kind, kind, str(caught.exception))

    def test_state_document_is_strict(self):
        for state in (b'{"a":1,"a":2}', b"\xef\xbb\xbf{}", b'{"a":"\\ud800"}', b'{"\\udc00":1}', b"[1]",
                      b'{"a":' + b"[" * 512 + b"]" * 512 + b"}"):
            self.assert_kind(self.raw_case(state=state), "invalid_state_document")
        for state in (b'{"a":"\\ud83d\\ude00"}', b'{"a":' + b"7" * 5000 + b"}", b'{"a":' + b"[" * 511 + b"]" * 511 + b"}"):
            read_all(self.raw_case(state=state))

    def zero(self, name, length, shape=None, digest=None, codec="zero"):
        return ({"name": name, "dtype": "u8", "shape": shape if shape is not None else [length], "filter": "none",
                 "codec": codec, "stored_length": 0, "length": length,
                 "xxh3": mmo.hex16(mmo.zero_hashes([length])[length] if digest is None else digest)}, b"")

    def test_zero_blobs_length_cap_and_streamed_hash(self):
        self.assertEqual(mmo.zero_hashes([0, 8]), {0: 0x2D06800538D394C2, 8: 0xC77B3ABB6F87ACD9})
        for n in (1, 240, 241, mmo.ZERO_CHUNK - 1, mmo.ZERO_CHUNK, mmo.ZERO_CHUNK + 1, 3 * mmo.ZERO_CHUNK + 5):
            self.assertEqual(mmo.zero_hashes([n])[n], mmo.xxh3(bytes(n)), n)
        self.assert_kind(self.raw_case(blobs=[self.zero("z", 1 << 50, digest=0)]), "invalid_blob")
        self.assert_kind(self.raw_case(blobs=[self.zero("z", (1 << 40) + 1, digest=0)]), "invalid_blob")
        with mmo.MMOFile(self.raw_case(blobs=[self.zero(f"z{i}", 1 << 30 >> i) for i in range(4)])) as f:
            f.verify()  # 1 GiB of zeros, hashed in 1 MiB steps, never allocated
        self.assert_kind(self.raw_case(blobs=[self.zero("z", 1 << 30, digest=1)]), "checksum")

    def test_element_count_is_the_exact_product(self):
        big = 1 << 30
        with mmo.MMOFile(self.raw_case(blobs=[self.zero("z", 0, shape=[big, big, big, 0], codec="raw")])) as f:
            f.verify()
            self.assertEqual(f.raw_bytes("z"), b"")
            with self.assertRaises(mmo.MMOError) as caught:
                f.array("z")  # numpy's size computation overflows on the partial products
            self.assertEqual(caught.exception.kind, "too_large")
        read_all(self.raw_case(blobs=[self.zero("z", 0, shape=[0, mmo.MAX_INTEGER], codec="raw")]))
        self.assert_kind(self.raw_case(blobs=[self.zero("z", 0, shape=[0, mmo.MAX_INTEGER + 1], codec="raw")]), "malformed_index")
        self.assert_kind(self.raw_case(blobs=[self.zero("z", 0, shape=[big, big, big, 1], codec="raw")]), "invalid_blob")

    def test_zstd_frame_header_rules(self):
        content = bytes(range(200))

        def frame(descriptor_extra=0, window=None, dictionary=b"", checksum=None):
            did_flag = {0: 0, 1: 1, 2: 2, 4: 3}[len(dictionary)]
            descriptor = 3 << 6 | did_flag | descriptor_extra | (0x20 if window is None else 0) | (4 if checksum is not None else 0)
            out = struct.pack("<IB", mmo.ZSTD_MAGIC, descriptor) + (bytes([window]) if window is not None else b"")
            out += dictionary + struct.pack("<Q", len(content))
            out += (1 | len(content) << 3).to_bytes(3, "little") + content  # one raw block, last
            if checksum is not None:
                out += struct.pack("<I", checksum)
            return out

        self.assertIsNone(mmo.zstd_frame_problem(frame(), 200))
        self.assertIsNone(mmo.zstd_frame_problem(frame(dictionary=bytes(4)), 200))
        self.assertIsNone(mmo.zstd_frame_problem(frame(window=17 << 3), 200))
        self.assertIn("dictionary", mmo.zstd_frame_problem(frame(dictionary=b"\x07"), 200))
        self.assertIn("window", mmo.zstd_frame_problem(frame(window=17 << 3 | 1), 200))
        self.assertIn("reserved", mmo.zstd_frame_problem(frame(descriptor_extra=8), 200))
        self.assertIn("declares", mmo.zstd_frame_problem(frame(), 201))
        self.assertIn("skippable", mmo.zstd_frame_problem(struct.pack("<II", 0x184D2A50, 0), 0))
        self.assertIsNotNone(mmo.zstd_frame_problem(b"\x28\xb5\x2f", 0))
        # Single-segment frames: the window is the content size.
        single = struct.pack("<IBQ", mmo.ZSTD_MAGIC, 3 << 6 | 0x20, (1 << 27) + 1)
        self.assertIn("window", mmo.zstd_frame_problem(single, (1 << 27) + 1))
        # Through the reader: a good checksum decodes, a wrong one is damage.
        good = xxhash.xxh64_intdigest(content) & 0xFFFFFFFF
        for stored, ok in ((frame(checksum=good), True), (frame(checksum=good ^ 1), False), (frame(dictionary=b"\x07"), False)):
            members = {"name": "z", "dtype": "u8", "shape": [200], "filter": "none", "codec": "zstd",
                       "stored_length": len(stored), "length": 200, "xxh3": mmo.hex16(mmo.xxh3(content)),
                       "stored_xxh3": mmo.hex16(mmo.xxh3(stored))}
            path = self.raw_case(blobs=[(members, stored)])
            if ok:
                read_all(path)
            else:
                self.assert_kind(path, "decode")

    def test_writer_rejects_bad_input(self):
        with self.assertRaises(ValueError):
            mmo.write(self.path, {"a b": np.zeros(1, np.float32)})
        with self.assertRaises(ValueError):
            mmo.write(self.path, {"a": np.zeros(1, np.complex64)})
        with self.assertRaises(ValueError):
            mmo.write(self.path, {}, state=b"[1]")
        self.assertFalse(os.path.exists(self.path))


if __name__ == "__main__":
    unittest.main()
