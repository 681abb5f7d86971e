// Bridges the libsrtp 3.0 API that mediasoup 3.32 is written for (versatica's
// libsrtp 3.0.0-beta fork) to the libsrtp 2.5 that Debian 12 ships.
// Force-included (-include) into every worker source so that no mediasoup file
// has to be edited. Written for Switchyard from mediasoup's call sites
// (worker/src/RTC/SrtpSession.cpp, include/RTC/SrtpSession.hpp,
// src/DepLibSRTP.cpp); it is not code of either libsrtp.
//
// Three differences are bridged:
//
// 1. Policies. libsrtp 3 makes srtp_policy_t an opaque pointer built with
//    srtp_policy_create/_set_ssrc/_set_profile/_add_key/_set_allow_repeat_tx/
//    _set_window_size/_destroy and passed by value to srtp_create(). libsrtp 2
//    has a plain struct of the same name that the caller fills in. Below, a
//    heap object holds a libsrtp 2 struct plus an owned key||salt buffer, and
//    the name srtp_policy_t is redirected (macro, after <srtp.h> is parsed) to
//    a pointer to that object. srtp_create() gets an overload that takes it.
//
// 2. Packet buffers. libsrtp 3 protects from an input buffer into a separate
//    output buffer with size_t lengths (and an MKI index on protect, always 0
//    in mediasoup); libsrtp 2 works in place with int lengths. Each overload
//    copies the packet into the output buffer, checks the trailer fits, runs
//    the in-place libsrtp 2 call and converts the length back.
//
// 3. Names. srtp_stream_remove() is libsrtp 2's srtp_remove_stream(), and
//    libsrtp 3 added two status codes that mediasoup's error table names.
//
// Everything else mediasoup calls (srtp_init, srtp_shutdown, srtp_dealloc,
// srtp_get_version_string, srtp_install_event_handler, srtp_event_data_t,
// srtp_ssrc_t, srtp_profile_t and its srtp_profile_* values,
// srtp_profile_get_master_key_length/_salt_length, SRTP_MAX_TRAILER_LEN) has
// the same name, meaning and values in libsrtp 2.5.
#pragma once
#ifdef __cplusplus
#include <srtp.h>

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

namespace switchyard_srtp3_compat
{
	// libsrtp 2's own policy struct, named before the macro below hides it.
	using Srtp2Policy = ::srtp_policy_t;

	// What a libsrtp 3 srtp_policy_t points to.
	struct Policy
	{
		Srtp2Policy v2{}; // all fields zero, as libsrtp 2 expects for unused ones
		bool hasProfile{ false };
		srtp_profile_t profile{ srtp_profile_reserved };
		bool hasKey{ false };
		// libsrtp 2 reads the master key and salt from one buffer, key first.
		std::array<unsigned char, SRTP_MAX_KEY_LEN> keyAndSalt{};
		size_t keyLen{ 0 };
		size_t saltLen{ 0 };
	};

	using PolicyHandle = Policy*;

	// Status codes that libsrtp 3 added after pkt_idx_adv (27), with libsrtp 3's
	// numbers. libsrtp 2 never returns them; this bridge returns buffer_small.
	constexpr auto BufferSmall = static_cast<srtp_err_status_t>(28);
	constexpr auto CryptexErr  = static_cast<srtp_err_status_t>(29);

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
			return BufferSmall;
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
		if (inLen > static_cast<size_t>(INT_MAX))
			return srtp_err_status_bad_param;
		if (*outLen < inLen)
			return BufferSmall;
		if (out != in)
			std::memmove(out, in, inLen);
		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);
		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);
		return err;
	}
} // namespace switchyard_srtp3_compat

// From here on, srtp_policy_t means libsrtp 3's handle. <srtp.h> has already
// been parsed (its include guard keeps mediasoup's own #include <srtp.h> from
// parsing it again), so libsrtp 2's declarations keep their struct.
#define srtp_policy_t switchyard_srtp3_compat::PolicyHandle

constexpr srtp_err_status_t srtp_err_status_buffer_small = switchyard_srtp3_compat::BufferSmall;
constexpr srtp_err_status_t srtp_err_status_cryptex_err  = switchyard_srtp3_compat::CryptexErr;

