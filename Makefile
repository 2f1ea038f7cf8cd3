# crm: CRM rules inside PostgreSQL.  PGXS build; see README.md.

EXTENSION = crm
MODULE_big = crm
DATA = crm--1.0.sql data/crm_pinyin_overrides.tsv
DATA_built =
EXTRA_CLEAN = fuzz/fuzz_normalize fuzz/corpus-run

SRCS = $(wildcard src/*.c) $(wildcard src/core/*.c)
OBJS = $(SRCS:.c=.o)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=crm
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=crm

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Isrc -Isrc/core
SHLIB_LINK = $(ICU_LIBS)

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
$(error pg_config not found: run 'make deps' (as root) or set PG_CONFIG to PostgreSQL 15's pg_config)
endif
include $(PGXS)

ifneq ($(with_icu),yes)
$(error this PostgreSQL was built without ICU; crm needs ICU for normalisation and pinyin)
endif
