// Bridges the libsrtp 3.0 API that mediasoup >= 3.16 is written for to the
// libsrtp 2 that Debian ships. Force-included (-include) into every worker
// source so that no mediasoup file has to be edited.
//
// libsrtp 3 protects from an input buffer into a separate output buffer with
// size_t lengths; libsrtp 2 works in place with int lengths. Each overload
// copies the packet into the output buffer, checks that the SRTP trailer fits,
// runs the in-place libsrtp 2 call and converts the length back.
#pragma once
#ifdef __cplusplus
#include <srtp.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace switchyard_srtp3_compat
{
	using InPlaceFn = srtp_err_status_t (*)(srtp_t, void*, int*);

	// libsrtp 2 appends up to this many octets in place: tag and MKI for SRTP,
	// plus the 32-bit E-flag/index word for SRTCP.
	constexpr size_t RtpTrailerLen  = SRTP_MAX_TRAILER_LEN;
	constexpr size_t RtcpTrailerLen = SRTP_MAX_TRAILER_LEN + sizeof(uint32_t);

	inline srtp_err_status_t Protect(
	  InPlaceFn fn,
	  size_t trailerLen,
	  srtp_t ctx,
	  const uint8_t* in,
	  size_t inLen,
	  uint8_t* out,
	  size_t* outLen)
	{
		if (inLen > static_cast<size_t>(INT_MAX) - trailerLen)
			return srtp_err_status_bad_param;
		if (*outLen < inLen + trailerLen)
			return static_cast<srtp_err_status_t>(28); // buffer_small
		if (out != in)
			std::memmove(out, in, inLen);
		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);
		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);
		return err;
	}

	inline srtp_err_status_t Unprotect(
	  InPlaceFn fn, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen)
	{
		if (inLen > static_cast<size_t>(INT_MAX) || *outLen < inLen)
			return srtp_err_status_bad_param;
		if (out != in)
			std::memmove(out, in, inLen);
		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);
		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);
		return err;
	}
} // namespace switchyard_srtp3_compat

// Status codes that libsrtp 3 added after pkt_idx_adv (27). libsrtp 2 never
// returns them; mediasoup only names them in its error-string table.
constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
		return srtp_err_status_bad_mki;
	return switchyard_srtp3_compat::Protect(
	  ::srtp_protect, switchyard_srtp3_compat::RtpTrailerLen, ctx, rtp, rtpLen, srtp, srtpLen);
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return switchyard_srtp3_compat::Unprotect(::srtp_unprotect, ctx, srtp, srtpLen, rtp, rtpLen);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
		return srtp_err_status_bad_mki;
	return switchyard_srtp3_compat::Protect(
	  ::srtp_protect_rtcp, switchyard_srtp3_compat::RtcpTrailerLen, ctx, rtcp, rtcpLen, srtcp, srtcpLen);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return switchyard_srtp3_compat::Unprotect(
	  ::srtp_unprotect_rtcp, ctx, srtcp, srtcpLen, rtcp, rtcpLen);
}

inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}
#endif
