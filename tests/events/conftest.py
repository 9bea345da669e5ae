"""The event tests share the API tests' empty model store (an MLflow database takes ~10 s)."""

from tests.api.conftest import _mlflow_store, _shared_model_store  # noqa: F401 (fixtures)
