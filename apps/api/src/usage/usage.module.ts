import { Module } from '@nestjs/common';
import { CapacityRecorder } from './capacity-recorder';
import { UsageController } from './usage.controller';
import { UsageRepository } from './usage.repository';
import { UsageService } from './usage.service';

/** Usage: the month's counters of a tenant (read here, written by chats) and the consumed-capacity recorder. */
@Module({
  controllers: [UsageController],
  providers: [UsageRepository, UsageService, CapacityRecorder],
  exports: [UsageService],
})
export class UsageModule {}
