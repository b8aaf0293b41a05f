import type { z } from "zod";
import { isPlainObject } from "../json.js";
import { joinPath } from "./issues.js";

type AnySchema = z.core.$ZodType;

function def(schema: AnySchema): Record<string, unknown> & { type: string } {
  return schema._zod.def as unknown as Record<string, unknown> & { type: string };
}

/** Strip optional/default/pipe wrappers down to the schema that describes the input's shape. */
function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (let i = 0; i < 20; i++) {
    const d = def(current);
    if (["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(d.type)) {
      current = d.innerType as AnySchema;
    } else if (d.type === "pipe") {
      current = d.in as AnySchema;
    } else {
      return current;
    }
  }
  return current;
}

/**
 * Keys the schema does not know, such as a misspelt `temprature` or `populaton_size`: zod drops them silently,
 * so they are reported as warnings. Loose objects (metric options, test-case fields) accept anything.
 */
export function unknownKeys(schema: AnySchema, value: unknown, path = ""): string[] {
  const s = unwrap(schema);
  const d = def(s);
  if (d.type === "object" && isPlainObject(value)) {
    const shape = d.shape as Record<string, AnySchema>;
    const out: string[] = [];
    for (const [key, child] of Object.entries(value)) {
      const childSchema = shape[key];
      if (childSchema) out.push(...unknownKeys(childSchema, child, joinPath(path, key)));
      else if (!d.catchall) out.push(joinPath(path, key));
    }
    return out;
  }
  if (d.type === "record" && isPlainObject(value)) {
    return Object.entries(value).flatMap(([key, child]) => unknownKeys(d.valueType as AnySchema, child, joinPath(path, key)));
  }
  if (d.type === "array" && Array.isArray(value)) {
    return value.flatMap((item, i) => unknownKeys(d.element as AnySchema, item, `${path}[${i}]`));
  }
  return [];
}
