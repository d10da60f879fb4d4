/**
 * @module io/http/routes/peer-fanout
 * Asking the other gateways of a group (issue 16: "a patient's trend and history include
 * every gateway's readings … by asking each gateway"): a data route that answers for the
 * readings its gateway stored also asks every peer (io/shared PgPeers) the same question,
 * with the nurse's own session cookie (the group's sessions: the peer checks her role and
 * audits her view itself) and the header `x-vitaltrail-peer`, which makes the peer answer
 * for its own readings only (no second round). A peer that does not answer within the time
 * limit, or answers an error, is named in `missing`: the caller says the answer is partial.
 */
import type { FastifyRequest } from 'fastify';

/** Marks a request made by another gateway of the group: answer with this gateway's readings only. */
export const PEER_HEADER = 'x-vitaltrail-peer';
/** How long a peer may take. */
export const PEER_TIMEOUT_MS = 3000;

/** Where the other gateways of the group are. */
export interface PeerDirectory {
  peers(): Promise<{ gatewayId: string; url: string }[]>;
}

/** Which gateways a group answer holds (`missing`: asked, but no answer). */
export interface PeerSources {
  gateways: string[];
  missing: string[];
}

/** True when the request came from another gateway (then it is not passed on). */
export const fromPeer = (request: FastifyRequest): boolean => request.headers[PEER_HEADER] === '1';

/**
 * Asks every peer for `path` (with the query) as the caller; resolves with the answers that
 * came (status 200, JSON) and the gateways that did not answer.
 */
export async function askPeers<T>(
  directory: PeerDirectory,
  request: FastifyRequest,
  path: string,
  timeoutMs = PEER_TIMEOUT_MS,
): Promise<{ answers: { gatewayId: string; body: T }[]; missing: string[] }> {
  let peers: { gatewayId: string; url: string }[];
  try {
    peers = await directory.peers();
  } catch {
    return { answers: [], missing: ['(the group database)'] };
  }
  const cookie = request.headers.cookie ?? '';
  const results = await Promise.all(
    peers.map(async (p) => {
      try {
        const res = await fetch(new URL(path, p.url), {
          headers: { cookie, [PEER_HEADER]: '1', accept: 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        if (res.status !== 200) return { gatewayId: p.gatewayId, body: null };
        return { gatewayId: p.gatewayId, body: (await res.json()) as T };
      } catch {
        return { gatewayId: p.gatewayId, body: null };
      }
    }),
  );
  return {
    answers: results.filter((r): r is { gatewayId: string; body: T } => r.body !== null),
    missing: results.filter((r) => r.body === null).map((r) => r.gatewayId),
  };
}

/** This gateway's id and where the group's others are. */
export interface PeerGroup {
  gatewayId: string;
  peers: PeerDirectory;
}

/**
 * `mine` alone for a lone gateway or a peer's request; else `mine` merged with every peer's
 * answer to the same request, with `sources` (the gateways answered for, and those asked that
 * did not answer or refused). The ward's data routes and the care routes answer this way.
 */
export async function withPeers<B extends object>(
  group: PeerGroup | undefined,
  req: FastifyRequest,
  mine: B,
  merge: (mine: B, theirs: B[]) => B,
): Promise<B | (B & { sources: PeerSources })> {
  if (!group || fromPeer(req)) return mine;
  const { answers, missing } = await askPeers<B>(group.peers, req, req.url);
  return {
    ...merge(
      mine,
      answers.map((a) => a.body),
    ),
    sources: { gateways: [group.gatewayId, ...answers.map((a) => a.gatewayId)], missing },
  };
}
