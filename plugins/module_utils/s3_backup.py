# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bucket mirror, restore and checksums for backups, over the plain S3 API.

Only calls every S3 store answers (ListObjectVersions, GetObject, PutObject,
CopyObject, DeleteObject, Get/PutBucketVersioning): the backup site can be any
S3-compatible endpoint. A backup keeps every version of a versioned bucket
(the latest only otherwise) under <prefix>/buckets/<bucket>/<version>/<key>;
the manifest lists each with its sha256 so a restore can prove what it read.
Decisions (layout, order of replay, comparison) are pure functions.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import io
import tempfile

from ansible_collections.baremetal.mlops.plugins.module_utils.minio import (
    HAS_MINIO,
    MinioModuleError,
    connect,
    versioning_name,
)

if HAS_MINIO:
    from minio.commonconfig import ENABLED, CopySource
    from minio.deleteobjects import DeleteObject
    from minio.error import S3Error
    from minio.versioningconfig import VersioningConfig

CHUNK = 1024 * 1024
# Objects up to this size are hashed in memory, larger ones spool to disk.
SPOOL_LIMIT = 16 * CHUNK


def connection_options():
    """Sub-options of a connection dict (source, destination, target)."""
    return dict(
        endpoint=dict(type="str", required=True),
        access_key=dict(type="str", required=True, no_log=False),
        secret_key=dict(type="str", required=True, no_log=True),
        region=dict(type="str", default="us-east-1"),
        validate_certs=dict(type="bool", default=True),
    )


def connection_spec(required=True):
    return dict(type="dict", required=required, options=connection_options())


def s3_client(params):
    return connect(params)[0]


def backup_key(prefix, bucket, version_id, key):
    """Where one object version lives on the backup site."""
    head = "%s/" % prefix.strip("/") if prefix.strip("/") else ""
    return "%sbuckets/%s/%s/%s" % (head, bucket, version_id or "null", key)


def entry_order(entry):
    """Replay order inside a key: oldest first (S3 lists a key's versions newest first; see list_versions)."""
    return (entry["key"], entry["sequence"])


def read_stream(response):
    """(sha256, size, spooled file at offset 0) of a GetObject response, released after."""
    digest = hashlib.sha256()
    size = 0
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115 - handed to the caller, who closes it
    try:
        for chunk in response.stream(CHUNK):
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
    finally:
        response.close()
        response.release_conn()
    spool.seek(0)
    return digest.hexdigest(), size, spool


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_versions(s3, bucket):
    """(versioning, entries): every version and delete marker of a versioned bucket, the objects otherwise."""
    if not s3.bucket_exists(bucket):
        raise MinioModuleError("bucket %s does not exist" % bucket)
    versioning = versioning_name(s3.get_bucket_versioning(bucket).status)
    entries = []
    for obj in s3.list_objects(bucket, recursive=True, include_version=versioning != "disabled"):
        entries.append(
            dict(
                key=obj.object_name,
                version_id=obj.version_id if versioning != "disabled" else None,
                latest=bool(obj.is_latest) if versioning != "disabled" else True,
                delete_marker=bool(obj.is_delete_marker),
                size=obj.size or 0,
                last_modified=obj.last_modified.isoformat() if obj.last_modified else None,
            )
        )
    # S3 lists the versions of one key newest first; timestamps (millisecond
    # precision) can tie, so the listing's order numbers them: 0 is the oldest.
    seen = {}
    for entry in reversed(entries):
        entry["sequence"] = seen.get(entry["key"], 0)
        seen[entry["key"]] = entry["sequence"] + 1
    return versioning, sorted(entries, key=entry_order)


def ensure_bucket(s3, bucket, versioned=False):
    """Create `bucket` when missing; turn versioning on when asked. True when something changed."""
    changed = False
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
        changed = True
    if versioned and versioning_name(s3.get_bucket_versioning(bucket).status) != "enabled":
        s3.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
        changed = True
    return changed


