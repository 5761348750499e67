#!/usr/bin/env bash
# Prepares a machine to build and test f8net; safe to run again (each step checks first).
#   1. npm dependencies (npm ci when node_modules is missing or older than package-lock.json)
#   2. a WebGPU adapter for Dawn: probed with scripts/probe-adapter.mjs; only when there is none,
#      and only on Debian 12/13, installs Mesa >= 24 lavapipe (software Vulkan) through apt.
#      Debian 12's own Mesa 22 is rejected by Dawn, so bookworm takes Mesa from bookworm-backports.
#   3. Debian's chromium for the browser tests, when missing (no browser download)
#   4. npm run build, if package.json has a build script (also the browser bundle and page)
# Run as root from anywhere:  bash scripts/setup.sh
# F8NET_BACKEND=vulkan|metal|d3d12|... picks Dawn's backend for the probe (as for f8net itself).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# --- node -----------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found; install Node.js >= 20 (Debian 13: apt-get install nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old; f8net needs Node.js >= 20"

# --- npm dependencies -----------------------------------------------------------------------
# onnxruntime-node ships its CPU binaries in the package; its install script would only fetch
# the CUDA provider (hundreds of MB). npm has no project setting for that flag (an .npmrc key
# gives "Unknown project config"), so it goes as the variable the script itself reads.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
if [ -f package-lock.json ]; then
  # npm writes node_modules/.package-lock.json on every install: it dates the installed tree.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund
  else
    say "npm dependencies up to date"
  fi
elif [ ! -d node_modules ]; then
  say "no package-lock.json; installing npm dependencies (npm install)"
  npm install --no-audit --no-fund
else
  say "node_modules present, no package-lock.json; skipping npm install"
fi

# --- WebGPU adapter -------------------------------------------------------------------------
probe_out=$(mktemp)
trap 'rm -f "$probe_out"' EXIT

probe() { node scripts/probe-adapter.mjs >"$probe_out" 2>&1; }
# The probe's stdout line is its last line; Dawn may print warnings before it.
probe_line() { grep -v '^Warning:' "$probe_out" | tail -n 1; }

install_lavapipe() {
  # shellcheck disable=SC1091
  . /etc/os-release
  if [ "${ID:-}" != debian ]; then
    echo "setup: no WebGPU adapter found ($(probe_line))." >&2
    echo "setup: install a Vulkan, Metal or D3D12 driver for your GPU, or Mesa lavapipe >= 24" >&2
    echo "setup: (software Vulkan, e.g. mesa-vulkan-drivers + libvulkan1), then run this again." >&2
    exit 1
  fi
  [ "$(id -u)" -eq 0 ] || die "no WebGPU adapter; installing Mesa lavapipe needs root (run: sudo bash scripts/setup.sh)"
  export DEBIAN_FRONTEND=noninteractive
  case "${VERSION_CODENAME:-}" in
    bookworm)
      if ! grep -Eqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
        say "adding the bookworm-backports apt source (Mesa 25; bookworm's Mesa 22 is too old for Dawn)"
        cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
      fi
      say "installing Mesa lavapipe from bookworm-backports"
      apt-get update -qq
      apt-get install -y -qq -t bookworm-backports libvulkan1 mesa-vulkan-drivers
      ;;
    trixie)
      say "installing Mesa lavapipe"
      apt-get update -qq
      apt-get install -y -qq libvulkan1 mesa-vulkan-drivers
      ;;
    *)
      die "no WebGPU adapter, and Debian '${VERSION_CODENAME:-unknown}' is not one this script knows (bookworm, trixie); install Mesa lavapipe >= 24 (mesa-vulkan-drivers, libvulkan1) or a GPU Vulkan driver"
      ;;
  esac
}

say "probing for a WebGPU adapter${F8NET_BACKEND:+ (backend=$F8NET_BACKEND)}"
if probe; then
  say "adapter: $(probe_line)"
else
  say "no adapter: $(probe_line)"
  install_lavapipe
  if probe; then
    say "adapter: $(probe_line)"
  else
    cat "$probe_out" >&2
    die "still no WebGPU adapter after installing Mesa lavapipe; check 'vulkaninfo --summary' (package vulkan-tools) and that Mesa is >= 24"
  fi
fi

# --- Chromium (the browser tests, test/browser) ----------------------------------------------
# Debian's chromium, driven by puppeteer-core: no browser download. Only when missing, and only
# as root on Debian; elsewhere the browser tests skip (CI=true makes them fail instead).
chromium_bin=${F8NET_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium_bin" ]; then
  say "chromium: $chromium_bin"
elif [ "$(id -u)" -eq 0 ] && grep -qs '^ID=debian' /etc/os-release; then
  say "installing chromium (for the browser tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
else
  say "chromium not found at $chromium_bin; the browser tests will skip (on Debian as root this script installs it)"
fi

# --- build ----------------------------------------------------------------------------------
if node -e 'const p=JSON.parse(require("fs").readFileSync("package.json","utf8"));process.exit(p.scripts&&p.scripts.build?0:1)'; then
  say "building (npm run build)"
  npm run build
else
  say "no build script in package.json; skipping build"
fi

say "done"
