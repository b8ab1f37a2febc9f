// The local infrastructure as one set, as `joinery infra` and the integration tests see it. Each
// service's module loads only when that service is asked for.
import type { InfraService } from './service.ts';
import type { InfraServiceName } from './catalog.ts';

export async function createInfraService(name: InfraServiceName): Promise<InfraService> {
  switch (name) {
    case 'postgres':
      return (await import('./postgres.ts')).createPostgres();
    case 'kafka':
      return (await import('./kafka.ts')).createKafka();
    case 'openldap':
      return (await import('./openldap.ts')).createOpenLdap();
    case 'samba-ad':
      return (await import('./samba-ad.ts')).createSambaAd();
    case 'rsyslog':
      return (await import('./rsyslog.ts')).createRsyslog();
  }
}
