import semver from 'semver';
import type {Dispatcher} from 'undici';
import {z} from 'zod';

import {DownloadError, InterruptedError, RefusedError, UsageError} from './errors.js';
import {type HttpTimeouts, isRedirectLoop, request, timeoutsFromEnv, tooManyRedirects} from './http.js';
import {inlineData} from './terminal-text.js';

const MAX_INDEX_BYTES = 8 * 1024 * 1024;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/i, 'must be 64 hex digits');

const feedReleaseSchema = z.object({
  version: z
    .string()
    .refine((v) => semver.valid(v) !== null, 'must be a semantic version like 1.4.0')
    // Build metadata is dropped by semver comparison, so 1.4.0+b7 could never match its release.json.
    .refine((v) => !v.includes('+'), 'must not carry build metadata (+...): versions must be unique without it'),
  artifact: z.string().min(1),
  bundle: z.string().min(1),
  sha256: sha256Hex,
  size: z.number().int().positive(),
  /** Display hints only (parako check, the dry run's versions in between): the signed release.json decides. */
  migration: z.boolean().optional(),
  breaking: z.array(z.string()).optional(),
  notes: z.string().optional(),
});

const feedIndexSchema = z.object({
  schemaVersion: z.literal(1),
  app: z.string().min(1),
  releases: z.array(feedReleaseSchema),
});

/** One release as the feed lists it, with URLs resolved against the index. */
export interface FeedRelease {
  version: string;
  artifactUrl: string;
  bundleUrl: string;
  sha256: string;
  size: number;
  /** Unsigned display hints from the index; the signed release.json decides what runs. */
  migration?: boolean;
  breaking?: string[];
  notes?: string;
}

export interface FeedIndex {
  url: string;
  app: string;
  releases: FeedRelease[];
}

/**
 * Fetches and validates `index.json`. The index is untrusted: it only says where to look;
 * what it claims is checked against the signature and `release.json` later.
 */
export async function fetchIndex(url: string, expectedApp: string, client: Dispatcher, signal?: AbortSignal): Promise<FeedIndex> {
  let body: string;
  try {
    const response = await request(url, {dispatcher: client, signal, headers: {accept: 'application/json'}});
    const redirected = tooManyRedirects(url, response.statusCode);
    if (redirected !== undefined) {
      await response.body.dump();
      throw new DownloadError(`the release feed ${redirected}`, {next: 'check source.index in parako.json (the final URL, not one that redirects); nothing was changed'});
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new DownloadError(`the release feed ${url} answered HTTP ${response.statusCode}`, {
        next: 'check source.index in parako.json and that the feed server is up; nothing was changed',
      });
    }
    body = await readCapped(response.body, MAX_INDEX_BYTES, url);
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    if (signal?.aborted) {
      throw new InterruptedError(`interrupted while fetching the release feed ${url}; nothing was changed`, {next: 'run the command again when ready'});
    }
    throw new DownloadError(`cannot fetch the release feed ${url}: ${describeNetworkError(error)}`, {
      next: 'check the network, the proxy (HTTPS_PROXY/NO_PROXY) and source.index in parako.json; nothing was changed',
      cause: error,
    });
  }
  return parseIndex(body, url, expectedApp);
}

export function parseIndex(body: string, url: string, expectedApp: string): FeedIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    // Whatever the server sent (an HTML page, or escape sequences) is quoted, never obeyed.
    const start = inlineData(body.trimStart().slice(0, 200).replaceAll(/\s+/g, ' '), 60);
    throw new DownloadError(`the release feed ${url} is not JSON (it starts with "${start}")`, {
      next: 'source.index must point at the feed\'s index.json, not a web page; nothing was changed',
    });
  }
  const result = feedIndexSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new DownloadError(`the release feed ${url} is malformed:\n  ${issues.join('\n  ')}`, {
      next: 'tell the publisher; nothing was changed',
    });
  }
  if (result.data.app !== expectedApp) {
    throw new DownloadError(`the release feed ${url} is for app "${inlineData(result.data.app)}", but this host runs "${expectedApp}"`, {
      next: 'check source.index and app in parako.json; nothing was changed',
    });
  }
  const seen = new Set<string>();
  const releases: FeedRelease[] = [];
  for (const entry of result.data.releases) {
    const version = semver.valid(entry.version)!;
    if (seen.has(version)) {
      throw new DownloadError(`the release feed ${url} lists version ${version} twice`, {next: 'tell the publisher; nothing was changed'});
    }
    seen.add(version);
    releases.push({
      version,
      artifactUrl: resolveUrl(entry.artifact, url),
      bundleUrl: resolveUrl(entry.bundle, url),
      sha256: entry.sha256.toLowerCase(),
      size: entry.size,
      migration: entry.migration,
      breaking: entry.breaking,
      notes: entry.notes,
    });
  }
  return {url, app: result.data.app, releases: releases.sort((a, b) => semver.rcompare(a.version, b.version))};
}

