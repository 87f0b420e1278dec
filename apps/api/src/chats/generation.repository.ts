import { Injectable } from '@nestjs/common';
import { DynamoClients, Entities, type ItemKey } from '@lib/dynamo';
import { REFUSED, TenantRepository, type TxOp } from '@lib/tenancy';
import type { GenerationState, MessageRecord, MessageStatus } from './chat.types';
import { usageSettlement } from './chats.repository';

/**
 * How long a generation's chunks and state outlive it: long enough for a follower to catch up, and for a reader to
 * end a generation whose instance died; a finished reply is read from its message item, which holds the text.
 */
export const GENERATION_TTL_SECONDS = 24 * 3600;

/** The text a follower's poll found: the chunks after its offset, in order, and the state (absent once expired). */
export interface GenerationRead {
  chunks: Array<{ end: number; text: string }>;
  state: GenerationState | undefined;
}

/** The end of a generation: what the message item becomes. */
export interface FinalReply {
  content: string;
  status: Exclude<MessageStatus, 'generating'>;
  usage: { inputTokens: number; outputTokens: number };
  tokens: number;
}

/** Who may end a generation: its own run, or a reader that found its lease run out (exactly this lease). */
export type Finisher = { runId: string } | { lapsedLease: number };

/** A generation's chunks and state (Entities.generation) in the current tenant's table. */
@Injectable()
export class GenerationRepository extends TenantRepository {
  constructor(clients: DynamoClients) {
    super(clients);
  }

  /** The state item, for the start transaction (ChatsRepository.append). */
  stateItem(chatId: string, messageId: string, state: GenerationState): TxOp<never> {
    return {
      put: { ...Entities.generation.state(chatId, messageId), ...state },
      when: { ConditionExpression: 'attribute_not_exists(pk)' },
    };
  }

  /**
   * One flush of the run `runId`: the text produced since `start` (if any) as a chunk, then the lease renewed.
   * False when the run must stop: a cancel was requested, or the generation is no longer this run's.
   */
  async flush(
    chatId: string,
    messageId: string,
    runId: string,
    start: number,
    text: string,
    leaseUntil: number,
  ): Promise<boolean> {
    if (text) {
      await this.table.put({
        ...Entities.generation.chunk(chatId, messageId, start + text.length),
        text,
        expiresAt: Math.floor(Date.now() / 1000) + GENERATION_TTL_SECONDS,
      });
    }
    const renewed = await this.table.update(Entities.generation.state(chatId, messageId), {
      UpdateExpression: 'SET leaseUntil = :until',
      ConditionExpression: '#s = :generating AND runId = :mine AND attribute_not_exists(cancelRequested)',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':until': leaseUntil, ':generating': 'generating', ':mine': runId },
    });
    return renewed !== REFUSED;
  }

  /** The chunks that end after `offset` and the state, in one consistent Query (paged past 1 MB). */
  async read(chatId: string, messageId: string, offset: number): Promise<GenerationRead> {
    const read: GenerationRead = { chunks: [], state: undefined };
    for await (const item of this.table.all<ItemKey & Record<string, unknown>>(
      Entities.generation.after(chatId, messageId, offset),
    )) {
      if (Entities.generation.isState(item)) read.state = item as unknown as GenerationState;
      else read.chunks.push({ end: Entities.generation.endOf(item), text: String(item.text) });
    }
    return read;
  }

  /** Asks the generation to stop (its next flush is refused). False when it is no longer generating. */
  async requestCancel(chatId: string, messageId: string): Promise<boolean> {
    const updated = await this.table.update(Entities.generation.state(chatId, messageId), {
      UpdateExpression: 'SET cancelRequested = :yes',
      ConditionExpression: '#s = :generating',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':yes': true, ':generating': 'generating' },
    });
    return updated !== REFUSED;
  }

  /**
   * The final write, one transaction: the message gets its text, status and usage; the state its final status;
   * the month's counters the usage in place of the reservation. Only the run itself, or a reader that saw its
   * lease run out, may write it, once: false when someone else ended the generation first.
   */
  async finish(
    message: MessageRecord,
    state: GenerationState,
    finisher: Finisher,
    reply: FinalReply,
  ): Promise<boolean> {
    const byRun = 'runId' in finisher;
    const ops: Array<TxOp<'ended'>> = [
      {
        update: Entities.generation.state(message.chatId, message.id),
        spec: {
          UpdateExpression: 'SET #s = :final',
          ConditionExpression: `#s = :generating AND ${byRun ? 'runId = :run' : 'leaseUntil = :lease'}`,
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':final': reply.status,
            ':generating': 'generating',
            ...(byRun ? { ':run': finisher.runId } : { ':lease': finisher.lapsedLease }),
          },
        },
        refusal: 'ended',
      },
      {
        update: Entities.message.key(message.chatId, message.id),
        spec: {
          UpdateExpression: 'SET content = :c, #s = :s, #u = :u, tokens = :t',
          // The chat (and so the message) may have been deleted meanwhile: nothing to write then.
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#s': 'status', '#u': 'usage' },
          ExpressionAttributeValues: { ':c': reply.content, ':s': reply.status, ':u': reply.usage, ':t': reply.tokens },
        },
        refusal: 'ended',
      },
      ...usageSettlement<'ended'>({
        ...state.settlement,
        inputTokens: reply.usage.inputTokens,
        outputTokens: reply.usage.outputTokens,
        requests: reply.status === 'failed' ? 0 : 1,
      }),
    ];
    return (await this.table.transact(ops)).committed;
  }
}
