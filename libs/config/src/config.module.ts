import { type DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';
import { FaultHooks } from './fault-hooks';

/** Provides the one AppConfig read at boot, and the crash points it may arm (FaultHooks), to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: AppConfig, useValue: config }, FaultHooks],
      exports: [AppConfig, FaultHooks],
    };
  }
}
