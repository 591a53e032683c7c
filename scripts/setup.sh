#!/usr/bin/env bash
# Checks that this machine can build Flotilla: the Debian packages named as arguments (the
# Makefile's APT_PACKAGES) and cargo with rustfmt and clippy. As root, installs the missing
# packages, running `apt-get update` only when something must be installed; otherwise names them
# and fails. Prints one line when all is well.
set -euo pipefail

missing=()
if command -v dpkg >/dev/null 2>&1; then
    for pkg in "$@"; do
        # `dpkg -s` also succeeds for a removed package whose config files remain, so read the
        # status rather than the exit code.
        if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed$'; then
            missing+=("$pkg")
        fi
    done
else
    echo "setup: no dpkg here, so packages are not checked; the build needs: $*" >&2
fi

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "setup: missing system packages: ${missing[*]}" >&2
        echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install the Rust toolchain (rustup) and put ~/.cargo/bin on PATH" >&2
    exit 1
fi
for component in fmt clippy; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
        echo "setup: cargo $component not found; add it with: rustup component add" \
            "$([[ $component == fmt ]] && echo rustfmt || echo clippy)" >&2
        exit 1
    fi
done

echo "setup: ok ($(cargo --version | cut -d' ' -f1-2); packages: ${*:-none})"
