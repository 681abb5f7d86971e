import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import { parseDescription } from '../../src/sdp/parse.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/sdp/${name}.sdp`, import.meta.url), 'utf8');
const MAX = 64 * 1024;

function invalid(sdp: string, type: 'offer' | 'answer' = 'offer', max = MAX): SwitchyardError {
  try {
    parseDescription(type, sdp, max);
  } catch (error) {
    expect(error).toBeInstanceOf(SwitchyardError);
    expect((error as SwitchyardError).code).toBe('INVALID_SDP');
    return error as SwitchyardError;
  }
  throw new Error('expected INVALID_SDP');
}

describe.each(['chrome', 'firefox', 'safari'])('a %s push offer (camera + microphone)', (browser) => {
  const description = parseDescription('offer', fixture(`${browser}-push`), MAX);

  it('has one sendonly video and one sendonly audio m-section with mids', () => {
    expect(description.sections.map((s) => [s.kind, s.direction, s.rejected])).toEqual([
      ['video', 'sendonly', false],
      ['audio', 'sendonly', false],
    ]);
    expect(new Set(description.sections.map((s) => s.mid)).size).toBe(2);
  });

  it('carries the DTLS and ICE identity of the bundled transport', () => {
    expect(description.transport?.fingerprint.algorithm).toBe('sha-256');
    expect(description.transport?.fingerprint.value).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(description.transport?.setup).toBe('actpass');
    expect(description.transport?.iceUfrag.length).toBeGreaterThan(0);
  });

  it('lists codecs with parameters, feedback and the RTX pairing', () => {
    const video = description.sections[0]!;
    const audio = description.sections[1]!;
    expect(audio.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus')).toMatchObject({ clockRate: 48000, channels: 2 });
    const vp8 = video.codecs.find((c) => c.mimeType.toLowerCase() === 'video/vp8')!;
    expect(vp8.rtcpFeedback).toEqual(expect.arrayContaining([{ type: 'nack', parameter: '' }, { type: 'nack', parameter: 'pli' }]));
    const rtx = video.codecs.find((c) => c.mimeType.toLowerCase() === 'video/rtx' && Number(c.parameters.apt) === vp8.payloadType);
    expect(rtx).toBeDefined();
    expect(video.headerExtensions.some((e) => e.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid')).toBe(true);
  });

  it('announces its send streams by SSRC', () => {
    const video = description.sections[0]!;
    expect(video.streams.length).toBeGreaterThanOrEqual(1);
    expect(video.streams[0]!.ssrc).toBeGreaterThan(0);
  });
});

describe.each(['chrome', 'firefox'])('a %s simulcast offer', (browser) => {
  it('lists the RIDs it sends in order', () => {
    const description = parseDescription('offer', fixture(`${browser}-simulcast`), MAX);
    expect(description.sections[0]!.sendRids).toEqual(['q', 'h', 'f']);
  });
});

describe.each(['chrome', 'firefox'])('a %s data-only offer', (browser) => {
  it('is one application m-section with SCTP', () => {
    const description = parseDescription('offer', fixture(`${browser}-data`), MAX);
    expect(description.sections).toHaveLength(1);
    expect(description.sections[0]).toMatchObject({ kind: 'application', rejected: false });
    expect(description.sections[0]!.sctp?.port).toBe(5000);
  });
});

describe('malformed or inconsistent SDP is INVALID_SDP', () => {
  const good = fixture('chrome-push');

  it('rejects text that is not SDP', () => {
    invalid('hello');
    invalid('');
  });

  it('refuses a description larger than the limit with LIMIT_EXCEEDED', () => {
    expect(() => parseDescription('offer', good, 1024)).toThrow(
      expect.objectContaining({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/larger than 1024 bytes/) }),
    );
  });

  it('rejects a description without a DTLS fingerprint', () => {
    expect(invalid(good.replace(/a=fingerprint:.*\r\n/g, '')).message).toMatch(/fingerprint/);
  });

  it('rejects a malformed fingerprint', () => {
    invalid(good.replace(/a=fingerprint:sha-256 [^\r]*/g, 'a=fingerprint:sha-256 ZZ:11'));
  });

  it('rejects m-sections outside BUNDLE', () => {
    expect(invalid(good.replace(/a=group:BUNDLE [^\r]*/, 'a=group:BUNDLE 0')).message).toMatch(/BUNDLE/);
  });

  it('rejects duplicated mids', () => {
    const dup = good.replace('a=mid:1', 'a=mid:0').replace(/a=group:BUNDLE [^\r]*/, 'a=group:BUNDLE 0');
    expect(invalid(dup).message).toMatch(/twice/);
  });

  it('rejects media without rtcp-mux', () => {
    expect(invalid(good.replace(/a=rtcp-mux\r\n/g, '')).message).toMatch(/rtcp-mux/);
  });

  it('rejects missing ICE credentials', () => {
    invalid(good.replace(/a=ice-ufrag:.*\r\n/g, ''));
  });

  it('rejects an answer that leaves the DTLS role open', () => {
    invalid(good, 'answer');
  });

  it('rejects invalid payload types and SSRCs', () => {
    invalid(good.replace(/m=video 9 UDP\/TLS\/RTP\/SAVPF \d+/, 'm=video 9 UDP/TLS/RTP/SAVPF 300'));
    invalid(good.replace(/a=ssrc:(\d+) cname/, 'a=ssrc:99999999999 cname'));
  });

  it('rejects a truncated description', () => {
    const truncated = good.slice(0, good.indexOf('a=mid:0'));
    invalid(truncated);
  });
});
