export * from './logger';
export * from './metrics.service';
export * from './observability.module';
export * from './request-id';
export * from './domain-error';
export * from './problem-schema';
