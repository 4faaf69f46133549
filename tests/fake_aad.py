"""A local stand-in for Azure AD's token service, where the bot asks for its own token (the one its
Bot Connector calls carry): what MSAL calls for an app's client-credentials token, on the
fake-platform harness (``tests/fake_platform.py``).

- ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the authority's endpoints (MSAL reads
  them once per application);
- ``POST /{tenant}/oauth2/v2.0/token`` (``token``): a ``client_credentials`` grant for the app id
  and secret it was made with gets a new access token (``token-1``, ``token-2``, …) valid for an
  hour; anything else gets 401 ``invalid_client``.  ``hold()`` keeps the answers back (``held``
  counts the requests waiting) until ``release()``.

MSAL takes only an https authority, so the fake serves TLS with a certificate of its own for
127.0.0.1, written to ``ca_file`` for the client to trust (``REQUESTS_CA_BUNDLE``: MSAL calls
with ``requests``).  The server can share the bot's event loop only because the bot asks for its
token from a worker thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import shutil
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fake_platform import Call, FakePlatform

TENANT = "botframework.com"


class FakeAzureAD(FakePlatform):
    def __init__(self, app_id: str, secret: str) -> None:
        super().__init__()
        self.app_id, self.secret = app_id, secret
        self._ids = itertools.count(1)
        self._files = Path(tempfile.mkdtemp(prefix="fake_aad_"))
        self.ca_file = str(self._files / "cert.pem")
        self.held = 0
        self._gate: asyncio.Event | None = None

    @property
    def authority(self) -> str:
        """What ``TEAMPULSE_TEAMS_LOGIN_URL`` names."""
        return f"{self.url}/{TENANT}"

    @property
    def tokens_issued(self) -> list[str]:
        return [str(call.answer["access_token"]) for call in self.called("token")]

    def refused(self) -> list[Call]:
        return [call for call in self.calls if call.method == "token" and call.status != 200]

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls())
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"https://{host}:{port}"

    async def stop(self) -> None:
        await super().stop()
        shutil.rmtree(self._files, ignore_errors=True)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)

    async def _openid(self, request: web.Request) -> web.Response:
        base = f"{self.url}/{request.match_info['tenant']}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        gate = self._gate
        if gate is not None:
            self.held += 1
            async with self._changed:
                self._changed.notify_all()
            await gate.wait()
        params = {key: str(form.get(key, "")) for key in ("grant_type", "client_id", "scope")}
        known = form.get("client_id") == self.app_id and form.get("client_secret") == self.secret
        if params["grant_type"] != "client_credentials" or not known:
            await self.record(Call("token", params, 401))
            body = {"error": "invalid_client", "error_description": "unknown app or secret"}
            return web.json_response(body, status=401)
        token = f"token-{next(self._ids)}"
        return await self.answer(
            "token",
            params,
            lambda: {"token_type": "Bearer", "expires_in": 3600, "access_token": token},
        )

    def _tls(self) -> ssl.SSLContext:
        """A key and a self-signed certificate for 127.0.0.1 (the certificate also in
        ``ca_file``)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake Azure AD")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        Path(self.ca_file).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file = self._files / "key.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, str(key_file))
        return context
