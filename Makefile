# prestart - see README.md
.DELETE_ON_ERROR:
.SUFFIXES:

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= /usr/bin/python3
BUILD ?= build
# the binary built; a sanitizer build names its own so ./prestart stays usable
BIN ?= prestart

PKGS := libpq sqlite3 libcurl inih
WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings \
	-Wvla -Wformat=2 -Wshadow -Wno-format-nonliteral
STD := -std=c11 -D_POSIX_C_SOURCE=200809L
CFLAGS ?= -O2 -g
PS_CFLAGS := $(STD) $(WARN) -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) \
	-MMD -MP -pthread
# PostgreSQL's parser (libpg_query, PostgreSQL 15 grammar, protobuf-c inside):
# Debian ships no .pc file; its archive is linked into every build, so the
# dynamic binary needs no library the runtime image lacks.
PGQUERY_LIBS := -l:libpg_query.a
PS_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) $(PGQUERY_LIBS) -pthread

ifeq ($(CI),true)
PS_CFLAGS += -Werror
endif
ifdef SANITIZE
PS_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
PS_LIBS += -fsanitize=$(SANITIZE)
endif

# a module of several files with a private header may be a folder of its
# own (src/graph/): its objects go to the same folder under each build tree
SRCS := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)

all: $(BIN)

# What `prestart version` reports (src/buildinfo.c): VERSION (default: the
# one in util.h), the commit, and the commit's date as the build date. Only
# buildinfo.o is compiled with them, and only rebuilt when they change.
# SOURCE_DATE_EPOCH (the commit's time unless set) goes to every compiler.
VERSION ?= $(shell sed -n 's/^\#define PRESTART_VERSION "\(.*\)"/\1/p' include/prestart/util.h)
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
# GCC refuses an empty one (a tree without git: the image's builder)
ifneq ($(SOURCE_DATE_EPOCH),)
export SOURCE_DATE_EPOCH
endif
BUILD_DATE := $(if $(SOURCE_DATE_EPOCH),$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ),unknown)
BUILDINFO_DEFS := -DPRESTART_VERSION='"$(VERSION)"' -DPRESTART_COMMIT='"$(GIT_COMMIT)"' \
	-DPRESTART_BUILD_DATE='"$(BUILD_DATE)"'
BUILDINFO_STAMP := build/buildinfo.defs

