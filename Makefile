# prestart - see README.md
.DELETE_ON_ERROR:
.SUFFIXES:

CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= /usr/bin/python3
BUILD ?= build

PKGS := libpq sqlite3 libcurl inih
WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings \
	-Wvla -Wformat=2 -Wshadow -Wno-format-nonliteral
STD := -std=c11 -D_POSIX_C_SOURCE=200809L
CFLAGS ?= -O2 -g
PS_CFLAGS := $(STD) $(WARN) -Iinclude $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) \
	-MMD -MP -pthread
PS_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -pthread

ifeq ($(CI),true)
PS_CFLAGS += -Werror
endif
ifdef SANITIZE
PS_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
PS_LIBS += -fsanitize=$(SANITIZE)
endif

SRCS := $(sort $(wildcard src/*.c))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)

all: prestart

prestart: $(OBJS)
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

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: prestart
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

# `make test` and `make demo` are the README's first commands on a fresh
# machine: they make sure the packages are there first.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

demo:
	@$(MAKE) --no-print-directory deps prestart
	@rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	cd $(BUILD)/demo && DATABASE_URL=sqlite:///demo.db \
	  ../../prestart --dir ../../docker/demo/migrations run -- \
	  sqlite3 demo.db "SELECT 'version: ' || group_concat(version_num, ',') FROM alembic_version;" ".tables"

install: prestart
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 prestart $(DESTDIR)$(PREFIX)/bin/prestart

DEB_PKGS := build-essential pkg-config libpq-dev libsqlite3-dev libcurl4-openssl-dev \
	libinih-dev libcmocka-dev postgresql postgresql-client sqlite3 python3-pytest \
	alembic python3-psycopg2 python3-sqlalchemy ca-certificates

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

clean:
	rm -rf $(BUILD) prestart

.PHONY: all unit integration test demo install deps clean

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)
