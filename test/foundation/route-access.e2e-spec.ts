import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { ACCESS_METADATA, type AccessRule } from '@lib/auth';
import { startApp, type TestApp } from '../support/harness';

interface RouteInfo {
  route: string;
  rule: AccessRule | undefined;
}

/** Every route of every controller, with its declared access rule (handler first, then controller). */
export function listRoutes(t: TestApp): RouteInfo[] {
  const modules = t.app.get(ModulesContainer);
  const scanner = new MetadataScanner();
  const reflector = t.app.get(Reflector);
  const routes: RouteInfo[] = [];
  const controllers = [...modules.values()].flatMap((m) => [...m.controllers.values()]);
  for (const wrapper of controllers) {
    const instance = wrapper.instance as object | undefined;
    if (!instance) continue;
    const prototype = Object.getPrototypeOf(instance) as Record<string, (...args: unknown[]) => unknown>;
    const base = reflector.get<string>(PATH_METADATA, instance.constructor) ?? '';
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name];
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      if (path === undefined) continue;
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
      const rule = reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [
        handler,
        instance.constructor,
      ]);
      routes.push({ route: `${method} /${base}/${path}`.replace(/\/+/g, '/').replace(/\/$/, ''), rule });
    }
  }
  return routes;
}

describe('every route declares its access', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(() => t.close());

  it('has a permission or scope, or an explicit @Public(), on every route', () => {
    const routes = listRoutes(t);
    expect(routes.length).toBeGreaterThan(4);
    const undeclared = routes.filter((r) => !r.rule).map((r) => r.route);
    expect(undeclared).toEqual([]);
  });

  it('keeps the public surface to the known list', () => {
    const publicRoutes = listRoutes(t)
      .filter((r) => r.rule?.public)
      .map((r) => r.route)
      .sort();
    expect(publicRoutes).toEqual(
      [
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
        'POST /v1/auth/login',
        'POST /v1/auth/password-reset', // the reset token is the credential (throttled like login)
        'POST /v1/auth/refresh',
        'POST /v1/platform/auth/login',
        'POST /v1/platform/auth/refresh',
      ].sort(),
    );
  });
});
