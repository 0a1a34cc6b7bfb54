"""Offline stand-in for ansible-test's get-pip bootstrap script.

ansible-test (core 2.19) bootstraps pip into each sanity/units venv by running
~/.ansible/test/cache/get_pip_24_2.py, which it otherwise downloads from
ci-files.testing.ansible.com (unreachable here). tools/sanity.sh copies this
file there. Like get-pip.py, it takes pip-install arguments
(e.g. `--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel`):
it seeds pip from the interpreter's bundled wheels (ensurepip), then lets that
pip install the requested packages from PyPI.
"""

import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    python = [sys.executable, '-m']
    subprocess.check_call(python + ['ensurepip', '--upgrade'], stdout=subprocess.DEVNULL)
    subprocess.check_call(python + ['pip', 'install'] + args)
    if '--no-setuptools' in sys.argv:
        # ensurepip on Python < 3.12 also installs setuptools; get-pip would not.
        subprocess.check_call(python + ['pip', 'uninstall', '-y', '-q', 'setuptools'])


if __name__ == '__main__':
    main()
