"""API keys: the binding rules, and Bearer checks on a live server."""

from __future__ import annotations

import httpx2
import openai
import pytest

from localcall.server.auth import LOCAL_PRINCIPAL, ApiKey, Auth
from localcall.server.errors import APIError

MODEL = "smollm2-135m"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_key(host):
    auth = Auth.for_binding(host)
    assert not auth.required and auth.principal(None) == LOCAL_PRINCIPAL


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "myhost.example"])
def test_other_hosts_need_a_key_unless_disabled(host):
    with pytest.raises(ValueError, match="--api-key"):
        Auth.for_binding(host)
    assert not Auth.for_binding(host, allow_unauthenticated=True).required
    assert Auth.for_binding(host, ["sk-1"]).required


def test_keys_given_on_loopback_are_required():
    auth = Auth.for_binding("127.0.0.1", ["sk-1"])
    with pytest.raises(APIError) as info:
        auth.principal(None)
    assert info.value.status == 401


def test_key_names():
    assert ApiKey.parse("alice=sk-abc") == ApiKey("alice", b"sk-abc")
    bare = ApiKey.parse("sk-abc")
    assert bare.secret == b"sk-abc" and bare.principal.startswith("key-") and "sk-abc" not in bare.principal
    assert ApiKey.parse("c2VjcmV0==").secret == b"c2VjcmV0=="  # base64 padding is not a name
    with pytest.raises(ValueError):
        Auth.for_binding("127.0.0.1", ["a=1", "a=2"])


def test_principal_of_each_key():
    auth = Auth.for_binding("0.0.0.0", ["alice=sk-alice", "sk-bare"])
    assert auth.principal("Bearer sk-alice") == "alice"
    assert auth.principal("bearer  sk-bare").startswith("key-")
    for header in (None, "", "Bearer", "Basic sk-alice", "Bearer sk-alic", "Bearer sk-alice2", "sk-alice"):
        with pytest.raises(APIError) as info:
            auth.principal(header)
        assert info.value.status == 401


@pytest.fixture(scope="module")
def keyed_server(start_server, default_model):
    from localcall.server import ServerSettings

    auth = Auth.for_binding("127.0.0.1", ["alice=sk-alice-123", "sk-bare-456"])
    return start_server({MODEL: default_model}, ServerSettings(auth=auth, default_max_tokens=8))


def test_live_server_requires_a_key(keyed_server):
    with pytest.raises(openai.AuthenticationError) as info:
        keyed_server.client(api_key="sk-wrong").models.list()
    assert info.value.code == "invalid_api_key" and "sk-wrong" not in info.value.message
    r = httpx2.post(keyed_server.url + "/v1/chat/completions", json={"model": MODEL, "messages": HI}, timeout=30)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    with pytest.raises(openai.AuthenticationError):
        keyed_server.client(api_key="sk-wrong").chat.completions.create(model=MODEL, messages=HI)


def test_auth_comes_before_validation(keyed_server):
    r = httpx2.post(keyed_server.url + "/v1/chat/completions", json={"model": MODEL, "messages": "bad"}, timeout=30)
    assert r.status_code == 401


def test_live_server_accepts_each_key(keyed_server):
    for key in ("sk-alice-123", "sk-bare-456"):
        client = keyed_server.client(api_key=key)
        assert [m.id for m in client.models.list().data] == [MODEL]
        assert client.chat.completions.create(model=MODEL, messages=HI, max_tokens=2).choices


def test_health_needs_no_key(keyed_server):
    assert httpx2.get(keyed_server.url + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_the_api_description_needs_a_key_where_the_api_does(keyed_server, live_server, path):
    assert httpx2.get(keyed_server.url + path, timeout=30).status_code == 401
    keyed = httpx2.get(keyed_server.url + path, headers={"Authorization": "Bearer sk-alice-123"}, timeout=30)
    assert keyed.status_code == 200
    assert httpx2.get(live_server.url + path, timeout=30).status_code == 200  # loopback, no keys: open
