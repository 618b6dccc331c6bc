"""Arbitrary input never gets a 500: every answer is a clean 2xx or 4xx."""

import json

from conftest import csrf_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.dictionaries(
    st.sampled_from(["total", "delay"]) | st.text(max_size=8), JSON_VALUES, max_size=3
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(body=JSON_VALUES | FIELD_VALUES)
def test_any_json_body_gets_202_or_a_json_400(client, body):
    """Valid options start a task; anything else is a 400 with an error."""
    response = client.post(
        "/tasks", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code in {202, 400}
    assert response.is_json
    if response.status_code == 400:
        assert set(response.get_json()) == {"error"}


@FUZZ
@given(body=st.binary(max_size=3000))
def test_any_bytes_get_a_clean_answer(client, body):
    """Bytes that are not JSON at all are refused cleanly."""
    response = client.post("/tasks", data=body, content_type="application/json")
    assert response.status_code in {202, 400}


@FUZZ
@given(task_id=st.text(max_size=200))
def test_any_task_id_gets_a_clean_answer(client, task_id):
    """Made-up ids are 404 (or not routed at all), never a 500."""
    response = client.get("/tasks/" + task_id.replace("/", ""))
    assert response.status_code < 500


@FUZZ
@given(address=st.text(max_size=300))
def test_any_address_gets_a_redirect_or_a_form_error(client, address):
    """The registration form answers 302 (valid) or 400 (invalid), never 500."""
    response = client.post(
        "/account/register", data={"email": address, "csrf_token": csrf_token(client)}
    )
    assert response.status_code in {302, 400}
