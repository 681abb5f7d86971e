import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const PRODUCTION = { NODE_ENV: 'production', APPS: `acme:${'a'.repeat(40)}` };

describe('loadConfig: HOST', () => {
  it('binds to loopback in development mode, so the open development app is not on the network', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ SWITCHYARD_MODE: 'development', APPS: PRODUCTION.APPS }).host).toBe('127.0.0.1');
  });

  it('binds to every interface in production mode', () => {
    expect(loadConfig(PRODUCTION).host).toBe('0.0.0.0');
    expect(loadConfig({ SWITCHYARD_MODE: 'production', APPS: PRODUCTION.APPS }).host).toBe('0.0.0.0');
  });

  it('takes HOST over either default; an empty HOST is the default', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ ...PRODUCTION, HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    expect(loadConfig({ ...PRODUCTION, HOST: '' }).host).toBe('0.0.0.0');
  });
});

describe('loadConfig: CORS_ORIGINS', () => {
  it('allows any origin in development and none in production by default', () => {
    expect(loadConfig({}).corsOrigins).toEqual(['*']);
    expect(loadConfig(PRODUCTION).corsOrigins).toEqual([]);
    expect(loadConfig({ ...PRODUCTION, CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
  });

  it('reads * and comma-separated origins', () => {
    expect(loadConfig({ ...PRODUCTION, CORS_ORIGINS: '*' }).corsOrigins).toEqual(['*']);
    expect(loadConfig({ ...PRODUCTION, CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(loadConfig({ CORS_ORIGINS: 'https://App.Example.com' }).corsOrigins).toEqual(['https://app.example.com']);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com' }).corsOrigins).toEqual(['https://app.example.com']);
  });

  it.each([
    ['https://app.example.com/', /no path.*"https:\/\/app\.example\.com\/" \(did you mean https:\/\/app\.example\.com\?\)/],
    ['https://app.example.com/room', /did you mean https:\/\/app\.example\.com\?/],
    ['https://app.example.com:443', /did you mean https:\/\/app\.example\.com\?/],
    ['app.example.com', /"app\.example\.com"$/],
    ['ftp://files.example.com', /"ftp:\/\/files\.example\.com"$/],
    ['https://a.example.com,,https://b.example.com', /got ""/],
    ['null', /got "null"/],
  ])('refuses %s with an error that names CORS_ORIGINS', (value, message) => {
    const load = () => loadConfig({ ...PRODUCTION, CORS_ORIGINS: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/^CORS_ORIGINS must be \* or comma-separated origins such as https:\/\/app\.example\.com/);
    expect(load).toThrow(message);
  });
});
