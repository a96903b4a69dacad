# Copyright: contributors to baremetal.mlops
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for the MLflow model registry REST API (/api/2.0/mlflow).

Uses Ansible's own HTTP code (open_url), so the mlflow_* modules need no
Python library on the target. Registry objects are returned as plain dicts
in one shape (tags as a mapping, aliases as a mapping alias -> version) so
the modules compare desired and current state directly.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import math
import struct
import traceback

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import open_url

API = "/api/2.0/mlflow"
# The stages MLflow knows; aliases are the modern way, stages remain for archiving.
STAGES = ("None", "Staging", "Production", "Archived")
# MLflow's SQL store keeps +/-Infinity as the largest finite double (SQL has no infinity); NaN as a flag.
_MLFLOW_DOUBLE_MAX = 1.7976931348623157e308
# How many experiment ids one runs search names (the search then pages through their runs).
_RUN_SEARCH_EXPERIMENTS = 100


class MlflowError(Exception):
    """An MLflow request failed."""

    def __init__(self, message, status=None, error_code=None):
        super(MlflowError, self).__init__(message)
        self.status = status
        self.error_code = error_code


def mlflow_argument_spec():
    """Connection options shared by every mlflow_* module (see doc fragment baremetal.mlops.mlflow)."""
    return dict(
        tracking_uri=dict(type="str", required=True, fallback=(env_fallback, ["MLFLOW_TRACKING_URI"])),
        username=dict(type="str", fallback=(env_fallback, ["MLFLOW_TRACKING_USERNAME"])),
        password=dict(type="str", no_log=True, fallback=(env_fallback, ["MLFLOW_TRACKING_PASSWORD"])),
        token=dict(type="str", no_log=True, fallback=(env_fallback, ["MLFLOW_TRACKING_TOKEN"])),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )


def run_mlflow_module(module, work, what):
    """Run `work(module)` and exit with its result; every domain error becomes one fail_json here."""
    try:
        result = work(module)
    except (MlflowError, ValueError) as exc:
        module.fail_json(msg="%s: %s" % (what, exc), exception=traceback.format_exc())
    module.exit_json(**result)


def tags_to_dict(tags):
    return dict((t["key"], t.get("value", "")) for t in tags or [])


