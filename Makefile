# crm: CRM rules inside PostgreSQL.  PGXS build; see README.md.
#
#   make demo            set up everything, show crm working in a throw-away cluster
#   make test            set up everything, run every regression and isolation test
#   make valgrind-test   the regression suite with the backend under valgrind
#   make fuzz            libFuzzer over the normalisation core (FUZZ_SECONDS=180)
#   make bench           normaliser throughput (bench/, figures in BENCHMARKS.md)

EXTENSION = crm
MODULE_big = crm
DATA = crm--1.0.sql data/crm_pinyin_overrides.tsv

SRCS = $(wildcard src/*.c) $(wildcard src/core/*.c)
OBJS = $(SRCS:.c=.o)
CORE_SRCS = $(wildcard src/core/*.c)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=crm
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=crm

PG_CPPFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Isrc -Isrc/core
SHLIB_LINK = $(ICU_LIBS)
EXTRA_CLEAN = fuzz/fuzz_normalize results output_iso regression.diffs regression.out

# Debian keeps one pg_config per major version; prefer 15's.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

.DEFAULT_GOAL := all

# These work on a fresh machine: they install what is missing first, then
# run make again, now with PGXS available.
.PHONY: deps demo test valgrind-test fuzz bench
deps:
	scripts/ensure-deps.sh

demo: deps
	$(MAKE) --no-print-directory install
	scripts/demo.sh

test: deps
	$(MAKE) --no-print-directory install
	scripts/run-tests.sh

valgrind-test: deps
	scripts/ensure-deps.sh valgrind
	$(MAKE) --no-print-directory install
	scripts/valgrind-test.sh

bench: deps
	$(MAKE) --no-print-directory install
	bench/run

FUZZ_SECONDS ?= 180
FUZZ_CC ?= clang
fuzz/fuzz_normalize: fuzz/fuzz_normalize.c $(CORE_SRCS) src/core/*.h
	scripts/ensure-deps.sh clang libclang-rt-14-dev libicu-dev
	$(FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc/core -o $@ fuzz/fuzz_normalize.c \
		$(CORE_SRCS) -licui18n -licuuc -licudata

fuzz: fuzz/fuzz_normalize
	mkdir -p fuzz/run
	fuzz/fuzz_normalize -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=fuzz/run/ \
		-print_final_stats=1 fuzz/run fuzz/corpus

ifneq ($(PGXS),)
include $(PGXS)
ifneq ($(with_icu),yes)
$(error this PostgreSQL was built without ICU; crm needs ICU for normalisation and pinyin)
endif
else
all install installcheck:
	@echo "pg_config not found: run 'make deps' as root, or set PG_CONFIG" >&2; exit 1
endif
