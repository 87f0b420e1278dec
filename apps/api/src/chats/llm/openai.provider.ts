import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { type LlmProvider, LlmProviderError, type LlmRequest, type LlmUsage } from './llm-provider';
import { countMessageTokens, countTokens } from './tokenizer';

export interface OpenAiProviderSettings {
  /** Base URL of an OpenAI-compatible API, ending in /v1 (undefined: the SDK default, api.openai.com). */
  baseUrl?: string;
  /** Undefined or empty for local servers (Ollama, vLLM, llama.cpp) that need no key. */
  apiKey?: string;
  /** Bound on the whole call: connecting, waiting and streaming the full answer. */
  timeoutMs: number;
}

/** Sent when no key is configured: the SDK refuses to start without one, local servers ignore it. */
const PLACEHOLDER_API_KEY = 'not-needed';

/** An error code or type from the upstream body is echoed only when it looks like an identifier. */
const SAFE_IDENTIFIER = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Any OpenAI-compatible chat-completions API (OpenAI itself, Ollama, vLLM, llama.cpp server, ...), streamed
 * through the official SDK. One client per provider, so connections are pooled across calls.
 *
 * The SDK's own `timeout` only covers the time to the response headers, so the whole call (streaming
 * included) is bounded here by a timer on an internal AbortController that also follows the caller's signal.
 */
export class OpenAiProvider implements LlmProvider {
  readonly name = 'openai' as const;
  private readonly client: OpenAI;
  private readonly timeoutMs: number;
  private readonly apiKey: string | undefined;

  constructor(settings: OpenAiProviderSettings) {
    this.timeoutMs = settings.timeoutMs;
    this.apiKey = settings.apiKey || undefined;
    this.client = new OpenAI({
      baseURL: settings.baseUrl,
      apiKey: this.apiKey ?? PLACEHOLDER_API_KEY,
      // Not taken from OPENAI_ORG_ID / OPENAI_PROJECT_ID: they would be sent to whatever server baseUrl names.
      organization: null,
      project: null,
      timeout: settings.timeoutMs,
      maxRetries: 1,
      // The SDK logs to the console (malformed chunks verbatim); errors are mapped and reported by the caller.
      logLevel: 'off',
    });
  }

  async complete({ model, messages, promptTokens, signal, onDelta }: LlmRequest): Promise<LlmUsage> {
    if (signal.aborted) throw this.callerAbortError(signal);

    const controller = new AbortController();
    let timedOut = false;
    const followCaller = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', followCaller, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, this.timeoutMs);
    const stopError = (): LlmProviderError => (timedOut ? this.timeoutError() : this.callerAbortError(signal));
    // Settles the call as soon as either fires, even while the SDK sleeps between retries (that sleep ignores
    // the signal); the SDK then gives up on its own at its next check of the signal.
    const stopped = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(stopError()), { once: true });
    });

    let callbackError: { error: unknown } | undefined;
    const run = async (): Promise<LlmUsage> => {
      const stream = await this.client.chat.completions.create(
        {
          model,
          messages: messages.map((m) => ({ role: m.role, content: m.content })),
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal: controller.signal },
      );
      let text = '';
      let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
      for await (const chunk of stream) {
        if (controller.signal.aborted) break;
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (typeof delta === 'string' && delta.length > 0) {
          text += delta;
          try {
            onDelta(delta);
          } catch (error) {
            callbackError = { error };
            throw error;
          }
        }
      }
      // The SDK ends the iteration quietly (no error) when its signal aborts mid-stream.
      if (controller.signal.aborted) throw stopError();
      return {
        inputTokens: usage?.prompt_tokens ?? promptTokens ?? messages.reduce((n, m) => n + countMessageTokens(m), 0),
        outputTokens: usage?.completion_tokens ?? countTokens(text),
      };
    };

    try {
      return await Promise.race([run(), stopped]);
    } catch (error) {
      if (callbackError && callbackError.error === error) throw error;
      if (error instanceof LlmProviderError) throw error;
      if (controller.signal.aborted) throw stopError();
      throw this.toProviderError(error);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', followCaller);
    }
  }

  private timeoutError(): LlmProviderError {
    return new LlmProviderError('timeout', `no complete answer from the model within ${this.timeoutMs} ms`);
  }

  /** The caller's signal fired; a `TimeoutError` reason (AbortSignal.timeout) still counts as a timeout. */
  private callerAbortError(signal: AbortSignal): LlmProviderError {
    if (errorName(signal.reason) === 'TimeoutError') return this.timeoutError();
    return new LlmProviderError('aborted', 'client went away');
  }

  /** A short message without the upstream body (which may echo the prompt or the key). */
  private toProviderError(error: unknown): LlmProviderError {
    if (error instanceof APIUserAbortError) return new LlmProviderError('aborted', 'request aborted');
    if (error instanceof APIConnectionTimeoutError) return this.timeoutError();
    if (error instanceof APIConnectionError) {
      const code = causeCode(error);
      return this.upstream(`could not reach the model server${code ? ` (${code})` : ''}`);
    }
    if (error instanceof APIError) {
      const detail = [error.code, error.type].find(
        (v): v is string => typeof v === 'string' && SAFE_IDENTIFIER.test(v),
      );
      const what = error.status ? `model server answered HTTP ${error.status}` : 'model server sent an error event';
      return this.upstream(`${what}${detail ? ` (${detail})` : ''}`);
    }
    if (errorName(error) === 'SyntaxError') return this.upstream('malformed stream from the model server');
    return this.upstream('the model server stream failed');
  }

  private upstream(message: string): LlmProviderError {
    return new LlmProviderError('upstream', this.apiKey ? message.split(this.apiKey).join('[redacted]') : message);
  }
}

/** Duck-typed: errors from Node internals (undici, DOMException) fail `instanceof Error` under Jest's VM realm. */
function errorName(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined;
}

/** The system error code (ECONNREFUSED, ENOTFOUND, ...) under the SDK's error and fetch's "fetch failed". */
function causeCode(error: Error): string | undefined {
  let current: unknown = error.cause;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string' && SAFE_IDENTIFIER.test(code)) return code;
    current = cause;
  }
  return undefined;
}
