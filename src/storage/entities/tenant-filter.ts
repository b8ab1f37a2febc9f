// Tenant isolation at the data layer: every tenant-owned entity carries this default filter, so a query
// made without a tenant id fails instead of reading across tenants.

export const tenantFilter = {
  tenant: {
    name: 'tenant',
    cond: (args: Record<string, unknown>) => ({ tenant: args.tenantId }),
    default: true,
  },
};

/** Parameters enabling the tenant filter on an EntityManager fork: `em.fork({ filters: tenantScope(id) })`. */
export function tenantScope(tenantId: string): { tenant: { tenantId: string } } {
  return { tenant: { tenantId } };
}
