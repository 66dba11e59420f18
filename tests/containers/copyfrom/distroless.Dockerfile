# Like a distroless "static" base: users, groups and the CA bundle,
# no shell and no C library; prestart as ENTRYPOINT, the application an
# executable of its own (here prestart again, as `version`).
ARG PRESTART_IMAGE=localhost/prestart:latest
FROM ${PRESTART_IMAGE} AS prestart
FROM scratch
COPY passwd group /etc/
COPY --from=prestart /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=prestart /usr/local/bin/prestart /usr/local/bin/prestart
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/prestart", "run", "--"]
CMD ["/usr/local/bin/prestart", "version"]
