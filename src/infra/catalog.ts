// Names of the local infrastructure services (kept apart from their implementations, so the CLI can
// describe them without loading them).
export const infraServiceNames = ['postgres', 'kafka', 'openldap', 'samba-ad', 'rsyslog'] as const;
export type InfraServiceName = (typeof infraServiceNames)[number];

/** Samba AD is heavier and only the agent's AD tests need it, rsyslog only the SIEM tests: they start only when named. */
export const defaultInfraServices: InfraServiceName[] = ['postgres', 'kafka', 'openldap'];
