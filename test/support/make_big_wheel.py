"""A wheel, pycage-big 1.0, whose package holds MEGABYTES MB of random bytes,
stored uncompressed so the bundle is as large as a numpy + pandas one.
pycage_big.digest() hashes the blob in 1 MiB reads. Prints the blob's sha256.
Usage: make_big_wheel.py DIR MEGABYTES"""

import base64
import hashlib
import os
import sys
import zipfile

INIT = b'''import hashlib, os


def digest():
    h = hashlib.sha256()
    with open(os.path.join(os.path.dirname(__file__), "blob.bin"), "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()
'''


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def main():
    out_dir, megabytes = sys.argv[1], int(sys.argv[2])
    blob = os.urandom(megabytes << 20)
    info = "pycage_big-1.0.dist-info"
    members = {
        "pycage_big/__init__.py": INIT,
        "pycage_big/blob.bin": blob,
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: pycage-big\nVersion: 1.0\nRequires-Python: >=3.8\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pycage test/support/make_big_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/top_level.txt": b"pycage_big\n",
    }
    record = [f"{path},{record_hash(data)},{len(data)}" for path, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join(record + [f"{info}/RECORD,,"]) + "\n").encode("utf-8")
    with zipfile.ZipFile(os.path.join(out_dir, "pycage_big-1.0-py3-none-any.whl"), "w", zipfile.ZIP_STORED) as archive:
        for path, data in members.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    print(hashlib.sha256(blob).hexdigest())


if __name__ == "__main__":
    main()