class MlflowClient:
    """Registry calls. `opener` is open_url's signature, replaceable in tests."""

    def __init__(self, params, opener=open_url):
        self.base = params["tracking_uri"].rstrip("/") + API
        self.params = params
        self.opener = opener

    @classmethod
    def from_module(cls, module):
        return cls(module.params)

    def request(self, method, path, body=None, query=None):
        url = self.base + path
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if self.params.get("token"):
            headers["Authorization"] = "Bearer %s" % self.params["token"]
        kwargs = {}
        if self.params.get("username") and not self.params.get("token"):
            kwargs = dict(url_username=self.params["username"], url_password=self.params.get("password") or "")
            kwargs["force_basic_auth"] = True
        try:
            response = self.opener(
                url,
                method=method,
                data=data,
                headers=headers,
                validate_certs=self.params["validate_certs"],
                timeout=self.params["timeout"],
                **kwargs,
            )
            text = response.read()
        except HTTPError as exc:
            raise self._http_error(method, path, exc) from None
        except (URLError, OSError) as exc:
            raise MlflowError("%s %s: cannot reach %s: %s" % (method, path, self.params["tracking_uri"], exc)) from None
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise MlflowError("%s %s: the server did not answer JSON" % (method, path)) from None

    @staticmethod
    def _http_error(method, path, exc):
        code, message = None, ""
        try:
            body = json.loads(exc.read())
            code, message = body.get("error_code"), body.get("message", "")
        except (ValueError, AttributeError, TypeError):
            pass
        text = "%s %s: HTTP %s" % (method, path, exc.code)
        if code:
            text += " %s" % code
        if message:
            text += ": %s" % message
        return MlflowError(text, status=exc.code, error_code=code)

    def _get_or_none(self, path, query):
        try:
            return self.request("GET", path, query=query)
        except MlflowError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or exc.status == 404:
                return None
            raise

    # ----------------------------------------------------- registered models

    def get_registered_model(self, name):
        data = self._get_or_none("/registered-models/get", {"name": name})
        if data is None:
            return None
        model = data["registered_model"]
        return dict(
            name=model["name"],
            description=model.get("description", ""),
            tags=tags_to_dict(model.get("tags")),
            aliases=dict((a["alias"], str(a["version"])) for a in model.get("aliases", [])),
        )

    def create_registered_model(self, name, description, tags):
        body = dict(name=name, tags=[dict(key=k, value=v) for k, v in sorted(tags.items())])
        if description:
            body["description"] = description
        self.request("POST", "/registered-models/create", body)

    def update_registered_model(self, name, description):
        self.request("PATCH", "/registered-models/update", dict(name=name, description=description))

    def delete_registered_model(self, name):
        self.request("DELETE", "/registered-models/delete", dict(name=name))

    def set_model_tag(self, name, key, value):
        self.request("POST", "/registered-models/set-tag", dict(name=name, key=key, value=value))

    def delete_model_tag(self, name, key):
        self.request("DELETE", "/registered-models/delete-tag", dict(name=name, key=key))

    def set_alias(self, name, alias, version):
        self.request("POST", "/registered-models/alias", dict(name=name, alias=alias, version=str(version)))

    def delete_alias(self, name, alias):
        self.request("DELETE", "/registered-models/alias", dict(name=name, alias=alias))

    def _pages(self, path, field, query, method="GET"):
        """Every item of a paged search (`field` of each page); POST sends the search as a JSON body."""
        found, token = [], None
        while True:
            args = dict(query)
            if token:
                args["page_token"] = token
            data = self.request("GET", path, query=args) if method == "GET" else self.request(method, path, args)
            found += data.get(field, [])
            token = data.get("next_page_token")
            if not token:
                return found

    def registry(self, page_size=100):
        """Every registered model with its aliases and all its versions (a backup manifest's registry part)."""
        models = []
        for raw in self._pages("/registered-models/search", "registered_models", {"max_results": page_size}):
            name = raw["name"]
            versions = self._pages(
                "/model-versions/search",
                "model_versions",
                {"filter": "name='%s'" % name.replace("'", "\\'"), "max_results": page_size},
            )
            models.append(
                dict(
                    name=name,
                    aliases=dict((a["alias"], str(a["version"])) for a in raw.get("aliases", [])),
                    versions=sorted(
                        (
                            dict(
                                version=str(v["version"]),
                                source=v.get("source", ""),
                                storage_location=v.get("storage_location")
                                or self.artifact_location(v.get("source", "")),
                                run_id=v.get("run_id", ""),
                                status=v.get("status", ""),
                            )
                            for v in versions
                        ),
                        key=lambda v: int(v["version"]),
                    ),
                )
            )
        return sorted(models, key=lambda m: m["name"])

    # ------------------------------------------------------- experiments and runs

    def experiments(self, page_size=200):
        """Every experiment, deleted ones too (their lifecycle stage says so), sorted by id."""
        found = self._pages(
            "/experiments/search", "experiments", {"max_results": page_size, "view_type": "ALL"}, method="POST"
        )
        return sorted((experiment_record(e) for e in found), key=lambda e: _id_order(e["experiment_id"]))

    def runs(self, experiment_ids, page_size=200):
        """Every run of those experiments, deleted ones too, sorted by experiment and start time.

        Pages of `page_size` runs, oldest first (a run created during the read lands on a later page
        instead of shifting the pages already read); at most 100 experiment ids per search.
        """
        ids = [str(i) for i in experiment_ids]
        runs = {}
        for start in range(0, len(ids), _RUN_SEARCH_EXPERIMENTS):
            search = dict(
                experiment_ids=ids[start : start + _RUN_SEARCH_EXPERIMENTS],
                max_results=page_size,
                run_view_type="ALL",
                order_by=["attributes.start_time ASC"],
            )
            for raw in self._pages("/runs/search", "runs", search, method="POST"):
                record = run_record(raw)
                runs[record["run_id"]] = record
        return sorted(runs.values(), key=lambda r: (_id_order(r["experiment_id"]), r["start_time"] or 0, r["run_id"]))

    def artifact_location(self, source):
        """Where the files of a version whose source is an MLflow URI lie: models:/<model id> (MLflow 3's logged
        models) -> the logged model's artifact URI; runs:/<run id>/<path> -> the run's artifact URI + path;
        anything else, or a model or run that no longer exists -> ''."""
        if source.startswith("models:/"):
            model_id = source[len("models:/") :].strip("/")
            if not model_id or "/" in model_id:
                return ""
            found = self._get_or_none("/logged-models/%s" % model_id, None)
            return ((found or {}).get("model") or {}).get("info", {}).get("artifact_uri", "")
        if source.startswith("runs:/"):
            run_id, _slash, path = source[len("runs:/") :].partition("/")
            found = self._get_or_none("/runs/get", {"run_id": run_id}) if run_id else None
            root = ((found or {}).get("run") or {}).get("info", {}).get("artifact_uri", "")
            return "%s/%s" % (root.rstrip("/"), path.strip("/")) if root and path.strip("/") else root
        return ""

    # -------------------------------------------------------- model versions

    def get_model_version(self, name, version):
        data = self._get_or_none("/model-versions/get", {"name": name, "version": str(version)})
        if data is None:
            return None
        return version_view(data["model_version"])

    def get_model_version_by_alias(self, name, alias):
        data = self._get_or_none("/registered-models/alias", {"name": name, "alias": alias})
        if data is None:
            return None
        return version_view(data["model_version"])

    def find_model_version(self, name, source, run_id=None):
        """The newest version of `name` created from `source` (and `run_id`), or None."""
        query = "name='%s'" % name.replace("'", "\\'")
        if run_id:
            query += " and run_id='%s'" % run_id
        found = []
        token = None
        while True:
            args = {"filter": query, "max_results": 200}
            if token:
                args["page_token"] = token
            data = self.request("GET", "/model-versions/search", query=args)
            found += [v for v in data.get("model_versions", []) if v.get("source") == source]
            token = data.get("next_page_token")
            if not token:
                break
        if not found:
            return None
        return version_view(max(found, key=lambda v: int(v["version"])))

    def create_model_version(self, name, source, run_id, description, tags):
        body = dict(name=name, source=source, tags=[dict(key=k, value=v) for k, v in sorted(tags.items())])
        if run_id:
            body["run_id"] = run_id
        if description:
            body["description"] = description
        data = self.request("POST", "/model-versions/create", body)
        return version_view(data["model_version"])

    def update_model_version(self, name, version, description):
        self.request("PATCH", "/model-versions/update", dict(name=name, version=str(version), description=description))

    def set_version_tag(self, name, version, key, value):
        body = dict(name=name, version=str(version), key=key, value=value)
        self.request("POST", "/model-versions/set-tag", body)

    def delete_version_tag(self, name, version, key):
        self.request("DELETE", "/model-versions/delete-tag", dict(name=name, version=str(version), key=key))

    def transition_stage(self, name, version, stage):
        body = dict(name=name, version=str(version), stage=stage, archive_existing_versions=False)
        self.request("POST", "/model-versions/transition-stage", body)

    def delete_model_version(self, name, version):
        self.request("DELETE", "/model-versions/delete", dict(name=name, version=str(version)))


