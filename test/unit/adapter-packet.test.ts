import { describe, expect, it } from 'vitest';
import { decodePacket, encodePacket } from '../../src/adapters/websocket/packet.js';

describe('the WebSocket adapter Packet', () => {
  it('encodes fields 1, 2 and 5 as protobuf does', () => {
    const bytes = Buffer.from(encodePacket({ sequenceNumber: 1, timestamp: 300, payload: new Uint8Array([7, 8]) }));
    // field 1 varint 1; field 2 varint 300 (0xac 0x02); field 5 length-delimited 2 bytes.
    expect(bytes.toString('hex')).toBe('080110ac022a020708');
  });

  it('decodes what it encodes, and a service packet with only a payload', () => {
    const payload = new Uint8Array(3840).fill(5);
    expect(decodePacket(encodePacket({ sequenceNumber: 4_000_000_000, timestamp: 123_456, payload }))).toEqual({ sequenceNumber: 4_000_000_000, timestamp: 123_456, payload });
    expect(decodePacket(Buffer.from('2a0101', 'hex'))).toEqual({ sequenceNumber: 0, timestamp: 0, payload: new Uint8Array([1]) });
  });

  it('refuses bytes that are not a Packet', () => {
    expect(() => decodePacket(Buffer.from('2a05', 'hex'))).toThrow();
  });
});
