"""Credential selection for ``--auth`` and the default chain.

``--auth`` methods: env, certificate, managed-identity, workload-identity, azure-cli,
device-code, token. Without ``--auth`` a short chain is tried in order: env, workload
identity, managed identity, Azure CLI. When every step fails, :class:`AuthenticationError`
(exit code 2: the fix is configuration) lists what was tried and how to fix each.

``token`` reads a pre-fetched bearer token from ``MAA_GUARD_ACCESS_TOKEN`` only, never from
a flag, to keep it out of shell history. No token or secret is ever put in a message or log.

``managed-identity`` uses the host's token endpoint (IMDS, App Service, Arc...) as
azure-identity finds it from the environment; ``AZURE_CLIENT_ID`` selects a user-assigned
identity. ``device-code`` shows its sign-in instructions on stderr, so that a report written
to stdout stays clean.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken

from maa_guard.collect.endpoints import Endpoint
from maa_guard.collect.errors import AuthenticationError

TOKEN_VARIABLE = "MAA_GUARD_ACCESS_TOKEN"
AUTH_METHODS = (
    "env",
    "certificate",
    "managed-identity",
    "workload-identity",
    "azure-cli",
    "device-code",
    "token",
)
DEFAULT_CHAIN = ("env", "workload-identity", "managed-identity", "azure-cli")

FIXES: dict[str, str] = {
    "env": "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
    "(or AZURE_CLIENT_CERTIFICATE_PATH)",
    "certificate": "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH "
    "(a PEM or PFX with the private key)",
    "workload-identity": "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE "
    "(GitHub Actions OIDC, AKS workload identity)",
    "managed-identity": "run on an Azure resource with a managed identity "
    "(AZURE_CLIENT_ID selects a user-assigned one)",
    "azure-cli": "install the Azure CLI and run 'az login --tenant <tenant>'",
    "device-code": "run at a terminal and sign in with the code shown",
    "token": f"export {TOKEN_VARIABLE} with a Graph access token",
}


class StaticTokenCredential:
    """A pre-fetched bearer token; ``repr`` never shows it."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._expires_on = _jwt_expiry(token) or int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self._expires_on)

    def __repr__(self) -> str:
        return "StaticTokenCredential(<hidden>)"


def _jwt_expiry(token: str) -> int | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return exp if isinstance(exp, int) else None


@dataclass(frozen=True, slots=True)
class Attempt:
    method: str
    problem: str


class ChainCredential:
    """Tries each credential in turn; remembers why each one failed."""

    def __init__(self, steps: Sequence[tuple[str, Callable[[], Any] | str]]) -> None:
        self._steps = list(steps)
        self._chosen: Any = None

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._chosen is not None:
            return self._chosen.get_token(*scopes, **kwargs)  # type: ignore[no-any-return]
        attempts: list[Attempt] = []
        for method, factory in self._steps:
            if isinstance(factory, str):
                attempts.append(Attempt(method, factory))
                continue
            try:
                credential = factory()
                token: AccessToken = credential.get_token(*scopes, **kwargs)
            except Exception as error:
                attempts.append(Attempt(method, _first_line(error)))
                continue
            self._chosen = credential
            return token
        raise chain_failure(attempts)


