import 'reflect-metadata';
import './node-support';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateOpenApi } from './openapi';

/** `npm run openapi`: writes openapi.json at the repository root. */
void generateOpenApi().then(
  (doc) => {
    const file = resolve(process.argv[2] ?? 'openapi.json');
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    process.stdout.write(`wrote ${file} (${Object.keys(doc.paths).length} paths)\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`openapi generation failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
