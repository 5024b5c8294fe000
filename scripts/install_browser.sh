#!/usr/bin/env bash
# What `make test` and `make pdf` need outside Python, from Debian's apt, system-wide:
#   chromium       the browser Playwright drives (no browser download): opens the report and deck offline in
#                  the tests, takes the slide screenshots, prints reports/report.pdf;
#   poppler-utils  pdftoppm, with which a test turns the PDF's pages into PNGs to check them.
# Idempotent and silent when both are there. Says what it installs and why before it does. Never fails the
# build: when it cannot install (not root and no password-less sudo, no apt), it says so and exits 0, and the
# tests that need them skip themselves.
set -u

missing=()
have_browser=""
for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$candidate" >/dev/null 2>&1; then
        have_browser="$candidate"
        break
    fi
done
[ -n "$have_browser" ] || missing+=(chromium fonts-dejavu-core)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install_browser: the browser tests and 'make pdf' need ${missing[*]} (Debian packages, installed system-wide with apt-get;"
echo "install_browser: Chromium shows the exported pages offline and prints the PDF, pdftoppm reads the PDF back)."

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no apt-get here; install ${missing[*]} yourself (the tests that need them skip)." >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install_browser: not root and no password-less sudo; not installing (the tests that need them skip)." >&2
        echo "install_browser: to install them yourself: sudo apt-get install ${missing[*]}" >&2
        exit 0
    fi
fi

echo "install_browser: running: ${SUDO:+$SUDO }apt-get install ${missing[*]} (one time; remove with apt-get remove)"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
if $SUDO apt-get update -qq >"$log" 2>&1 \
    && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    echo "install_browser: installed ${missing[*]}"
else
    tail -n 5 "$log" >&2
    echo "install_browser: apt-get could not install ${missing[*]}; the tests that need them skip." >&2
fi
rm -f "$log"
exit 0
