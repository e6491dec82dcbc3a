#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# apt-get against Debian unstable with a private configuration under a cache
# directory: its own sources list, package lists and state.  The system's
# apt sources, lists and dpkg database are never touched.  Used to fetch the
# newest upstream kernel and its linux-source package.
#
# Usage: sid-apt.sh [--cache DIR] update
#        sid-apt.sh [--cache DIR] download DEST PKG...
#        sid-apt.sh [--cache DIR] version PKG
#
# update    refresh the private package lists (also done on first use by
#           download and version, and when the lists are older than a day)
# download  put the .deb files of PKG... (names, or NAME=VERSION) in DEST
# version   print the candidate version of PKG in unstable
#
# The mirror is the one of the machine's own Debian sources (the first URI
# that serves the main archive), so no host is named here.
# Exit: 0 ok, 1 apt failure, 2 usage error (nothing run).

set -euo pipefail

PROG=${0##*/}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kvm-nested-selftests
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MAX_AGE_MIN=1440

usage() {
	sed -n 's/^# \{0,1\}//; /^Usage:/,/^Exit:/p' "$0" >&2
	exit 2
}

die() {
	echo "$PROG: $*" >&2
	exit "${2:-1}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--cache)
		[ $# -ge 2 ] && [ -n "$2" ] || usage
		CACHE=$2
		shift 2
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
CMD=$1
shift
case $CMD in
update) [ $# -eq 0 ] || usage ;;
download) [ $# -ge 2 ] && [ -n "$1" ] || usage ;;
version) [ $# -eq 1 ] && [ -n "$1" ] || usage ;;
*) usage ;;
esac

# The machine's Debian mirror: deb822 .sources files first, then one-line
# lists.  Only URIs of the main archive (not -security, not others).
system_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" |
		      grep -E '/debian/?$' | head -n 1) || true
		[ -z "$uri" ] || { echo "${uri%/}"; return 0; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f" |
		      grep -E '/debian/?$' | head -n 1) || true
		[ -z "$uri" ] || { echo "${uri%/}"; return 0; }
	done
	return 1
}

DIR=$CACHE/sid-apt
mkdir -p "$DIR" 2>/dev/null && [ -w "$DIR" ] || die "cache $DIR is not a writable directory" 2
[ -r "$KEYRING" ] || die "no $KEYRING: install debian-archive-keyring" 2
MIRROR=$(system_mirror) || die "no Debian mirror in the system's apt sources" 2

mkdir -p "$DIR/lists/partial" "$DIR/archives/partial" "$DIR/etc/preferences.d" "$DIR/etc/apt.conf.d"
printf 'deb [signed-by=%s] %s sid main\n' "$KEYRING" "$MIRROR" >"$DIR/sources.list"
: >"$DIR/status"

APT_OPTS=(
	-o "Dir::Etc::sourcelist=$DIR/sources.list"
	-o "Dir::Etc::sourceparts=-"
	-o "Dir::Etc::preferencesparts=$DIR/etc/preferences.d"
	-o "Dir::Etc::parts=$DIR/etc/apt.conf.d"
	-o "Dir::State::Lists=$DIR/lists"
	-o "Dir::State::status=$DIR/status"
	-o "Dir::Cache=$DIR/cache"
	-o "Dir::Cache::archives=$DIR/archives"
	-o "APT::Get::List-Cleanup=0"
	-o "Debug::NoLocking=1"
	-o "APT::Sandbox::User=root"
)

sid_update() {
	echo "$PROG: updating the private unstable package lists in $DIR" >&2
	mkdir -p "$DIR/cache"
	apt-get "${APT_OPTS[@]}" -q update >&2 || die "apt-get update (unstable) failed"
	touch "$DIR/updated"
}

lists_fresh() {
	[ -f "$DIR/updated" ] && [ -z "$(find "$DIR/updated" -mmin +"$MAX_AGE_MIN")" ]
}

case $CMD in
update)
	sid_update
	;;
download)
	dest=$1
	shift
	mkdir -p "$dest" 2>/dev/null && [ -w "$dest" ] || die "$dest is not a writable directory" 2
	lists_fresh || sid_update
	(cd "$dest" && apt-get "${APT_OPTS[@]}" -q download "$@") >&2 ||
		die "apt-get download $* (unstable) failed"
	;;
version)
	lists_fresh || sid_update
	v=$(apt-cache "${APT_OPTS[@]}" policy "$1" | awk '$1 == "Candidate:" { print $2 }')
	[ -n "$v" ] && [ "$v" != "(none)" ] || die "$1: not in unstable"
	echo "$v"
	;;
esac
