import protobuf from 'protobufjs';

/**
 * The binary message of Cloudflare's WebSocket adapter, in both directions:
 * `message Packet { uint32 sequenceNumber = 1; uint32 timestamp = 2; bytes payload = 5; }`.
 * protobufjs, built from this one definition at load (no generated code):
 * the well-kept protobuf runtime for JavaScript, so that field numbering,
 * varints and unknown fields follow the specification rather than a
 * hand-written encoder.
 */
const PacketType = new protobuf.Type('Packet')
  .add(new protobuf.Field('sequenceNumber', 1, 'uint32'))
  .add(new protobuf.Field('timestamp', 2, 'uint32'))
  .add(new protobuf.Field('payload', 5, 'bytes'));

export interface Packet {
  sequenceNumber: number;
  timestamp: number;
  payload: Uint8Array;
}

/** Cloudflare's limit on one message, in bytes: a service's larger message is refused. */
export const MAX_PACKET_BYTES = 32 * 1024;

export function encodePacket(packet: Packet): Uint8Array {
  return PacketType.encode(PacketType.create(packet)).finish();
}

/** A message from a service: its fields, absent ones as 0 or empty. Throws on bytes that are not a Packet. */
export function decodePacket(bytes: Uint8Array): Packet {
  const message = PacketType.decode(bytes) as unknown as Partial<Packet>;
  const payload = message.payload ?? new Uint8Array(0);
  // protobufjs hands bytes out as a Node Buffer: a plain view of the same memory for callers.
  return { sequenceNumber: message.sequenceNumber ?? 0, timestamp: message.timestamp ?? 0, payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) };
}
