"""The Bot Framework's side of its tokens, served locally: OpenID metadata at ``<url>/openid``
naming a JWKS at ``<url>/keys``.  Served from a thread, because botbuilder fetches them with a
blocking call on the server's event loop, so a server on that loop would never answer.  Used by
the Teams tests and by ``bench/teams_ingest.py``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def jwks_key(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public half of ``key`` as a JWKS entry Teams' channel would publish."""
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "endorsements": ["msteams"]}


@contextmanager
def served_keys(keys: list[dict[str, Any]]) -> Iterator[str]:
    """Serve the metadata and ``keys``; yields the base URL."""
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    documents["/openid"] = json.dumps({"jwks_uri": f"{base}/keys"}).encode()
    documents["/keys"] = json.dumps({"keys": keys}).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
