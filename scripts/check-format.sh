#!/usr/bin/env bash
# Checks that every tracked C/C++ file is formatted as .clang-format says (Debian's clang-format,
# from scripts/install-deps.sh). Prints the offending files and fails; changes nothing.
# Fix with: git ls-files -z -- <the same patterns> | xargs -0 clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
if ! command -v "$CLANG_FORMAT" >/dev/null; then
  echo "check-format: $CLANG_FORMAT not found (Debian: apt-get install clang-format)" >&2
  exit 1
fi
# vendor/ holds generated and third-party files, formatted by their authors.
mapfile -d '' files < <(git ls-files -z -- '*.c' '*.cc' '*.h' ':!:vendor/**')
"$CLANG_FORMAT" --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted as .clang-format says"
