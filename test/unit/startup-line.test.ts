import { describe, expect, it } from 'vitest';
import { startedMessage } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';

const URL = 'http://127.0.0.1:4000';

describe('the "Switchyard is up" log line', () => {
  it('in development names the API, GraphiQL and the room demo', () => {
    expect(startedMessage(URL, loadConfig({}))).toBe(
      'Switchyard is up: API at http://127.0.0.1:4000/graphql, GraphiQL at http://127.0.0.1:4000/graphql (in a browser), room demo at http://127.0.0.1:4000/demo/',
    );
  });

  it('in production names only the API, since GraphiQL and the demo are off', () => {
    const production = loadConfig({ NODE_ENV: 'production', APPS: `acme:${'a'.repeat(40)}` });
    expect(startedMessage(URL, production)).toBe('Switchyard is up: API at http://127.0.0.1:4000/graphql');
    expect(startedMessage(URL, { ...production, demo: true })).toBe(
      'Switchyard is up: API at http://127.0.0.1:4000/graphql, room demo at http://127.0.0.1:4000/demo/',
    );
  });
});
