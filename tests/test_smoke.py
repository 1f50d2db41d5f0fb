"""The shared gateway starts and answers."""

import httpx


async def test_health_answers_ok_over_tls(client: httpx.AsyncClient) -> None:
    """GET /health answers 200 {"status": "ok"} over HTTPS."""
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
