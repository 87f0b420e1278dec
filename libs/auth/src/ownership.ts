import { DomainError } from '@lib/observability';
import type { Caller } from '@lib/tenancy';
import { Permission } from './permissions';

/**
 * Ownership rule for chats: the owner reads and writes; a caller holding `chats:read:any` may read another
 * user's chat but never write to it. Anything else is "not found", so ids cannot be probed.
 */
export function assertChatAccess(caller: Caller, ownerId: string, mode: 'read' | 'write'): void {
  if (caller.id === ownerId) return;
  if (mode === 'read' && caller.permissions.has(Permission.ChatsReadAny)) return;
  throw new DomainError('not_found', 'chat not found');
}
