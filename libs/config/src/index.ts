export * from './app-config';
export * from './config.errors';
export * from './config.module';
export * from './duration';
export * from './load-config';
export * from './fault-rules';
export * from './fault-hooks';
export * from './secret-box';
