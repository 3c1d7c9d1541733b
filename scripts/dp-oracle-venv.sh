#!/usr/bin/env bash
# The privacy accountant's oracle: Google's dp_accounting (PyPI) in a virtual environment of its own,
# .build-venv-dp/ beside the repository (ignored by git like every .build* folder). Idempotent: does nothing when the
# environment already imports dp_accounting. scripts/install-deps.sh calls it; PrivacyAccountantOracleTests skip
# with a printed reason when the environment is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SEGVIZ_DP_VENV:-.build-venv-dp}
PY=${PYTHON:-python3}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import dp_accounting" >/dev/null 2>&1; then
  exit 0
fi
echo "dp-oracle-venv: creating $VENV with dp-accounting from PyPI (the privacy accountant's oracle)"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "dp-accounting==0.6.0"
"$VENV/bin/python" -c "import dp_accounting; print('dp-oracle-venv: dp_accounting ready')"
