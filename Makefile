# mcpx: build, test, install.
#
#   make build                   debug build (swift build)
#   make release                 release build of mcpx (Swift runtime linked in, see Package.swift) with the git commit stamped in
#   make install                 release build, then install mcpx into $(BINDIR)
#   make install PREFIX=$$HOME/.local    ... into ~/.local/bin
#   make test                    every test suite (scripts/test.sh)
#   make demo                    a real multiplexed session against two example backends
#
# PREFIX defaults to /usr/local, so mcpx lands in /usr/local/bin; BINDIR overrides the directory
# itself, DESTDIR stages the install for packaging. SWIFT_BUILD_FLAGS adds flags to every build
# (e.g. --scratch-path .build-other).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=

.PHONY: all build release install uninstall test demo clean

all: build

build:
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

# Stamp the commit, build, and always put the placeholder back (even when the build fails).
release:
	scripts/stamp-version.sh
	trap 'scripts/stamp-version.sh --restore' EXIT INT TERM; \
		$(SWIFT) build -c release --product mcpx $(SWIFT_BUILD_FLAGS)

install: release
	install -d "$(DESTDIR)$(BINDIR)"
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path $(SWIFT_BUILD_FLAGS))/mcpx" "$(DESTDIR)$(BINDIR)/mcpx"
	@echo "installed $(DESTDIR)$(BINDIR)/mcpx: $$("$(DESTDIR)$(BINDIR)/mcpx" --version)"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/mcpx"

test:
	scripts/test.sh

demo:
	scripts/demo.sh

clean:
	$(SWIFT) package clean
