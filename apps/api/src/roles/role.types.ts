/** A role item of a tenant table (keys per TenantKeys.role / roleIndex). */
export interface RoleRecord {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  builtIn: boolean;
  /** Users holding the role (a role still assigned cannot be deleted). */
  assignedCount?: number;
  /** Enabled users holding the role (the last enabled owner cannot be removed). */
  enabledCount?: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}
