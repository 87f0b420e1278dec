/** A user item of a tenant table (keys per TenantKeys.user / userIndex). Never returned as is. */
export interface UserRecord {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  roleIds: string[];
  disabled: boolean;
  /** Epoch seconds: access tokens issued at or before it and sessions created before it are dead. */
  tokensValidAfter?: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}
