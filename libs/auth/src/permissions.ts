/** The fixed permission catalogue of tenant scope (API.md "Roles"). Roles are data that map to these. */
export enum Permission {
  TenantRead = 'tenant:read',
  TenantWrite = 'tenant:write',
  UsersRead = 'users:read',
  UsersWrite = 'users:write',
  RolesRead = 'roles:read',
  RolesWrite = 'roles:write',
  ChatsRead = 'chats:read',
  ChatsWrite = 'chats:write',
  ChatsReadAny = 'chats:read:any',
  UsageRead = 'usage:read',
  AuditRead = 'audit:read',
}

/** Permissions of platform scope; every operator holds all of them. */
export enum PlatformPermission {
  TenantsRead = 'platform:tenants:read',
  TenantsWrite = 'platform:tenants:write',
  OperatorsRead = 'platform:operators:read',
}

export const ALL_PLATFORM_PERMISSIONS: ReadonlySet<string> = new Set(Object.values(PlatformPermission));