function resolveUrl(relative: string, base: string): string {
  const resolved = new URL(relative, base);
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    throw new DownloadError(`the release feed names ${inlineData(resolved.href)}, which is not http(s)`);
  }
  return resolved.href;
}

export interface ResolveOptions {
  /** `latest`, `1.4.0`, `v1.4.0` or a semver range. */
  spec: string;
  current?: string;
  allowDowngrade: boolean;
  /** Versions marked bad by a failed health check: skipped by `latest` and ranges. */
  bad: Set<string>;
  /** `updates.channel`: `latest` and ranges pick within it; an exact version outside it is refused. */
  channel?: string;
}

export interface Resolution {
  release: FeedRelease;
  skippedBad: string[];
}

/** Picks the version to install, or refuses (code 5) / reports bad input (code 2). */
export function resolveVersion(index: FeedIndex, options: ResolveOptions): Resolution {
  const {spec, current, allowDowngrade, bad, channel} = options;
  const inChannel = (version: string) => channel === undefined || semver.satisfies(version, channel);
  const exact = semver.valid(semver.clean(spec) ?? '');
  let release: FeedRelease | undefined;
  const skippedBad: string[] = [];
  if (exact !== null) {
    release = index.releases.find((r) => r.version === exact);
    if (release === undefined) {
      throw new UsageError(`version ${exact} is not in the feed (${index.url})`, {
        next: `parako releases lists what the feed offers; nothing was changed`,
      });
    }
    if (!inChannel(exact)) {
      throw new RefusedError(`v${exact} is outside the channel "${channel}" this host follows (updates.channel in parako.json)`, {
        next: `to install it, change updates.channel so it includes ${exact}; nothing was changed`,
      });
    }
  } else {
    const range = spec === 'latest' ? '*' : semver.validRange(spec);
    if (range === null) {
      throw new UsageError(`--version "${spec}" is not a version, a semver range or "latest"`);
    }
    for (const candidate of index.releases) {
      if (!semver.satisfies(candidate.version, range) || !inChannel(candidate.version)) continue;
      if (bad.has(candidate.version)) {
        skippedBad.push(candidate.version);
        continue;
      }
      release = candidate;
      break;
    }
    if (release === undefined) {
      throw new UsageError(
        spec === 'latest' && index.releases.length === 0
          ? `the feed ${index.url} lists no releases`
          : `no release in the feed matches "${spec}"${channel === undefined ? '' : ` within the channel "${channel}"`}${skippedBad.length > 0 ? ` (skipped ${skippedBad.join(', ')}: failed health before)` : ''}`,
        {next: 'parako releases lists what the feed offers; nothing was changed'},
      );
    }
  }
  if (current !== undefined && semver.lt(release.version, current) && !allowDowngrade) {
    throw new RefusedError(`v${release.version} is older than the running v${current}; refusing to downgrade`, {
      next: `to go back to a retained release use parako rollback --to v${release.version}; to install it anyway use parako update --version ${release.version} --allow-downgrade. Nothing was changed.`,
    });
  }
  return {release, skippedBad};
}

async function readCapped(body: AsyncIterable<Buffer>, limit: number, url: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) throw new DownloadError(`the release feed ${url} is larger than ${limit} bytes; refusing to read it`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** undici's timeout codes, in the operator's words, with the variable that sets each. */
const TIMEOUT_HINTS: Record<string, [string, string, keyof HttpTimeouts]> = {
  UND_ERR_CONNECT_TIMEOUT: ['the server did not accept the connection in time', 'PARAKO_HTTP_CONNECT_TIMEOUT_MS', 'connectMs'],
  UND_ERR_HEADERS_TIMEOUT: ['the server did not answer in time', 'PARAKO_HTTP_HEADERS_TIMEOUT_MS', 'headersMs'],
  UND_ERR_BODY_TIMEOUT: ['the server stopped sending in the middle of the body (idle timeout)', 'PARAKO_HTTP_IDLE_TIMEOUT_MS', 'idleMs'],
};

export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (isRedirectLoop(error)) return 'the server redirects in a loop (to the URL it was asked for)';
  const timeout = TIMEOUT_HINTS[(error as {code?: string}).code ?? ''];
  if (timeout !== undefined) return `${timeout[0]} (${timeout[1]}=${timeoutsFromEnv()[timeout[2]]} ms; raise it for a slow link)`;
  const code = (error as {code?: string}).code;
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return code === undefined ? `${error.message}${cause}` : `${error.message} (${code})${cause}`;
}