def chain_failure(attempts: Sequence[Attempt]) -> AuthenticationError:
    tried = "; ".join(f"{a.method}: {a.problem}" for a in attempts)
    fixes = "; ".join(f"{a.method}: {FIXES[a.method]}" for a in attempts)
    return AuthenticationError(
        f"no credential worked (tried {tried})",
        f"choose one with --auth, or fix one of them - {fixes}",
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def build_credential(
    method: str | None,
    endpoint: Endpoint,
    environ: Mapping[str, str],
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> Any:
    """The credential for ``--auth method`` (None: the default chain)."""
    if method is None:
        return ChainCredential(default_chain(endpoint, environ, which))
    if method not in AUTH_METHODS:
        raise AuthenticationError(
            f"unknown --auth {method!r}", f"choose one of: {', '.join(AUTH_METHODS)}"
        )
    if method == "token":
        return _token_credential(environ)
    problem = unconfigured(method, environ, which)
    if problem:
        raise AuthenticationError(f"--auth {method}: {problem}", FIXES[method])
    try:
        return _FACTORIES[method](endpoint, environ)
    except (OSError, ValueError) as error:  # an unreadable or malformed certificate file
        raise AuthenticationError(
            f"--auth {method}: the credential cannot be built: {_first_line(error)}",
            FIXES[method],
        ) from None


def default_chain(
    endpoint: Endpoint, environ: Mapping[str, str], which: Callable[[str], str | None]
) -> list[tuple[str, Callable[[], Any] | str]]:
    """Steps of the default chain; a step that is plainly not configured is a reason string."""
    steps: list[tuple[str, Callable[[], Any] | str]] = []
    for method in DEFAULT_CHAIN:
        problem = unconfigured(method, environ, which)
        factory = _FACTORIES[method]
        steps.append((method, problem or _bind(factory, endpoint, environ)))
    return steps


def _bind(factory: _Factory, endpoint: Endpoint, environ: Mapping[str, str]) -> Callable[[], Any]:
    return lambda: factory(endpoint, environ)


def unconfigured(
    method: str, environ: Mapping[str, str], which: Callable[[str], str | None]
) -> str:
    """Why ``method`` cannot work in this environment, or "" when it may."""
    needs = {
        "env": ("AZURE_TENANT_ID", "AZURE_CLIENT_ID"),
        "certificate": ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH"),
        "workload-identity": ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"),
    }.get(method, ())
    missing = [name for name in needs if not environ.get(name)]
    if missing:
        return f"{', '.join(missing)} not set"
    if method == "env" and not (
        environ.get("AZURE_CLIENT_SECRET") or environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
    ):
        return "neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH set"
    if method == "azure-cli" and which("az") is None:
        return "the 'az' command is not on PATH"
    return ""


def _token_credential(environ: Mapping[str, str]) -> StaticTokenCredential:
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise AuthenticationError(f"--auth token: {TOKEN_VARIABLE} is not set", FIXES["token"])
    return StaticTokenCredential(token)


def _authority(endpoint: Endpoint, environ: Mapping[str, str]) -> dict[str, Any]:
    """Sovereign clouds need their authority; ``AZURE_AUTHORITY_HOST`` wins when set.

    A loopback authority (a test authority next to the emulator) is not known to Microsoft's
    instance discovery, so discovery is switched off for it, and only for it.
    """
    host = environ.get("AZURE_AUTHORITY_HOST", "")
    if not host:
        return {"authority": endpoint.authority}
    hostname = urlsplit(host if "//" in host else f"https://{host}").hostname
    if hostname in _LOOPBACK:
        return {"authority": host, "disable_instance_discovery": True}
    return {"authority": host}


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _env(endpoint: Endpoint, environ: Mapping[str, str]) -> Any:
    """EnvironmentCredential's choice (a secret first, else a certificate), read from ``environ``
    rather than the process environment, so that a fleet scan can give each tenant its own."""
    secret = environ.get("AZURE_CLIENT_SECRET")
    if not secret:
        return _certificate(endpoint, environ)
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        environ["AZURE_TENANT_ID"],
        environ["AZURE_CLIENT_ID"],
        secret,
        **_authority(endpoint, environ),
    )


def _certificate(endpoint: Endpoint, environ: Mapping[str, str]) -> Any:
    from azure.identity import CertificateCredential

    return CertificateCredential(
        environ["AZURE_TENANT_ID"],
        environ["AZURE_CLIENT_ID"],
        environ["AZURE_CLIENT_CERTIFICATE_PATH"],
        password=environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None,
        **_authority(endpoint, environ),
    )


def _workload(endpoint: Endpoint, environ: Mapping[str, str]) -> Any:
    from azure.identity import WorkloadIdentityCredential

    return WorkloadIdentityCredential(
        tenant_id=environ["AZURE_TENANT_ID"],
        client_id=environ["AZURE_CLIENT_ID"],
        token_file_path=environ["AZURE_FEDERATED_TOKEN_FILE"],
        **_authority(endpoint, environ),
    )


def _managed(endpoint: Endpoint, environ: Mapping[str, str]) -> Any:
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=environ.get("AZURE_CLIENT_ID") or None)


def _cli(endpoint: Endpoint, environ: Mapping[str, str]) -> Any:
    from azure.identity import AzureCliCredential

    return AzureCliCredential(tenant_id=environ.get("AZURE_TENANT_ID", ""))


def _device_code(endpoint: Endpoint, environ: Mapping[str, str]) -> Any:
    from azure.identity import DeviceCodeCredential

    options = _authority(endpoint, environ)
    if environ.get("AZURE_CLIENT_ID"):
        options["client_id"] = environ["AZURE_CLIENT_ID"]
    if environ.get("AZURE_TENANT_ID"):
        options["tenant_id"] = environ["AZURE_TENANT_ID"]
    return DeviceCodeCredential(prompt_callback=show_device_code, **options)


def show_device_code(verification_uri: str, user_code: str, expires_on: datetime) -> None:
    """The sign-in instructions, on stderr: azure-identity would print them to stdout, into
    the report. The page and code come off the network, so only printable text is shown."""
    print(
        f"To sign in, open {_printable(verification_uri)} in a browser and enter the code "
        f"{_printable(user_code)} (valid until {expires_on:%Y-%m-%d %H:%M} UTC).",
        file=sys.stderr,
        flush=True,
    )


def _printable(text: str) -> str:
    return "".join(char for char in text if char.isprintable())[:300]


_Factory = Callable[[Endpoint, Mapping[str, str]], Any]
_FACTORIES: dict[str, _Factory] = {
    "env": _env,
    "certificate": _certificate,
    "workload-identity": _workload,
    "managed-identity": _managed,
    "azure-cli": _cli,
    "device-code": _device_code,
}

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_CHAIN",
    "TOKEN_VARIABLE",
    "ChainCredential",
    "StaticTokenCredential",
    "build_credential",
    "show_device_code",
]
