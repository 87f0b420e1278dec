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

/** A password-reset token item (`Entities.passwordReset`): only the SHA-256 of the token is stored. */
export interface PasswordResetRecord {
  userId: string;
  tokenId: string;
  tokenHash: string;
  /** Epoch seconds: refused from then on (and removed by the table's TTL). */
  expiresAt: number;
  /** The admin who issued it. */
  issuedBy: string;
  createdAt: string;
}
