"""Helpers the integration tests share: an S3 client on the lab's MinIO and the environment of an Ansible run
whose results are read as JSON. tests/integration is on sys.path for its tests and conftest."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from minio import Minio

ROOT = Path(__file__).resolve().parents[2]


def s3_client(env: dict, access_key: str | None = None, secret_key: str | None = None) -> Minio:
    """An S3 client on the lab's MinIO, as its root account unless other keys are given."""
    return Minio(
        urlsplit(env["MINIO_ENDPOINT"]).netloc,
        access_key=access_key or env["MINIO_ACCESS_KEY"],
        secret_key=secret_key or env["MINIO_SECRET_KEY"],
        secure=False,
    )


def ansible_json_env(env: dict) -> dict:
    """os.environ plus env, set up to run this collection with the JSON stdout callback."""
    found = dict(os.environ, **env)
    found.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_NOCOLOR="1",
    )
    return found
