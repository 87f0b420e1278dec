import { Injectable } from '@nestjs/common';
import { AppConfig } from '@lib/config';
import { type ResolvedTenant, tenantLlmApiKey } from '@lib/tenancy';
import { LRUCache } from 'lru-cache';
import { EchoProvider } from './echo.provider';
import type { LlmProvider } from './llm-provider';
import { OpenAiProvider } from './openai.provider';

export interface ResolvedLlm {
  provider: LlmProvider;
  model: string;
}

/**
 * The provider and model for a tenant: the tenant's `settings.llm` (set by an operator) over the deployment's
 * LLM_* settings. One client per distinct setting, reused (keep-alive) across requests.
 */
@Injectable()
export class LlmRegistry {
  private readonly echo: EchoProvider;
  private readonly clients = new LRUCache<string, LlmProvider>({ max: 1000 });

  constructor(private readonly config: AppConfig) {
    this.echo = new EchoProvider(config.llm.echoDelayMs);
  }

  forTenant(tenant: ResolvedTenant): ResolvedLlm {
    const own = tenant.settings.llm ?? {};
    const base = this.config.llm;
    const name = own.provider ?? base.provider;
    if (name === 'echo')
      return { provider: this.echo, model: own.model ?? (base.provider === 'echo' ? base.model : 'echo-1') };
    const settings = {
      baseUrl: own.baseUrl ?? base.baseUrl,
      apiKey: tenantLlmApiKey(tenant, this.config.secrets) ?? base.apiKey,
      timeoutMs: base.timeoutMs,
    };
    const cacheKey = JSON.stringify(settings);
    let provider = this.clients.get(cacheKey);
    if (!provider) {
      provider = new OpenAiProvider(settings);
      this.clients.set(cacheKey, provider);
    }
    return { provider, model: own.model ?? base.model };
  }
}