def _id_order(value):
    """Numeric ids (MLflow's SQL store) in number order, others after them by text."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def experiment_record(raw):
    """An experiment as a backup manifest records it."""
    return dict(
        experiment_id=str(raw["experiment_id"]),
        name=raw.get("name", ""),
        lifecycle_stage=raw.get("lifecycle_stage", "active"),
        artifact_location=raw.get("artifact_location", ""),
    )


def _hex(text):
    return (text or "").encode("utf-8").hex()


def metric_value_hex(value):
    """A metric value as MLflow's SQL store holds it, as the 8 bytes of the double in hex (exact, no
    decimal formatting); NaN (stored as a flag) is `nan`, +/-Infinity the largest finite double."""
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        number = math.copysign(_MLFLOW_DOUBLE_MAX, number)
    return struct.pack(">d", number).hex()


def data_digest(lines):
    """{count, sha256} of one kind of a run's data: the sha256 of its lines, sorted, joined by newlines.

    Each line is hex(key):hex(value) for params and tags, hex(key):metric_value_hex:step:timestamp
    for the latest value of each metric. All hex and digits, so the drill computes the same lines with
    SQL from the restored tables (roles/restore_drill/files/restored.sql) without any text escaping.
    """
    lines = sorted(lines)
    return dict(count=len(lines), sha256=hashlib.sha256("\n".join(lines).encode("ascii")).hexdigest())


def _millis(value):
    return int(value) if value not in (None, "") else None


def _metric_line(metric):
    value = metric_value_hex(metric.get("value", 0))
    return "%s:%s:%d:%d" % (_hex(metric["key"]), value, int(metric.get("step") or 0), int(metric.get("timestamp") or 0))


def run_record(raw):
    """A run as a backup manifest records it: its info, and a count and digest of its params, latest
    metrics and tags (enough to prove the restored run holds the same data, small enough for thousands)."""
    info, data = raw["info"], raw.get("data") or {}
    return dict(
        run_id=info["run_id"],
        name=info.get("run_name", ""),
        experiment_id=str(info["experiment_id"]),
        status=info.get("status", ""),
        lifecycle_stage=info.get("lifecycle_stage", "active"),
        start_time=_millis(info.get("start_time")),
        end_time=_millis(info.get("end_time")),
        artifact_uri=info.get("artifact_uri", ""),
        params=data_digest("%s:%s" % (_hex(p["key"]), _hex(p.get("value"))) for p in data.get("params") or []),
        metrics=data_digest(_metric_line(m) for m in data.get("metrics") or []),
        tags=data_digest("%s:%s" % (_hex(t["key"]), _hex(t.get("value"))) for t in data.get("tags") or []),
    )


def version_view(raw):
    return dict(
        name=raw["name"],
        version=str(raw["version"]),
        source=raw.get("source", ""),
        run_id=raw.get("run_id", ""),
        status=raw.get("status", ""),
        stage=raw.get("current_stage", "None"),
        description=raw.get("description", ""),
        tags=tags_to_dict(raw.get("tags")),
        aliases=sorted(raw.get("aliases", [])),
    )


def plan_tags(current, wanted, purge):
    """(to_set, to_delete) to turn tag mapping `current` into `wanted`."""
    to_set = dict((k, v) for k, v in wanted.items() if current.get(k) != v)
    to_delete = sorted(k for k in current if k not in wanted) if purge else []
    return to_set, to_delete


def plan_aliases(model_aliases, version, wanted, purge):
    """(to_set, to_delete) so the aliases in `wanted` point at `version`.

    `model_aliases` maps every alias of the model to its version; an alias
    pointing at another version is moved. With `purge`, aliases on this
    version that are not wanted are removed.
    """
    version = str(version)
    to_set = sorted(a for a in wanted if model_aliases.get(a) != version)
    to_delete = []
    if purge:
        to_delete = sorted(a for a, v in model_aliases.items() if v == version and a not in wanted)
    return to_set, to_delete
