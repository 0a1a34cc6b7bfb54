"""Where the tests (and `make lint`) find this checkout as the collection ``stamus.scs``.

Ansible loads a collection from ``<root>/ansible_collections/<namespace>/<name>``. The root is a private directory
under the system temp dir (one per user and checkout), outside the checkout, so that a test run leaves ``git status``
as it found it. Run as a script, it prints the root (the Makefile sets ANSIBLE_COLLECTIONS_PATH from it).
"""

import hashlib
import os
import stat
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collections_dir():
    """The root directory, with ``ansible_collections/stamus/scs`` linked to this checkout (made or fixed here)."""
    private = os.path.join(tempfile.gettempdir(), "stamus-scs-%d" % os.getuid())
    os.makedirs(private, mode=0o700, exist_ok=True)
    info = os.lstat(private)
    # Another user could have made the shared temp dir's entry first and point our collection elsewhere.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError("%s must be a directory of user %d with mode 0700: remove it" % (private, os.getuid()))
    root = os.path.join(private, hashlib.sha256(REPO.encode()).hexdigest()[:12])
    link = os.path.join(root, "ansible_collections", "stamus", "scs")
    if not (os.path.islink(link) and os.readlink(link) == REPO):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        # A new link renamed over the old one: pytest-xdist workers may get here at the same time.
        staged = "%s.%d" % (link, os.getpid())
        os.symlink(REPO, staged)
        os.replace(staged, link)
    return root


if __name__ == "__main__":
    sys.stdout.write(collections_dir() + "\n")
