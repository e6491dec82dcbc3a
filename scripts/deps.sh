#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages named as arguments that are not installed yet.
#
# Usage: deps.sh PKG...
# As root, missing packages are installed with apt-get (after one
# "apt-get update"); otherwise the command to run is printed and the exit
# status is 1.

set -eu

missing=
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || status=
	[ "$status" = installed ] || missing="$missing $pkg"
done

[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages:$missing" >&2
	echo "deps.sh: install them as root with:" >&2
	echo "  apt-get install$missing" >&2
	exit 1
fi

echo "deps.sh: installing$missing" >&2
apt-get update
# Word splitting of $missing is intended: one argument per package.
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
