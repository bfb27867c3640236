// A real OpenID Connect provider (the certified `oidc-provider` package) on a free loopback
// port, for the tests of sign-in with an external issuer (tests/tests/oidc_api.rs and the
// end-to-end suite). Clients get JWT access tokens with the client_credentials grant; each
// client stands for one person (its id is the token's `sub`) and carries the claims an
// identity provider such as Keycloak puts in its access tokens: email, name and
// realm_access.roles.
//
// Resource indicators choose the token's audience, signing algorithm and lifetime:
//   https://api.ticketbuster.test/rs256  audience `ticketbuster-api`, RS256
//   https://api.ticketbuster.test/es256  audience `ticketbuster-api`, ES256
//   https://api.ticketbuster.test/short  audience `ticketbuster-api`, RS256, valid 1 second
//   https://other.example.test/api       audience `other-api`, RS256
//
// A second provider, the impostor, has the same issuer and the same key ids but keys of
// its own: its tokens are "signed by another key".
//
// Test controls, beside the provider's own routes on the main port:
//   GET  /test/jwks-fetches  {"count": n}: how often the JWKS was fetched
//   POST /test/rotate        new signing keys (new key ids); the old ones leave the JWKS
//
// Prints one JSON line when listening: {"issuer", "impostor_token_endpoint"}.
// Environment: OIDC_AUDIENCE (default ticketbuster-api).

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const audience = process.env.OIDC_AUDIENCE || 'ticketbuster-api';

const people = [
  { client_id: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice Organizer', roles: ['offline_access', 'organizer'] },
  { client_id: 'bob', email: 'bob@example.com', email_verified: true, name: 'Bob Buyer', roles: ['offline_access', 'uma_authorization'] },
  { client_id: 'gina', email: 'gina@example.com', email_verified: false, name: 'Gina Gate', roles: 'gate' },
  { client_id: 'nemo', roles: [] },
];

const resources = {
  'https://api.ticketbuster.test/rs256': { audience, alg: 'RS256' },
  'https://api.ticketbuster.test/es256': { audience, alg: 'ES256' },
  'https://api.ticketbuster.test/short': { audience, alg: 'RS256', ttl: 1 },
  'https://other.example.test/api': { audience: 'other-api', alg: 'RS256' },
};

function signingKeys(generation) {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${generation}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `ec-${generation}`, alg: 'ES256', use: 'sig' },
  ];
}

function provider(issuer, keys) {
  const byClient = new Map(people.map((p) => [p.client_id, p]));
  const oidc = new Provider(issuer, {
    clients: people.map(({ client_id }) => ({
      client_id,
      client_secret: `${client_id}-secret`,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.ticketbuster.test/rs256',
        getResourceServerInfo: (_ctx, indicator) => {
          const resource = resources[indicator];
          if (!resource) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'api',
            audience: resource.audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: resource.ttl ?? 300,
            jwt: { sign: { alg: resource.alg } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const person = byClient.get(token.clientId);
      if (!person) return undefined;
      const { email, email_verified, name, roles } = person;
      return { email, email_verified, name, realm_access: { roles } };
    },
  });
  oidc.on('server_error', (_ctx, err) => console.error('oidc-provider:', err));
  return oidc;
}

function listen(handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

let jwksFetches = 0;
let generation = 1;
let current;

const port = await listen((req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path === '/test/jwks-fetches' && req.method === 'GET') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ count: jwksFetches }));
    return;
  }
  if (path === '/test/rotate' && req.method === 'POST') {
    generation += 1;
    current = provider(current.issuer, signingKeys(generation));
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ generation }));
    return;
  }
  if (path === '/jwks') jwksFetches += 1;
  current.callback()(req, res);
});
const issuer = `http://127.0.0.1:${port}`;
const keys = signingKeys(generation);
current = provider(issuer, keys);

// Same issuer and key ids, other key material.
const impostor = provider(issuer, signingKeys(generation).map((key, i) => ({ ...key, kid: keys[i].kid })));
const impostorPort = await listen(impostor.callback());

console.log(JSON.stringify({ issuer, impostor_token_endpoint: `http://127.0.0.1:${impostorPort}/token` }));
