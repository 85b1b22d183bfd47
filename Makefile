# kura — top-level build.
#   make              release build: build/release/{kurafs,kuractl,libkura.a}
#   make check        installs deps, builds with ASan+UBSan, runs every test
#   make demo|bench|fuzz|soak|install|uninstall|deb
VARIANT ?= release
B       := build/$(VARIANT)
PREFIX  ?= /usr/local
DESTDIR ?=

PKGS       := fuse3 libsodium inih libcrypto
# libpq's header only: kura opens the library when cluster mode first
# connects (src/lib/pq.h); test helpers that query PostgreSQL link it.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libpq 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lacl
PQ_LIBS    := $(shell pkg-config --libs libpq 2>/dev/null)

WARN   := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wstrict-prototypes \
          -Wmissing-prototypes -Wno-missing-field-initializers
DEFS   := -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=312 \
          -DKURA_VERSION=\"$(shell cat VERSION)\"
CFLAGS_COMMON := -std=c17 $(WARN) $(DEFS) -Iinclude $(PKG_CFLAGS) -fstack-protector-strong -fPIE -pthread
LDFLAGS_COMMON := -pie -Wl,-z,relro,-z,now -pthread

ifeq ($(VARIANT),asan)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  OPT := -O2 -g -D_FORTIFY_SOURCE=2
endif
CFLAGS  += $(CFLAGS_COMMON) $(OPT)
LDFLAGS += $(LDFLAGS_COMMON) $(OPT)

LIB_SRC    := $(wildcard src/lib/*.c src/lib/c4gh/*.c src/lib/cmd/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(B)/%.o)
FS_SRC     := $(wildcard src/kurafs/*.c)
CTL_SRC    := $(wildcard src/kuractl/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(B)/tests/%)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/replay_%)
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all tests check deps demo bench fuzz soak install uninstall deb clean
all: $(B)/kurafs $(B)/kuractl $(B)/libkura.a

# Each object depends on the headers it includes (-MMD -MP), as the
# compiler found them; a header change rebuilds only those objects. An
# object without its .d (built before it had one) is rebuilt: the .d files
# are named here, not matched by a pattern, so make never takes a missing
# one for an intermediate file it may skip.
OBJ := $(LIB_OBJ) $(FS_SRC:%.c=$(B)/%.o) $(CTL_SRC:%.c=$(B)/%.o)
$(B)/%.o: %.c $(B)/%.d
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(OBJ:.o=.d): ;

$(B)/libkura.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/kurafs: $(FS_SRC:%.c=$(B)/%.o) $(B)/libkura.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/kuractl: $(CTL_SRC:%.c=$(B)/%.o) $(B)/libkura.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/libkura.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -Itests/unit -o $@ $< $(B)/libkura.a $(PKG_LIBS)

$(B)/tests/%: tests/helpers/%.c $(B)/libkura.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(B)/libkura.a $(PKG_LIBS) $(PQ_LIBS)

# Fuzz targets built with a small main() that replays a corpus (any compiler).
$(B)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(B)/libkura.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(B)/libkura.a $(PKG_LIBS)

$(B)/bench/%: bench/%.c $(B)/libkura.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(filter %.o,$^) $(B)/libkura.a $(PKG_LIBS)
# The null filesystem mounts under kurafs's cache rules, readahead included.
$(B)/bench/fuse_null: $(B)/src/kurafs/cache_rules.o

tests: all $(UNIT_BIN) $(HELPER_BIN) $(REPLAY_BIN)

deps:
	@scripts/install-deps.sh

# The release build too: its tests must compile at -O2, and leak_scan.sh
# checks key-memory locking on its daemon (ASan makes mlock a no-op).
check: deps
	$(MAKE) VARIANT=asan tests
	$(MAKE) VARIANT=release tests
	KURA_RELEASE_BUILD=$(CURDIR)/build/release tests/run.sh build/asan

demo: deps
	$(MAKE) VARIANT=release all
	scripts/demo.sh build/release

bench: deps
	$(MAKE) VARIANT=release all $(BENCH_BIN)
	scripts/bench.sh build/release

FUZZ_SECONDS ?= 60
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

soak: deps
	$(MAKE) VARIANT=asan tests
	SOAK_SECONDS=$${SOAK_SECONDS:-600} tests/run.sh build/asan tests/integration/soak.sh

# The Debian package, built from a copy of the tree in build/deb and
# checked by lintian.
deb: deps
	scripts/build-deb.sh

install: all
	scripts/install.sh "$(DESTDIR)" "$(PREFIX)" $(B)

uninstall:
	scripts/install.sh --uninstall "$(DESTDIR)" "$(PREFIX)"

clean:
	rm -rf build

-include $(wildcard $(B)/src/*/*.d $(B)/src/*/*/*.d $(B)/tests/*.d $(B)/bench/*.d)
