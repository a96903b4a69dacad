"""A tiny MLflow tracking server for unit tests: the search endpoints the backup reads, over real HTTP.

It pages like MLflow's SQL store (an offset token, at most max_results items a page) and records every
request, so tests prove the client pages instead of asking for everything at once.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API = "/api/2.0/mlflow"


class TrackingData:
    """Experiments and runs as MLflow's REST API answers them."""

    def __init__(self):
        self.experiments = [
            {"experiment_id": "0", "name": "Default", "lifecycle_stage": "active", "artifact_location": "s3://a/0"}
        ]
        self.runs = []
        self.models = []
        self.requests = []

    def add_experiment(self, experiment_id, name, deleted=False):
        self.experiments.append(
            {
                "experiment_id": str(experiment_id),
                "name": name,
                "lifecycle_stage": "deleted" if deleted else "active",
                "artifact_location": f"s3://a/{experiment_id}",
            }
        )

    def add_run(self, run_id, experiment_id, start_time, deleted=False, params=None, metrics=None, tags=None):
        self.runs.append(
            {
                "info": {
                    "run_id": run_id,
                    "run_name": f"name-{run_id}",
                    "experiment_id": str(experiment_id),
                    "status": "FINISHED",
                    "start_time": start_time,
                    "end_time": start_time + 5,
                    "lifecycle_stage": "deleted" if deleted else "active",
                    "artifact_uri": f"s3://a/{experiment_id}/{run_id}/artifacts",
                },
                "data": {"params": params or [], "metrics": metrics or [], "tags": tags or []},
            }
        )


def _page(items, body):
    size = int(body.get("max_results") or 1000)
    offset = int(body.get("page_token") or 0)
    page = {"items": items[offset : offset + size]}
    if offset + size < len(items):
        page["next_page_token"] = str(offset + size)
    return page


def _visible(item_stage, view_type):
    """MLflow's view types: ACTIVE_ONLY (the default), DELETED_ONLY or ALL."""
    wanted = {"ALL": ("active", "deleted"), "DELETED_ONLY": ("deleted",)}.get(view_type, ("active",))
    return item_stage in wanted


class Handler(BaseHTTPRequestHandler):
    data: TrackingData

    def log_message(self, *args):  # quiet test output
        pass

    def _answer(self, code, body):
        text = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def do_GET(self):
        url = urlsplit(self.path)
        body = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._serve("GET", url.path, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self._serve("POST", urlsplit(self.path).path, json.loads(self.rfile.read(length) or b"{}"))

    def _serve(self, method, path, body):
        self.data.requests.append((method, path, body))
        if path == API + "/experiments/search":
            found = [e for e in self.data.experiments if _visible(e["lifecycle_stage"], body.get("view_type", ""))]
            page = _page(found, body)
            return self._answer(200, {"experiments": page.pop("items"), **page})
        if path == API + "/runs/search":
            ids = set(body.get("experiment_ids") or [])
            view = body.get("run_view_type", "")
            found = [
                r
                for r in self.data.runs
                if r["info"]["experiment_id"] in ids and _visible(r["info"]["lifecycle_stage"], view)
            ]
            if body.get("order_by") == ["attributes.start_time ASC"]:
                found.sort(key=lambda r: (r["info"]["start_time"], r["info"]["run_id"]))
            page = _page(found, body)
            return self._answer(200, {"runs": page.pop("items"), **page})
        if path == API + "/registered-models/search":
            page = _page(self.data.models, body)
            return self._answer(200, {"registered_models": page.pop("items"), **page})
        if path == API + "/model-versions/search":
            return self._answer(200, {"model_versions": []})
        return self._answer(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": path})


class TrackingServer:
    """Serves `data` on a loopback port until stopped."""

    def __init__(self, data: TrackingData):
        handler = type("BoundHandler", (Handler,), {"data": data})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
