/** Key builders of the tenant tables, one place per entity (see docs/data-model.md). */
export const TenantKeys = {
  user: (id: string) => ({ pk: `USER#${id}`, sk: 'USER' }),
  userIndex: (createdAt: string, id: string) => ({ gsi1pk: 'USERS', gsi1sk: `${createdAt}#${id}` }),
  email: (email: string) => ({ pk: `EMAIL#${email.trim().toLowerCase()}`, sk: 'EMAIL' }),
  session: (userId: string, sessionId: string) => ({ pk: `USER#${userId}`, sk: `SESSION#${sessionId}` }),
  role: (id: string) => ({ pk: `ROLE#${id}`, sk: 'ROLE' }),
  roleIndex: (name: string) => ({ gsi1pk: 'ROLES', gsi1sk: name }),
  roleName: (name: string) => ({ pk: `ROLENAME#${name.trim().toLowerCase()}`, sk: 'ROLENAME' }),
  chat: (id: string) => ({ pk: `CHAT#${id}`, sk: 'CHAT' }),
  chatIndex: (ownerId: string, updatedAt: string, id: string) => ({
    gsi1pk: `USER#${ownerId}#CHATS`,
    gsi1sk: `${updatedAt}#${id}`,
  }),
  message: (chatId: string, messageId: string) => ({ pk: `CHAT#${chatId}`, sk: `MSG#${messageId}` }),
  usage: (month: string, scope: 'TOTAL' | `USER#${string}`) => ({ pk: `USAGE#${month}`, sk: scope }),
  idempotency: (userId: string, key: string) => ({ pk: `IDEMP#${userId}#${key}`, sk: 'IDEMP' }),
};
