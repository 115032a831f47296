import {access} from 'node:fs/promises';
import {resolve} from 'node:path';
import {Args, Flags} from '@oclif/core';

import {ParakoCommand} from '../cli/base.js';
import {loadConfig, verifyPolicySchema, type VerifyPolicy} from '../core/config.js';
import {ConfigError, VerificationError} from '../core/errors.js';
import {Layout} from '../core/layout.js';
import type {OperationResult} from '../core/operation.js';
import {verifyArtifact} from '../core/verify.js';

export default class Verify extends ParakoCommand {
  static override summary = "Verify a file against a Sigstore bundle with the host's policy, as cosign verify-blob would";
  static override description = `Without policy flags, the "verify" section of <dir>/parako.json is the policy.
With them (the cosign spellings), no config is needed. Without --bundle, the bundle is
<artifact>.sigstore.json, as cosign sign-blob --bundle names it. Exit 0: verified; exit 3: not.`;
  static override examples = [
    '<%= config.bin %> verify app-v1.4.0.tar.gz',
    '<%= config.bin %> verify app-v1.4.0.tar.gz --bundle app-v1.4.0.tar.gz.sigstore.json',
    '<%= config.bin %> verify app.tar.gz --bundle app.tar.gz.sigstore.json --key cosign.pub',
    '<%= config.bin %> verify app.tar.gz --bundle b.json --certificate-identity-regexp "^https://github\\.com/acme/" --certificate-oidc-issuer https://token.actions.githubusercontent.com',
  ];

  static override args = {
    artifact: Args.string({description: 'the file that was signed', required: true}),
  };

  static override flags = {
    bundle: Flags.string({description: 'the Sigstore bundle (cosign sign-blob --bundle); default: <artifact>.sigstore.json'}),
    key: Flags.string({description: 'PEM public key: verify like cosign verify-blob --key'}),
    'certificate-identity': Flags.string({description: 'exact signer identity (keyless)'}),
    'certificate-identity-regexp': Flags.string({description: 'signer identity pattern (keyless)'}),
    'certificate-oidc-issuer': Flags.string({description: 'OIDC issuer of the signing certificate (keyless)'}),
    'trusted-root': Flags.string({description: 'a Sigstore trusted_root.json (private instance / air-gapped)'}),
    'require-tlog': Flags.boolean({description: 'require a transparency-log entry (default: keyless yes, key no)', allowNo: true}),
    sha256: Flags.string({description: 'the artifact must also have this SHA-256 (hex)'}),
  };

  protected async execute(): Promise<OperationResult> {
    const {args, flags} = await this.parseFlags(Verify);
    const bundlePath = flags.bundle ?? (await defaultBundle(args.artifact));
    const fromFlags = flags.key !== undefined || flags['certificate-oidc-issuer'] !== undefined || flags['certificate-identity'] !== undefined || flags['certificate-identity-regexp'] !== undefined;
    const layout = new Layout(flags.dir);
    const policy: VerifyPolicy = fromFlags
      ? policyFromFlags(flags)
      : await loadConfig(layout.dir).then((config) => ({
          ...config.verify,
          // A path given on the command line is relative to where the operator stands, like --bundle.
          ...(flags['trusted-root'] === undefined ? {} : {trustedRoot: resolve(flags['trusted-root'])}),
          ...(flags['require-tlog'] === undefined ? {} : {requireTlog: flags['require-tlog']}),
        }));
    const verified = await verifyArtifact({
      artifactPath: args.artifact,
      bundlePath,
      policy,
      expectedSha256: flags.sha256?.toLowerCase(),
      baseDir: fromFlags ? process.cwd() : layout.dir,
    });
    this.terminal.say(`signer: ${verified.signer}${verified.issuer === undefined ? '' : `\nissuer: ${verified.issuer}`}${verified.tlogIndex === undefined ? '' : `\ntransparency log index: ${verified.tlogIndex}`}\nsha256: ${verified.sha256}`);
    return {code: 0, outcome: 'verified', message: 'Verified OK', from: null, to: null, verified};
  }
}

/**
 * `<artifact>.sigstore.json`, the name cosign users give the bundle. Only its absence is
 * explained here, since the operator did not name the file; any other read failure is
 * reported by verifyArtifact like one of an explicit --bundle.
 */
async function defaultBundle(artifact: string): Promise<string> {
  const bundlePath = `${artifact}.sigstore.json`;
  try {
    await access(bundlePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VerificationError(`no signature bundle for ${artifact}: without --bundle, parako looked for ${bundlePath} and it does not exist`, {
        next: `pass --bundle <file>: the bundle that cosign sign-blob --bundle wrote for ${artifact}`,
      });
    }
    // Any other failure (a permission) is reported by verifyArtifact when it reads the bundle.
  }
  return bundlePath;
}

function policyFromFlags(flags: Record<string, unknown>): VerifyPolicy {
  const result = verifyPolicySchema.safeParse({
    key: flags.key,
    issuer: flags['certificate-oidc-issuer'],
    identity: flags['certificate-identity'],
    identityRegExp: flags['certificate-identity-regexp'],
    trustedRoot: flags['trusted-root'],
    requireTlog: flags['require-tlog'],
  });
  if (result.success) return result.data;
  const names: Record<string, string> = {key: '--key', issuer: '--certificate-oidc-issuer', identity: '--certificate-identity', identityRegExp: '--certificate-identity-regexp'};
  const message = result.error.issues
    .map((i) => `${i.path.length > 0 ? `${names[String(i.path[0])] ?? String(i.path[0])}: ` : ''}${i.message}`)
    .join('; ')
    .replaceAll(/"(key|issuer|identity|identityRegExp)"/g, (_m, key: string) => names[key] ?? key);
  throw new ConfigError(`bad verification flags: ${message}`, {next: 'parako verify --help shows the cosign-style flags'});
}
