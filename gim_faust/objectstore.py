"""Object storage shared by the services: GCA snapshots, GSP snapshots, GIM exports.

``open_store(url)`` takes ``GIM_OBJECT_STORE`` (contract ``operations.md``):

- ``s3://bucket[/prefix]``: boto3 with its usual credentials; ``AWS_ENDPOINT_URL`` points it at
  an S3-compatible store. Path-style addressing (S3-compatible stores on an IP address or a
  single host name have no virtual-host buckets) and checksums only when an operation requires
  them (boto3 >= 1.36 sends CRC32 trailers by default, which several S3-compatible stores
  refuse).
- ``file:///absolute/path`` or ``file://./relative/path``: a directory tree, for the demo and
  single-host installs.

Guarantee: an object is visible whole or not at all. S3 gives that per PUT; the file backend
writes a temporary file beside the target, fsyncs it and renames it over the target
(``os.replace`` is atomic on POSIX), so a reader never sees half an object and a crash leaves
at worst a stray temporary file, which ``list`` never shows.

Keys are ``/``-separated relative names (``acme/gca/snapshots/LATEST``); they never start with
``/`` and never contain ``.`` or ``..`` segments, so a key cannot escape the store's root.

Errors: a missing object raises :class:`NotFound`; an unreachable or throttling store raises
:class:`RetriableError`; a store that refuses us (bad credentials, no bucket) raises
:class:`FatalError`, whose message says what to fix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from gim_faust.errors import ConfigError, FatalError, GimError, RetriableError

__all__ = ["FileStore", "NotFound", "ObjectStore", "S3Store", "open_store"]

# put_file copies through a buffer of this size.
_CHUNK = 1024 * 1024


class NotFound(GimError):
    """The object does not exist (an expected answer, not a failure: callers decide)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object {key!r} does not exist")
        self.key = key


class ObjectStore(Protocol):
    """The small interface every backend offers. ``url`` is safe to log (no secrets)."""

    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None: ...

    def get(self, key: str) -> bytes: ...

    def get_file(self, key: str, path: Path) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def delete(self, key: str) -> None: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad object key {key!r}: use non-empty '/'-separated names, "
                         f"no leading '/', no '.' or '..'")
    return key


def _check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key (or the start of one), optionally ending in '/'."""
    if prefix:
        _check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def open_store(url: str) -> ObjectStore:
    """The store ``url`` names; raises :class:`ConfigError` for a URL it cannot use."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"object store {url!r} names no bucket: use s3://bucket[/prefix]")
        return S3Store(parts.netloc, parts.path.strip("/"))
    if parts.scheme == "file":
        # file:///abs -> netloc '' ; file://./rel -> netloc '.' ; file://localhost/abs -> local.
        if parts.netloc in ("", "localhost"):
            path = parts.path
        else:
            path = parts.netloc + parts.path
        if not path:
            raise ConfigError(f"object store {url!r} names no directory")
        return FileStore(Path(path))
    raise ConfigError(f"object store {url!r}: expected s3://bucket[/prefix] or file:///path")


# ---------------------------------------------------------------------------------- file


