#!/bin/sh
# Installs what building and testing need on a Debian 12 machine, skipping
# whatever is already there:
#   - a Go toolchain >= 1.21 (Debian's is 1.19): fetched from the Go module
#     proxy as the official toolchain module, exactly as GOTOOLCHAIN would;
#   - for the tests: Debian's proton (python3-qpid-proton for
#     /usr/bin/python3, libqpid-proton11-dev-examples), shellcheck, xmllint,
#     ocf-tester, pcs and Pacemaker's command-line tools, promtool (no daemon
#     started).
# Usage: scripts/setup.sh [build|test]   (default: test)
set -eu

need=${1:-test}
GO_VERSION=1.23.12

go_ok() {
	command -v go >/dev/null 2>&1 || return 1
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
	major=${v%%.*}; rest=${v#*.}; minor=${rest%%.*}
	[ "$major" -gt 1 ] || [ "$minor" -ge 21 ]
}

if ! go_ok; then
	dest=/usr/local/go
	[ -w /usr/local ] || dest="$HOME/.local/go"
	echo "setup: installing Go $GO_VERSION into $dest (from the Go module proxy)"
	tmp=$(mktemp -d)
	url="${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip"
	command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl unzip; }
	command -v unzip >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq unzip; }
	curl -fsSL "$url" -o "$tmp/go.zip"
	unzip -q "$tmp/go.zip" -d "$tmp"
	rm -rf "$dest"
	mkdir -p "$(dirname "$dest")"
	mv "$tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" "$dest"
	chmod -R u+w "$dest"
	rm -rf "$tmp"
	echo "setup: add $dest/bin to PATH (export PATH=$dest/bin:\$PATH)"
fi

[ "$need" = build ] && exit 0

# The tests' packages: proton (python3 client and example programs), and the
# tools the agent, script and generator tests run: shellcheck, xmllint,
# ocf-tester (resource-agents), pcs and the Pacemaker command-line tools;
# file and objdump (binutils), which check that the binaries are static;
# groff, which checks the manual pages; systemd-analyze, which checks the unit;
# debhelper and rpm, which build the packages (make packages), lintian and
# rpmlint, which check them; vagrant, which validates the Vagrantfile;
# prometheus, whose promtool checks the example alerting rules.
missing=""
for pkg in python3-qpid-proton libqpid-proton11-dev-examples shellcheck libxml2-utils \
	resource-agents pcs pacemaker-cli-utils file binutils groff-base systemd debhelper lintian rpm rpmlint \
	vagrant prometheus; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	# pcs and pacemaker would start their daemons on install: a temporary
	# policy-rc.d forbids it where none is in place.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# qpidha setup: no service starts while installing test tools\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod 755 "$policy"
		trap '$SUDO rm -f "$policy"' EXIT
	fi
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
