import { isPlainObject, type JsonValue } from "../json.js";
import { type ConfigIssue, fromZodIssues } from "./issues.js";
import { type TestCase, TestCaseSchema } from "./schema.js";

/** The three shapes a test-case file may hold: a list, `{test_cases: [...]}`, or one test case. */
export function testCaseList(value: unknown): unknown[] | null {
  if (Array.isArray(value)) return value;
  if (isPlainObject(value) && Array.isArray(value.test_cases)) return value.test_cases;
  if (isPlainObject(value) && ("input" in value || "expected" in value || "id" in value)) return [value];
  return null;
}

/** Validate and number test cases; ids are kept (or made from `name`, else `test_<n>`) and must be unique. */
export function normalizeTestCases(items: readonly unknown[], pathPrefix: string): { testCases: TestCase[]; errors: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const testCases: TestCase[] = [];
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const parsed = TestCaseSchema.safeParse(item);
    if (!parsed.success) {
      errors.push(...fromZodIssues(parsed.error.issues, `${pathPrefix}[${index}]`));
      return;
    }
    const { id, name, description, input, expected, metadata } = parsed.data;
    const caseId = id !== undefined ? String(id) : (name ?? `test_${index + 1}`);
    const first = seen.get(caseId);
    if (first !== undefined) {
      errors.push({ path: `${pathPrefix}[${index}].id`, message: `duplicate test case id '${caseId}' (also at [${first}])` });
      return;
    }
    seen.set(caseId, index);
    testCases.push({
      id: caseId,
      ...(description !== undefined ? { description } : {}),
      input: input as Record<string, JsonValue>,
      expected,
      metadata,
      weight: metadata.weight ?? 1,
    });
  });
  if (items.length === 0) errors.push({ path: pathPrefix, message: "holds no test cases" });
  else if (testCases.length > 0 && testCases.every((t) => t.weight === 0)) {
    errors.push({ path: pathPrefix, message: "every test case has metadata.weight 0: at least one needs a weight above 0" });
  }
  return { testCases, errors };
}
