# crm: CRM rules inside PostgreSQL.  PGXS build; see README.md.
#
#   make deps            install the Debian packages crm needs (root; only what is missing)
#   make demo            set up everything, show crm working in a throw-away cluster
#   make test            set up everything, run every regression and isolation test
#   make valgrind-test   the same suites with every backend under valgrind
#   make fuzz            libFuzzer over the normalisation core (FUZZ_SECONDS=180)
#   make bench           normaliser throughput (bench/, figures in BENCHMARKS.md)
#   make, make install, make installcheck   plain PGXS, once PostgreSQL 15 is there
#
# deps, demo, test, valgrind-test and fuzz work on a fresh Debian 12 machine:
# they install what is missing first, then run make again for the build, now
# with PGXS available.

EXTENSION = crm
MODULE_big = crm

# Versions (install/README.md).  A released version's install script is
# committed and frozen (crm--1.0.sql).  The development version's install
# script and the upgrade to it from the last release are built from the area
# files install/*.sql, as pgvector builds its script from sql/vector.sql.
EXTVERSION = $(shell sed -n "s/^default_version = '\\(.*\\)'$$/\\1/p" crm.control)
RELEASED = 1.0
INSTALL_SQL = $(sort $(wildcard install/*.sql))
BUILT_SQL = crm--$(EXTVERSION).sql crm--$(RELEASED)--$(EXTVERSION).sql
DATA = crm--$(RELEASED).sql data/crm_pinyin_overrides.tsv data/crm_region_codes.tsv
DATA_built = $(BUILT_SQL)

SRCS = $(wildcard src/*.c) $(wildcard src/core/*.c)
OBJS = $(SRCS:.c=.o)
HEADERS = $(wildcard src/*.h src/core/*.h)
CORE_SRCS = $(wildcard src/core/*.c)

WARNINGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
PG_CPPFLAGS = -std=gnu11 $(WARNINGS) -Isrc -Isrc/core
SHLIB_LINK = $(ICU_LIBS) -lz
EXTRA_CLEAN = fuzz/fuzz_normalize tools/relay/crm_relay results output_iso regression.diffs regression.out

# Tests: sql/NAME.sql is a regression test, specs/NAME.spec an isolation
# test, each with its expected output in expected/NAME.out (so a name may not
# be used in both).  pg_regress loads crm into each test database first; if
# crm ever requires pg_cron, put --load-extension=pg_cron before it in both.
#
# make test (scripts/run-tests.sh) runs each suite in its own throw-away
# cluster from Debian's pg_virtualenv, started with
# shared_preload_libraries=pg_cron and cron.database_name set to the suite's
# database: contrib_regression for sql/, isolation_regression for specs/.  So
# a test of either kind may CREATE EXTENSION pg_cron.  Why not one cluster:
# pg_cron's launcher stays connected to its database, and pg_regress starts
# by dropping the database it tests in, which fails while anyone is
# connected.  Why pg_virtualenv (-t) rather than pg_regress --temp-instance
# with --temp-config, as pg_cron's own Makefile does: initdb and postgres
# refuse to run as root, and CI runs as root; pg_virtualenv creates the
# cluster as user postgres, in a private temporary directory.
#
# Plain "make installcheck" runs both suites against the server PGHOST and
# PGPORT name, whose cron.database_name is its own business.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=crm
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=crm
ENCODING = UTF8

# Debian keeps one pg_config per major version; prefer 15's.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

.DEFAULT_GOAL := all

# PGXS knows no header dependencies: a struct that changes size must
# rebuild every object that might use it.
$(OBJS): $(HEADERS)

crm--$(EXTVERSION).sql: $(INSTALL_SQL) scripts/install-sql.awk crm.control
	{ printf -- '-- crm %s: built from install/*.sql by make; edit those files, not this one.\n\n' '$(EXTVERSION)'; \
	  printf '\\echo Use "CREATE EXTENSION crm CASCADE" to load this file. \\quit\n\n'; \
	  awk -v mode=full -v version=$(EXTVERSION) -f scripts/install-sql.awk $(INSTALL_SQL); } > $@.tmp
	mv $@.tmp $@

crm--$(RELEASED)--$(EXTVERSION).sql: $(INSTALL_SQL) scripts/install-sql.awk crm.control
	{ printf -- '-- crm %s to %s: built from the "@since %s" and "@upgrade %s" blocks of install/*.sql.\n\n' \
	    '$(RELEASED)' '$(EXTVERSION)' '$(EXTVERSION)' '$(EXTVERSION)'; \
	  printf '\\echo Use "ALTER EXTENSION crm UPDATE" to load this file. \\quit\n\n'; \
	  awk -v mode=upgrade -v version=$(EXTVERSION) -f scripts/install-sql.awk $(INSTALL_SQL); } > $@.tmp
	mv $@.tmp $@

.PHONY: deps demo test valgrind-test fuzz bench check-icu
deps:
	scripts/ensure-deps.sh

demo: deps
	$(MAKE) --no-print-directory install
	scripts/demo.sh

test: deps
	$(MAKE) --no-print-directory install
	scripts/run-tests.sh

valgrind-test:
	scripts/ensure-deps.sh valgrind
	$(MAKE) --no-print-directory install
	scripts/valgrind-test.sh

bench: deps
	$(MAKE) --no-print-directory install
	bench/run

# make fuzz: libFuzzer with AddressSanitizer and UBSan over the pure-C core
# (src/core/*.c and ICU, no PostgreSQL).  Seeds: fuzz/corpus (committed).
# What the fuzzer adds, and any crash reproducer: fuzz/run (not committed).
# Needs clang-14 and its fuzzer runtime, installed here only.
FUZZ_SECONDS ?= 180
FUZZ_CC ?= clang-14
fuzz/fuzz_normalize: fuzz/fuzz_normalize.c $(CORE_SRCS) $(wildcard src/core/*.h)
	scripts/ensure-deps.sh --only clang-14 libclang-rt-14-dev libicu-dev
	$(FUZZ_CC) -std=gnu11 $(WARNINGS) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc/core -o $@ fuzz/fuzz_normalize.c \
		$(CORE_SRCS) $(ICU_LIBS)

fuzz: fuzz/fuzz_normalize
	mkdir -p fuzz/run
	fuzz/fuzz_normalize -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-artifact_prefix=fuzz/run/ -print_final_stats=1 fuzz/run fuzz/corpus

ifneq ($(PGXS),)
include $(PGXS)
ifneq ($(with_icu),yes)
$(error this PostgreSQL was built without ICU; crm needs ICU for normalisation and pinyin)
endif
# ICU's headers come from libicu-dev; say so rather than fail in a compile.
check-icu:
	@printf '#include <unicode/ucol.h>\n' | $(CC) $(CPPFLAGS) -E -x c - >/dev/null 2>&1 || \
	{ echo "ICU headers not found: install libicu-dev (make deps, as root)" >&2; exit 1; }
$(OBJS) $(OBJS:.o=.bc): | check-icu
else
all install installcheck:
	@echo "pg_config for PostgreSQL 15 not found: run 'make deps' as root (or set PG_CONFIG)" >&2; exit 1
clean:
	rm -rf $(OBJS) $(OBJS:.o=.bc) crm.so $(EXTRA_CLEAN)
endif
# make fuzz needs ICU_LIBS without PostgreSQL too (PGXS sets it otherwise)
ICU_LIBS ?= -licui18n -licuuc -licudata
