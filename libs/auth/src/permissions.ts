/** The fixed permission catalogue of tenant scope (docs/api.md, "Roles and permissions"); roles map to these. */
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
  ApiKeysManage = 'api-keys:manage',
}

/** Permissions of platform scope; every operator holds all of them. */
export enum PlatformPermission {
  TenantsRead = 'platform:tenants:read',
  TenantsWrite = 'platform:tenants:write',
  OperatorsRead = 'platform:operators:read',
}

/** What each permission allows (GET /v1/permissions). */
export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  [Permission.TenantRead]: 'Read the tenant profile and settings',
  [Permission.TenantWrite]: 'Change the tenant profile and settings',
  [Permission.UsersRead]: 'List and read users',
  [Permission.UsersWrite]: 'Create, change, disable and delete users',
  [Permission.RolesRead]: 'List and read roles',
  [Permission.RolesWrite]: 'Create, change and delete custom roles',
  [Permission.ChatsRead]: 'Read own chats and messages',
  [Permission.ChatsWrite]: 'Create own chats and post messages',
  [Permission.ChatsReadAny]: 'Read any chat of the tenant',
  [Permission.UsageRead]: 'Read token usage and quotas',
  [Permission.AuditRead]: 'Read the audit log',
  [Permission.ApiKeysManage]: 'Create, list and revoke API keys (never with more rights than your own)',
};

export const ALL_PLATFORM_PERMISSIONS: ReadonlySet<string> = new Set(Object.values(PlatformPermission));

export interface BuiltInRole {
  name: 'owner' | 'admin' | 'member' | 'viewer';
  description: string;
  permissions: Permission[];
}

const ALL = Object.values(Permission);

/** Roles seeded into every tenant; immutable (docs/api.md, "Roles and permissions"). */
export const BUILT_IN_ROLES: readonly BuiltInRole[] = [
  { name: 'owner', description: 'Everything, including tenant settings', permissions: ALL },
  {
    name: 'admin',
    description: 'Everything but tenant settings',
    permissions: ALL.filter((p) => p !== Permission.TenantWrite),
  },
  {
    name: 'member',
    description: 'Own chats: read and write',
    permissions: [Permission.ChatsRead, Permission.ChatsWrite],
  },
  { name: 'viewer', description: 'Own chats: read only', permissions: [Permission.ChatsRead] },
];
