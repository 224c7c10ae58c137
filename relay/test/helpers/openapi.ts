// Checks that a response conforms to spec/openapi.yaml for (method, concrete path, status):
// the path must match a documented path template, the status must be documented for that
// operation, and a JSON body must validate against its schema (JSON Schema 2020-12, ajv).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

export const SPEC_PATH = resolve(import.meta.dirname, '..', '..', '..', 'spec', 'openapi.yaml');

type Json = Record<string, unknown>;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

let cached: { doc: Json; ajv: Ajv2020; templates: { template: string; re: RegExp }[] } | undefined;

function load() {
  if (cached) return cached;
  const doc = parseYaml(readFileSync(SPEC_PATH, 'utf8')) as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  const templates = Object.keys(doc.paths as Json).map((template) => ({
    template,
    re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
  }));
  cached = { doc, ajv, templates };
  return cached;
}

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function deref(doc: Json, value: unknown): { node: Json; pointer?: string } {
  let node = value as Json;
  let pointer: string | undefined;
  for (let i = 0; i < 10 && typeof node?.$ref === 'string'; i++) {
    const ref = node.$ref as string;
    if (!ref.startsWith('#/')) throw new Error(`external $ref not supported: ${ref}`);
    pointer = ref.slice(1);
    node = ref
      .slice(2)
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<Json>((n, key) => n?.[key] as Json, doc);
  }
  return pointer === undefined ? { node } : { node, pointer };
}

/** Throws with a readable reason unless the response conforms to the spec. */
export function assertConformsToSpec(
  method: string,
  path: string,
  status: number,
  contentType: string | null,
  body: unknown,
): void {
  const { doc, ajv, templates } = load();
  const pathname = path.split('?')[0] ?? path;
  const match = templates.find((t) => t.re.test(pathname));
  if (!match) throw new Error(`spec: no path in openapi.yaml matches ${pathname}`);
  const m = method.toLowerCase();
  const op = (doc.paths as Json)[match.template] as Json;
  const operation = op[m] as Json | undefined;
  if (!operation) throw new Error(`spec: ${method} ${match.template} is not documented`);
  const responses = operation.responses as Json;
  const rawResponse = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
  if (!rawResponse) throw new Error(`spec: status ${status} not documented for ${method} ${match.template}`);
  const resolved = deref(doc, rawResponse);
  const response = resolved.node;
  let pointer = resolved.pointer;
  if (!pointer) {
    const key =
      String(status) in responses
        ? String(status)
        : `${String(status)[0]}XX` in responses
          ? `${String(status)[0]}XX`
          : 'default';
    pointer = `/paths/${escapePointer(match.template)}/${m}/responses/${key}`;
  }
  const content = response.content as Json | undefined;
  const isJson = (contentType ?? '').startsWith('application/json');
  if (!content) {
    if (isJson && body !== undefined && body !== '')
      throw new Error(`spec: ${method} ${match.template} ${status} documents no body but got JSON`);
    return;
  }
  const mediaKey = Object.keys(content).find((k) => (contentType ?? '').startsWith(k));
  if (!mediaKey)
    throw new Error(
      `spec: ${method} ${match.template} ${status}: content-type ${contentType} not documented`,
    );
  if (!isJson) return;
  const schemaPointer = `${pointer}/content/${escapePointer(mediaKey)}/schema`;
  const validate = ajv.getSchema(`openapi#${schemaPointer}`);
  if (!validate) throw new Error(`spec: cannot compile schema at ${schemaPointer}`);
  if (!validate(body))
    throw new Error(
      `spec: ${method} ${pathname} ${status} body does not conform: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
    );
}
