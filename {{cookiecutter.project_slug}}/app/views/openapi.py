"""GET /openapi.json: the OpenAPI 3.1 document of the task API.

The document is kept by hand beside the views it describes
(app/openapi.json); the tests check that it names every route of the API,
and the template's tests fuzz a running app against it (schemathesis).
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"

bp = Blueprint("openapi", __name__)


@bp.get("/openapi.json")
def document():
    return jsonify(openapi_document(current_app.config["PROJECT_NAME"]))


@cache
def openapi_document(project_name: str) -> dict[str, Any]:
    """The document, titled after the project; read once per process."""
    document = json.loads(DOCUMENT.read_text())
    document["info"]["title"] = f"{project_name}: background tasks"
    return document
