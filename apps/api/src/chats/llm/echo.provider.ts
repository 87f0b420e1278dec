import { setTimeout as sleep } from 'node:timers/promises';
import { type LlmProvider, LlmProviderError, type LlmRequest, type LlmUsage } from './llm-provider';
import { countMessageTokens, countTokens } from './tokenizer';

/**
 * The built-in development provider: deterministic, streams its reply word by word, reports usage from the
 * same tokenizer (the prompt as the caller counted it, the reply counted once), and says that it is the
 * development provider.
 */
export class EchoProvider implements LlmProvider {
  readonly name = 'echo' as const;

  constructor(private readonly delayMs = 0) {}

  async complete({ messages, promptTokens, signal, onDelta }: LlmRequest): Promise<LlmUsage> {
    const last = [...messages].reverse().find((m) => m.role === 'user');
    const reply = `[echo: development provider] You said: ${last?.content ?? ''}`;
    const words = reply.match(/\S+\s*/g) ?? [];
    for (const word of words) {
      if (signal.aborted) throw new LlmProviderError('aborted', 'client went away');
      onDelta(word);
      if (this.delayMs > 0) await sleep(this.delayMs);
    }
    return {
      inputTokens: promptTokens ?? messages.reduce((n, m) => n + countMessageTokens(m), 0),
      outputTokens: countTokens(reply),
    };
  }
}