$(BUILDINFO_STAMP): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(subst ',,$(BUILDINFO_DEFS)) >$@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

%/src/buildinfo.o: override CFLAGS += $(BUILDINFO_DEFS)

FORCE:
.PHONY: FORCE

$(BIN): $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(PS_LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(PS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(PS_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(PS_LIBS) -lcmocka

# driver for the graph oracle test (tests/integration/test_graph_oracle.py)
$(BUILD)/tests/tools/graphtool: tests/tools/graphtool.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(PS_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(PS_LIBS)

# One area (tests/README.md): `make unit T=graph` builds and runs only
# tests/unit/test_graph; `make integration K=lock` runs the files
# tests/integration/test_lock*.py (a file pattern, not pytest -k: that is
# PYTEST_ARGS="-k NAME").
UNIT_RUN := $(if $(T),$(filter %/test_$(T),$(UNIT_BINS)),$(UNIT_BINS))
INTEGRATION_RUN := $(if $(K),$(wildcard tests/integration/test_$(K)*.py),tests/integration)

unit: $(UNIT_RUN)
	@test -n "$(UNIT_RUN)" || { echo "unit: no tests/unit/test_$(T).c"; exit 2; }
	@set -e; for t in $(UNIT_RUN); do echo "== $$t"; $$t; done

integration: $(BIN)
	@test -n "$(INTEGRATION_RUN)" || { echo "integration: no tests/integration/test_$(K)*.py"; exit 2; }
	PRESTART_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q -p no:cacheprovider $(INTEGRATION_RUN) $(PYTEST_ARGS)

# `make test` and `make demo` are the README's first commands on a fresh
# machine: they make sure the packages are there first.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

# The full-size variants of the randomised tests, which read PRESTART_LONG=1
# (test_crash.py: 50 kills per engine; test_alembic_differential.py: 5000 graphs
# unless PRESTART_DIFF_GRAPHS says otherwise; test_compile_differential.py:
# 60 graphs per engine).  Not part of `make test`.
test-long:
	@PRESTART_LONG=1 PRESTART_DIFF_GRAPHS=$${PRESTART_DIFF_GRAPHS:-5000} \
	  $(MAKE) --no-print-directory test

demo:
	@$(MAKE) --no-print-directory deps prestart
	@rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	cd $(BUILD)/demo && DATABASE_URL=sqlite:///demo.db \
	  ../../prestart --dir ../../docker/demo/migrations run -- \
	  sqlite3 demo.db "SELECT 'version: ' || group_concat(version_num, ',') FROM alembic_version;" ".tables"

# Benchmarks against Alembic, dbmate and the physical limit (tests/bench/,
# docs/performance.md): not part of `make test`.  BENCH_QUICK=1 for a short
# smoke run; BENCH_ARGS=--update-docs writes the table into docs/performance.md.
BENCH_LIMITS := $(BUILD)/bench/limit-pg $(BUILD)/bench/limit-sqlite $(BUILD)/bench/readall

$(BUILD)/bench/limit-pg: tests/bench/limit.c
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(CFLAGS) -DLIMIT_PG $(shell $(PKG_CONFIG) --cflags libpq) \
	  -o $@ $< $(shell $(PKG_CONFIG) --libs libpq)

$(BUILD)/bench/limit-sqlite: tests/bench/limit.c
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(CFLAGS) -DLIMIT_SQLITE $(shell $(PKG_CONFIG) --cflags sqlite3) \
	  -o $@ $< $(shell $(PKG_CONFIG) --libs sqlite3)

$(BUILD)/bench/readall: tests/bench/readall.c
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(CFLAGS) -pthread -o $@ $<

bench:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory prestart static $(BENCH_LIMITS)
	$(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

.PHONY: bench

MANDIR ?= $(PREFIX)/share/man

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/prestart
	install -m 644 docs/prestart.1 $(DESTDIR)$(MANDIR)/man1/prestart.1

DEB_PKGS := build-essential pkg-config libpq-dev libsqlite3-dev libcurl4-openssl-dev \
	libinih-dev libcmocka-dev postgresql postgresql-client sqlite3 python3-pytest \
	alembic python3-psycopg2 python3-sqlalchemy ca-certificates clang libclang-rt-14-dev \
	pgbouncer nftables libpg-query-dev libprotobuf-c-dev man-db

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

clean:
	rm -rf $(BUILD) prestart

.PHONY: all unit integration test test-long demo install deps clean

# ---- hardening: libFuzzer targets and the sanitized suite ----------------
# Each tests/fuzz/fuzz_<name>.c is one libFuzzer target over the library,
# built with clang in its own tree; corpus seeds live in
# tests/fuzz/corpus/<name>/ and what the fuzzer adds goes to
# $(FUZZ_BUILD)/corpus/<name>/, so the tree stays clean.
FUZZ_CC ?= clang
FUZZ_BUILD ?= build/fuzz
FUZZ_TIME ?= 60
FUZZ_SMOKE_TIME ?= 20
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -O1 -g
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(PS_CFLAGS) $(FUZZ_FLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(PS_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(PS_LIBS)

fuzz-build: $(FUZZ_BINS)

# One run per target; a crash stops make and leaves the input in $(FUZZ_BUILD).
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_BUILD)/crashes/$$t; mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes/$$t; \
	  log=$(FUZZ_BUILD)/fuzz_$$t.log; \
	  ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) \
	    -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t/ \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$$log 2>&1 || true; \
	  echo "fuzz $$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) runs in $(FUZZ_TIME)s"; \
	  if [ -n "$$(ls -A $(FUZZ_BUILD)/crashes/$$t)" ]; then \
	    tail -n 40 $$log; echo "fuzz $$t: failing input in $(FUZZ_BUILD)/crashes/$$t"; exit 1; fi; \
	done

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_SMOKE_TIME)

# The randomised differential tests against Alembic run Python for most of
# their time and the same C paths as the rest of the suite: `make test` runs
# them with the development build, and the sanitizer and static suites
# leave them out to keep CI within its time.
DIFFERENTIAL_TESTS := --ignore=tests/integration/test_alembic_differential.py \
	--ignore=tests/integration/test_compile_differential.py

# The whole suite under ASan+UBSan in build/asan (less the differential
# tests above).  Reports go to log files as well as changing the exit
# status, so a report from a child whose status no test looks at still
# fails the run.  The peak-RSS test is left out: under ASan the resident
# set is mostly shadow memory.
ASAN_BUILD ?= build/asan
ASAN_LOGS = $(abspath $(ASAN_BUILD))/logs
test-asan:
	@$(MAKE) --no-print-directory deps
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@ASAN_OPTIONS=detect_leaks=1:exitcode=86:log_path=$(ASAN_LOGS)/asan \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87:log_path=$(ASAN_LOGS)/ubsan \
	 GRAPHTOOL_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	 $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) BIN=$(ASAN_BUILD)/prestart \
	   SANITIZE=address,undefined CFLAGS="-O1 -g" unit integration \
	   PYTEST_ARGS="$(PYTEST_ARGS) $(DIFFERENTIAL_TESTS) --deselect tests/integration/test_ship.py::test_memory_limit_covers_measured_peak_rss"; \
	 st=$$?; if ls $(ASAN_LOGS)/* >/dev/null 2>&1; then cat $(ASAN_LOGS)/*; \
	   echo "test-asan: sanitizer reports above"; exit 1; fi; exit $$st

.PHONY: fuzz fuzz-build fuzz-smoke test-asan

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_BINS:=.d)

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)

# ---- static binary: make static, make test-static ------------------------
# $(STATIC_BIN) is a fully static x86_64 prestart (glibc static). Debian's
# libpq.a and libcurl.a need Kerberos/LDAP archives Debian does not ship, so
# scripts/static-deps.sh rebuilds both from Debian's source packages into
# $(DEPS_BUILD)/prefix, once: later runs only compile and link prestart.
# OpenSSL, zlib, SQLite and inih are the archives of Debian's -dev packages.
DEB_PKGS += python3-yaml file time dpkg-dev bzip2 xz-utils libssl-dev zlib1g-dev
STATIC_BUILD ?= build/static
DEPS_BUILD ?= build/deps
# a cross build (make release, make static-arm64) names the GNU triplet:
# its libraries go to $(DEPS_BUILD)/TRIPLET/prefix, from the same sources
STATIC_TRIPLET ?=
STATIC_PREFIX := $(DEPS_BUILD)$(if $(STATIC_TRIPLET),/$(STATIC_TRIPLET))/prefix
STATIC_BIN := $(STATIC_BUILD)/prestart
STATIC_APP := $(STATIC_BUILD)/chroot-app
STATIC_OBJS := $(SRCS:%.c=$(STATIC_BUILD)/%.o)
STATIC_ARCHIVES := $(addprefix $(STATIC_PREFIX)/lib/,libpq.a libpgcommon_shlib.a \
	libpgport_shlib.a libcurl.a)
# No build path in the binary: the same commit links to the same bytes in
# any checkout (make test-repro).
STATIC_CFLAGS := -I$(STATIC_PREFIX)/include -DCURL_STATICLIB $(PS_CFLAGS) \
	-ffunction-sections -fdata-sections -ffile-prefix-map=$(CURDIR)=.
STATIC_LIBS := $(STATIC_ARCHIVES) $(PGQUERY_LIBS) -lsqlite3 -linih -lssl -lcrypto -lz -lm -ldl -pthread

static-deps:
	@scripts/static-deps.sh $(DEPS_BUILD) $(STATIC_TRIPLET)

static: static-deps
	@$(MAKE) --no-print-directory $(STATIC_BIN)
	@file $(STATIC_BIN) | grep -q 'statically linked' \
	  || { echo "static: $(STATIC_BIN) is not statically linked"; exit 1; }
	@echo "static: $(STATIC_BIN) $$(stat -c %s $(STATIC_BIN)) bytes, statically linked"

$(STATIC_BUILD)/src/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(STATIC_CFLAGS) $(CFLAGS) -c -o $@ $<

# the link map lists every archive member linked in: the SBOM reads it
$(STATIC_BIN): $(STATIC_OBJS) $(STATIC_ARCHIVES)
	$(CC) -static -s -Wl,--gc-sections -Wl,-Map=$@.map $(CFLAGS) $(LDFLAGS) \
	  -o $@ $(STATIC_OBJS) $(STATIC_LIBS)

# the program the chroot test execs: static too, the chroot has no libc
$(STATIC_APP): tests/static/app.c
	@mkdir -p $(@D)
	$(CC) -static -s $(STD) $(WARN) $(filter -Werror,$(PS_CFLAGS)) $(CFLAGS) -o $@ $<

test-static: static
	@$(MAKE) --no-print-directory $(STATIC_APP)
	PRESTART_BIN=$(abspath $(STATIC_BIN)) PRESTART_STATIC_APP=$(abspath $(STATIC_APP)) \
	  PRESTART_REQUIRE_STATIC=1 $(PYTHON) -m pytest -q -p no:cacheprovider \
	  tests/integration $(DIFFERENTIAL_TESTS) $(PYTEST_ARGS)

.PHONY: static static-deps test-static

-include $(STATIC_OBJS:.o=.d)

# ---- containers: make image, make test-containers ------------------------
# podman, buildah, mmdebstrap and podman-compose from Debian, no registry:
# the debian:12 base is made locally with mmdebstrap from this machine's apt
# sources (tests/containers/base.sh), the compose file's postgres and python
# images are stand-ins built on it (tests/containers/postgres, python), and
# the Alembic example's two images come from docker/alembic-app.Dockerfile. The
# settings these machines need (vfs, cgroupfs, runc, ulimits) are files in
# $(CTR_BUILD) that only these targets point podman at: the machine's
# /etc/containers stays as it is, and images go to podman's default store.
# The Kubernetes schema checks use npm's packages pinned in tests/k8s.
CTR_BUILD ?= build/containers
K8S_BUILD ?= build/k8s
CTR_DEB_PKGS := podman buildah runc mmdebstrap podman-compose uidmap slirp4netns \
	netavark aardvark-dns iptables catatonit
PODMAN_ENV := CONTAINERS_CONF=$(abspath $(CTR_BUILD))/containers.conf \
	CONTAINERS_STORAGE_CONF=$(abspath $(CTR_BUILD))/storage.conf CTR_BUILD=$(CTR_BUILD)

# `make deps` stays lean: the container packages come with deps-containers.
# Node.js and npm are the machine's (or Debian's when there are none).
deps-containers:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(CTR_DEB_PKGS)"
	@command -v npm >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm; }

$(CTR_BUILD)/containers.conf $(CTR_BUILD)/storage.conf &: tests/containers/podman-conf.sh
	@tests/containers/podman-conf.sh $(CTR_BUILD)

# and the release's index localhost/prestart:VERSION: one scratch image per
# platform from dist/ (docker/release.Dockerfile).  Where the kernel lets
# it, binfmt_misc hands arm64 binaries to qemu-user-static, so that
# `podman run --platform linux/arm64` runs the arm64 image.
image: deps-containers $(CTR_BUILD)/containers.conf
	@$(PODMAN_ENV) tests/containers/images.sh base
	@$(PODMAN_ENV) tests/containers/images.sh prestart
	@$(MAKE) --no-print-directory release
	@$(PODMAN_ENV) tests/containers/images.sh release $(VERSION) $(DIST)
	@tests/containers/binfmt.sh
	@$(PODMAN_ENV) podman image inspect --format \
	  'image: localhost/prestart:latest {{.Size}} bytes, user {{.User}}' localhost/prestart:latest

$(K8S_BUILD)/node_modules/.package-lock.json: tests/k8s/package.json tests/k8s/package-lock.json
	@mkdir -p $(K8S_BUILD)
	cp tests/k8s/package.json tests/k8s/package-lock.json $(K8S_BUILD)/
	cd $(K8S_BUILD) && npm ci --no-audit --no-fund --loglevel=error

test-containers: image $(K8S_BUILD)/node_modules/.package-lock.json
	@$(PODMAN_ENV) tests/containers/images.sh standins
	@$(PODMAN_ENV) tests/containers/images.sh alembic
	$(PODMAN_ENV) PRESTART_K8S_MODULES=$(abspath $(K8S_BUILD))/node_modules \
	  VERSION=$(VERSION) DIST=$(abspath $(DIST)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/containers tests/k8s $(PYTEST_ARGS)

.PHONY: deps-containers image test-containers

# ---- release: make release, make test-arm64, make test-repro -------------
# dist/ holds prestart-VERSION-linux-amd64 (the binary of `make static`) and
# -linux-arm64 (the same build with Debian's cross compiler, arm64 archives
# and libpq/libcurl cross-built by scripts/static-deps.sh), SHA256SUMS and
# the SPDX SBOM scripts/sbom.py writes from the two link maps.  The arm64
# binary is tested under qemu-user (make test-arm64); docs/install.md.
DIST ?= dist
RELEASE_MAX_BYTES := 10000000
ARM64_TRIPLET := aarch64-linux-gnu
ARM64_BUILD ?= build/static-arm64
ARM64_BIN := $(ARM64_BUILD)/prestart
ARM64_MAKE := CC=$(ARM64_TRIPLET)-gcc STATIC_TRIPLET=$(ARM64_TRIPLET) STATIC_BUILD=$(ARM64_BUILD) \
	PKG_CONFIG="PKG_CONFIG_LIBDIR=/usr/lib/$(ARM64_TRIPLET)/pkgconfig pkg-config"
RELEASE_DEB_PKGS := gcc-$(ARM64_TRIPLET) libc6-dev-arm64-cross libssl-dev:arm64 zlib1g-dev:arm64 \
	libsqlite3-dev:arm64 libinih-dev:arm64 libpg-query-dev:arm64 qemu-user-static binfmt-support
RELEASE_FILES := $(DIST)/prestart-$(VERSION)-linux-amd64 $(DIST)/prestart-$(VERSION)-linux-arm64

# Debian's arm64 archives sit beside the amd64 ones (multiarch)
deps-release:
	@$(MAKE) --no-print-directory deps
	@dpkg --print-foreign-architectures | grep -qx arm64 || { \
	  echo "dpkg --add-architecture arm64"; dpkg --add-architecture arm64; \
	  apt-get update -q >/dev/null; }
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(RELEASE_DEB_PKGS)"

static-arm64: deps-release
	@$(MAKE) --no-print-directory static $(ARM64_MAKE)

release: deps-release
	@$(MAKE) --no-print-directory static
	@$(MAKE) --no-print-directory static $(ARM64_MAKE)
	@rm -rf $(DIST) && mkdir -p $(DIST)
	cp $(STATIC_BIN) $(DIST)/prestart-$(VERSION)-linux-amd64
	cp $(ARM64_BIN) $(DIST)/prestart-$(VERSION)-linux-arm64
	@for f in $(RELEASE_FILES); do size=$$(stat -c %s $$f); \
	  echo "release: $$f $$size bytes"; \
	  [ $$size -le $(RELEASE_MAX_BYTES) ] || { echo "release: $$f is over 10 MB"; exit 1; }; done
	$(PYTHON) scripts/sbom.py $(VERSION) $(DIST)/prestart-$(VERSION).spdx.json \
	  $(DIST)/prestart-$(VERSION)-linux-amd64:amd64:$(STATIC_BIN).map:$(STATIC_PREFIX) \
	  $(DIST)/prestart-$(VERSION)-linux-arm64:arm64:$(ARM64_BIN).map:$(DEPS_BUILD)/$(ARM64_TRIPLET)/prefix
	cd $(DIST) && sha256sum prestart-$(VERSION)-linux-amd64 prestart-$(VERSION)-linux-arm64 \
	  prestart-$(VERSION).spdx.json >SHA256SUMS
	@cat $(DIST)/SHA256SUMS

test-release: release
	DIST=$(abspath $(DIST)) VERSION=$(VERSION) $(PYTHON) -m pytest -q -p no:cacheprovider \
	  tests/release $(PYTEST_ARGS)

# The arm64 binary under qemu-user (through a wrapper, so no binfmt_misc is
# needed): test_platform.py (version, a SQLite and a PostgreSQL migration
# over TCP, /livez) and a subset of the suite.
ARM64_TESTS := test_platform test_commands test_versions test_health test_lock test_exec \
	test_wait test_demo
ARM64_QEMU := $(ARM64_BUILD)/prestart-qemu
# qemu-user keeps host signals 32 and 33 for itself: an emulated prestart
# cannot reset what a parent such as make left ignored on them, so the
# signal state handed to the application is only checked natively.
ARM64_DESELECT := --deselect \
	tests/integration/test_exec.py::test_app_has_no_blocked_or_ignored_signals

test-arm64: static-arm64
	@printf '#!/bin/sh\nexec qemu-aarch64-static %s "$$@"\n' $(abspath $(ARM64_BIN)) >$(ARM64_QEMU)
	@chmod +x $(ARM64_QEMU)
	PRESTART_BIN=$(abspath $(ARM64_QEMU)) PRESTART_PLATFORM=linux/arm64 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider \
	  $(ARM64_TESTS:%=tests/integration/%.py) $(ARM64_DESELECT) $(PYTEST_ARGS)

# Reproducibility: the commit checked out again elsewhere (build/repro/src)
# and built there, against the same static libraries, must give the same
# bytes as the binaries here.  Needs a work tree without changes to what
# the binaries are built from.
REPRO_DIR := build/repro/src
test-repro: deps-release
	@if [ -n "$$(git status --porcelain -- Makefile scripts src include)" ]; then \
	  echo "test-repro: Makefile, scripts/, src/ or include/ differ from HEAD; commit first"; \
	  exit 1; fi
	@$(MAKE) --no-print-directory static
	@$(MAKE) --no-print-directory static $(ARM64_MAKE)
	@rm -rf $(REPRO_DIR) && git clone -q --no-checkout . $(REPRO_DIR) \
	  && git -C $(REPRO_DIR) checkout -q --detach $$(git rev-parse HEAD)
	@$(MAKE) --no-print-directory -C $(REPRO_DIR) DEPS_BUILD=$(abspath $(DEPS_BUILD)) static
	@$(MAKE) --no-print-directory -C $(REPRO_DIR) DEPS_BUILD=$(abspath $(DEPS_BUILD)) \
	  static $(ARM64_MAKE)
	@for b in $(STATIC_BIN) $(ARM64_BIN); do \
	  if cmp $$b $(REPRO_DIR)/$$b; then echo "test-repro: $$b: identical in $(REPRO_DIR)"; \
	  else echo "test-repro: $$b differs from $(REPRO_DIR)/$$b"; exit 1; fi; done
	@echo "test-repro: 2 passed, 0 failed"

.PHONY: deps-release static-arm64 release test-release test-arm64 test-repro

# every tree's buildinfo.o (a pattern rule cannot add a prerequisite)
$(BUILD)/src/buildinfo.o $(STATIC_BUILD)/src/buildinfo.o $(FUZZ_BUILD)/src/buildinfo.o: \
	$(BUILDINFO_STAMP)
