# kvmc - see README.md. `make` builds ./kvmc, `make test` runs the suite.

CC	?= cc
CFLAGS	?= -O2 -g
WARN	 = -Wall -Wextra -Wpedantic -Werror -Wshadow -Wmissing-prototypes \
	   -Wstrict-prototypes
# -std=c11 alone hides struct ip_mreqn and IP_MULTICAST_ALL.
STD	 = -std=c11 -D_DEFAULT_SOURCE
HARDEN	 = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now

SRCS	 = kvmc.c settings.c net.c kv.c msg.c log.c seen.c sim.c check.c peers.c cmd.c

# make test SANITIZE=1: the same suite against an ASan+UBSan build.
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

# Each flavour keeps its own objects; build/flavor changes when the
# flavour does, so ./kvmc is relinked from the right ones.
OBJDIR	 = build/$(FLAVOR)
OBJS	 = $(SRCS:%.c=$(OBJDIR)/%.o)
$(shell mkdir -p $(OBJDIR); echo $(FLAVOR) $(CC) | cmp -s - build/flavor || \
	echo $(FLAVOR) $(CC) > build/flavor)

# The static build: musl when it is there, else glibc's static archive.
MUSL	:= $(shell command -v musl-gcc 2>/dev/null)
STATIC_CC = $(if $(MUSL),musl-gcc,$(CC))

all: kvmc

# Linked aside and renamed, so a node starting meanwhile never sees half a file.
kvmc: $(OBJS) build/flavor
	$(CC) $(LDFLAGS) $(LDHARDEN) -o $@.tmp $(OBJS)
	mv -f $@.tmp $@

$(OBJDIR)/%.o: %.c kvmc.h build/flavor
	$(CC) $(STD) $(WARN) $(HARDEN) $(CFLAGS) -c -o $@ $<

static: kvmc-static

kvmc-static: $(SRCS) kvmc.h
	$(STATIC_CC) $(STD) $(WARN) -O2 -static -s -o $@.tmp $(SRCS)
	mv -f $@.tmp $@

test/rawsend: test/rawsend.c
	$(CC) $(STD) $(WARN) -O2 -o $@ $<

test: kvmc kvmc-static test/rawsend
	@bash test/run.sh

demo: kvmc
	@bash demo/demo.sh

clean:
	rm -rf build kvmc kvmc-static test/rawsend

.PHONY: all static test demo clean
