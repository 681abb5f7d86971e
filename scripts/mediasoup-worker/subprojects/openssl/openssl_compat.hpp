// Keeps mediasoup's DTLS BIO callback from answering OpenSSL's control calls.
// Force-included (-include) into every worker source; no mediasoup file is edited.
//
// mediasoup installs one BIO_set_callback_ex() callback on the memory BIO
// that carries outgoing DTLS records. For every operation except a plain
// BIO_CB_RETURN it returns 1, so the "return" phase of BIO_ctrl() calls
// reports 1 whatever the BIO said. On an OpenSSL built with kernel TLS
// (Debian's is), BIO_get_ktls_send() then claims KTLS is on, libssl allocates
// no write buffer and the worker crashes (SIGSEGV, NULL write in
// do_dtls1_write) on its first handshake record. The shim below hands only
// write operations to mediasoup's callback and leaves every other result to
// OpenSSL.
#pragma once
#ifdef __cplusplus
#include <openssl/bio.h>

namespace switchyard_openssl_compat
{
	// mediasoup uses a single callback function for all its BIOs.
	inline BIO_callback_fn_ex mediasoupCallback = nullptr;

	inline long WritesOnly(
	  BIO* bio, int oper, const char* argp, size_t len, int argi, long argl, int ret, size_t* processed)
	{
		if ((oper & ~BIO_CB_RETURN) == BIO_CB_WRITE && mediasoupCallback)
			return mediasoupCallback(bio, oper, argp, len, argi, argl, ret, processed);
		return (oper & BIO_CB_RETURN) ? static_cast<long>(ret) : 1L;
	}

	inline void SetCallbackEx(BIO* bio, BIO_callback_fn_ex callback)
	{
		mediasoupCallback = callback;
		BIO_set_callback_ex(bio, callback ? WritesOnly : nullptr);
	}
} // namespace switchyard_openssl_compat

#define BIO_set_callback_ex(bio, callback) switchyard_openssl_compat::SetCallbackEx((bio), (callback))
#endif