def mirror_buckets(source, destination, buckets, destination_bucket, prefix, check_mode):
    """Copy every version of every bucket to destination_bucket under prefix; returns the manifest's buckets part."""
    report = {}
    if not check_mode:
        ensure_bucket(destination, destination_bucket)
    for bucket in buckets:
        versioning, entries = list_versions(source, bucket)
        for entry in entries:
            if entry["delete_marker"]:
                entry.update(sha256=None, backup_key=None)
                continue
            entry["backup_key"] = backup_key(prefix, bucket, entry["version_id"], entry["key"])
            entry["sha256"] = None
            if check_mode:
                continue
            digest, size, spool = read_stream(source.get_object(bucket, entry["key"], version_id=entry["version_id"]))
            with spool:
                destination.put_object(destination_bucket, entry["backup_key"], spool, size)
            entry.update(sha256=digest, size=size)
        report[bucket] = dict(
            versioning=versioning,
            object_count=sum(1 for e in entries if not e["delete_marker"]),
            objects=entries,
        )
    return report


def target_name(prefix, bucket):
    return "%s%s" % (prefix or "", bucket)


def restore_buckets(source, source_bucket, target, manifest_buckets, target_prefix, replace, check_mode):
    """Replay each bucket's versions (oldest first) from the backup site into a clean target bucket.

    Every object read from the backup site is hashed and compared with the
    manifest before it is written: a corrupt or missing backup object raises,
    naming it. Returns {target bucket: objects written}.
    """
    written = {}
    # Every target is checked before anything is written: a refused restore leaves no trace.
    used = [
        name
        for name in (target_name(target_prefix, bucket) for bucket in sorted(manifest_buckets))
        if target.bucket_exists(name) and next(iter(target.list_objects(name, include_version=True)), None) is not None
    ]
    if used and not replace:
        raise MinioModuleError(
            "target bucket(s) %s not empty; a restore needs a clean target (or replace: true)" % ", ".join(used)
        )
    for name in used if not check_mode else []:
        empty(target, name)
    for bucket, part in sorted(manifest_buckets.items()):
        name = target_name(target_prefix, bucket)
        count = 0
        if not check_mode:
            ensure_bucket(target, name, versioned=part["versioning"] == "enabled")
        for entry in sorted(part["objects"], key=entry_order):
            if entry["delete_marker"]:
                if not check_mode:
                    target.remove_object(name, entry["key"])
                continue
            if check_mode:
                count += 1
                continue
            try:
                response = source.get_object(source_bucket, entry["backup_key"])
            # S3Error and urllib3's errors alike: re-raised naming the object
            except Exception as exc:
                raise MinioModuleError(
                    "backup object %s/%s (%s/%s) cannot be read: %s"
                    % (source_bucket, entry["backup_key"], bucket, entry["key"], exc)
                ) from exc
            digest, size, spool = read_stream(response)
            if digest != entry["sha256"]:
                spool.close()
                raise MinioModuleError(
                    "backup object %s/%s (%s/%s) is corrupt: sha256 %s, the manifest says %s"
                    % (source_bucket, entry["backup_key"], bucket, entry["key"], digest, entry["sha256"])
                )
            with spool:
                target.put_object(name, entry["key"], spool, size)
            count += 1
        written[name] = count
    return written


def empty(s3, bucket):
    listing = s3.list_objects(bucket, recursive=True, include_version=True)
    doomed = [DeleteObject(o.object_name, o.version_id) for o in listing]
    for failure in s3.remove_objects(bucket, iter(doomed)):
        raise MinioModuleError("cannot delete %s from bucket %s: %s" % (failure.name, bucket, failure.message))


def data_versions(entries):
    """{key: [sha256 of each data version, oldest first]}; delete markers hold no data and are left out."""
    found = {}
    for entry in sorted(entries, key=entry_order):
        if not entry["delete_marker"]:
            found.setdefault(entry["key"], []).append(entry.get("sha256"))
    return found


