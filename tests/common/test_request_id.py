import pytest


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    response = client.get("/api/schema/")
    assert response["x-request-id"].startswith("req_")


@pytest.mark.django_db
def test_a_client_supplied_request_id_is_kept(client):
    response = client.get("/api/schema/", HTTP_X_REQUEST_ID="client-trace-12345")
    assert response["x-request-id"] == "client-trace-12345"


@pytest.mark.django_db
def test_a_malformed_client_request_id_is_replaced(client):
    response = client.get("/api/schema/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert response["x-request-id"].startswith("req_")
