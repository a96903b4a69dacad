# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory S3 with versioning, speaking the minio.Minio calls the s3_backup code makes."""

from __future__ import annotations

import datetime
import itertools
from types import SimpleNamespace

from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

_ids = itertools.count(1)
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


class Response:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, size):
        for start in range(0, len(self.data), size):
            yield self.data[start : start + size]

    def read(self):
        return self.data

    def close(self):
        pass

    def release_conn(self):
        pass


class VersionedS3:
    """Buckets of keys, each a list of versions (oldest first): {version_id, data or None for a delete marker}."""

    def __init__(self):
        self.buckets = {}
        self.writes = []

    @staticmethod
    def error(code):
        return S3Error(None, code, code, None, None, None)

    def _bucket(self, name):
        if name not in self.buckets:
            raise self.error("NoSuchBucket")
        return self.buckets[name]

    def bucket_exists(self, name):
        return name in self.buckets

    def make_bucket(self, name, location=None, object_lock=False):
        self.writes.append(("make_bucket", name))
        self.buckets[name] = dict(versioning=None, keys={})

    def get_bucket_versioning(self, name):
        return VersioningConfig(self._bucket(name)["versioning"])

    def set_bucket_versioning(self, name, config):
        self.writes.append(("set_bucket_versioning", name))
        self._bucket(name)["versioning"] = config.status

    def put_object(self, bucket, key, data, length, **_):
        self.writes.append(("put_object", bucket, key))
        body = data.read(length) if length >= 0 else data.read()
        b = self._bucket(bucket)
        version = dict(version_id=f"v{next(_ids)}" if b["versioning"] == "Enabled" else None, data=body)
        if b["versioning"] == "Enabled":
            b["keys"].setdefault(key, []).append(version)
        else:
            b["keys"][key] = [version]

    def remove_object(self, bucket, key, version_id=None):
        self.writes.append(("remove_object", bucket, key))
        b = self._bucket(bucket)
        if b["versioning"] == "Enabled" and version_id is None:
            b["keys"].setdefault(key, []).append(dict(version_id=f"v{next(_ids)}", data=None))
        else:
            b["keys"].pop(key, None)

    def remove_objects(self, bucket, objects):
        for obj in objects:
            self.writes.append(("remove_objects", bucket, obj.name))
            self._bucket(bucket)["keys"].pop(obj.name, None)
        return iter([])

    def copy_object(self, bucket, key, source):
        data = self._latest(source.bucket_name, source.object_name)["data"]
        self.put_object(bucket, key, _Reader(data), len(data))

    def _latest(self, bucket, key, version_id=None):
        versions = self._bucket(bucket)["keys"].get(key) or []
        for version in reversed(versions):
            if version_id is None or version["version_id"] == version_id:
                if version["data"] is None:
                    raise self.error("NoSuchKey")
                return version
        raise self.error("NoSuchKey")

    def get_object(self, bucket, key, version_id=None):
        return Response(self._latest(bucket, key, version_id)["data"])

    def stat_object(self, bucket, key):
        return SimpleNamespace(size=len(self._latest(bucket, key)["data"]))

    def list_objects(self, bucket, prefix=None, recursive=False, include_version=False):
        prefix = prefix or ""
        found, folders = [], set()
        for key in sorted(self._bucket(bucket)["keys"]):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            if not recursive and "/" in rest:
                folders.add(prefix + rest.split("/", 1)[0] + "/")
                continue
            versions = self.buckets[bucket]["keys"][key]
            if not include_version:
                versions = [versions[-1]] if versions[-1]["data"] is not None else []
            for position, version in reversed(list(enumerate(versions))):
                found.append(
                    SimpleNamespace(
                        object_name=key,
                        version_id=version["version_id"],
                        is_latest=position == len(versions) - 1,
                        is_delete_marker=version["data"] is None,
                        size=len(version["data"] or b""),
                        last_modified=EPOCH,
                        is_dir=False,
                    )
                )
        found += [SimpleNamespace(object_name=f, is_dir=True) for f in sorted(folders)]
        return iter(found)


class _Reader:
    def __init__(self, data):
        self.data = data

    def read(self, size=-1):
        return self.data
