// The contract every piece of local infrastructure implements, so `joinery infra` and the test setup
// drive Kafka, PostgreSQL, OpenLDAP and Samba AD the same way.

export interface ServiceStatus {
  name: string;
  running: boolean;
  /** Where clients connect, e.g. "127.0.0.1:19092" or "ldap://127.0.0.1:10389". */
  endpoint: string;
  /** Who manages it: started by Joinery (with a pid), or found already running on the machine. */
  managedBy: 'joinery' | 'external' | 'none';
  pid?: number;
  logFile?: string;
  detail?: string;
}

export type DownOutcome = 'stopped' | 'not running' | 'left running (not started by Joinery)';

export interface InfraService {
  readonly name: string;
  /** Idempotent: returns quickly when the service is already up and healthy. Throws InfraError naming what is missing. */
  up(): Promise<ServiceStatus>;
  /**
   * Stops it only if Joinery started it; purge also deletes its state (data, directory, domain). Says what
   * happened: stopped, was not running, or left running because it belongs to the machine.
   */
  down(options?: { purge?: boolean }): Promise<DownOutcome>;
  status(): Promise<ServiceStatus>;
}
