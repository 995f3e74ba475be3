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
