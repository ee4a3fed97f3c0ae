# kvmc - see README.md. `make` builds ./kvmc, `make test` runs the suite.

SHELL	 = /bin/bash
CC	?= cc
CFLAGS	?= -O2 -g
WARN	 = -Wall -Wextra -Wpedantic -Werror -Wshadow -Wmissing-prototypes \
	   -Wstrict-prototypes
# -std=c11 alone hides struct ip_mreqn and IP_MULTICAST_ALL.
STD	 = -std=c11 -D_DEFAULT_SOURCE
HARDEN	 = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now

SRCS	 = kvmc.c node.c console.c settings.c net.c kv.c msg.c log.c seen.c \
	   siphash.c sim.c check.c peers.c cmd.c trace.c out.c order.c

# make test SANITIZE=1: the same suite against an ASan+UBSan build.
# The static binary never carries the sanitizers: it keeps the caller's flags.
STATIC_CFLAGS := $(CFLAGS)
STATIC_LDFLAGS := $(LDFLAGS)
ifeq ($(SANITIZE),1)
FLAVOR	 = sanitize
CFLAGS	 = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
HARDEN	 =
LDHARDEN =
else
FLAVOR	 = normal
endif

# Each flavour keeps its own objects and its own binary; ./kvmc is a copy
# of the last one built, so switching flavours recompiles nothing.
OBJDIR	 = build/$(FLAVOR)-$(notdir $(firstword $(CC)))
OBJS	 = $(SRCS:%.c=$(OBJDIR)/%.o)

# The static build: musl when it is there, else glibc's static archive.
MUSL	:= $(shell command -v musl-gcc 2>/dev/null)
STATIC_CC = $(if $(MUSL),musl-gcc,$(CC))

all: kvmc

# Copied aside and renamed, so a node starting meanwhile never sees half a file.
kvmc: $(OBJDIR)/kvmc FORCE
	@cmp -s $< $@ || { cp $< $@.tmp && mv -f $@.tmp $@; }

$(OBJDIR)/kvmc: $(OBJS)
	$(CC) $(LDFLAGS) $(LDHARDEN) -o $@ $(OBJS)

$(OBJDIR)/%.o: %.c kvmc.h | $(OBJDIR)
	$(CC) $(STD) $(WARN) $(HARDEN) $(CFLAGS) -c -o $@ $<

$(OBJDIR):
	mkdir -p $@

static: kvmc-static

kvmc-static: $(SRCS) kvmc.h
	$(STATIC_CC) $(STD) $(WARN) $(STATIC_CFLAGS) -static -s $(STATIC_LDFLAGS) \
	    -o $@.tmp $(SRCS)
	mv -f $@.tmp $@

# The test programs, with the project's flags like everything else.
TESTPROGS = test/rawsend test/rawrecv test/flood test/sniff test/kv_test \
	    test/peers_test test/order_test test/siphash_test

test/rawsend test/rawrecv test/flood test/sniff: %: %.c test/testnet.c test/testnet.h
	$(CC) $(STD) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< test/testnet.c

test/kv_test: test/kv_test.c $(OBJDIR)/kv.o $(OBJDIR)/siphash.o \
    $(OBJDIR)/log.o $(OBJDIR)/out.o $(OBJDIR)/msg.o
	$(CC) $(STD) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^

test/peers_test: test/peers_test.c $(OBJDIR)/peers.o $(OBJDIR)/log.o \
    $(OBJDIR)/out.o $(OBJDIR)/msg.o $(OBJDIR)/siphash.o
	$(CC) $(STD) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^

# SipHash against the published vectors, and the tag codec.
test/siphash_test: test/siphash_test.c $(OBJDIR)/siphash.o $(OBJDIR)/msg.o \
    $(OBJDIR)/log.o $(OBJDIR)/out.o
	$(CC) $(STD) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^

