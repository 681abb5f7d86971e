/** One RTP packet as a tap receives it (RFC 3550). */
export interface RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payload: Buffer;
}

/**
 * RTCP shares the port with RTP (rtcpMux): its packet types 200-207 read as
 * RTP payload types 72-79 with the marker bit, which RTP must not use (RFC 5761).
 */
export function isRtcp(datagram: Buffer): boolean {
  return datagram.length >= 2 && (datagram[1]! & 0x7f) >= 72 && (datagram[1]! & 0x7f) <= 79;
}

/** Parses an RTP packet (version 2), skipping CSRCs, the header extension and padding; null for anything else. */
export function parseRtp(datagram: Buffer): RtpPacket | null {
  if (datagram.length < 12 || datagram[0]! >> 6 !== 2 || isRtcp(datagram)) return null;
  const first = datagram[0]!;
  let offset = 12 + 4 * (first & 0x0f);
  if (first & 0x10) {
    if (datagram.length < offset + 4) return null;
    offset += 4 + 4 * datagram.readUInt16BE(offset + 2);
  }
  let end = datagram.length;
  if (first & 0x20) end -= datagram[datagram.length - 1]!;
  if (offset > end) return null;
  return {
    payloadType: datagram[1]! & 0x7f,
    marker: (datagram[1]! & 0x80) !== 0,
    sequenceNumber: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payload: datagram.subarray(offset, end),
  };
}

/** An RTP packet with a plain 12-byte header, as mediasoup's plain transports take it. */
export function writeRtp(packet: Omit<RtpPacket, 'marker'> & { marker?: boolean }): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  header.writeUInt16BE(packet.sequenceNumber & 0xffff, 2);
  header.writeUInt32BE(packet.timestamp >>> 0, 4);
  header.writeUInt32BE(packet.ssrc >>> 0, 8);
  return Buffer.concat([header, packet.payload]);
}
