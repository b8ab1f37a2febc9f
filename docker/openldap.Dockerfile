# A test directory for Joinery's LDAP connector: Debian's slapd, domain joinery.test.
FROM debian:bookworm-slim
ARG LDAP_ADMIN_PASSWORD=joinery-admin
RUN echo "slapd slapd/domain string joinery.test" | debconf-set-selections \
 && echo "slapd shared/organization string Joinery" | debconf-set-selections \
 && echo "slapd slapd/password1 password ${LDAP_ADMIN_PASSWORD}" | debconf-set-selections \
 && echo "slapd slapd/password2 password ${LDAP_ADMIN_PASSWORD}" | debconf-set-selections \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 389
CMD ["slapd", "-d", "0", "-h", "ldap:///", "-u", "openldap", "-g", "openldap"]
