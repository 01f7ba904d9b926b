# stockelt: PostgreSQL extension, built with PGXS.
MODULE_big = stockelt
OBJS = \
	src/stockelt.o \
	src/http.o \
	src/alphavantage.o \
	src/s3.o \
	src/sha256.o \
	src/bronze.o \
	src/fetch.o \
	src/parse.o \
	src/parsejob.o \
	src/silver.o \
	src/ingest.o \
	src/ratelimit.o \
	src/worker.o \
	src/settings.o \
	src/clock.o \
	src/goldlog.o \
	src/cluster.o \
	src/trailing.o

EXTENSION = stockelt
# The install script is built from one SQL file per layer, concatenated in this order
# (sql/README.md says what each holds); its name follows default_version in the control file.
EXTVERSION = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(srcdir)/$(EXTENSION).control)
SQL_SOURCES = \
	sql/00_guard.sql \
	sql/10_bronze.sql \
	sql/20_silver.sql \
	sql/30_calendar.sql \
	sql/40_gold_tables.sql \
	sql/50_gold_refresh.sql \
	sql/60_answers.sql \
	sql/70_checks.sql \
	sql/80_worker.sql \
	sql/90_citus.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(DATA_built).tmp
# Version 1.0 as released, and the way from it to this version.
DATA = $(EXTENSION)--1.0.sql $(EXTENSION)--1.0--$(EXTVERSION).sql

# `make installcheck` runs the regression suites (test/sql, test/expected) and the TAP tests
# (test/t) against an installed server; test/installcheck.sh starts what they need.
REGRESS = setup fetch provider_errors transport security silver s3 dump_restore gold worker
REGRESS_OPTS = --inputdir=$(srcdir)/test
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src $(shell pkg-config --cflags libcurl jansson libcrypto liblz4) \
	-DSTOCKELT_EXTVERSION='"$(EXTVERSION)"'
# -Wextra minus three warnings that PostgreSQL's own headers and PG_TRY macro trip.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-clobbered
SHLIB_LINK = $(shell pkg-config --libs libcurl jansson libcrypto liblz4) -pthread

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The suites' own database (dump_restore dumps it by name).
CONTRIB_TESTDB = stockelt_regress

# Every object depends on every header: the modules share structs.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
# The worker serves only the extension version the control file names.
src/worker.o: $(srcdir)/$(EXTENSION).control
# A VPATH build (make -f /path/to/Makefile elsewhere, as Debian's pg_buildext does) writes the
# objects into src/ of the build directory; the absolute path keeps make from finding the
# source tree's src/ through VPATH instead.
$(OBJS): | $(CURDIR)/src
$(CURDIR)/src:
	$(MKDIR_P) $@

ifeq ($(EXTVERSION),)
$(error $(EXTENSION).control names no default_version)
endif

# In a build outside the source tree, VPATH finds the sources; a change to the list (this
# Makefile) builds the script again.
$(DATA_built): $(SQL_SOURCES) $(firstword $(MAKEFILE_LIST))
	{ echo '/* $@, built by make from sql/: edit the files listed in SQL_SOURCES. */'; \
	  cat $(filter %.sql,$^); } >$@.tmp
	mv $@.tmp $@
