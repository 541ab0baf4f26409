"""Workspace origins: the admin's template and the pure rules around it."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from workspace_launcher.proxy.origins import OriginTemplate, WorkspaceOrigins, normalized_origin, split_host

ID = "0123456789ab"


def test_the_default_template_gives_each_workspace_a_localhost_name_on_the_hosts_port():
    template = OriginTemplate(WorkspaceOrigins().url_template)
    assert template.origin(ID, port=8888) == f"http://{ID}.localhost:8888"
    assert template.origin(ID, port=80) == f"http://{ID}.localhost"  # as browsers write it
    assert template.workspace_id(f"{ID}.localhost") == ID
    assert template.workspace_id(f"{ID.upper()}.LOCALHOST") == ID
    assert not template.secure


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "abc.localhost", f"x{ID}.localhost", f"{ID}.localhost.evil.example",
             f"{ID}0.localhost", f"a.{ID}.localhost", f"{ID}localhost", ""],
)
def test_only_a_workspace_name_matches(host):
    assert OriginTemplate("http://{id}.localhost:{port}").workspace_id(host) is None


def test_a_real_domain_template():
    template = OriginTemplate("https://ws-{id}.workspaces.example.org")
    assert template.secure
    assert template.origin(ID, port=8888) == f"https://ws-{ID}.workspaces.example.org"  # no {port}: the port is fixed
    assert template.workspace_id(f"ws-{ID}.workspaces.example.org") == ID
    assert template.workspace_id(f"{ID}.workspaces.example.org") is None
    assert template.workspace_id("workspaces.example.org") is None
    assert OriginTemplate("https://{id}.ws.example.org:8443").origin(ID, port=1) == f"https://{ID}.ws.example.org:8443"


def test_own_origin_follows_the_host_header():
    template = OriginTemplate("http://{id}.localhost:{port}")
    assert template.own_origin(f"{ID}.localhost:9999") == f"http://{ID}.localhost:9999"
    assert template.own_origin(f"{ID}.LOCALHOST") == f"http://{ID}.localhost"
    assert OriginTemplate("https://{id}.example.org").own_origin(f"{ID}.example.org:443") == f"https://{ID}.example.org"


@pytest.mark.parametrize(
    "template,complaint",
    [
        ("ftp://{id}.example.org", "http:// or https://"),
        ("{id}.example.org", "http:// or https://"),
        ("https://example.org", "{id} once"),
        ("https://{id}.{id}.example.org", "{id} once"),
        ("https://example.org/{id}", "origin only"),
        ("https://{id}.example.org/lab", "origin only"),
        ("https://{id}.example.org?x=1", "origin only"),
        ("https://user@{id}.example.org", "origin only"),
        ("https://{id}.example.org:http", "port"),
        ("https://{id}.example.org:70000", "port"),
        ("https://{id}..example.org", "DNS name"),
        ("https://{id}.exa mple.org", "DNS name"),
        ("https://{id}_x.example.org", "DNS name"),
    ],
)
def test_bad_templates_are_refused_with_the_fix(template, complaint):
    with pytest.raises(TraitError, match="WorkspaceOrigins.url_template") as info:
        WorkspaceOrigins(url_template=template)
    assert complaint in str(info.value)


def test_split_host_and_normalized_origin():
    assert split_host("a.localhost:8888") == ("a.localhost", 8888)
    assert split_host("A.Example.org") == ("a.example.org", None)
    assert split_host("[::1]:8888") == ("[::1]:8888", None)  # never a workspace's name
    assert normalized_origin("HTTPS", "X.org", 443) == "https://x.org"
    assert normalized_origin("http", "x.org", 8080) == "http://x.org:8080"


def test_reopen_link_points_at_the_host():
    origins = WorkspaceOrigins()
    assert origins.reopen_url(f"{ID}.localhost:8888", "/open/x") == "http://localhost:8888/open/x"
    assert WorkspaceOrigins(host_url="https://jupyter.example.org/").reopen_url("h", "/open/x") == (
        "https://jupyter.example.org/open/x"
    )
    assert WorkspaceOrigins(url_template="https://ws-{id}.example.org").reopen_url("h", "/open/x") is None
