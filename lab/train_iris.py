"""Train the platform's reference model and register it in MLflow.

A random forest on the iris data set (shipped with scikit-learn, no download),
logged to the MLflow tracking server with its parameters, its accuracy, an
evaluation report and the model itself, and registered as a model version.

Every endpoint and credential comes from the environment, as the cluster's
Secrets inject them, so the same script runs in the lab and in a training pod:
  MLFLOW_TRACKING_URI                           tracking server (required)
  MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY                         artifact store (MinIO)
  MLFLOW_TRACKING_USERNAME/PASSWORD             when the server asks for them
  IRIS_EXPERIMENT (default bare-metal-iris), IRIS_MODEL_NAME (default iris-bare-metal)

The last line printed is a JSON summary (run_id, model name and version).
"""

from __future__ import annotations

import json
import os
import sys

import mlflow
import mlflow.sklearn
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, classification_report
from sklearn.model_selection import train_test_split

N_ESTIMATORS = 120
MAX_DEPTH = 5
SEED = 35
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


def main() -> int:
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        print("MLFLOW_TRACKING_URI is not set", file=sys.stderr)
        return 2
    experiment = os.environ.get("IRIS_EXPERIMENT", "bare-metal-iris")
    model_name = os.environ.get("IRIS_MODEL_NAME", "iris-bare-metal")

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment(experiment)

    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.2, random_state=SEED)

    with mlflow.start_run(run_name="iris-random-forest") as run:
        model = RandomForestClassifier(n_estimators=N_ESTIMATORS, max_depth=MAX_DEPTH, random_state=SEED)
        model.fit(x_train, y_train)
        predictions = model.predict(x_test)
        accuracy = accuracy_score(y_test, predictions)

        mlflow.log_param("n_estimators", N_ESTIMATORS)
        mlflow.log_param("max_depth", MAX_DEPTH)
        mlflow.log_metric("accuracy", accuracy)
        # The evaluation output lives with the run's artifacts in the object store.
        report = classification_report(y_test, predictions, target_names=list(data.target_names), output_dict=True)
        mlflow.log_dict(report, "evaluation/classification_report.json")

        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            registered_model_name=model_name,
            input_example=x_test[:2],
            # Stated, not inferred: inference starts a subprocess and guesses.
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            # MLflow 3 saves sklearn models with skops, which refuses unknown
            # types on load; the forest's tree storage is ours to trust.
            skops_trusted_types=TRUSTED_TYPES,
        )

    summary = dict(
        run_id=run.info.run_id,
        experiment=experiment,
        accuracy=accuracy,
        model_name=model_name,
        model_version=str(info.registered_model_version),
        model_uri=info.model_uri,
    )
    print(f"registered {model_name} version {summary['model_version']} from run {run.info.run_id}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
