"""Kubeconfig files for the local control plane.

Two are written per run: one for the discovery front (plain HTTP on loopback, no
credentials: the front presents the admin certificate upstream) that kubectl,
kopf and the tests use, and one straight to the API server with the admin client
certificate, which the API server itself also needs for its authentication and
authorization flags.
"""

import pathlib

import yaml

CONTEXT_NAME = "devcluster"


def write_kubeconfig(
    *,
    path: pathlib.Path,
    server: str,
    ca_cert: pathlib.Path | None = None,
    client_cert: pathlib.Path | None = None,
    client_key: pathlib.Path | None = None,
) -> pathlib.Path:
    """Write a one-context kubeconfig; certificate paths are absolute so it works from any cwd."""
    cluster: dict[str, str] = {"server": server}
    if ca_cert is not None:
        cluster["certificate-authority"] = str(ca_cert.resolve())
    user: dict[str, str] = {}
    if client_cert is not None and client_key is not None:
        user["client-certificate"] = str(client_cert.resolve())
        user["client-key"] = str(client_key.resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT_NAME, "cluster": cluster}],
        "users": [{"name": CONTEXT_NAME, "user": user}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": "default"},
            }
        ],
        "current-context": CONTEXT_NAME,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
