# kvmc in an empty image: one static binary and nothing else.
#
# The build stage needs gcc, make and the C library's static archive; the
# public gcc image has all three. With musl-gcc the binary is about 130 kB
# instead of 920 kB: a builder without it gets Debian's musl-tools, and
# where that cannot be installed, make static falls back to glibc. Where
# no registry is reachable, build a local builder (it has musl-tools) and
# pass it in:
#   docker build --build-arg BUILDER=kvmc-builder:local -t kvmc .
ARG BUILDER=gcc:14

FROM ${BUILDER} AS build
RUN command -v musl-gcc >/dev/null || \
    { apt-get update && apt-get install -y --no-install-recommends \
      musl-tools && rm -rf /var/lib/apt/lists/*; } || \
    echo "no musl-tools: a static binary with glibc"
WORKDIR /src
COPY Makefile kvmc.h *.c ./
RUN make static

FROM scratch
COPY --from=build /src/kvmc-static /kvmc
# No account file exists here: a numeric user, nobody's uid and gid.
USER 65534:65534
ENTRYPOINT ["/kvmc"]
