// The OpenID Connect provider the browser tests sign in through: oidc-provider with one client
// (the dashboard) and one person, configured by the test in the IDP_CONFIG environment variable:
//
//   {"port": 50123,
//    "client": {"id": "...", "secret": "...", "redirect_uri": "http://127.0.0.1:N/accounts/oidc/sso/login/callback/"},
//    "person": {"login": "dana", "password": "...", "claims": {"name": "...", "groups": [...], ...}}}
//
// The sign-in page is this script's own form, which checks the password (oidc-provider's
// development interactions accept any login with any password). Consent is not asked: the
// dashboard is the organisation's own application, as it is at a company IdP where an admin
// approved it once. Prints "listening" on stdout once it accepts connections.
import Provider from 'oidc-provider';
import { randomBytes } from 'node:crypto';

const config = JSON.parse(process.env.IDP_CONFIG ?? '');
const issuer = `http://127.0.0.1:${config.port}`;
const { person, client } = config;
const SCOPES = 'openid profile email groups';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: client.id,
      client_secret: client.secret,
      redirect_uris: [client.redirect_uri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    if (sub !== person.login) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...person.claims }) };
  },
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const existing = oidc.session.grantIdFor(oidc.client.clientId);
    if (existing) return oidc.provider.Grant.find(existing);
    const grant = new oidc.provider.Grant({
      clientId: oidc.client.clientId,
      accountId: oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPES);
    await grant.save();
    return grant;
  },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Test identity provider</title></head>
<body><main>
<h1>Test identity provider</h1>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
  <label for="login">Username</label> <input id="login" name="login" autocomplete="username" required>
  <label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
</main></body></html>`;
}

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name !== 'login') {
    ctx.throw(400, `unexpected prompt ${details.prompt.name}`);
  }
  ctx.type = 'html';
  if (ctx.method === 'GET') {
    ctx.body = loginPage(details.uid);
    return undefined;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await formBody(ctx.req);
  if (form.get('login') !== person.login || form.get('password') !== person.password) {
    ctx.status = 401;
    ctx.body = loginPage(details.uid, 'Wrong username or password.');
    return undefined;
  }
  const target = await provider.interactionResult(
    ctx.req,
    ctx.res,
    { login: { accountId: person.login } },
    { mergeWithLastSubmission: false },
  );
  ctx.status = 303;
  ctx.redirect(target);
  return undefined;
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write('listening\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
