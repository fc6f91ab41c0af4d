#!/bin/sh
# Run the runner tests twice: with the default python3 (usually no numpy), and
# with Debian's /usr/bin/python3 plus its dist-packages, so numpy/pandas cases run.
set -e
cd "$(dirname "$0")/../../.."
python3 -m unittest discover -s native/runner/tests -t native/runner "$@"
if [ -x /usr/bin/python3 ]; then
  PYCAGE_TEST_EXTRA_PATH=/usr/lib/python3/dist-packages \
    /usr/bin/python3 -m unittest discover -s native/runner/tests -t native/runner "$@"
fi
