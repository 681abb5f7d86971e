/**
 * `npm run schema`: prints the schema built from the Pothos code to
 * schema/schema.graphql. With --check it only compares and fails on a difference.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printSchemaFile } from '../src/api/schema/print.js';

const target = fileURLToPath(new URL('../schema/schema.graphql', import.meta.url));
const printed = printSchemaFile();
if (process.argv.includes('--check')) {
  const committed = readFileSync(target, 'utf8');
  if (committed !== printed) {
    console.error('schema/schema.graphql differs from the code: run npm run schema');
    process.exit(1);
  }
  console.log('schema/schema.graphql is up to date');
} else {
  writeFileSync(target, printed);
  console.log(`wrote ${target}`);
}
