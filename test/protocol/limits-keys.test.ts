/** The limits' list of spec keys and the spec schemas accept the same keys: one may not drift from the other. */
import { describe, expect, it } from 'vitest';
import { SPEC_KEYS } from '../../src/protocol/limits.js';
import { CommandTaskSpecSchema, ModuleTaskSpecSchema } from '../../src/protocol/schemas.js';

describe('spec keys', () => {
  it('the limits know exactly the keys the schemas accept', () => {
    const shapeKeys = (schema: unknown) => Object.keys((schema as { shape: Record<string, unknown> }).shape);
    const accepted = new Set([...shapeKeys(ModuleTaskSpecSchema), ...shapeKeys(CommandTaskSpecSchema)]);
    expect([...SPEC_KEYS].sort()).toEqual([...accepted].sort());
  });
});