def compare_bucket(bucket, expected_entries, restored_entries):
    """Problems, one line each, between the manifest's entries and the restored bucket's."""
    expected, restored = data_versions(expected_entries), data_versions(restored_entries)
    problems = []
    for key in sorted(expected):
        if key not in restored:
            problems.append("%s/%s: missing" % (bucket, key))
        elif restored[key] != expected[key]:
            problems.append(
                "%s/%s: %d version(s) with sha256 %s, the manifest says %d with %s"
                % (
                    bucket,
                    key,
                    len(restored[key]),
                    ",".join(restored[key]),
                    len(expected[key]),
                    ",".join(expected[key]),
                )
            )
    return problems


def hash_bucket(s3, bucket):
    """The bucket's entries (as list_versions) with the sha256 of every data version, read back."""
    _versioning, entries = list_versions(s3, bucket)
    for entry in entries:
        entry["sha256"] = None
        if not entry["delete_marker"]:
            digest, _size, spool = read_stream(s3.get_object(bucket, entry["key"], version_id=entry["version_id"]))
            spool.close()
            entry["sha256"] = digest
    return entries


def verify_buckets(target, manifest_buckets, target_prefix):
    """Every object version of the manifest exists in the target with the same sha256; a list of problems."""
    problems = []
    for bucket, part in sorted(manifest_buckets.items()):
        name = target_name(target_prefix, bucket)
        if not target.bucket_exists(name):
            problems.append("%s: bucket missing" % name)
            continue
        problems += compare_bucket(name, part["objects"], hash_bucket(target, name))
    return problems


def put_bytes(s3, bucket, key, data):
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


def put_atomic(s3, bucket, key, data):
    """Write `key` only once whole: upload key.partial, check it, copy it over key, drop the partial."""
    partial = key + ".partial"
    put_bytes(s3, bucket, partial, data)
    digest, _size, spool = read_stream(s3.get_object(bucket, partial))
    spool.close()
    if digest != hashlib.sha256(data).hexdigest():
        raise MinioModuleError("%s/%s: the uploaded copy differs from what was sent" % (bucket, partial))
    s3.copy_object(bucket, key, CopySource(bucket, partial))
    s3.remove_object(bucket, partial)


MANIFEST = "manifest.json"


def list_backups(s3, bucket):
    """Every backup folder of `bucket`, oldest first: {name, complete (it has a manifest)}."""
    if not s3.bucket_exists(bucket):
        raise MinioModuleError("bucket %s does not exist on the backup site" % bucket)
    folders = sorted(o.object_name.rstrip("/") for o in s3.list_objects(bucket) if o.is_dir)
    return [dict(name=name, complete=has_object(s3, bucket, "%s/%s" % (name, MANIFEST))) for name in folders]


def has_object(s3, bucket, key):
    try:
        s3.stat_object(bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return False
        raise
    return True


def latest_complete(backups):
    """Name of the newest backup with a manifest, or None (folder names are UTC timestamps)."""
    complete = [b["name"] for b in backups if b["complete"]]
    return complete[-1] if complete else None


def split_s3_uri(uri):
    """'s3://bucket/some/path' -> ('bucket', 'some/path'); ValueError for anything else."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ValueError("not an s3:// URI: %r" % uri)
    bucket, _slash, path = uri[5:].partition("/")
    return bucket, path.strip("/")


def unresolved_uris(target, uris, target_prefix):
    """The storage URIs (s3://bucket/path, bucket mapped through target_prefix) with no object at or under them."""
    problems = []
    for uri in uris:
        try:
            bucket, path = split_s3_uri(uri)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        name = target_name(target_prefix, bucket)
        if not target.bucket_exists(name):
            problems.append("%s: bucket %s missing" % (uri, name))
            continue
        if has_object(target, name, path):
            continue
        under = next(iter(target.list_objects(name, prefix=path + "/" if path else "", recursive=True)), None)
        if under is None:
            problems.append("%s: no object at or under %s/%s" % (uri, name, path))
    return problems