/* libsrtp 3 policy API over libsrtp 2's struct. */

inline srtp_err_status_t srtp_policy_create(switchyard_srtp3_compat::PolicyHandle* policy)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;
	*policy = new (std::nothrow) switchyard_srtp3_compat::Policy();
	return *policy != nullptr ? srtp_err_status_ok : srtp_err_status_alloc_fail;
}

inline void srtp_policy_destroy(switchyard_srtp3_compat::PolicyHandle policy)
{
	if (policy != nullptr)
	{
		// The key material must not outlive the policy in freed memory.
		volatile unsigned char* p = policy->keyAndSalt.data();
		for (size_t i = 0; i < policy->keyAndSalt.size(); ++i)
			p[i] = 0;
	}
	delete policy;
}

inline srtp_err_status_t srtp_policy_set_ssrc(switchyard_srtp3_compat::PolicyHandle policy, srtp_ssrc_t ssrc)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;
	policy->v2.ssrc = ssrc;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(
  switchyard_srtp3_compat::PolicyHandle policy, srtp_profile_t profile)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;
	// libsrtp 2 fills in cipher, auth, key and tag lengths and security
	// services for each profile; for AES_CM_128_HMAC_SHA1_32 it keeps an
	// 80-bit tag on RTCP, as RFC 3711 requires (and as mediasoup did itself
	// before it moved to libsrtp 3).
	srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->v2.rtp, profile);
	if (err != srtp_err_status_ok)
		return err;
	err = srtp_crypto_policy_set_from_profile_for_rtcp(&policy->v2.rtcp, profile);
	if (err != srtp_err_status_ok)
		return err;
	policy->profile    = profile;
	policy->hasProfile = true;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_add_key(
  switchyard_srtp3_compat::PolicyHandle policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* mki,
  size_t mkiLen)
{
	if (policy == nullptr || key == nullptr || (salt == nullptr && saltLen != 0))
		return srtp_err_status_bad_param;
	// mediasoup adds exactly one key and no MKI. libsrtp 2 could do several
	// keys with MKIs (policy.keys), but nothing here needs it: refuse it.
	if (policy->hasKey || mki != nullptr || mkiLen != 0)
		return srtp_err_status_bad_param;
	if (keyLen > policy->keyAndSalt.size() || saltLen > policy->keyAndSalt.size() - keyLen)
		return srtp_err_status_bad_param;
	std::memcpy(policy->keyAndSalt.data(), key, keyLen);
	if (saltLen != 0)
		std::memcpy(policy->keyAndSalt.data() + keyLen, salt, saltLen);
	policy->keyLen  = keyLen;
	policy->saltLen = saltLen;
	policy->hasKey  = true;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(
  switchyard_srtp3_compat::PolicyHandle policy, bool allow)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;
	policy->v2.allow_repeat_tx = allow ? 1 : 0;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(
  switchyard_srtp3_compat::PolicyHandle policy, size_t windowSize)
{
	if (policy == nullptr)
		return srtp_err_status_bad_param;
	// libsrtp 2 checks the range (64 .. 2^15-1) itself in srtp_create().
	policy->v2.window_size = static_cast<unsigned long>(windowSize);
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_create(srtp_t* session, switchyard_srtp3_compat::PolicyHandle policy)
{
	if (session == nullptr || policy == nullptr || !policy->hasProfile || !policy->hasKey)
		return srtp_err_status_bad_param;
	// libsrtp 2 takes the key length from the crypto policy and reads that many
	// octets: the key given must be exactly the profile's key plus salt.
	if (
	  policy->keyLen != srtp_profile_get_master_key_length(policy->profile) ||
	  policy->saltLen != srtp_profile_get_master_salt_length(policy->profile))
		return srtp_err_status_bad_param;
	// libsrtp 2 derives the session keys in srtp_create() and keeps no pointer
	// into the policy, so the policy may be destroyed right after (mediasoup
	// does).
	policy->v2.key  = policy->keyAndSalt.data();
	policy->v2.next = nullptr;
	return ::srtp_create(session, &policy->v2);
}

/* libsrtp 3 packet API over libsrtp 2's in-place one. */

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
