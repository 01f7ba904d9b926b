# stockelt: PostgreSQL extension, built with PGXS.
MODULE_big = stockelt
OBJS = \
	src/stockelt.o \
	src/http.o \
	src/alphavantage.o \
	src/s3.o \
	src/bronze.o \
	src/fetch.o \
	src/parse.o \
	src/parsejob.o \
	src/silver.o \
	src/ingest.o \
	src/ratelimit.o \
	src/worker.o

EXTENSION = stockelt
DATA = stockelt--1.0.sql

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src $(shell pkg-config --cflags libcurl jansson libcrypto liblz4)
# -Wextra minus three warnings that PostgreSQL's own headers and PG_TRY macro trip.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-clobbered
SHLIB_LINK = $(shell pkg-config --libs libcurl jansson libcrypto liblz4) -pthread

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A VPATH build (pg_buildext's build-VERSION directories) writes its objects into a src/ of its own.
ifdef VPATH
$(shell mkdir -p src)
endif

# Every object depends on every header: the modules share structs.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
