"""GET /openapi.json describes exactly the routes of the API."""

from flask import Flask

from app.platform.errors import API_PATHS


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of each JSON route the app serves."""
    return {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API_PATHS) and rule.rule != "/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_document_names_every_route_of_the_api(app, client):
    """Each JSON route is documented, and nothing else is."""
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    assert documented == api_routes(app)
    assert app.config["PROJECT_NAME"] in document["info"]["title"]


def test_documented_ranges_are_those_the_api_enforces(client):
    """Each bound of the POST body is accepted, one step past it refused."""
    document = client.get("/openapi.json").get_json()
    fields = document["components"]["schemas"]["TaskOptions"]["properties"]
    for name, step in [("total", 1), ("delay", 0.5)]:
        lowest, highest = fields[name]["minimum"], fields[name]["maximum"]
        for value in (lowest, highest):
            assert client.post("/tasks", json={name: value}).status_code == 202
        for value in (lowest - step, highest + step):
            assert client.post("/tasks", json={name: value}).status_code == 400
