"""The boto3 credential chain as an obstore credential provider, resolved once per profile,
environment and process.

boto3 finds credentials wherever the AWS tools do (environment, shared files and profiles,
SSO, `credential_process`, web identity, container and instance roles) and refreshes the
temporary ones; obstore asks the provider again before the keys it holds run out.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import boto3
import botocore.exceptions
from obstore.auth.boto3 import Boto3CredentialProvider

TTL = timedelta(minutes=10)
"""How long obstore may keep one set of keys. It asks again 5 minutes before that (its
refresh threshold), so keys are used for at most 5 minutes, and botocore hands out keys
with at least 10 minutes left (its mandatory refresh window): they never expire in use."""

# What the chain reads from the environment: a change means a new resolution.
_CHAIN_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED",
)  # fmt: skip

_providers: dict[tuple[str | int | None, ...], Boto3CredentialProvider | None] = {}
_lock = threading.Lock()


class CredentialChainError(Exception):
    """The chain has a source configured that failed (unknown profile, expired SSO login,
    a failing `credential_process`); the message is botocore's."""


def credential_provider(profile: str | None = None) -> Boto3CredentialProvider | None:
    """A provider over the chain's credentials (of `profile`, else the default chain), or
    None when the chain finds none. Without credentials in the environment or files the
    chain ends by asking the instance metadata service, which costs about a second off
    EC2 (once per process; `AWS_EC2_METADATA_DISABLED=true` skips it)."""
    key = (os.getpid(), profile, *(os.environ.get(name) for name in _CHAIN_ENV))
    with _lock:
        if key not in _providers:
            _providers[key] = _resolve(profile)
        return _providers[key]


def _resolve(profile: str | None) -> Boto3CredentialProvider | None:
    try:
        session = boto3.Session(profile_name=profile)
        if session.get_credentials() is None:
            return None
    except botocore.exceptions.BotoCoreError as exc:
        raise CredentialChainError(str(exc)) from exc
    return Boto3CredentialProvider(session, ttl=TTL)
