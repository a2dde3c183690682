#!/usr/bin/env bash
# Set up drumtimbre on a fresh Debian machine:
#   - Debian packages: PortAudio, libsndfile, the Debian drum kits, GM SoundFonts and Sonic Pi's
#     samples (training data),
#     and the real components the realtime tests use (JACK, liblo, Pure Data, SuperCollider);
#   - a virtual environment in .venv with drumtimbre and its [train,dev] extras;
#   - timbral_models 0.4.0 (--no-deps: its metadata names the dead 'sklearn').
# Idempotent: a second run installs nothing new.  PYTHON=python3.x picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-venv libportaudio2 libsndfile1 hydrogen-drumkits hydrogen-data lmms-common
          fluid-soundfont-gm timgm6mb-soundfont avldrums.lv2-soundfont freepats sonic-pi-samples
          jackd2 sndfile-tools liblo-tools puredata-core
          supercollider-language supercollider-server)
if [ -f scripts/realtime-system-packages.txt ]; then
    while read -r p; do [[ -n "$p" && "$p" != \#* ]] && packages+=("$p"); done < scripts/realtime-system-packages.txt
fi
if command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        echo "setup: installing Debian packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
else
    echo "setup: not a Debian system; install PortAudio and libsndfile yourself" >&2
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[train,dev]"
.venv/bin/python -m pip install -q --no-deps "timbral_models==0.4.0"
# The README's example recording: a 16 s drum loop rendered from an installed Debian kit (or, without one,
# from drumtimbre's own synthesiser), with its true onsets in examples/loop.txt.  Rendered here, never
# committed: the kits' audio belongs to their authors.
[ -f examples/loop.flac ] || .venv/bin/python -m realtime.loops examples/loop.flac --style mixed --bpm 110 --seconds 16
echo "setup: done. Try: .venv/bin/drumtimbre --help"
