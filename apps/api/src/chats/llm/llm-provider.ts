/** One message of the prompt sent to a model. */
export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface LlmRequest {
  model: string;
  messages: LlmMessage[];
  /** Tokens of `messages`, counted by the caller once per message: a provider that reports no usage uses it. */
  promptTokens?: number;
  /** Aborted when the client disconnects or the timeout passes: the provider must stop at once. */
  signal: AbortSignal;
  /** Called with each piece of text as it arrives, in order. */
  onDelta: (text: string) => void;
}

export type LlmErrorKind = 'timeout' | 'upstream' | 'aborted';

/** A provider failure; `kind` decides the answer (504 timeout, 502 upstream; aborted = the client left). */
export class LlmProviderError extends Error {
  constructor(
    readonly kind: LlmErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'LlmProviderError';
  }
}

/** A chat-completions backend. Streams deltas through `onDelta` and resolves with the token usage. */
export interface LlmProvider {
  readonly name: 'echo' | 'openai';
  complete(request: LlmRequest): Promise<LlmUsage>;
}