test/order_test: test/order_test.c $(OBJDIR)/order.o $(OBJDIR)/msg.o $(OBJDIR)/out.o \
    $(OBJDIR)/seen.o $(OBJDIR)/siphash.o $(OBJDIR)/log.o
	$(CC) $(STD) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^

test: test-deps kvmc kvmc-static $(TESTPROGS)
	@bash test/run.sh

# make test needs bats and perl: said at once, not deep in the suite.
test-deps:
	@$(SHELL) test/run.sh --deps

demo: kvmc
	@bash demo/demo.sh

valgrind: kvmc $(TESTPROGS)
	@KVMC_VALGRIND=1 bats test/valgrind.bats

# Not a test: prints a table of figures and ratios, asserts nothing.
bench: kvmc
	@bash bench/bench.sh

# Only the last part of make bench: kvmc trace on a 10,000-command log.
bench-trace: kvmc
	@bash bench/trace.sh

# make fuzz [FUZZ_SECONDS=N]: each libFuzzer harness in test/fuzz for N s,
# from the seed corpus there. New inputs go to build/fuzz, crashes too.
FUZZ_SECONDS ?= 60
FUZZERS	 = decode encode cmd settings
FUZZ_SRCS = msg.c cmd.c settings.c sim.c log.c out.c siphash.c

build/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_SRCS) kvmc.h
	@mkdir -p build/fuzz
	clang $(STD) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -o $@ $< $(FUZZ_SRCS)

fuzz: $(FUZZERS:%=build/fuzz/fuzz_%)
	@for f in $(FUZZERS); do \
	    mkdir -p build/fuzz/corpus-$$f; \
	    echo "== fuzz_$$f for $(FUZZ_SECONDS) s"; \
	    build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=build/fuzz/$$f- -print_final_stats=1 \
	        build/fuzz/corpus-$$f test/fuzz/corpus/$$f 2>&1 | \
	        grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY)|ERROR|Test unit' ; \
	    test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# make lint: cppcheck and clang-tidy, both must be silent. Left out, on
# purpose: cppcheck's variableScope (declarations at the top of a function
# are the house style), clang-tidy's advice to use Annex K's memcpy_s (no
# libc here has it), unchecked printf results (cert-err33-c: a log or
# reply that cannot be written is dropped by design), sizeof(*p) on arrays
# of pointers (bugprone-sizeof-expression flags that very idiom),
# easily-swappable-parameters (every (buf, len) pair), and the va_list
# check, which reports every va_start/va_end pair of clang 14 as unset.
TIDY_CHECKS = -*,clang-analyzer-*,bugprone-*,cert-*,portability-*,\
	-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,\
	-clang-analyzer-valist.Uninitialized,-cert-err33-c,\
	-bugprone-sizeof-expression,-bugprone-easily-swappable-parameters

lint:
	cppcheck --enable=warning,style,performance,portability --std=c11 \
	    -D_DEFAULT_SOURCE --suppress=missingIncludeSystem \
	    --suppress=variableScope --error-exitcode=1 -q $(SRCS)
	clang-tidy --quiet --warnings-as-errors='*' -checks='$(TIDY_CHECKS)' \
	    $(SRCS) -- $(STD)

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary and its manual.
PREFIX	?= /usr/local
BINDIR	 = $(PREFIX)/bin
MAN1DIR	 = $(PREFIX)/share/man/man1

install: kvmc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR)
	install -m 755 kvmc $(DESTDIR)$(BINDIR)/kvmc
	install -m 644 kvmc.1 $(DESTDIR)$(MAN1DIR)/kvmc.1

# Removes the two files; the directories may hold others' files.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kvmc $(DESTDIR)$(MAN1DIR)/kvmc.1

clean:
	rm -rf build kvmc kvmc-static $(TESTPROGS)

FORCE:

.PHONY: all static test demo bench bench-trace fuzz lint valgrind clean FORCE
.PHONY: test-deps install uninstall
