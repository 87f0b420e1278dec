import fc from 'fast-check';

/** The parts of JSON Schema (as openapi.json uses it) that the generators read. */
export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
  items?: Schema;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  readOnly?: boolean;
}

export type Components = Record<string, Schema>;

function resolve(schema: Schema, components: Components): Schema {
  let s = schema;
  while (s.$ref) s = components[s.$ref.split('/').pop()!];
  return s;
}

/** A string the schema accepts: its pattern, format, enum or length bounds. */
function validString(s: Schema): fc.Arbitrary<string> {
  if (s.enum) return fc.constantFrom(...(s.enum as string[]));
  if (s.pattern) return fc.stringMatching(new RegExp(s.pattern));
  if (s.format === 'email') return fc.emailAddress().filter((e) => e.length <= (s.maxLength ?? 254));
  if (s.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
  return fc.string({ unit: 'grapheme', minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 60) });
}

/** Values the schema accepts (bounded sizes; optional properties sometimes left out). */
export function valid(schema: Schema, components: Components, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema, components);
  let arb: fc.Arbitrary<unknown>;
  if (s.enum) arb = fc.constantFrom(...s.enum);
  else if (s.type === 'string') arb = validString(s);
  else if (s.type === 'integer')
    arb = fc.integer({ min: s.minimum ?? -1_000_000, max: Math.min(s.maximum ?? 1_000_000, 2 ** 31 - 1) });
  else if (s.type === 'number') arb = fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true });
  else if (s.type === 'boolean') arb = fc.boolean();
  else if (s.type === 'array')
    arb = fc.array(valid(s.items ?? {}, components, depth + 1), { maxLength: Math.min(s.maxItems ?? 5, 5) });
  else if (s.type === 'object' || s.properties) {
    const props = Object.entries(s.properties ?? {}).filter(([, p]) => !p.readOnly);
    const required = new Set(s.required ?? []);
    arb =
      depth > 4
        ? fc.constant({})
        : fc.record(Object.fromEntries(props.map(([k, p]) => [k, valid(p, components, depth + 1)])), {
            requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)),
          });
  } else arb = fc.jsonValue({ maxDepth: 2 });
  return s.nullable ? fc.oneof(arb, fc.constant(null)) : arb;
}

/** A JSON value nested `depth` levels (the parser refuses more than 32). */
export function deep(depth: number): unknown {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** Values of the wrong kind, the classic attacks on a field. */
export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1e308, '', [], {}, '__proto__', 'constructor'),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer({ min: 1000, max: 200_000 }).map((n) => 'A'.repeat(n)),
  fc.constantFrom("' OR 1=1 --", '<script>alert(1)</script>', '../../etc/passwd', '%00', '\u0000\u0007\u001b'),
  fc.constant(JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}') as unknown),
  fc.integer({ min: 10, max: 40 }).map(deep),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A body that the schema should refuse, or an attack on the parser: wrong types, unknown properties, depth. */
export function invalidBody(schema: Schema, components: Components): fc.Arbitrary<unknown> {
  const s = resolve(schema, components);
  const props = Object.keys(s.properties ?? {});
  const base = valid(schema, components) as fc.Arbitrary<Record<string, unknown>>;
  return fc.oneof(
    // One field of the wrong kind.
    props.length > 0
      ? fc.tuple(base, fc.constantFrom(...props), hostile).map(([b, k, v]) => ({ ...b, [k]: v }))
      : hostile,
    // An unknown property beside valid ones.
    fc
      .tuple(base, fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 1 }))
      .filter(([, k]) => !props.includes(k))
      .map(([b, k, v]) => ({ ...b, [k]: v })),
    // Not an object at all, or nested past the parser's limit.
    fc.constantFrom<unknown>(null, [], [1, 2], 'text', 42, deep(40), deep(100)),
    fc.constant({ ...Object.fromEntries(props.map((k) => [k, 'A'.repeat(70_000)])) }),
  );
}
