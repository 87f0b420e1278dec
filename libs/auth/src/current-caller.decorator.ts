import { createParamDecorator } from '@nestjs/common';
import { type Caller, RequestContext } from '@lib/tenancy';

/** The verified caller of an authenticated route (set by AccessGuard before the handler runs). */
export const CurrentCaller = createParamDecorator((_data: unknown): Caller => {
  const caller = RequestContext.caller();
  if (!caller) throw new Error('CurrentCaller used on a route without @Authenticated');
  return caller;
});
