import { readFileSync } from 'node:fs';
import { buildSchema as parseSdl, isEnumType, isInputObjectType, isObjectType, isScalarType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printSchemaFile } from '../../src/api/schema/print.js';

const committed = readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
const contractPath = new URL('../../../shared/contract/api.graphql', import.meta.url);

describe('the printed schema', () => {
  it('is what the code builds (run npm run schema after changing the API)', () => {
    expect(committed).toBe(printSchemaFile());
  });

  it('holds the contract: every type, field, argument and enum value with the same type', () => {
    let contractSdl: string;
    try {
      contractSdl = readFileSync(contractPath, 'utf8');
    } catch {
      // The contract lives beside the repository (../shared); outside that layout there is nothing to compare.
      expect.fail('the API contract ../shared/contract/api.graphql is missing');
    }
    const contract = parseSdl(contractSdl);
    const schema = parseSdl(committed);
    const problems: string[] = [];
    for (const want of Object.values(contract.getTypeMap())) {
      if (want.name.startsWith('__')) continue;
      const have = schema.getType(want.name);
      if (!have) {
        problems.push(`missing type ${want.name}`);
        continue;
      }
      if (isScalarType(want) && isScalarType(have)) {
        continue;
      } else if (isEnumType(want) && isEnumType(have)) {
        for (const value of want.getValues()) if (!have.getValue(value.name)) problems.push(`${want.name}.${value.name}`);
      } else if ((isObjectType(want) || isInputObjectType(want)) && (isObjectType(have) || isInputObjectType(have))) {
        const fields = have.getFields();
        for (const [name, field] of Object.entries(want.getFields())) {
          const got = fields[name];
          if (!got) problems.push(`${want.name}.${name} is missing`);
          else if (String(got.type) !== String(field.type)) problems.push(`${want.name}.${name}: ${got.type} != ${field.type}`);
          const args = 'args' in field ? field.args : [];
          for (const arg of args) {
            const gotArg = 'args' in got! ? got.args.find((a) => a.name === arg.name) : undefined;
            if (!gotArg || String(gotArg.type) !== String(arg.type)) problems.push(`${want.name}.${name}(${arg.name})`);
          }
        }
      } else {
        problems.push(`${want.name} has another kind of type`);
      }
    }
    expect(problems).toEqual([]);
  });
});
