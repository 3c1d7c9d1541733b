#!/usr/bin/env bash
# Idempotent installer for what SegViz needs on Debian 12: installs only what is missing.
# Uses sudo only when not root. Safe to run repeatedly (make demo / make test call it first).
set -euo pipefail

APT_PACKAGES=(libsodium-dev libnifti-dev libgdcm-dev libopenblas-dev pkg-config zlib1g-dev libpng-dev libsqlite3-dev minisign chromium fonts-dejavu-core iproute2)
# name or name:module when the import name differs; pydicom with a JPEG 2000 decoder is the DICOM tests' oracle;
# jsonschema checks federation.schema.json against segviz's validator
PIP_PACKAGES=(nibabel safetensors numpy schemathesis jsonschema cryptography pydicom pylibjpeg pylibjpeg-openjpeg:openjpeg)

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; install manually: ${APT_PACKAGES[*]}" >&2; exit 1; fi
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "${SEGVIZ_SKIP_PIP:-0}" != 1 ]; then
  PY=${PYTHON:-python3}
  need=()
  for entry in "${PIP_PACKAGES[@]}"; do
    p=${entry%%:*}; module=${entry#*:}
    "$PY" -c "import $module" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing Python packages for interop checks: ${need[*]}"
    "$PY" -m pip install --quiet --disable-pip-version-check "${need[@]}"
  fi
  # Google's dp_accounting, the privacy accountant's oracle, in a virtual environment of its own.
  bash "$(dirname "$0")/dp-oracle-venv.sh"
fi
echo "install-deps: all dependencies present"
