#!/usr/bin/env bash
# npm run setup: get Fashion-MNIST and the node dependencies. Idempotent: run it as often as you like.
#
# 1. Fashion-MNIST: if neither data/fashion/ nor /usr/share/datasets/fashion-mnist/ holds the four
#    files, install Debian's dataset-fashion-mnist with apt-get (as root, or through sudo).
# 2. node_modules: `npm ci` when node_modules is missing (or `npm install` when there is no lockfile).
#
# FASHION_MNIST_DIR (or --data-dir) names a folder of your own; setup does not touch it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

project_dir="$root/data/fashion"
system_dir="/usr/share/datasets/fashion-mnist"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

say() { printf 'setup: %s\n' "$*"; }

# Whether a folder holds all four files, each gzip or plain.
has_fashion() {
  local dir="$1" f
  for f in "${files[@]}"; do
    [[ -f "$dir/$f.gz" || -f "$dir/$f" ]] || return 1
  done
}

install_fashion() {
  if ! command -v apt-get >/dev/null 2>&1; then
    say "Fashion-MNIST is missing and apt-get is not available here."
    say "Put the four files (${files[*]/%/.gz}) into $project_dir, or pass --data-dir DIR / set FASHION_MNIST_DIR."
    say "(tune also tries to download them from the official mirror into $project_dir when the machine is online.)"
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "Fashion-MNIST is missing; installing Debian's dataset-fashion-mnist needs root, and sudo is not available."
      say "As root, run: apt-get update && apt-get install -y dataset-fashion-mnist"
      say "Or put the four files into $project_dir, or pass --data-dir DIR / set FASHION_MNIST_DIR."
      return 0
    fi
  fi
  say "Installing Debian's dataset-fashion-mnist (files go to $system_dir) ..."
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends dataset-fashion-mnist
  if has_fashion "$system_dir"; then
    say "Fashion-MNIST installed in $system_dir."
  else
    say "apt-get finished, but $system_dir does not hold the four files; put them into $project_dir instead." >&2
    return 1
  fi
}

if has_fashion "$project_dir"; then
  say "Fashion-MNIST found in $project_dir."
elif has_fashion "$system_dir"; then
  say "Fashion-MNIST found in $system_dir (Debian's dataset-fashion-mnist)."
else
  install_fashion
fi

if [[ ! -f package-lock.json ]]; then
  say "No package-lock.json: running npm install ..."
  npm install --no-audit --no-fund
elif [[ ! -d node_modules ]]; then
  say "node_modules is missing: running npm ci ..."
  npm ci --no-audit --no-fund
else
  say "node_modules present; skipping npm ci (delete node_modules to reinstall)."
fi

say "Done."
