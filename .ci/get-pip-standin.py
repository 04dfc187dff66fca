"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test creates its sanity-test virtual environments without pip and then runs a
get-pip.py fetched from a host outside the package registries reachable here. `.ci/sanity`
caches this file in its place. Like get-pip.py it takes `pip install` arguments (plus the
get-pip-only flags --no-setuptools and --no-wheel); it installs the bundled pip with
ensurepip and then the requested packages (the pinned pip among them) from the package
index.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", *args])


if __name__ == "__main__":
    main()
