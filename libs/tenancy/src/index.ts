export * from './control-table.service';
export * from './request-context';
export * from './tenancy.module';
export * from './tenant-registry';
export * from './tenant-repository.base';
export * from './feed-cache';
export * from './change-feed';
export * from './data/tenant-table';
