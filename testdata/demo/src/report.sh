#!/bin/sh
# Prints the greeting and, with --top, the most frequent words of the build input.
set -eu
cat "${APP_HOME:-/app}/greeting.txt"
echo "running as $(id -un) in $(pwd) on $(uname -s)"
if [ "${1:-}" = "--top" ]; then
  echo "top words:"
  sed 's/^/  /' "${APP_HOME:-/app}/top-words.txt"
fi
