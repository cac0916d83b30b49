"""Private keys for the node's L1 writers (the batcher; the validator next):
from an environment variable or an encrypted keystore file, never from a
committed config. On a dev network with neither, the first public dev key is
used, and the log says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from eth_account import Account

from openledger_node.exceptions import ConfigError
from openledger_node.execution.genesis import dev_private_keys

log = logging.getLogger("openledger.node")


def load_key(
    section: str, key_env: str, keystore: Path | None, password_env: str, *, dev_network: bool
) -> bytes:
    """The key the `section` config names; errors name the field."""
    if keystore is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(f"{section}.keystore: set {password_env} to the keystore's password")
        try:
            encrypted = Path(keystore).read_text()
        except OSError as exc:
            raise ConfigError(f"{section}.keystore: cannot read {keystore}: {exc.strerror or exc}") from None
        try:
            return bytes(Account.decrypt(encrypted, password))
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{section}.keystore: cannot decrypt {keystore}: {exc}") from None
    value = os.environ.get(key_env)
    if value:
        try:
            key = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise ConfigError(f"{section}.key_env: {key_env} is not a hex private key") from None
        if len(key) != 32:
            raise ConfigError(f"{section}.key_env: {key_env} is {len(key)} bytes, a private key is 32")
        return key
    if dev_network:
        log.warning("%s: no key in %s and no keystore; using the public dev key 0 (dev network only)", section, key_env)
        return dev_private_keys()[0]
    raise ConfigError(f"{section}: set {key_env} to the key, or {section}.keystore to an encrypted keystore file")