class FileStore:
    """Objects as files under ``root``; keys map to relative paths."""

    # Temporary files start with this; ``list`` skips them (a crash may leave one behind).
    TEMP_PREFIX = ".tmp-"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}" if root.is_absolute() else f"file://./{root}"

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        self._write(key, lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path) -> None:
        """Stores the content of the local file ``path`` (copied in chunks: memory stays
        flat whatever its size)."""
        def copy(handle: BinaryIO) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, _CHUNK)
        self._write(key, copy)

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent,
                                        prefix=f"{self.TEMP_PREFIX}{target.name}.")
            try:
                with os.fdopen(fd, "wb") as handle:
                    fill(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            # The rename is durable only once the directory entry is on disk.
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise RetriableError(f"cannot write {key!r} to {self.url}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            raise RetriableError(f"cannot read {key!r} from {self.url}: {exc}") from exc

    def get_file(self, key: str, path: Path) -> None:
        """Copies the object to the local file ``path`` in chunks."""
        try:
            with self._path(key).open("rb") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target, _CHUNK)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(key) from None
        except OSError as exc:
            raise RetriableError(f"cannot copy {key!r} from {self.url} to {path}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix`` (a plain string prefix, as in S3), sorted."""
        _check_prefix(prefix)
        # Walk only the deepest directory the prefix names; filter the rest by string.
        base = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not base.is_dir():
            return []
        keys = []
        try:
            for dirpath, _dirnames, filenames in os.walk(base):
                for name in filenames:
                    if name.startswith(self.TEMP_PREFIX):
                        continue
                    key = Path(dirpath, name).relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise RetriableError(f"cannot list {prefix!r} in {self.url}: {exc}") from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Removes the object; deleting a missing object is not an error (as in S3)."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise RetriableError(f"cannot delete {key!r} from {self.url}: {exc}") from exc


# ------------------------------------------------------------------------------------ S3

# A request that gets no answer in this long is retried by botocore, three attempts in all
# (standard mode, with back-off): a dead endpoint fails one call in well under a minute, short
# of GCA's default 30 s poll doubling, so a cycle never hangs on storage.
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 15
_MAX_ATTEMPTS = 3
# Answers that no retry will change: the operator must act.
_FATAL_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                          "NoSuchBucket", "AllAccessDisabled", "InvalidBucketName",
                          "AuthorizationHeaderMalformed", "ExpiredToken", "InvalidToken"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Store:
    """Objects under ``prefix`` in ``bucket``; keys are relative to the prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._client = client or self._new_client()

    @staticmethod
    def _new_client() -> Any:
        import boto3
        import botocore.config

        # boto3 reads AWS_ENDPOINT_URL (and credentials, region) from the environment itself.
        config = botocore.config.Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=_CONNECT_TIMEOUT_S, read_timeout=_READ_TIMEOUT_S,
            retries={"max_attempts": _MAX_ATTEMPTS, "mode": "standard"})
        return boto3.session.Session().client("s3", config=config)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, action: str, key: str, exc: Exception) -> GimError:
        import botocore.exceptions

        where = f"{action} {key!r} in {self.url}"
        if isinstance(exc, botocore.exceptions.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                return NotFound(key)
            if code in _FATAL_CODES:
                return FatalError(f"cannot {where}: the store answered {code}; check the "
                                  f"bucket name and the AWS credentials of this process")
            return RetriableError(f"cannot {where}: {code or exc}")
        if isinstance(exc, (botocore.exceptions.NoCredentialsError,
                            botocore.exceptions.PartialCredentialsError)):
            return FatalError(f"cannot {where}: no AWS credentials; set AWS_ACCESS_KEY_ID and "
                              f"AWS_SECRET_ACCESS_KEY (or a role/profile)")
        return RetriableError(f"cannot {where}: {exc}")

    def put(self, key: str, data: bytes) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:  # noqa: BLE001 - every botocore failure is classified
            raise self._fail("write", key, exc) from exc

    def put_file(self, key: str, path: Path) -> None:
        """Stores the content of the local file ``path``, streamed from disk in one PUT (so at
        most 5 GB, S3's limit for a single PUT)."""
        try:
            with open(path, "rb") as body:
                self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        except OSError as exc:
            raise RetriableError(f"cannot read {path} to store it as {key!r}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001
            raise self._fail("write", key, exc) from exc

    def get(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(answer["Body"].read())
        except Exception as exc:  # noqa: BLE001
            raise self._fail("read", key, exc) from exc

    def get_file(self, key: str, path: Path) -> None:
        """Streams the object to the local file ``path`` (memory stays flat)."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            with open(path, "wb") as target:
                shutil.copyfileobj(answer["Body"], target, _CHUNK)
        except OSError as exc:
            raise RetriableError(f"cannot write {path} from {key!r}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001
            raise self._fail("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:  # noqa: BLE001
            error = self._fail("look up", key, exc)
            if isinstance(error, NotFound):
                return False
            raise error from exc

    def list(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted (S3 lists in key order already)."""
        _check_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        full, strip = root + prefix, len(root)
        keys: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(item["Key"][strip:] for item in page.get("Contents", ()))
        except Exception as exc:  # noqa: BLE001
            raise self._fail("list", prefix, exc) from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:  # noqa: BLE001
            error = self._fail("delete", key, exc)
            if not isinstance(error, NotFound):
                raise error from exc
