# kvmc in an empty image: one static binary and nothing else.
#
# The build stage needs gcc, make and the C library's static archive and
# installs nothing; the public gcc image has all three. Where no registry
# is reachable, build a local one and pass it in:
#   docker build --build-arg BUILDER=kvmc-builder:local -t kvmc .
ARG BUILDER=gcc:14

FROM ${BUILDER} AS build
WORKDIR /src
COPY Makefile kvmc.h *.c ./
RUN make static

FROM scratch
COPY --from=build /src/kvmc-static /kvmc
# No account file exists here: a numeric user, nobody's uid and gid.
USER 65534:65534
ENTRYPOINT ["/kvmc"]
