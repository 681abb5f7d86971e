/**
 * npm run token -- mints a client token, as an app backend would with
 * mintClientToken(). The app's secret comes from --secret, or from APPS /
 * APPS_FILE by --app; with no apps configured, the development app's.
 *
 *   npm run token -- --app acme --sub alice --create-session \
 *     --publish-names 'cam,mic' --publish-tags 'room:lobby' --pull-tags 'room:lobby'
 */
import { parseArgs } from 'node:util';
import { DEVELOPMENT_APP } from '../src/auth/principal.js';
import type { GrantInput } from '../src/auth/grant.js';
import { mintClientToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config/config.js';

const USAGE = `usage: npm run token -- [options]
  --app <id>              app id (default: the only configured app, or "dev")
  --secret <secret>       the app secret (default: read from APPS / APPS_FILE)
  --sub <subject>         who the token is for; sessions it creates belong to this subject
  --ttl <seconds>         lifetime, 1 to 86400 (default 600)
  --create-session        may create sessions
  --sessions <ids>        comma-separated sessions it may act on besides its own
  --publish-names <list>  names it may publish (patterns with *; default * when other publish options are given)
  --publish-tags <list>   tags it may publish with
  --pull-sessions <ids>   sessions whose tracks it may pull
  --pull-tags <list>      it may pull tracks that carry one of these tags
  --adapters              may create and close WebSocket adapters (of tracks it may pull, under names it may publish)
  --record                may start and stop recordings of the tracks it may pull
  --grant <json>          the whole grant as JSON (instead of the options above)`;

const list = (value: string | undefined) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: 'string' },
      secret: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string' },
      'create-session': { type: 'boolean' },
      sessions: { type: 'string' },
      'publish-names': { type: 'string' },
      'publish-tags': { type: 'string' },
      'pull-sessions': { type: 'string' },
      'pull-tags': { type: 'string' },
      adapters: { type: 'boolean' },
      record: { type: 'boolean' },
      grant: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const apps = loadConfig({ ...process.env, NODE_ENV: undefined, SWITCHYARD_MODE: 'development' }).apps;
  const appId = values.app ?? (apps.length === 1 ? apps[0]?.id : apps.length === 0 ? DEVELOPMENT_APP.id : undefined);
  if (!appId) throw new Error(`several apps are configured (${apps.map((a) => a.id).join(', ')}): choose one with --app`);
  const secret = values.secret ?? apps.find((a) => a.id === appId)?.secret ?? (appId === DEVELOPMENT_APP.id ? DEVELOPMENT_APP.secret : undefined);
  if (!secret) throw new Error(`no secret for app ${appId}: pass --secret or configure it in APPS / APPS_FILE`);

  let grant: GrantInput;
  if (values.grant) {
    grant = JSON.parse(values.grant) as GrantInput;
  } else {
    const publishing = values['publish-names'] ?? values['publish-tags'];
    const pulling = values['pull-sessions'] ?? values['pull-tags'];
    grant = {
      createSession: Boolean(values['create-session']),
      sessions: list(values.sessions) ?? [],
      publish: publishing ? { names: list(values['publish-names']) ?? ['*'], tags: list(values['publish-tags']) ?? [] } : null,
      pull: pulling ? { sessions: list(values['pull-sessions']) ?? [], tags: list(values['pull-tags']) ?? [] } : null,
      adapters: Boolean(values.adapters),
      record: Boolean(values.record),
    };
  }
  const token = await mintClientToken({
    appId,
    secret,
    grant,
    ttlSeconds: values.ttl ? Number(values.ttl) : 600,
    ...(values.sub ? { subject: values.sub } : {}),
  });
  console.log(token);
}

main().catch((error: unknown) => {
  console.error(`token: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exit(2);
});
