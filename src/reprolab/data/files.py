"""Dataset files: where each is looked for, its checksums, its public download address, and the errors.

A file passes verification when the sha256 of the file as stored matches, or, for a gzip file whose
compression differs (Debian recompressed Fashion-MNIST; a user's own download may differ too), when the
sha256 of its uncompressed bytes matches the canonical one.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import zlib
from pathlib import Path

from reprolab.data.root import ENV_DATA, data_root, data_root_candidates


class DataNotFoundError(FileNotFoundError):
    """A dataset file is in none of the places tried."""


class ChecksumError(ValueError):
    """A dataset file exists but its contents are not the expected ones (corrupt or a different file)."""


@dataclasses.dataclass(frozen=True)
class DataFile:
    relpath: str                       # relative to the data root
    sha256: str | None                 # of the file as stored (None: check `raw_sha256` / `md5` only)
    url: str                           # canonical public download address
    raw_sha256: str | None = None      # of the uncompressed bytes of a .gz file
    md5: str | None = None             # where the publisher gives only an md5
    extra_dirs: tuple[str, ...] = ()   # other folders holding the same file name (e.g. a Debian package)

    def candidates(self) -> list[Path]:
        roots = data_root_candidates()
        paths = [root / self.relpath for root in roots]
        paths += [Path(d) / Path(self.relpath).name for d in self.extra_dirs]
        return list(dict.fromkeys(paths))

    def locate(self) -> Path:
        for path in self.candidates():
            if path.is_file():
                return path
        tried = "\n  ".join(str(p) for p in self.candidates())
        raise DataNotFoundError(
            f"dataset file {self.relpath!r} not found. Tried:\n  {tried}\n"
            f"Download it from {self.url} into {data_root() / Path(self.relpath).parent}/ "
            f"or set {ENV_DATA} to the folder that holds {Path(self.relpath).parent}/.")

    def verified_path(self) -> tuple[Path, str]:
        """The located file and the sha256 of its contents, after checking them."""
        path = self.locate()
        digest = file_digest(path, "sha256")
        if self.sha256 is not None and digest == self.sha256:
            return path, digest
        if self.raw_sha256 is not None and path.suffix == ".gz" and _gunzipped_sha256(path) == self.raw_sha256:
            return path, digest
        if self.md5 is not None and file_digest(path, "md5") == self.md5:
            return path, digest
        expected = self.sha256 or self.raw_sha256 or f"md5 {self.md5}"
        raise ChecksumError(f"checksum mismatch for {path}: expected sha256 {expected}, got {digest}. "
                            f"The file is corrupt or not the canonical one; download it again from {self.url}.")


def _gunzipped_sha256(path: Path) -> str | None:
    """The sha256 of a gzip file's uncompressed bytes; None when it does not decompress (a damaged file)."""
    try:
        with gzip.open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except (OSError, EOFError, zlib.error):    # gzip.BadGzipFile is an OSError
        return None


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
