# -*- coding: utf-8 -*-
# Copyright: stamus.scs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Detached signatures of custody manifests: ``<flow_id>.json.sig`` beside ``<flow_id>.json``.

Two kinds of key:
- an Ed25519 private key in PEM (PKCS#8, ``openssl genpkey -algorithm ed25519``): the signature is the raw 64-byte
  Ed25519 signature of the manifest's exact bytes, which ``openssl pkeyutl -verify -rawin`` checks;
- an OpenSSH private key (``ssh-keygen -t ed25519``): ``ssh-keygen -Y sign -n stamus.scs-evidence`` makes an armored
  SSHSIG signature, which ``ssh-keygen -Y verify`` checks against an allowed_signers file.
Key material never leaves this file's objects: errors name the key's path, never its content.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import mmap
import os
import re
import stat
import tempfile
import types

from ansible_collections.stamus.scs.plugins.module_utils._errors import ScsConfigError, ScsError
from ansible_collections.stamus.scs.plugins.module_utils._files import atomic_write_chunks
from ansible_collections.stamus.scs.plugins.module_utils._text import printable, shortened


def crypto():
    """The parts of cryptography signing uses, imported when a key is used: at import time they would cost every
    alert_pcap run about 0.1 s and 11 MiB of memory, signed or not."""
    try:
        # pylint: disable-next=import-outside-toplevel
        from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
        # pylint: disable-next=import-outside-toplevel
        from cryptography.hazmat.primitives import serialization
        # pylint: disable-next=import-outside-toplevel
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    except ImportError:  # pragma: no cover - ansible-core depends on cryptography
        raise ScsConfigError("Signing manifests and checking their signatures need the Python package cryptography on "
                             "the host the module runs on; install it.") from None
    return types.SimpleNamespace(InvalidSignature=InvalidSignature, UnsupportedAlgorithm=UnsupportedAlgorithm,
                                 serialization=serialization, Ed25519PrivateKey=Ed25519PrivateKey,
                                 Ed25519PublicKey=Ed25519PublicKey)


# The SSHSIG namespace of manifest signatures: a signature made for another use (git commits, files) does not verify.
SSH_NAMESPACE = "stamus.scs-evidence"
SIGNATURE_SUFFIX = ".sig"
ED25519_SIGNATURE_BYTES = 64
SSH_SIGNATURE_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
# A key file is small; an SSH signature a few hundred bytes. Anything larger is not what it claims to be.
MAX_KEY_BYTES = 64 * 1024
MAX_SIGNATURE_BYTES = 16 * 1024
# ssh-keygen hashes the manifest as it reads it; a manifest of 100,000 alerts takes a few seconds.
SSH_KEYGEN_TIMEOUT = 300
GOOD_SSH_SIGNATURE_RE = re.compile(r"^Good \"[^\"]*\" signature with \S+ key (SHA256:[0-9A-Za-z+/]{43})$", re.M)
OPENSSH_PRIVATE_BEGIN = b"-----BEGIN OPENSSH PRIVATE KEY-----"
KEY_FIX = ("sign_key takes an Ed25519 private key in PEM (openssl genpkey -algorithm ed25519 -out key.pem) or an "
           "OpenSSH private key (ssh-keygen -t ed25519 -f key)")
NOT_ENCRYPTED = "sign_key %s is not encrypted, but sign_key_passphrase is set: remove sign_key_passphrase or encrypt the key."


class SigningError(ScsError):
    """A manifest could not be signed, or its key cannot be used; the message names the key file, never its content."""


def signature_path(manifest_path):
    return manifest_path + SIGNATURE_SUFFIX


def ssh_fingerprint(public_key):
    """``SHA256:<base64>`` of a public key, as ``ssh-keygen -l`` shows it (for either kind of key)."""
    serialization = crypto().serialization
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def read_key_file(path, what="sign_key"):
    """The bytes of a key file, at most MAX_KEY_BYTES, or a clear error naming it (a symlink is followed: keys are
    often linked from a vault mount)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO does not block the check
    except FileNotFoundError:
        raise SigningError("%s %s does not exist. %s." % (what, path, KEY_FIX)) from None
    except IsADirectoryError:
        raise SigningError("%s %s is not a regular file. %s." % (what, path, KEY_FIX)) from None
    except OSError as err:
        raise SigningError("Cannot read %s %s: %s. Give the user that runs the module read access to it." % (
            what, path, err.strerror or err)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SigningError("%s %s is not a regular file. %s." % (what, path, KEY_FIX))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_KEY_BYTES + 1)
    if len(data) > MAX_KEY_BYTES:
        raise SigningError("%s %s is larger than %d bytes: it is not a key file. %s." % (what, path, MAX_KEY_BYTES, KEY_FIX))
    return data


def mapped(path):
    """A read-only memory map of a whole file (a manifest may be hundreds of MiB: the page cache holds it, not the
    heap). The caller closes it."""
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


class Ed25519Signer:
    """Raw Ed25519 signatures with a PEM (PKCS#8) private key."""

    format = "ed25519"

    def __init__(self, key, path):
        self._key = key
        self.path = path
        self.fingerprint = ssh_fingerprint(key.public_key())

    def sign_file(self, path):
        with mapped(path) as data:
            return self._key.sign(data)

    def verifies(self, path, signature):
        invalid = crypto().InvalidSignature
        try:
            with mapped(path) as data:
                self._key.public_key().verify(signature, data)
        except invalid:
            return False
        return True


class SshSigner:
    """SSHSIG signatures made by ``ssh-keygen -Y sign`` with an OpenSSH private key (any type ssh-keygen signs with)."""

    format = "sshsig"

    def __init__(self, public_key, path, passphrase, ssh_keygen):
        self.path = path
        self.fingerprint = ssh_fingerprint(public_key)
        self._passphrase = passphrase
        self._ssh_keygen = ssh_keygen

    def sign_file(self, path):
        with askpass_env(self._passphrase) as env:
            done = self._ssh_keygen.run(["-Y", "sign", "-f", self.path, "-n", SSH_NAMESPACE], path, env=env)
        signature = done.stdout
        if done.returncode != 0 or not signature.startswith(SSH_SIGNATURE_BEGIN) or len(signature) > MAX_SIGNATURE_BYTES:
            raise SigningError("ssh-keygen -Y sign with sign_key %s failed (exit %d): %s" % (
                self.path, done.returncode, ssh_said(done) or "no signature on its output"))
        return signature

    def verifies(self, path, signature):
        """Whether ``signature`` is a good SSHSIG of the file ``path`` by this key."""
        return ssh_check(self._ssh_keygen, path, signature) == self.fingerprint


def ssh_said(done):
    """What ssh-keygen wrote on its error output, printable and short (it never prints key material there)."""
    return shortened(printable(done.stderr.decode("utf-8", "replace").strip()), 300)


@contextlib.contextmanager
def askpass_env(passphrase):
    """What ssh-keygen's environment gets: with a passphrase, an askpass helper that prints it (ssh-keygen reads one
    from a terminal or an askpass program only; the helper prints it from the environment of the child, so it is
    neither on a command line nor in a file); without one, no askpass program at all."""
    if not passphrase:
        yield {"SSH_ASKPASS_REQUIRE": "never"}
        return
    with tempfile.TemporaryDirectory(prefix="stamus-scs-askpass-") as private:
        helper = os.path.join(private, "askpass")
        with open(helper, "w", encoding="utf-8") as handle:
            handle.write('#!/bin/sh\nprintf "%s\\n" "$STAMUS_SCS_SIGN_PASSPHRASE"\n')
        os.chmod(helper, 0o700)
        yield {"SSH_ASKPASS": helper, "SSH_ASKPASS_REQUIRE": "force", "STAMUS_SCS_SIGN_PASSPHRASE": passphrase}


SshResult = collections.namedtuple("SshResult", "returncode stdout stderr")


class SshKeygen:
    """The ssh-keygen of the host the module runs on, run by the module's ``run_command`` (modules start no process
    of their own), under coreutils' ``timeout`` where the host has it: ``run_command`` has no time limit."""

    def __init__(self, module):
        self._module = module
        self.path = module.get_bin_path("ssh-keygen")
        self._timeout = module.get_bin_path("timeout")

    def run(self, arguments, message_path=None, env=None, seconds=SSH_KEYGEN_TIMEOUT):
        """``ssh-keygen <arguments>`` with the file ``message_path`` (mapped, not read into memory) or nothing on its
        input, ``env`` added to its environment: an SshResult, its output as bytes."""
        command = [self.path] + arguments
        if self._timeout:
            command = [self._timeout, "--kill-after=5", str(seconds)] + command
        with mapped(message_path) if message_path else contextlib.nullcontext() as message:
            returncode, stdout, stderr = self._module.run_command(
                command, data=message, binary_data=True, environ_update=dict(env or {}, LC_ALL="C"), encoding=None)
        if self._timeout and returncode in (124, 137):  # timeout's own codes: time is up, then killed
            raise SigningError("ssh-keygen did not finish with %s within %d seconds." % (
                message_path or arguments[-1], seconds))
        return SshResult(returncode, stdout, stderr)


def ssh_check(ssh_keygen, path, signature):
    """The fingerprint of the key whose good SSHSIG (namespace SSH_NAMESPACE) of the file ``path`` ``signature`` is,
    else None (``ssh-keygen -Y check-novalidate``: whose key it is is for the caller to judge)."""
    with tempfile.TemporaryDirectory(prefix="stamus-scs-check-") as private:
        signature_file = os.path.join(private, "manifest.sig")
        with open(signature_file, "wb") as handle:
            handle.write(signature)
        done = ssh_keygen.run(["-Y", "check-novalidate", "-n", SSH_NAMESPACE, "-s", signature_file], path)
    match = GOOD_SSH_SIGNATURE_RE.search(done.stdout.decode("ascii", "replace")) if done.returncode == 0 else None
    return match.group(1) if match else None


def openssh_cipher(data):
    """The cipher name an OpenSSH private key file names (V(none) when it is not encrypted), or None when it is not
    one (format: PROTOCOL.key of OpenSSH)."""
    body = b"".join(line.strip() for line in data.strip().splitlines()[1:-1])
    try:
        blob = base64.b64decode(body, validate=True)
    except ValueError:
        return None
    magic = b"openssh-key-v1\0"
    if not blob.startswith(magic) or len(blob) < len(magic) + 4:
        return None
    length = int.from_bytes(blob[len(magic):len(magic) + 4], "big")
    name = blob[len(magic) + 4:len(magic) + 4 + length]
    return name.decode("ascii", "replace") if len(name) == length else None


def load_ssh_signer(data, path, passphrase, ssh_keygen):
    cipher = openssh_cipher(data)
    if cipher is None:
        raise SigningError("sign_key %s is not a valid OpenSSH private key. %s." % (path, KEY_FIX))
    if cipher != "none" and not passphrase:
        raise SigningError("sign_key %s is encrypted: give its passphrase in sign_key_passphrase (from a vault)." % path)
    if cipher == "none" and passphrase:
        raise SigningError(NOT_ENCRYPTED % path)
    if ssh_keygen is None or ssh_keygen.path is None:
        raise SigningError("sign_key %s is an OpenSSH key, which is signed with ssh-keygen -Y sign, but ssh-keygen "
                           "is not on the PATH of the host the module runs on: install OpenSSH's client (package "
                           "openssh-client or openssh-clients), or give an Ed25519 key in PEM "
                           "(openssl genpkey -algorithm ed25519)." % path)
    # ssh-keygen -y reads the key as -Y sign will (its passphrase, its permissions) and prints its public key.
    with askpass_env(passphrase) as env:
        done = ssh_keygen.run(["-y", "-f", path], env=env, seconds=60)
    lib = crypto()
    try:
        public_key = lib.serialization.load_ssh_public_key(done.stdout.strip()) if done.returncode == 0 else None
    except (ValueError, lib.UnsupportedAlgorithm):
        public_key = None
    if public_key is None:
        raise SigningError("ssh-keygen cannot read sign_key %s%s: %s" % (
            path, " with the sign_key_passphrase given" if passphrase else "", ssh_said(done) or "no public key"))
    return SshSigner(public_key, path, passphrase, ssh_keygen)


def load_signer(path, passphrase=None, ssh_keygen=None):
    """The signer of the key file ``path``, checked (type, passphrase) before anything is fetched; an OpenSSH key
    signs with ``ssh_keygen`` (an SshKeygen)."""
    lib = crypto()
    data = read_key_file(path)
    secret = passphrase.encode("utf-8") if passphrase else None
    if data.lstrip().startswith(OPENSSH_PRIVATE_BEGIN):
        return load_ssh_signer(data, path, passphrase, ssh_keygen)
    key = _load(lib.serialization.load_pem_private_key, data, secret, path, passphrase)
    if not isinstance(key, lib.Ed25519PrivateKey):
        raise SigningError("sign_key %s is a %s key, not an Ed25519 key. %s." % (
            path, type(key).__name__.replace("_", "").replace("PrivateKey", "") or "other", KEY_FIX))
    return Ed25519Signer(key, path)


def _load(loader, data, secret, path, passphrase):
    try:
        return loader(data, password=secret)
    except TypeError:
        # cryptography says "password was not given but the key is encrypted", or the reverse.
        if secret is None:
            raise SigningError("sign_key %s is encrypted: give its passphrase in sign_key_passphrase (from a vault)." % path) from None
        raise SigningError(NOT_ENCRYPTED % path) from None
    except (ValueError, crypto().UnsupportedAlgorithm):
        if passphrase:
            raise SigningError("sign_key %s cannot be read with the sign_key_passphrase given (wrong passphrase, or not "
                               "a supported key). %s." % (path, KEY_FIX)) from None
        raise SigningError("sign_key %s is not a private key this module can sign with. %s." % (path, KEY_FIX)) from None


def load_public_key(path):
    """An Ed25519 public key in PEM (``openssl pkey -pubout``), for evidence_verify's public_key."""
    lib = crypto()
    data = read_key_file(path, what="public_key")
    try:
        key = lib.serialization.load_pem_public_key(data)
    except (ValueError, lib.UnsupportedAlgorithm):
        raise ScsConfigError("public_key %s is not a public key in PEM. Make it from the signing key with "
                             "openssl pkey -in key.pem -pubout -out key.pub.pem." % path) from None
    if not isinstance(key, lib.Ed25519PublicKey):
        raise ScsConfigError("public_key %s is not an Ed25519 public key; manifests are signed with Ed25519 keys "
                             "(for SSH keys give allowed_signers)." % path)
    return key


def read_signature(path):
    """The bytes of a signature file (at most MAX_SIGNATURE_BYTES + 1), None when there is none; a symlink is not
    followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_SIGNATURE_BYTES + 1)


def signed_by(signer):
    """What a signed manifest records of its signature (member ``signed_by``): never the key, only its fingerprint."""
    record = {"format": signer.format, "key": signer.fingerprint}
    if signer.format == "sshsig":
        record["namespace"] = SSH_NAMESPACE
    return record


def sign_beside(signer, part_path, manifest_path, mode):
    """Sign the new manifest ``part_path`` before it is renamed to ``manifest_path``, and write its signature beside
    (atomically): a manifest never stands in its place without its signature."""
    try:
        signature = signer.sign_file(part_path)
    except OSError as err:
        raise SigningError("Cannot sign %s with sign_key %s: %s." % (manifest_path, signer.path, err.strerror or err)) from None
    atomic_write_chunks(signature_path(manifest_path), [signature], mode=mode)


def check_before_resigning(signer, manifest_path, claimed):
    """Refuse to re-sign a manifest whose signature does not verify with ``signer``'s key (``claimed``: its
    ``signed_by``), so that a changed manifest is never laundered by a later run that merges alerts into it."""
    signature = read_signature(signature_path(manifest_path))
    if signature is None and not claimed:
        return  # never signed: the run signs what it writes now
    if signature is None or not signer.verifies(manifest_path, signature):
        raise SigningError("The manifest %s %s, so it is not re-signed nor changed: it may have been tampered with. "
                           "Check the tree with the stamus.scs.verify_evidence playbook." % (
                               manifest_path, "says it is signed but has no signature" if signature is None
                               else "does not match its signature with sign_key %s" % signer.path))
